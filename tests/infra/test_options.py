"""Every optional feature is a parameter, off by default (CloudTrail on in prod), and both
renderings hold: resources appear and disappear by condition, and cfn-lint accepts the
templates with every option switched on."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stp.validate import _executable, _run, load_template

ROOT = Path(__file__).resolve().parents[2]
ROOT_TEMPLATE = load_template(ROOT / "template.yaml")
STORAGE = load_template(ROOT / "stacks" / "storage.yaml")
MONITORING = load_template(ROOT / "stacks" / "monitoring.yaml")

# Every option switched on, with plausible ids (cfn-lint checks their patterns).
ROOT_ON = {
    "ReplicaRegions": "us-west-2,eu-west-1",
    "EnableDax": "true",
    "DaxSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "DaxSecurityGroupIds": "sg-0123456789abcdef0",
    "BrokerSecretRotationLambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:rotate",
    "EnableCloudTrail": "true",
    "RestrictRawUploads": "true",
    "ExecuteTradesProvisionedConcurrency": "2",
    "ApiProvisionedConcurrency": "1",
    "WorkflowReservedConcurrency": "10",
    "ApiReservedConcurrency": "20",
    "VpcSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "VpcSecurityGroupIds": "sg-0123456789abcdef0",
    "VpcId": "vpc-0123456789abcdef0",
    "VpcRouteTableIds": "rtb-0123456789abcdef0",
}
STORAGE_ON = {
    key: value
    for key, value in ROOT_ON.items()
    if key in STORAGE["Parameters"] and key != "Environment"
} | {"Environment": "prod"}
MONITORING_ON = {"EnableCloudTrail": "true"}


# --- A small evaluator of CloudFormation conditions -------------------------------------------


class Rendering:
    """A template's conditions and values for given parameter values (defaults otherwise)."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()
        } | {"AWS::Region": "us-east-1", "AWS::StackName": "stp-dev"}
        unknown = set(overrides) - set(self.parameters)
        assert not unknown, f"not parameters of the template: {unknown}"
        self.parameters.update(overrides)
        self.conditions = {name: self.condition(name) for name in template["Conditions"]}

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.parameters[argument]
            if key == "Fn::Split":
                return str(self.value(argument[1])).split(argument[0])
            if key == "Fn::Select":
                return self.value(argument[1])[int(argument[0])]
            if key == "Fn::Join":
                return argument[0].join(str(self.value(part)) for part in argument[1])
            if key == "Fn::Sub" and isinstance(argument, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.parameters[m.group(1)], argument)
        return node

    def condition(self, name_or_node: Any) -> bool:
        node = (
            self.template["Conditions"][name_or_node]
            if isinstance(name_or_node, str)
            else name_or_node
        )
        ((key, argument),) = node.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            return str(self.value(argument[0])) == str(self.value(argument[1]))
        if key == "Fn::Not":
            return not self.condition(argument[0])
        if key == "Fn::And":
            return all(self.condition(part) for part in argument)
        if key == "Fn::Or":
            return any(self.condition(part) for part in argument)
        raise AssertionError(f"unknown condition function {key}")

    def resolve(self, node: Any) -> Any:
        """``node`` with every ``Fn::If`` decided and ``AWS::NoValue`` dropped."""
        if isinstance(node, list):
            resolved = [self.resolve(item) for item in node]
            return [item for item in resolved if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return self.resolve(when_true if self.conditions[name] else when_false)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def resources(self) -> set[str]:
        return {
            logical_id
            for logical_id, resource in self.template["Resources"].items()
            if self.conditions.get(resource.get("Condition", ""), True)
        }


_NO_VALUE = object()

OPTIONAL_STORAGE = {
    "PortfolioGlobalTable",
    "QuotesGlobalTable",
    "DaxRole",
    "DaxSubnetGroup",
    "DaxCluster",
    "BrokerCredentialsRotation",
}


# --- Storage ------------------------------------------------------------------------------------


def test_storage_by_default_is_single_region_without_dax_or_rotation() -> None:
    off = Rendering(STORAGE, {})
    present = off.resources()
    assert not present & OPTIONAL_STORAGE
    assert {"PortfolioTable", "QuotesTable", "BrokerCredentialsSecret"} <= present
    policy = off.resolve(STORAGE["Resources"]["AccessLogsBucketPolicy"])
    sids = [s["Sid"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert sids == ["S3ServerAccessLogsDelivery", "DenyInsecureTransport"]
    assert off.resolve(STORAGE["Outputs"]["DaxEndpoint"])["Value"] == ""
    table = off.resolve(STORAGE["Resources"]["PortfolioTable"])
    assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_storage_with_every_option_on() -> None:
    on = Rendering(STORAGE, STORAGE_ON)
    present = on.resources()
    assert present >= OPTIONAL_STORAGE
    assert not {"PortfolioTable", "QuotesTable"} & present
    replicas = on.resolve(STORAGE["Resources"]["PortfolioGlobalTable"])["Properties"]["Replicas"]
    regions = [on.value(replica["Region"]) for replica in replicas]
    assert regions == ["us-east-1", "us-west-2", "eu-west-1"]
    assert all(replica["DeletionProtectionEnabled"] is True for replica in replicas)
    assert all(replica["SSESpecification"]["KMSMasterKeyId"] for replica in replicas)
    assert on.resolve(STORAGE["Outputs"]["PortfolioTableName"])["Value"] == {
        "Ref": "PortfolioGlobalTable"
    }
    policy = on.resolve(STORAGE["Resources"]["AccessLogsBucketPolicy"])
    sids = [s["Sid"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert "CloudTrailWritesTheTrailsLogFiles" in sids
    dax = STORAGE["Resources"]["DaxCluster"]["Properties"]
    assert dax["SSESpecification"] == {"SSEEnabled": True}
    assert dax["ClusterEndpointEncryptionType"] == "TLS"


def test_raw_uploads_are_denied_to_untagged_principals_only_when_restricted() -> None:
    def statements(overrides: Mapping[str, str]) -> dict[str, Any]:
        policy = Rendering(STORAGE, overrides).resolve(
            STORAGE["Resources"]["MarketDataBucketPolicy"]
        )
        return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}

    assert list(statements({})) == ["DenyInsecureTransport"]
    deny = statements({"RestrictRawUploads": "true"})["DenyRawUploadsByUntaggedPrincipals"]
    assert (deny["Effect"], deny["Action"]) == ("Deny", "s3:PutObject")
    assert deny["Resource"] == {"Fn::Sub": "${MarketDataBucket.Arn}/raw/*"}
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalTag/stp-raw-writer": "true"}}
    # The API function (whose role signs the presigned upload links) carries the tag; SAM
    # puts a function's tags on the role it creates for it. No workflow function writes raw/.
    functions = {
        logical_id: resource["Properties"]
        for logical_id, resource in ROOT_TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    tagged = {
        name for name, props in functions.items() if "stp-raw-writer" in props.get("Tags", {})
    }
    assert tagged == {"ApiFunction"}
    storage = ROOT_TEMPLATE["Resources"]["StorageStack"]["Properties"]["Parameters"]
    assert storage["RestrictRawUploads"] == {"Ref": "RestrictRawUploads"}


def test_one_replica_region_makes_a_two_region_global_table() -> None:
    on = Rendering(STORAGE, {"ReplicaRegions": "eu-central-1"})
    replicas = on.resolve(STORAGE["Resources"]["QuotesGlobalTable"])["Properties"]["Replicas"]
    assert [on.value(replica["Region"]) for replica in replicas] == ["us-east-1", "eu-central-1"]


@pytest.mark.parametrize("value", ["us-west-2,eu-west-1,ap-south-1", "us-west-2;eu-west-1", "x"])
def test_replica_regions_accepts_at_most_two_regions(value: str) -> None:
    pattern = STORAGE["Parameters"]["ReplicaRegions"]["AllowedPattern"]
    assert re.fullmatch(pattern, value) is None
    assert ROOT_TEMPLATE["Parameters"]["ReplicaRegions"]["AllowedPattern"] == pattern


# --- Monitoring ---------------------------------------------------------------------------------


def test_the_trail_exists_only_when_switched_on() -> None:
    assert "AuditTrail" not in Rendering(MONITORING, {}).resources()
    assert "AuditTrail" in Rendering(MONITORING, MONITORING_ON).resources()
    trail = MONITORING["Resources"]["AuditTrail"]["Properties"]
    assert trail["EnableLogFileValidation"] is True
    assert trail["KMSKeyId"] == {"Ref": "DataKeyArn"}
    assert trail["IsMultiRegionTrail"] is True


def test_every_alarm_alerts_the_topic() -> None:
    alarms = {
        logical_id: resource["Properties"]
        for logical_id, resource in MONITORING["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}], logical_id
    for table in ("Runs", "Portfolio", "Quotes"):
        assert {f"{table}TableThrottlesAlarm", f"{table}TableSystemErrorsAlarm"} <= set(alarms)
    for function in ("ProcessMarketData", "ExecuteTrades", "AnalyzePerformance", "Api"):
        assert {f"{function}ErrorsAlarm", f"{function}ThrottlesAlarm"} <= set(alarms)
    assert {
        "ExecutionsFailedAlarm",
        "ExecutionsTimedOutAlarm",
        "Api5XXAlarm",
        "ApiLatencyAlarm",
        "RejectedOrderRatioAlarm",
        "TriggerDeadLetterQueueDepthAlarm",
    } <= set(alarms)


def test_undelivered_trigger_events_land_in_the_watched_dead_letter_queue() -> None:
    events = ROOT_TEMPLATE["Resources"]["TradingStateMachine"]["Properties"]["Events"]
    for name, event in events.items():
        assert event["Properties"]["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}
        }, name
    queue = ROOT_TEMPLATE["Resources"]["TriggerDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": ["StorageStack", "Outputs.DataKeyArn"]}
    watched = ROOT_TEMPLATE["Resources"]["MonitoringStack"]["Properties"]["Parameters"]
    assert watched["TriggerDeadLetterQueueName"] == queue["QueueName"]


def _metric_names() -> dict[str, str]:
    """The metric name constants of ``handlers.observability``, read from its source: importing
    it here would build its Metrics without the functions' namespace for the whole process,
    which the local runtime's handlers share."""
    source = (ROOT / "src" / "handlers" / "observability.py").read_text()
    return dict(re.findall(r'^([A-Z_]+) = "([A-Za-z]+)"(?:\s+#.*)?$', source, flags=re.MULTILINE))


def test_the_dashboard_shows_the_business_metrics_the_handlers_emit() -> None:
    metrics = _metric_names()
    body = MONITORING["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name in (
        "ORDERS_PLACED",
        "ORDERS_REJECTED",
        "FILLS",
        "EQUITY",
        "TOTAL_RETURN",
        "BARS_REJECTED",
    ):
        assert f'"{metrics[name]}"' in body, name
    for namespace in ("AWS/States", "AWS/ApiGateway", "AWS/Lambda", "AWS/DynamoDB"):
        assert namespace in body
    ratio = MONITORING["Resources"]["RejectedOrderRatioAlarm"]["Properties"]["Metrics"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in ratio if "MetricStat" in m}
    assert names == {metrics["ORDERS_PLACED"], metrics["ORDERS_REJECTED"]}
    namespace = ROOT_TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (
        namespace["POWERTOOLS_METRICS_NAMESPACE"]
        == MONITORING["Parameters"]["MetricsNamespace"]["Default"]
    )


# --- Root template ------------------------------------------------------------------------------


def _function(rendering: Rendering, name: str) -> dict[str, Any]:
    resolved: dict[str, Any] = rendering.resolve(ROOT_TEMPLATE["Resources"][name])["Properties"]
    return resolved


def test_root_by_default_has_no_vpc_no_warm_aliases_and_no_reservations() -> None:
    off = Rendering(ROOT_TEMPLATE, {})
    assert not {"S3GatewayEndpoint", "DynamoDBGatewayEndpoint", "ApiDaxReadPolicy"} & (
        off.resources()
    )
    assert "VpcConfig" not in off.resolve(ROOT_TEMPLATE["Globals"])["Function"]
    for name in ("ExecuteTradesFunction", "ApiFunction"):
        assert "ProvisionedConcurrencyConfig" not in _function(off, name)
        assert "ReservedConcurrentExecutions" not in _function(off, name)
    machine = off.resolve(ROOT_TEMPLATE["Resources"]["TradingStateMachine"])
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["ExecuteTradesFunctionArn"] == {
        "Fn::GetAtt": ["ExecuteTradesFunction", "Arn"]
    }


def test_root_with_every_option_on() -> None:
    on = Rendering(ROOT_TEMPLATE, ROOT_ON)
    assert {"S3GatewayEndpoint", "DynamoDBGatewayEndpoint", "ApiDaxReadPolicy"} <= on.resources()
    dax = ROOT_TEMPLATE["Resources"]["ApiDaxReadPolicy"]["Properties"]
    assert dax["Roles"] == [{"Ref": "ApiFunctionRole"}]
    (statement,) = dax["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Fn::GetAtt": ["StorageStack", "Outputs.DaxClusterArn"]}
    vpc = on.resolve(ROOT_TEMPLATE["Globals"])["Function"]["VpcConfig"]
    assert on.value(vpc["SubnetIds"]) == ROOT_ON["VpcSubnetIds"].split(",")
    execute = _function(on, "ExecuteTradesFunction")
    assert execute["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": {"Ref": "ExecuteTradesProvisionedConcurrency"}
    }
    assert execute["ReservedConcurrentExecutions"] == {"Ref": "WorkflowReservedConcurrency"}
    assert _function(on, "ApiFunction")["AutoPublishAlias"] == "live"
    machine = on.resolve(ROOT_TEMPLATE["Resources"]["TradingStateMachine"])
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["ExecuteTradesFunctionArn"] == {"Ref": "ExecuteTradesFunction.Alias"}
    api = on.resolve(ROOT_TEMPLATE["Resources"]["ApiStack"])["Properties"]["Parameters"]
    assert api["ApiFunctionArn"] == {"Ref": "ApiFunction.Alias"}


def test_root_passes_every_option_to_the_nested_stack_that_implements_it() -> None:
    storage = ROOT_TEMPLATE["Resources"]["StorageStack"]["Properties"]["Parameters"]
    monitoring = ROOT_TEMPLATE["Resources"]["MonitoringStack"]["Properties"]["Parameters"]
    for name in ("ReplicaRegions", "EnableDax", "DaxSubnetIds", "DaxSecurityGroupIds"):
        assert storage[name] == {"Ref": name}
    assert storage["EnableCloudTrail"] == monitoring["EnableCloudTrail"]
    assert storage["TrailName"] == monitoring["TrailName"]


def test_every_option_is_off_by_default_and_cloudtrail_is_on_in_prod() -> None:
    parameters = ROOT_TEMPLATE["Parameters"]
    for name in ROOT_ON:
        assert str(parameters[name]["Default"]) in {"", "false", "0"}, name
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    prod = config["prod"]["deploy"]["parameters"]["parameter_overrides"].split()
    dev = config["dev"]["deploy"]["parameters"]["parameter_overrides"].split()
    assert "EnableCloudTrail=true" in prod
    assert not any(item.startswith("EnableCloudTrail") for item in dev)


# --- cfn-lint with the options on -----------------------------------------------------------------


def _lintable_copy(destination: Path) -> Path:
    """The templates in ``destination``, the nested ones without their W1033 ignore: it only
    excuses the empty defaults, so with real ids switched on the check applies again. (The
    root keeps its own: cfn-lint checks SAM Globals before applying --parameters.)"""
    for path in ("template.yaml", *(f"stacks/{p.name}" for p in (ROOT / "stacks").glob("*.yaml"))):
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / path).read_text()
        if path.startswith("stacks/"):
            text = text.replace("ignore_checks: [W1033]", "ignore_checks: []")
        target.write_text(text)
    return destination


def _cfn_lint(root: Path, path: str, parameters: Mapping[str, str]) -> str:
    executable = _executable("cfn-lint")
    assert executable is not None
    values = [f"{key}={value}" for key, value in parameters.items()]
    result = _run([executable, "--parameters", *values, "--", path], root)
    return (result.stdout + result.stderr).strip()


@pytest.mark.parametrize(
    ("path", "parameters"),
    [
        ("template.yaml", ROOT_ON),
        ("stacks/storage.yaml", STORAGE_ON),
        ("stacks/monitoring.yaml", MONITORING_ON),
    ],
)
def test_cfn_lint_accepts_the_templates_with_every_option_on(
    tmp_path: Path, path: str, parameters: Mapping[str, str]
) -> None:
    if path == "stacks/monitoring.yaml":
        parameters = {**parameters, **_required_monitoring_parameters()}
    assert _cfn_lint(_lintable_copy(tmp_path), path, parameters) == ""


def test_cfn_lint_with_options_on_catches_a_wrong_id(tmp_path: Path) -> None:
    root = _lintable_copy(tmp_path)
    wrong = {**STORAGE_ON, "DaxSecurityGroupIds": "my-security-group"}
    assert "W1033 'my-security-group'" in _cfn_lint(root, "stacks/storage.yaml", wrong)


def _required_monitoring_parameters() -> dict[str, str]:
    placeholders = {
        "DataKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc",
        "TrailBucketName": "stp-dev-access-logs",
    }
    return {
        name: placeholders.get(name, "stp-dev-" + name.lower())
        for name, spec in MONITORING["Parameters"].items()
        if "Default" not in spec
    } | {"RejectedOrderRatioThreshold": "0.25"}
