"""The trading workflow's ASL: valid, every task guarded, retries matching the error classes,
and its behaviour when run by the Step Functions emulation against scripted Lambdas."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from moto import mock_aws

from stp.validate import (
    check_retry_policy,
    check_substitutions,
    check_task_error_handling,
    definition_substitutions,
    load_template,
    platform_error_names,
    run_asl_validator,
    state_machine_definition_path,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
ASL_PATH = state_machine_definition_path(ROOT, TEMPLATE)
ASL_TEXT = ASL_PATH.read_text()
DEFINITION: dict[str, Any] = json.loads(ASL_TEXT)
RETRYABLE, NOT_RETRYABLE = platform_error_names(ROOT)
TASKS = [name for name, state in DEFINITION["States"].items() if state["Type"] == "Task"]
ACCOUNT = "123456789012"
REGION = "us-east-1"


# --- Static checks -----------------------------------------------------------------------------


def test_asl_validator_accepts_the_definition() -> None:
    assert run_asl_validator(ROOT) == []


def test_states_read_like_the_workflow_diagram() -> None:
    assert DEFINITION["StartAt"] == "ProcessMarketData"
    assert set(DEFINITION["States"]) == {
        "ProcessMarketData",
        "HasSignals?",
        "NoSignals",
        "ExecuteTrades",
        "AnalyzePerformance",
        "RunSucceeded",
        "RecordFailure",
        "NotifyFailure",
        "RunFailed",
    }


def test_every_task_has_retry_and_catch() -> None:
    assert TASKS, "the workflow has no Task states"
    assert check_task_error_handling(DEFINITION) == []


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("field_name", ["Retry", "Catch"])
def test_a_task_without_retry_or_catch_is_reported(task: str, field_name: str) -> None:
    broken = copy.deepcopy(DEFINITION)
    del broken["States"][task][field_name]
    findings = check_task_error_handling(broken)
    assert [(f.location, f.message) for f in findings] == [
        (task, f"Task state has no {field_name}")
    ]


def test_every_task_catches_everything_into_the_failure_path() -> None:
    states = DEFINITION["States"]
    expected_next = {
        "ProcessMarketData": "RecordFailure",
        "ExecuteTrades": "RecordFailure",
        "AnalyzePerformance": "RecordFailure",
        "RecordFailure": "NotifyFailure",
        "NotifyFailure": "RunFailed",
    }
    for task, target in expected_next.items():
        catchers = states[task]["Catch"]
        assert [c["ErrorEquals"] for c in catchers] == [["States.ALL"]]
        assert catchers[0]["Next"] == target
    for task in ("ProcessMarketData", "ExecuteTrades", "AnalyzePerformance"):
        assert states[task]["Catch"][0]["ResultPath"] == "$.error"


def test_retries_follow_the_error_classes() -> None:
    assert {"TransientStoreError", "BrokerUnavailableError"} == RETRYABLE
    assert check_retry_policy(DEFINITION, RETRYABLE, NOT_RETRYABLE) == []


def test_retries_back_off_exponentially_with_full_jitter() -> None:
    for task in TASKS:
        for retrier in DEFINITION["States"][task]["Retry"]:
            assert 1 <= retrier["IntervalSeconds"] <= 2
            assert retrier["BackoffRate"] == 2
            assert retrier["MaxAttempts"] == 3
            assert retrier["JitterStrategy"] == "FULL"


def _with_retried(task: str, names: list[str]) -> dict[str, Any]:
    broken = copy.deepcopy(DEFINITION)
    broken["States"][task]["Retry"].append({"ErrorEquals": names, "MaxAttempts": 1})
    return broken


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["InvalidEventError"], "InvalidEventError is not retryable but the task retries it"),
        (["States.ALL"], "Retry on States.ALL would retry validation errors"),
        (["States.TaskFailed"], "Retry on States.TaskFailed would retry validation errors"),
        (["TransientStoreErorr"], "TransientStoreErorr is not an error class of"),
    ],
)
def test_wrong_retries_are_reported(names: list[str], message: str) -> None:
    findings = check_retry_policy(_with_retried("ExecuteTrades", names), RETRYABLE, NOT_RETRYABLE)
    assert len(findings) == 1
    assert findings[0].location == "ExecuteTrades"
    assert findings[0].message.startswith(message)


def test_a_transient_error_left_out_of_a_lambda_retry_is_reported() -> None:
    broken = copy.deepcopy(DEFINITION)
    for retrier in broken["States"]["AnalyzePerformance"]["Retry"]:
        names = retrier["ErrorEquals"]
        retrier["ErrorEquals"] = [name for name in names if name != "BrokerUnavailableError"]
    findings = check_retry_policy(broken, RETRYABLE, NOT_RETRYABLE)
    assert [(f.location, f.message) for f in findings] == [
        ("AnalyzePerformance", "transient error BrokerUnavailableError is not retried")
    ]


def test_substitutions_agree_with_the_template() -> None:
    assert definition_substitutions(TEMPLATE) == {
        "ProcessMarketDataFunctionArn",
        "ExecuteTradesFunctionArn",
        "AnalyzePerformanceFunctionArn",
        "RunsTableName",
        "AlertTopicArn",
    }
    assert check_substitutions(ASL_TEXT, TEMPLATE) == []


def test_substitution_mismatches_are_reported_both_ways() -> None:
    template = copy.deepcopy(TEMPLATE)
    substitutions = template["Resources"]["TradingStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    del substitutions["AlertTopicArn"]
    substitutions["UnusedName"] = "x"
    findings = check_substitutions(ASL_TEXT, template)
    assert sorted(f.location for f in findings) == ["${AlertTopicArn}", "UnusedName"]


def test_task_payloads_carry_the_run_id_and_s3_references_only() -> None:
    states = DEFINITION["States"]
    assert states["ProcessMarketData"]["Parameters"] == {
        "run_id.$": "$$.Execution.Name",
        "input.$": "$",
    }
    assert states["ExecuteTrades"]["Parameters"] == {
        "run_id.$": "$$.Execution.Name",
        "market_data.$": "$.market_data",
    }
    assert states["AnalyzePerformance"]["Parameters"] == {
        "run_id.$": "$$.Execution.Name",
        "market_data.$": "$.market_data",
        "execution.$": "$.execution",
    }
    result_paths = {task: states[task]["ResultPath"] for task in TASKS}
    assert result_paths == {
        "ProcessMarketData": "$.market_data",
        "ExecuteTrades": "$.execution",
        "AnalyzePerformance": "$.performance",
        "RecordFailure": None,
        "NotifyFailure": None,
    }


# --- Behaviour on the Step Functions emulation (moto) with scripted Lambdas -------------------


@dataclass
class ScriptedLambdas:
    """A local Lambda Invoke API: each function answers with its scripted outcomes in turn.

    An outcome is a result dict, or ``("ErrorType", "message")`` for a handler exception (sent as
    ``X-Amz-Function-Error``, as Lambda does). The last outcome repeats.
    """

    scripts: dict[str, list[Any]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, function: str, payload: Any) -> tuple[Any, bool]:
        with self.lock:
            self.calls.append((function, payload))
            outcomes = self.scripts.get(function, [{}])
            outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        if isinstance(outcome, tuple):
            error_type, message = outcome
            return {"errorType": error_type, "errorMessage": message}, True
        return outcome, False

    def invoked(self) -> list[str]:
        return [function for function, _ in self.calls]


def _serve(lambdas: ScriptedLambdas) -> ThreadingHTTPServer:
    class InvokeApi(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"null")
            target = unquote(self.path.split("/functions/", 1)[1].split("/", 1)[0])
            result, failed = lambdas.answer(target.rsplit(":", 1)[-1], payload)
            body = json.dumps(result).encode()
            self.send_response(200)
            if failed:
                self.send_header("X-Amz-Function-Error", "Unhandled")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), InvokeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Emulation:
    """The workflow deployed on moto, its Lambdas scripted, with the failure path's resources."""

    lambdas: ScriptedLambdas
    state_machine_arn: str
    runs_table: str
    topic_arn: str

    def run(self, run_id: str, workflow_input: dict[str, Any]) -> dict[str, Any]:
        client = boto3.client("stepfunctions", region_name=REGION)
        arn = client.start_execution(
            stateMachineArn=self.state_machine_arn, name=run_id, input=json.dumps(workflow_input)
        )["executionArn"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = client.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return dict(described)
            time.sleep(0.02)
        raise AssertionError(f"execution {run_id} still running after 30 s")

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        item = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=self.runs_table, Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "META"}}
        )
        return item.get("Item")

    def alerts(self) -> list[dict[str, Any]]:
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics[self.topic_arn]
        return [json.loads(message) for _, message, *_ in topic.sent_notifications]


