"""The Api function on emulated AWS (moto), driven with the sample REST proxy events, and once
through the local runtime: POST /runs starts the real workflow, GET /runs/{run_id} reads it back."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

# Read when the handler module is imported, as the template sets them.
os.environ["ALLOWED_ORIGINS"] = "https://app.example.com, https://admin.example.com"
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "trading-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ServerlessTradingPlatform")

from handlers import api, routes
from tests.integration.test_adapters import create_tables
from tests.integration.test_handlers import (
    ENVIRONMENT,
    MARKET_BUCKET,
    REGION,
    REPORTS_BUCKET,
    TABLES,
    Context,
    sample_event,
)
from trading.bootstrap import get_api_platform, get_platform, reset_platform
from trading.service.admin import create_account
from trading.service.ports import NewRun, StepRecord

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = ("https://app.example.com", "https://admin.example.com")
ACCOUNT = "paper"
"""The sample events' caller's account (registered by the fixture)."""
KEY = f"raw/{ACCOUNT}/stocks.csv"
ROLE_ARN = "arn:aws:iam::123456789012:role/workflow"
# Never executed here: moto keeps started executions RUNNING.
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
SAMPLE_CONFIG = {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}, "cash": 100000}


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=MARKET_BUCKET)
        s3.create_bucket(Bucket=REPORTS_BUCKET)
        s3.put_object(Bucket=MARKET_BUCKET, Key=KEY, Body=b"date,symbol,close\n")
        create_tables(boto3.client("dynamodb", region_name=REGION), TABLES)
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        machine = stepfunctions.create_state_machine(
            name="workflow", definition=DEFINITION, roleArn=ROLE_ARN
        )
        monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
        reset_platform()
        register_account(ACCOUNT, sample_caller())
        yield {"s3": s3, "stepfunctions": stepfunctions, "arn": machine["stateMachineArn"]}
        reset_platform()


def sample_caller() -> str:
    """The sample events' caller (the ``sub`` of their authorizer claims)."""
    claims = sample_event("api.place_order.json")["requestContext"]["authorizer"]["claims"]
    return str(claims["sub"])


def register_account(account: str, owner: str, **settings: Any) -> None:
    """Register ``account`` owned (and so usable) by ``owner``, as an admin would."""
    create_account(account, owner=owner, settings=settings, registry=get_api_platform().registry)


