"""Creates a packaged SAM application with CloudFormation in the emulation.

The artifacts go to an artifact bucket, the root template to ``CreateStack``; moto creates
the nested stacks from their ``TemplateURL``. The result is read back from CloudFormation and
Lambda, so the `Deployment` describes what exists, not what was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stp.local.aws_clients import internal_client
from stp.local.lambda_runtime import find_function, function_info
from stp.local.models import Deployment
from stp.local.packaging import PackagedTemplate, package_template

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
ARTIFACT_BUCKET_PREFIX = "stp-local-artifacts-"
"""Buckets the deploy itself keeps its packaged code and templates in."""


class DeployError(RuntimeError):
    """CloudFormation could not create the stack."""


def deploy_template(
    template: Path,
    *,
    stack_name: str,
    parameters: Mapping[str, str],
    code_root: Path | None,
    region: str,
    account_id: str,
) -> Deployment:
    """Package, translate and create ``template`` as stack ``stack_name``."""
    artifact_bucket = f"{ARTIFACT_BUCKET_PREFIX}{account_id}-{region}"
    packaged = package_template(
        template.resolve(),
        artifact_bucket=artifact_bucket,
        artifact_prefix=stack_name,
        parameters=parameters,
        region=region,
        account_id=account_id,
        code_root=code_root.resolve() if code_root else None,
        stack_label=stack_name,
    )
    s3 = internal_client("s3", region)
    _ensure_bucket(s3, artifact_bucket, region)
    for artifact in packaged.artifacts:
        s3.put_object(Bucket=artifact_bucket, Key=artifact.key, Body=artifact.body)
    cloudformation = internal_client("cloudformation", region)
    declared = packaged.template.get("Parameters", {})
    try:
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(packaged.template),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": str(value)}
                for key, value in parameters.items()
                if key in declared
            ],
            Capabilities=CAPABILITIES,
        )
    except Exception as error:
        raise DeployError(f"creating stack {stack_name}: {error}") from error
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(f"stack {stack_name} ended {stack['StackStatus']}")
    deployment = Deployment(
        stack_name=stack_name,
        template=template.resolve(),
        parameters=dict(parameters),
        skipped=list(packaged.warnings),
    )
    deployment.outputs.update(_outputs(stack))
    _collect(cloudformation, s3, stack_name, "", packaged, deployment, region, account_id)
    return deployment


def _collect(
    cloudformation: Any,
    s3: Any,
    stack: str,
    prefix: str,
    packaged: PackagedTemplate,
    deployment: Deployment,
    region: str,
    account_id: str,
) -> None:
    """Record the stack's resources (recursing into nested stacks) in ``deployment``."""
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for summary in page["StackResourceSummaries"]:
            logical_id = summary["LogicalResourceId"]
            physical_id = summary.get("PhysicalResourceId", "")
            kind = summary["ResourceType"]
            key = prefix + logical_id
            deployment.resources[key] = physical_id
            if kind == "AWS::Lambda::Function":
                function = find_function(physical_id, account_id, region)
                deployment.functions[key] = function_info(function)
            elif kind == "AWS::StepFunctions::StateMachine":
                deployment.state_machines[key] = physical_id
            elif kind == "AWS::S3::Bucket":
                _apply_eventbridge_notifications(s3, physical_id, packaged, logical_id)
            elif kind == "AWS::CloudFormation::Stack":
                nested = cloudformation.describe_stacks(StackName=physical_id)["Stacks"][0]
                for name, value in _outputs(nested).items():
                    deployment.outputs[f"{key}.Outputs.{name}"] = value
                child = packaged.children.get(logical_id, PackagedTemplate({}))
                nested_prefix = f"{key}/"
                _collect(
                    cloudformation,
                    s3,
                    physical_id,
                    nested_prefix,
                    child,
                    deployment,
                    region,
                    account_id,
                )


def _apply_eventbridge_notifications(
    s3: Any, bucket: str, packaged: PackagedTemplate, logical_id: str
) -> None:
    """Turn on the bucket's EventBridge notifications when its template asks for them.

    moto's CloudFormation ignores a bucket's ``NotificationConfiguration``; without this the
    emulated bucket would look as if it sent no events, and nothing would start on upload.
    """
    resource = packaged.template.get("Resources", {}).get(logical_id, {})
    configuration = resource.get("Properties", {}).get("NotificationConfiguration", {})
    enabled = configuration.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled")
    if str(enabled).lower() == "true":
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )


def _outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create the artifact bucket unless it exists (a second deploy reuses it)."""
    existing = {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
