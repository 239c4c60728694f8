"""The SAM templates: lint-clean, wired without cycles, least privilege, and in step with the
nested stacks, the state machine, the sample events and the packaging."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stp.validate import (
    check_lambda_requirements,
    check_runtime_declared_once,
    load_template,
    run_cfn_lint,
    run_sam_validate,
    run_validation,
    template_paths,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {
    "ProcessMarketDataFunction": "handlers.process_market_data.handler",
    "ExecuteTradesFunction": "handlers.execute_trades.handler",
    "AnalyzePerformanceFunction": "handlers.analyze_performance.handler",
    "ApiFunction": "handlers.api.lambda_handler",
    "PlanSweepFunction": "handlers.plan_sweep.handler",
    "BacktestFunction": "handlers.backtest_batch.handler",
    "AggregateSweepFunction": "handlers.aggregate_sweep.handler",
}
NESTED = {"StorageStack": "storage", "ApiStack": "api", "MonitoringStack": "monitoring"}
SHARED_ENVIRONMENT = {
    "MARKET_DATA_BUCKET": ("StorageStack", "MarketDataBucketName"),
    "REPORTS_BUCKET": ("StorageStack", "ReportsBucketName"),
    "RUNS_TABLE": ("StorageStack", "RunsTableName"),
    "PORTFOLIO_TABLE": ("StorageStack", "PortfolioTableName"),
    "QUOTES_TABLE": ("StorageStack", "QuotesTableName"),
    "DAX_ENDPOINT": ("StorageStack", "DaxEndpoint"),
    "ALERT_TOPIC_ARN": ("MonitoringStack", "AlertTopicArn"),
}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _references(value: Any) -> set[str]:
    """Logical ids a resource's definition refers to (Ref, GetAtt, ${X} in Sub)."""
    found: set[str] = set()
    for node in _walk(value):
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            found.add(node["Fn::GetAtt"][0])
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
    return found


def _nested_template(logical_id: str) -> dict[str, Any]:
    return load_template(ROOT / RESOURCES[logical_id]["Properties"]["Location"])


# --- Linters ---------------------------------------------------------------------------------


def test_cfn_lint_finds_nothing() -> None:
    assert run_cfn_lint(ROOT) == []


def test_sam_validate_lint_finds_nothing() -> None:
    assert run_sam_validate(ROOT) == []


def test_stp_validate_finds_nothing() -> None:
    assert run_validation(ROOT) == []


# --- Shape of the root template ----------------------------------------------------------------


def test_the_python_runtime_is_declared_once_in_globals() -> None:
    assert check_runtime_declared_once(TEMPLATE_TEXT, TEMPLATE) == []
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == "python3.11"
    doubled = TEMPLATE_TEXT + "\n# Runtime: python3.12\n"
    assert len(check_runtime_declared_once(doubled, TEMPLATE)) == 1
    # The strategies layer's BuildMethod repeats it (sam build reads it literally): it must
    # agree with Globals.
    layer = copy.deepcopy(TEMPLATE)
    layer["Resources"]["StrategiesLayer"]["Metadata"]["BuildMethod"] = "python3.12"
    [finding] = check_runtime_declared_once(TEMPLATE_TEXT, layer)
    assert "BuildMethod python3.12 is not Globals.Function.Runtime python3.11" in str(finding)