def call(event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Status, decoded JSON body and (single-valued) headers of the handler's response."""
    response = api.lambda_handler(event, Context(function_name="Api"))
    return decode(response)


def decode(response: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    headers = {name: values[-1] for name, values in response["multiValueHeaders"].items()}
    body = json.loads(response["body"]) if response["body"] else None
    return response["statusCode"], body, headers


def start_event(body: Any, *, raw: str | None = None) -> dict[str, Any]:
    event = sample_event("api.start_run.json")
    event["body"] = raw if raw is not None else json.dumps(body)
    return event


def get_event(run_id: str) -> dict[str, Any]:
    event = sample_event("api.get_run.json")
    event["path"] = f"/runs/{run_id}"
    event["pathParameters"] = {"run_id": run_id}
    return event


def preflight_event(path: str, origin: str) -> dict[str, Any]:
    event = copy.deepcopy(sample_event("api.health.json"))
    event.update(httpMethod="OPTIONS", path=path, resource=path)
    event["headers"] = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    return event


def executions(cloud: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cloud["stepfunctions"].list_executions(
        stateMachineArn=cloud["arn"]
    )["executions"]
    return found


def test_health_answers_ok_with_service_and_version(cloud: dict[str, Any]) -> None:
    status, body, headers = call(sample_event("api.health.json"))
    assert status == 200
    assert body == {"status": "ok", "service": "trading-tests", "version": "$LATEST"}
    assert headers["Content-Type"] == "application/json"


def test_start_run_starts_the_workflow_with_the_sample_request(cloud: dict[str, Any]) -> None:
    status, body, _ = call(sample_event("api.start_run.json"))

    assert status == 202
    assert set(body) == {"run_id", "execution_arn", "status"} and body["status"] == "RUNNING"
    (execution,) = executions(cloud)
    assert execution["name"] == body["run_id"] and len(body["run_id"]) == 36  # a uuid4
    assert execution["executionArn"] == body["execution_arn"]
    described = cloud["stepfunctions"].describe_execution(executionArn=body["execution_arn"])
    assert json.loads(described["input"]) == {
        "bucket": MARKET_BUCKET,
        "key": KEY,
        "source": "api",
        "config": SAMPLE_CONFIG,
    }


def test_a_backtest_runs_at_the_accounts_costs_unless_the_request_tries_others(
    cloud: dict[str, Any],
) -> None:
    register_account("desk-cost", sample_caller(), commission=0.002, leverage=2.0)
    key = "raw/desk-cost/bars.csv"
    cloud["s3"].put_object(Bucket=MARKET_BUCKET, Key=key, Body=b"date,symbol,close\n")
    inputs = []
    for config in (None, {"commission": 0.0, "cash": 5000}):
        event = start_event({"key": key, **({"config": config} if config else {})})
        event["headers"]["X-Account-Id"] = "desk-cost"
        event["multiValueHeaders"]["X-Account-Id"] = ["desk-cost"]
        status, body, _ = call(event)
        assert status == 202, body
        described = cloud["stepfunctions"].describe_execution(executionArn=body["execution_arn"])
        inputs.append(json.loads(described["input"])["config"])
    assert inputs == [
        {"commission": 0.002, "leverage": 2.0},
        {"commission": 0.0, "leverage": 2.0, "cash": 5000},
    ]


def test_a_started_run_is_readable_at_once_as_running(cloud: dict[str, Any]) -> None:
    _, started, _ = call(start_event({"key": KEY, "run_id": "read-at-once"}))
    status, body, _ = call(get_event(started["run_id"]))
    assert status == 200
    assert (body["status"], body["source"], body["steps"]) == ("RUNNING", "api", [])


def test_start_run_defaults_the_bucket_and_omits_an_absent_config(cloud: dict[str, Any]) -> None:
    status, body, _ = call(start_event({"key": KEY, "run_id": "my-run_1"}))
    assert (status, body["run_id"]) == (202, "my-run_1")
    described = cloud["stepfunctions"].describe_execution(executionArn=body["execution_arn"])
    assert json.loads(described["input"]) == {"bucket": MARKET_BUCKET, "key": KEY, "source": "api"}


@pytest.mark.parametrize(
    ("request_body", "code", "field", "words"),
    [
        ({"key": KEY, "config": {"cash": -5}}, "INVALID_RUN_CONFIG", "config.cash", "cash"),
        ({"key": KEY, "config": {"strategy": "nope"}}, "INVALID_RUN_CONFIG", "config", "nope"),
        ({"key": KEY, "config": {"casj": 1}}, "INVALID_RUN_CONFIG", "config", "casj"),
        ({"key": KEY, "config": [1]}, "INVALID_REQUEST", "config", "config"),
        ({"key": "curated/x.csv"}, "INVALID_REQUEST", "key", "raw/"),
        ({"config": {}}, "INVALID_REQUEST", "key", "key"),
        ({"key": KEY, "bucket": "someone-else"}, "INVALID_REQUEST", "bucket", MARKET_BUCKET),
        ({"key": KEY, "run_id": "a/b"}, "INVALID_REQUEST", "run_id", "run_id"),
        ({"key": KEY, "run_id": "x" * 81}, "INVALID_REQUEST", "run_id", "run_id"),
        ({"key": KEY, "extra": 1}, "INVALID_REQUEST", "extra", "extra"),
        ({"key": "raw/" + "é" * 600}, "INVALID_REQUEST", "key", "bytes"),
        ([KEY], "INVALID_REQUEST", "body", "object"),
    ],
)
def test_start_run_rejects_a_bad_request_naming_the_field(
    cloud: dict[str, Any], request_body: Any, code: str, field: str, words: str
) -> None:
    status, body, _ = call(start_event(request_body))

    assert status == 400
    assert body["code"] == code and body["details"]["field"] == field
    assert words in body["message"]
    assert executions(cloud) == []


def test_start_run_on_a_missing_object_is_404_and_starts_nothing(cloud: dict[str, Any]) -> None:
    status, body, _ = call(start_event({"key": "raw/absent.csv"}))
    assert status == 404
    assert body["code"] == "OBJECT_NOT_FOUND" and "raw/absent.csv" in body["message"]
    assert executions(cloud) == []


def test_starting_the_same_run_twice_returns_the_same_run(cloud: dict[str, Any]) -> None:
    request = {"key": KEY, "run_id": "daily-2024-01-02", "config": {"cash": 5000}}
    first = call(start_event(request))
    # Same fields, another order and spacing: still the same request.
    again = call(start_event(None, raw=json.dumps(dict(reversed(request.items())), indent=2)))

    assert first[0] == again[0] == 202
    assert first[1] == again[1]
    assert len(executions(cloud)) == 1


def test_the_same_run_id_after_the_run_ended_still_returns_it(cloud: dict[str, Any]) -> None:
    request = {"key": KEY, "run_id": "ended"}
    _, started, _ = call(start_event(request))
    cloud["stepfunctions"].stop_execution(executionArn=started["execution_arn"])

    status, body, _ = call(start_event(request))  # Step Functions refuses a closed one

    assert status == 202
    assert body == {**started, "status": "ABORTED"}


def test_the_same_run_id_with_another_request_is_409(cloud: dict[str, Any]) -> None:
    call(start_event({"key": KEY, "run_id": "taken"}))
    status, body, _ = call(start_event({"key": KEY, "run_id": "taken", "config": {"cash": 1}}))
    assert status == 409
    assert body["code"] == "RUN_EXISTS" and "taken" in body["message"]
    assert len(executions(cloud)) == 1


def test_get_run_shows_the_record_and_its_steps_in_order(cloud: dict[str, Any]) -> None:
    runs = get_platform().runs
    run_id = sample_event("api.get_run.json")["pathParameters"]["run_id"]
    runs.start(NewRun(run_id, MARKET_BUCKET, KEY, "api", None, "2024-01-02T21:30:00.000Z", ACCOUNT))
    for number, name in [(2, "ExecuteTrades"), (1, "ProcessMarketData")]:
        step = StepRecord(
            number,
            name,
            f"2024-01-02T21:30:0{number}.000Z",
            f"2024-01-02T21:30:0{number}.500Z",
            500,
            {"n": number},
        )
        runs.record_step(run_id, step, {"updated_at": step.ended_at, "settings": {"cash": 1.5}})

    status, body, _ = call(sample_event("api.get_run.json"))

    assert status == 200
    assert body == {
        "run_id": run_id,
        "status": "RUNNING",
        "source": "api",
        "settings": {"cash": 1.5},
        "created_at": "2024-01-02T21:30:00.000Z",
        "updated_at": "2024-01-02T21:30:01.500Z",
        "error": None,
        "cause": None,
        "headline": None,
        "warnings": [],
        "committed": None,
        "steps": [
            {
                "name": "ProcessMarketData",
                "started_at": "2024-01-02T21:30:01.000Z",
                "ended_at": "2024-01-02T21:30:01.500Z",
                "duration_ms": 500,
                "summary": {"n": 1},
            },
            {
                "name": "ExecuteTrades",
                "started_at": "2024-01-02T21:30:02.000Z",
                "ended_at": "2024-01-02T21:30:02.500Z",
                "duration_ms": 500,
                "summary": {"n": 2},
            },
        ],
    }


@pytest.mark.parametrize("run_id", ["unknown-run", "not%20an%20id"])
def test_get_an_unknown_run_is_404(cloud: dict[str, Any], run_id: str) -> None:
    status, body, _ = call(get_event(run_id))
    assert status == 404
    assert body["code"] == "RUN_NOT_FOUND" and set(body) == {"code", "message", "details"}


@pytest.mark.parametrize("raw", ["{not json", '{"key": "raw/stocks.csv"'])
def test_an_invalid_json_body_is_400(cloud: dict[str, Any], raw: str) -> None:
    status, body, _ = call(start_event(None, raw=raw))
    assert status == 400 and body["code"] == "INVALID_JSON"


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "text/plain",
    ],
)
def test_a_body_that_is_not_json_is_400_naming_the_content_type(
    cloud: dict[str, Any], content_type: str
) -> None:
    event = start_event({"key": KEY})
    event["headers"] = {**(event.get("headers") or {}), "Content-Type": content_type}
    event["multiValueHeaders"] = {
        **(event.get("multiValueHeaders") or {}),
        "Content-Type": [content_type],
    }
    status, body, _ = call(event)
    assert (status, body["details"]) == (400, {"field": "Content-Type"})
    assert "unsupported/" not in body["message"]


def test_a_body_that_is_not_utf8_is_invalid_json_not_a_500(cloud: dict[str, Any]) -> None:
    event = start_event(None, raw=base64.b64encode(b"\x03X_\x11a\x1eA\xe9w\xff").decode())
    event["isBase64Encoded"] = True
    status, body, _ = call(event)
    assert (status, body["code"]) == (400, "INVALID_JSON")


def test_a_base64_body_is_decoded(cloud: dict[str, Any]) -> None:
    event = start_event(None, raw=base64.b64encode(json.dumps({"key": KEY}).encode()).decode())
    event["isBase64Encoded"] = True
    assert call(event)[0] == 202


def test_an_unknown_route_is_a_json_404_and_a_wrong_method_a_json_405(
    cloud: dict[str, Any],
) -> None:
    event = sample_event("api.health.json")
    event.update(httpMethod="GET", path="/nowhere")
    status, body, _ = call(event)
    assert status == 404
    assert body["code"] == "NOT_FOUND" and "/nowhere" in body["message"]

    event.update(httpMethod="DELETE", path="/runs")
    status, body, headers = call(event)
    assert status == 405
    assert body["code"] == "METHOD_NOT_ALLOWED" and body["details"]["allowed"] == ["GET", "POST"]
    assert headers["Allow"] == "GET, POST"


def test_a_transient_aws_failure_is_503_with_retry_after(cloud: dict[str, Any]) -> None:
    client = get_api_platform().stepfunctions
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "start_execution", service_error_code="ThrottlingException", http_status_code=400
        )
        status, body, headers = call(start_event({"key": KEY}))
    assert status == 503
    assert body["code"] == "UNAVAILABLE" and "Throttling" not in body["message"]
    assert headers["Retry-After"] == "2"