@pytest.fixture
def emulation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulation]:
    lambdas = ScriptedLambdas()
    server = _serve(lambdas)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{server.server_port}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    config = {
        "stepfunctions": {"execute_state_machine": True},
        "core": {"passthrough": {"services": ["lambda"]}},
    }
    try:
        with mock_aws(config=config):  # type: ignore[arg-type]
            runs_table = "runs"
            boto3.client("dynamodb", region_name=REGION).create_table(
                TableName=runs_table,
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")[
                "TopicArn"
            ]
            values = {
                "ProcessMarketDataFunctionArn": _function_arn("ProcessMarketData"),
                "ExecuteTradesFunctionArn": _function_arn("ExecuteTrades"),
                "AnalyzePerformanceFunctionArn": _function_arn("AnalyzePerformance"),
                "RunsTableName": runs_table,
                "AlertTopicArn": topic_arn,
            }
            assert set(values) == definition_substitutions(TEMPLATE)
            definition = ASL_TEXT
            for name, value in values.items():
                definition = definition.replace(f"${{{name}}}", value)
            arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name="TradingWorkflow",
                definition=definition,
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/TradingWorkflowRole",
            )["stateMachineArn"]
            yield Emulation(lambdas, arn, runs_table, topic_arn)
    finally:
        server.shutdown()
        server.server_close()


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


