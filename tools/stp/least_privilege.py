"""Least privilege over the templates as CloudFormation receives them (after the SAM transform).

Every identity policy (an ``AWS::IAM::Role``'s inline policies, ``AWS::IAM::Policy`` and
``AWS::IAM::ManagedPolicy``) that allows something must name its actions (no ``*``, no
``service:*``, no ``NotAction``) and its resources; ``Resource: "*"`` is allowed only for the
actions AWS offers no resource-level permission for, listed once below with the reason. AWS
managed policies attached to roles must be listed below too. Resource policies (key, bucket
and topic policies) are not identity policies and are reviewed by checkov instead.

>>> privilege_findings(translated_templates(Path(".")))  # doctest: +SKIP
[]
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stp.validate import TEMPLATE, Finding

# Actions that may (and must) use Resource "*": AWS defines no resource type for them.
WILDCARD_RESOURCE_ACTIONS: Mapping[str, str] = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
    "xray:GetSamplingRules": "X-Ray has no resource-level permissions",
    "xray:GetSamplingTargets": "X-Ray has no resource-level permissions",
    "cloudwatch:PutMetricData": "CloudWatch metrics have no resource-level permissions",
    "logs:CreateLogDelivery": "vended log delivery (Step Functions logging) has no resource ARN",
    "logs:GetLogDelivery": "vended log delivery (Step Functions logging) has no resource ARN",
    "logs:UpdateLogDelivery": "vended log delivery (Step Functions logging) has no resource ARN",
    "logs:DeleteLogDelivery": "vended log delivery (Step Functions logging) has no resource ARN",
    "logs:ListLogDeliveries": "vended log delivery (Step Functions logging) has no resource ARN",
    "logs:PutResourcePolicy": "CloudWatch Logs resource policies are account-wide",
    "logs:DescribeResourcePolicies": "CloudWatch Logs resource policies are account-wide",
    "logs:DescribeLogGroups": "listing log groups has no resource-level permissions",
}

# AWS managed policies a role may carry (SAM attaches the first three itself).
MANAGED_POLICIES: Mapping[str, str] = {
    "AWSLambdaBasicExecutionRole": "SAM: write the function's own log streams",
    "AWSXrayWriteOnlyAccess": "SAM, for Tracing: Active - X-Ray actions only (see above)",
    "AWSLambdaVPCAccessExecutionRole": (
        "SAM, for VpcConfig: create the function's network interfaces (EC2 has no finer scope)"
    ),
    "AmazonAPIGatewayPushToCloudWatchLogs": (
        "API Gateway's account-wide logging role; the service role AWS documents for it"
    ),
}

REVIEW_REGION = "us-east-1"
_IDENTITY_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def translated_templates(root: Path) -> dict[str, dict[str, Any]]:
    """Label -> template of the root stack and its local nested stacks, translated by SAM
    (the local runtime's packaging, without its emulation adaptations)."""
    from stp.local.packaging import PackagedTemplate, package_template

    region = REVIEW_REGION
    # samtranslator reads the region from boto3's default session; give it one, briefly.
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    try:
        packaged = package_template(
            (root / TEMPLATE).resolve(),
            artifact_bucket="stp-review",
            artifact_prefix="review",
            parameters={},
            region=os.environ["AWS_DEFAULT_REGION"],
            account_id="123456789012",
            stack_label=TEMPLATE,
            for_emulation=False,
        )
    finally:
        if saved is None:
            del os.environ["AWS_DEFAULT_REGION"]
    templates: dict[str, dict[str, Any]] = {}

    def add(label: str, package: PackagedTemplate) -> None:
        templates[label] = package.template
        for logical_id, child in package.children.items():
            add(f"{label}/{logical_id}", child)

    add(TEMPLATE, packaged)
    return templates


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _alternatives(value: Any) -> Iterator[Any]:
    """Every value ``value`` can take: both branches of an ``Fn::If``, recursively."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        yield from _alternatives(when_true)
        yield from _alternatives(when_false)
    elif isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield value


def _statements(document: Any) -> Iterator[dict[str, Any]]:
    for variant in _alternatives(document):
        if not isinstance(variant, dict):
            continue
        for statement in _as_list(variant.get("Statement", [])):
            for candidate in _alternatives(statement):
                if isinstance(candidate, dict):
                    yield candidate


def _policy_documents(resource: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(policy name, document) of every identity policy a resource defines."""
    properties = resource.get("Properties", {})
    if resource.get("Type") == "AWS::IAM::Role":
        for policy in _as_list(properties.get("Policies", [])):
            for variant in _alternatives(policy):
                if isinstance(variant, dict):
                    yield str(variant.get("PolicyName", "?")), variant.get("PolicyDocument", {})
    elif resource.get("Type") in _IDENTITY_POLICY_TYPES:
        yield (
            str(properties.get("PolicyName", properties.get("ManagedPolicyName", "?"))),
            (properties.get("PolicyDocument", {})),
        )


def _managed_policy_name(arn: Any) -> str:
    """The name at the end of a managed policy ARN (a string or an ``Fn::Sub`` of one)."""
    text = arn.get("Fn::Sub", arn) if isinstance(arn, dict) else arn
    text = text[0] if isinstance(text, list) else text
    return str(text).rsplit("/", 1)[-1]


def statement_findings(where: str, statement: Mapping[str, Any]) -> list[Finding]:
    """What is too broad in one Allow statement."""
    if statement.get("Effect") != "Allow":
        return []
    if "NotAction" in statement or "NotResource" in statement:
        return [Finding("least-privilege", where, "Allow with NotAction/NotResource")]
    actions = [a for value in _as_list(statement.get("Action", [])) for a in _alternatives(value)]
    resources = [
        r for value in _as_list(statement.get("Resource", [])) for r in _alternatives(value)
    ]
    findings = [
        Finding("least-privilege", where, f"action {action!r} is a wildcard")
        for action in actions
        if isinstance(action, str) and (action == "*" or action.endswith(":*"))
    ]
    if "*" in resources:
        findings += [
            Finding(
                "least-privilege",
                where,
                f'{action} on Resource "*" (not in stp.least_privilege.WILDCARD_RESOURCE_ACTIONS)',
            )
            for action in actions
            if action not in WILDCARD_RESOURCE_ACTIONS
        ]
    return findings


def privilege_findings(templates: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    """Every too-broad identity statement and unlisted managed policy in ``templates``."""
    findings: list[Finding] = []
    for label, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            for name, document in _policy_documents(resource):
                for statement in _statements(document):
                    where = f"{label}/{logical_id}/{name}"
                    findings.extend(statement_findings(where, statement))
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            arns = resource.get("Properties", {}).get("ManagedPolicyArns", [])
            for arn in (a for value in _as_list(arns) for a in _alternatives(value)):
                if _managed_policy_name(arn) not in MANAGED_POLICIES:
                    findings.append(
                        Finding(
                            "least-privilege",
                            f"{label}/{logical_id}",
                            f"managed policy {_managed_policy_name(arn)} is not listed in "
                            "stp.least_privilege.MANAGED_POLICIES",
                        )
                    )
    return findings


def check_least_privilege(root: Path) -> list[Finding]:
    """:func:`privilege_findings` over the translated templates of the project at ``root``."""
    return privilege_findings(translated_templates(root))