def test_globals_set_the_shared_function_settings() -> None:
    function = TEMPLATE["Globals"]["Function"]
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert function["CodeUri"] == "src/"
    variables = function["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ServerlessTradingPlatform"
    # Accounts are registered through /admin, not one account per deployment.
    assert (
        "TRADING_ACCOUNT_ID" not in variables and "TradingAccountId" not in TEMPLATE["Parameters"]
    )
    for name, (stack, output) in SHARED_ENVIRONMENT.items():
        assert variables[name] == {"Fn::GetAtt": [stack, f"Outputs.{output}"]}, name


def test_functions_and_handlers_are_the_contract() -> None:
    functions = {
        logical_id: resource["Properties"]["Handler"]
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert functions == FUNCTIONS
    for logical_id in FUNCTIONS:
        properties = RESOURCES[logical_id]["Properties"]
        assert "CodeUri" not in properties and "Runtime" not in properties
        assert properties["Description"]


def test_only_the_api_function_may_start_executions() -> None:
    for logical_id in FUNCTIONS:
        variables = RESOURCES[logical_id]["Properties"]["Environment"]["Variables"]
        has_arn = "STATE_MACHINE_ARN" in variables
        assert has_arn == (logical_id == "ApiFunction"), logical_id
    api_variables = RESOURCES["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert api_variables["STATE_MACHINE_ARN"] == {"Ref": "TradingStateMachine"}


def test_resources_are_wired_without_cycles() -> None:
    graph = {
        logical_id: _references(resource) & set(RESOURCES)
        for logical_id, resource in RESOURCES.items()
    }
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"dependency cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for target in graph[node]:
            visit(target, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())
    assert graph["MonitoringStack"] == {"StorageStack"}


def test_monitoring_watches_the_names_the_resources_really_have() -> None:
    parameters = RESOURCES["MonitoringStack"]["Properties"]["Parameters"]
    for logical_id in FUNCTIONS:
        expected = RESOURCES[logical_id]["Properties"]["FunctionName"]
        assert parameters[logical_id.replace("Function", "") + "FunctionName"] == expected
    for machine, parameter in (
        ("TradingStateMachine", "StateMachineArn"),
        ("ResearchStateMachine", "ResearchStateMachineArn"),
    ):
        machine_name = RESOURCES[machine]["Properties"]["Name"]["Fn::Sub"]
        assert parameters[parameter]["Fn::Sub"].endswith(f":stateMachine:{machine_name}")
    api_parameters = RESOURCES["ApiStack"]["Properties"]["Parameters"]
    assert parameters["ApiName"] == api_parameters["ApiName"]
    assert parameters["ApiStageName"] == api_parameters["Environment"]


@pytest.mark.parametrize("logical_id", sorted(NESTED))
def test_nested_stack_parameters_and_outputs_match_their_templates(logical_id: str) -> None:
    resource = RESOURCES[logical_id]
    assert resource["Type"] == "AWS::Serverless::Application"
    assert resource["Properties"]["Location"] == f"stacks/{NESTED[logical_id]}.yaml"
    child = _nested_template(logical_id)
    passed = set(resource["Properties"].get("Parameters", {}))
    declared = child.get("Parameters", {})
    assert passed <= set(declared), f"unknown parameters {passed - set(declared)}"
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert required <= passed, f"required parameters not passed: {required - passed}"
    used_outputs = {
        node["Fn::GetAtt"][1].removeprefix("Outputs.")
        for node in _walk(TEMPLATE)
        if isinstance(node, dict) and "Fn::GetAtt" in node and node["Fn::GetAtt"][0] == logical_id
    }
    assert used_outputs <= set(child["Outputs"]), used_outputs - set(child["Outputs"])


def test_the_local_runtime_finds_the_buckets_in_the_root_outputs() -> None:
    outputs = TEMPLATE["Outputs"]
    for name in ("MarketDataBucketName", "ReportsBucketName", "StateMachineArn", "ApiUrl"):
        assert name in outputs


# --- Every resource says why it exists ----------------------------------------------------------


def _undocumented(path: Path) -> list[str]:
    template = load_template(path)
    lines = path.read_text().splitlines()
    missing = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if properties.get("Description") or properties.get("AlarmDescription"):
            continue
        index = next(i for i, line in enumerate(lines) if line.strip() == f"{logical_id}:")
        if not lines[index - 1].strip().startswith("#"):
            missing.append(logical_id)
    return missing


@pytest.mark.parametrize("path", template_paths(ROOT), ids=lambda path: path.name)
def test_every_resource_says_why_it_exists(path: Path) -> None:
    assert _undocumented(path) == []


# --- Least privilege --------------------------------------------------------------------------


def _policies(logical_id: str) -> list[Any]:
    policies: list[Any] = RESOURCES[logical_id]["Properties"]["Policies"]
    return policies


def _statements(logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _policies(logical_id)
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


@pytest.mark.parametrize("logical_id", [*FUNCTIONS, "TradingStateMachine"])
def test_policies_are_scoped_to_one_resource(logical_id: str) -> None:
    for policy in _policies(logical_id):
        assert isinstance(policy, dict), f"managed policy {policy} is not scoped"
        if "Statement" in policy:
            continue
        [(template_name, arguments)] = policy.items()
        assert arguments, f"{template_name} without its resource"
        assert all(value not in ("*", "") for value in arguments.values()), template_name
    for statement in _statements(logical_id):
        if statement["Resource"] == "*":
            # Log delivery actions have no resource-level permissions.
            assert all(action.startswith("logs:") for action in statement["Action"])
            assert logical_id == "TradingStateMachine"


def test_the_state_machine_may_invoke_exactly_the_three_step_functions() -> None:
    invoked = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in _policies("TradingStateMachine")
        if "LambdaInvokePolicy" in policy
    }
    assert invoked == {
        "ProcessMarketDataFunction",
        "ExecuteTradesFunction",
        "AnalyzePerformanceFunction",
    }


def test_state_machine_logs_traces_and_substitutes_every_arn() -> None:
    properties = RESOURCES["TradingStateMachine"]["Properties"]
    assert properties["Type"] == "STANDARD"
    assert properties["Tracing"] == {"Enabled": True}
    assert properties["Logging"]["Level"] in {"ALL", "ERROR"}
    assert properties["Logging"]["IncludeExecutionData"] is True
    for name, value in properties["DefinitionSubstitutions"].items():
        assert isinstance(value, dict), f"{name} is hard-coded"


# --- Triggers ---------------------------------------------------------------------------------


def _matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the pattern forms the template uses (values, prefix)."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and _matches(value, event[key]) for key, value in pattern.items()
        )
    return any(
        event.startswith(option["prefix"]) if isinstance(option, dict) else event == option
        for option in pattern
    )


def _upload_rule(bucket: str) -> dict[str, Any]:
    rule = json.loads(json.dumps(RESOURCES["TradingStateMachine"]["Properties"]["Events"]))
    upload: dict[str, Any] = rule["UploadTrigger"]
    assert upload["Type"] == "EventBridgeRule"
    upload["Properties"]["Pattern"]["detail"]["bucket"]["name"] = [bucket]
    return upload["Properties"]


def test_an_upload_under_raw_starts_the_workflow_with_the_documented_input() -> None:
    event = json.loads((ROOT / "events" / "s3_upload.eventbridge.json").read_text())
    rule = _upload_rule(event["detail"]["bucket"]["name"])
    assert _matches(rule["Pattern"], event)
    transformer = rule["InputTransformer"]
    rendered = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        rendered = rendered.replace(f"<{name}>", json.dumps(value))
    assert json.loads(rendered) == {
        "bucket": event["detail"]["bucket"]["name"],
        "key": event["detail"]["object"]["key"],
        "source": "s3-upload",
    }


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("example-market-data", "curated/run/stocks.csv"), ("another-bucket", "raw/stocks.csv")],
)
def test_other_objects_do_not_start_the_workflow(bucket: str, key: str) -> None:
    event = json.loads((ROOT / "events" / "s3_upload.eventbridge.json").read_text())
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    assert not _matches(_upload_rule("example-market-data")["Pattern"], event)