WORKFLOW_INPUT = json.loads((ROOT / "events" / "workflow_input.json").read_text())


def _market_data(run_id: str, signal_count: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "bucket": WORKFLOW_INPUT["bucket"],
        "curated_key": f"curated/{run_id}/stocks.csv",
        "rejected_key": None,
        "signals_key": f"signals/{run_id}/signals.json",
        "signal_count": signal_count,
        "bars_accepted": 10,
        "bars_rejected": 0,
        "symbols": ["AAPL"],
        "config": {"strategy": "sma_cross"},
    }


EXECUTION = {"orders_placed": 2, "orders_rejected": 0, "fills": 2, "final_equity": 101.0}
PERFORMANCE = {"report_key": "reports/r/report.json", "headline": {"sharpe": 1.0}}


def test_a_run_with_signals_goes_through_all_three_steps(emulation: Emulation) -> None:
    market_data = _market_data("run-signals", signal_count=3)
    emulation.lambdas.scripts = {
        "ProcessMarketData": [market_data],
        "ExecuteTrades": [EXECUTION],
        "AnalyzePerformance": [PERFORMANCE],
    }
    described = emulation.run("run-signals", WORKFLOW_INPUT)
    assert described["status"] == "SUCCEEDED"
    assert emulation.lambdas.calls == [
        ("ProcessMarketData", {"run_id": "run-signals", "input": WORKFLOW_INPUT}),
        ("ExecuteTrades", {"run_id": "run-signals", "market_data": market_data}),
        (
            "AnalyzePerformance",
            {"run_id": "run-signals", "market_data": market_data, "execution": EXECUTION},
        ),
    ]
    output = json.loads(described["output"])
    assert output == {
        **WORKFLOW_INPUT,
        "market_data": market_data,
        "execution": EXECUTION,
        "performance": PERFORMANCE,
    }
    assert emulation.run_record("run-signals") is None
    assert emulation.alerts() == []


def test_a_run_without_signals_skips_execute_trades(emulation: Emulation) -> None:
    market_data = _market_data("run-quiet", signal_count=0)
    emulation.lambdas.scripts = {
        "ProcessMarketData": [market_data],
        "AnalyzePerformance": [PERFORMANCE],
    }
    described = emulation.run("run-quiet", WORKFLOW_INPUT)
    assert described["status"] == "SUCCEEDED"
    assert emulation.lambdas.invoked() == ["ProcessMarketData", "AnalyzePerformance"]
    assert emulation.lambdas.calls[1][1] == {
        "run_id": "run-quiet",
        "market_data": market_data,
        "execution": None,
    }


def test_a_transient_platform_error_is_retried(emulation: Emulation) -> None:
    emulation.lambdas.scripts = {
        "ProcessMarketData": [_market_data("run-retry", signal_count=1)],
        "ExecuteTrades": [("BrokerUnavailableError", "broker down"), EXECUTION],
        "AnalyzePerformance": [PERFORMANCE],
    }
    described = emulation.run("run-retry", WORKFLOW_INPUT)
    assert described["status"] == "SUCCEEDED"
    assert emulation.lambdas.invoked() == [
        "ProcessMarketData",
        "ExecuteTrades",
        "ExecuteTrades",
        "AnalyzePerformance",
    ]


def test_a_validation_error_fails_the_run_at_once_records_it_and_alerts(
    emulation: Emulation,
) -> None:
    emulation.lambdas.scripts = {
        "ProcessMarketData": [("InvalidEventError", "event has no key")],
    }
    described = emulation.run("run-invalid", WORKFLOW_INPUT)
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidEventError"
    assert "event has no key" in described["cause"]
    assert emulation.lambdas.invoked() == ["ProcessMarketData"]
    record = emulation.run_record("run-invalid")
    assert record is not None
    assert record["status"] == {"S": "FAILED"}
    assert record["error"] == {"S": "InvalidEventError"}
    assert "event has no key" in record["cause"]["S"]
    [alert] = emulation.alerts()
    assert alert["run_id"] == "run-invalid"
    assert alert["error"] == "InvalidEventError"
    assert alert["input"] == WORKFLOW_INPUT


def test_the_alert_still_goes_out_when_recording_the_failure_fails(
    emulation: Emulation,
) -> None:
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=emulation.runs_table)
    emulation.lambdas.scripts = {
        "ProcessMarketData": [_market_data("run-broken", signal_count=1)],
        "ExecuteTrades": [("RunNotFoundError", "no such run")],
    }
    described = emulation.run("run-broken", WORKFLOW_INPUT)
    assert described["status"] == "FAILED"
    assert described["error"] == "RunNotFoundError"
    [alert] = emulation.alerts()
    assert alert["error"] == "RunNotFoundError"