def test_an_unexpected_failure_is_500_without_a_traceback(
    cloud: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(routes.runs, "describe_run", broken)
    status, body, _ = call(get_event("any"))
    assert status == 500
    assert body["code"] == "INTERNAL" and "secret" not in json.dumps(body)


@pytest.mark.parametrize("path", ["/health", "/runs", "/runs/abc"])
def test_cors_preflight_answers_allowed_origins_only(cloud: dict[str, Any], path: str) -> None:
    status, body, headers = call(preflight_event(path, ALLOWED[1]))
    assert (status, body) == (204, None)
    assert headers["Access-Control-Allow-Origin"] == ALLOWED[1]
    assert {"GET", "POST"} <= set(headers["Access-Control-Allow-Methods"].split(","))
    assert "X-Api-Key" in headers["Access-Control-Allow-Headers"]

    _, _, refused = call(preflight_event(path, "https://evil.example.com"))
    assert "Access-Control-Allow-Origin" not in refused


def test_a_response_to_an_allowed_origin_carries_cors_headers(cloud: dict[str, Any]) -> None:
    event = sample_event("api.health.json")
    event["headers"]["Origin"] = ALLOWED[0]
    event["multiValueHeaders"]["Origin"] = [ALLOWED[0]]
    assert call(event)[2]["Access-Control-Allow-Origin"] == ALLOWED[0]


# Last: leaving the local runtime unloads the handler modules (the next import is cold).
@pytest.mark.slow
def test_a_run_started_through_the_api_succeeds_and_reads_back() -> None:
    from stp.local import LocalCloud
    from stp.local.traders import registry_of

    reset_platform()
    with LocalCloud() as local:
        deployment = local.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        create_account(
            ACCOUNT, owner=sample_caller(), settings=None, registry=registry_of(local, deployment)
        )
        bucket = deployment.outputs["MarketDataBucketName"]
        # A plain put: LocalCloud.upload would also start a run through the upload trigger.
        boto3.client("s3", region_name=local.region).put_object(
            Bucket=bucket, Key=KEY, Body=(ROOT / "data" / "stocks.csv").read_bytes()
        )
        start = start_event({"key": KEY, "run_id": "api-e2e", "config": {"cash": 50000}})
        started = local.invoke("ApiFunction", start)
        status, body, _ = decode(started.payload)
        assert (status, body["run_id"], body["status"]) == (202, "api-e2e", "RUNNING")

        outcome = local.wait(body["execution_arn"], timeout=60)
        assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)

        status, run, _ = decode(local.invoke("ApiFunction", get_event("api-e2e")).payload)
    reset_platform()
    assert status == 200
    assert (run["status"], run["source"], run["settings"]["cash"]) == ("SUCCEEDED", "api", 50000)
    assert [step["name"] for step in run["steps"]] == [
        "ProcessMarketData",
        "ExecuteTrades",
        "AnalyzePerformance",
    ]
    assert run["headline"] and run["error"] is None