def test_the_schedule_is_off_unless_enabled() -> None:
    schedule = RESOURCES["TradingStateMachine"]["Properties"]["Events"]["Schedule"]
    assert TEMPLATE["Parameters"]["ScheduleEnabled"]["Default"] == "false"
    assert schedule["Properties"]["State"] == {"Fn::If": ["ScheduleOn", "ENABLED", "DISABLED"]}
    template, _ = schedule["Properties"]["Input"]["Fn::Sub"]
    assert json.loads(template.replace("${", "").replace('}"', '"'))["source"] == "schedule"


# --- Storage hardening ------------------------------------------------------------------------


STORAGE = load_template(ROOT / "stacks" / "storage.yaml")["Resources"]


@pytest.mark.parametrize("bucket", ["MarketDataBucket", "ReportsBucket"])
def test_data_buckets_are_encrypted_versioned_private_and_tls_only(bucket: str) -> None:
    properties = STORAGE[bucket]["Properties"]
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    [policy] = [
        resource
        for resource in STORAGE.values()
        if resource["Type"] == "AWS::S3::BucketPolicy"
        and resource["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    denials = [  # (an Fn::If statement is an option's: tests/infra/test_options.py)
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Effect") == "Deny"
    ]
    assert denials[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_uploads_reach_eventbridge() -> None:
    notification = STORAGE["MarketDataBucket"]["Properties"]["NotificationConfiguration"]
    assert notification == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert STORAGE["DataKey"]["Properties"]["EnableKeyRotation"] is True


def test_tables_have_the_keys_the_code_expects() -> None:
    def keys(table: str) -> dict[str, str]:
        properties = STORAGE[table]["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
        assert properties["SSESpecification"]["KMSMasterKeyId"] == {
            "Fn::GetAtt": ["DataKey", "Arn"]
        }
        return {key["AttributeName"]: key["KeyType"] for key in properties["KeySchema"]}

    for table in ("RunsTable", "PortfolioTable", "QuotesTable"):
        assert keys(table) == {"PK": "HASH", "SK": "RANGE"}


# --- Packaging and deployment settings ---------------------------------------------------------


def test_lambda_requirements_stay_within_pyproject() -> None:
    assert check_lambda_requirements(ROOT) == []
    names = {
        re.split(r"[\[<>=!~;\s]", line, maxsplit=1)[0]
        for line in (ROOT / "src" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert names == {
        "aws-lambda-powertools",
        "aws-xray-sdk",
        "numpy",
        "amazon-dax-client",
        "pydantic",
    }


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_samconfig_deploys_every_environment(environment: str) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config[environment]["deploy"]["parameters"]
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["resolve_s3"] is True
    expected = "dev" if environment == "default" else environment
    assert f"Environment={expected}" in deploy["parameter_overrides"].split()
    assert deploy["confirm_changeset"] is (environment == "prod")
