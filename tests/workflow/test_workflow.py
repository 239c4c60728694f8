"""The whole application through the local runtime: the template deployed into emulated AWS,
an upload starting the workflow through the deployed EventBridge rule, the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.make_sample_events import chained_events
from stp.invoke import PLACEHOLDER_BUCKET, seed_raw_objects
from stp.local import Deployment, ExecutionOutcome, LocalCloud
from stp.local.traders import registry_of
from trading.bootstrap import CLIENT_ATTEMPTS
from trading.core.marketdata import parse_market_data
from trading.core.pipeline import run_backtest
from trading.core.settings import resolve_settings
from trading.service.admin import create_account, set_kill_switch
from trading.service.metadata import to_metadata

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "stocks.csv"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[LocalCloud, Deployment]]:
    with LocalCloud() as local:
        yield local, local.deploy(ROOT / "template.yaml", code_root=ROOT / "src")


def run(
    cloud: tuple[LocalCloud, Deployment], name: str, body: bytes, settings: dict[str, Any]
) -> ExecutionOutcome:
    local, deployment = cloud
    bucket = deployment.outputs["MarketDataBucketName"]
    (arn,) = local.upload(bucket, f"raw/{name}", body, to_metadata(settings))
    return local.wait(arn, timeout=120)


def dynamo_items(deployment: Deployment, table_output: str, pk: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    found = client.query(
        TableName=deployment.outputs[table_output],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    items: list[dict[str, Any]] = found["Items"]
    return items


def report_of(cloud: tuple[LocalCloud, Deployment], run_id: str) -> dict[str, Any]:
    local, deployment = cloud
    body = local.read_object(
        deployment.outputs["ReportsBucketName"], f"reports/{run_id}/report.json"
    )
    report: dict[str, Any] = json.loads(body)
    return report


def run_id_of(outcome: ExecutionOutcome) -> str:
    return outcome.execution_arn.rsplit(":", 1)[-1]


@pytest.mark.parametrize(
    "exits", [{}, {"stop_loss": 0.02, "take_profit": 0.04}], ids=["plain", "with-exits"]
)
def test_happy_path_report_equals_the_cores_own_result(
    cloud: tuple[LocalCloud, Deployment], exits: dict[str, float]
) -> None:
    settings = {
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30, **exits},
        "cash": 50_000,
        "commission": 0.001,
        "mode": "long-short",
        "cash_fraction": 0.25,
    }
    outcome = run(cloud, "stocks.csv", DATA.read_bytes(), settings)
    assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)
    assert [s.name for s in outcome.states] == [
        "ProcessMarketData",
        "HasSignals?",
        "ExecuteTrades",
        "AnalyzePerformance",
        "RunSucceeded",
    ]
    report = report_of(cloud, run_id_of(outcome))

    resolved = resolve_settings(None, settings)
    parsed = parse_market_data(DATA)
    expected = run_backtest(
        parsed.series, resolved.build_strategy(), resolved.run_config(f"{run_id_of(outcome)}-")
    )
    assert report["metrics"] == json.loads(json.dumps(expected.metrics.to_dict()))
    assert report["metrics"]["trades"] > 20
    if exits:  # the exits reached the engine through the upload's metadata
        assert report["settings"]["params"] == {"fast": 10, "slow": 30, **exits}
        kinds = {trade.exit_kind for trade in expected.engine.trades}
        assert {"stop_loss", "take_profit"} <= kinds
    _, deployment = cloud
    (meta,) = [
        i
        for i in dynamo_items(deployment, "RunsTableName", f"RUN#{run_id_of(outcome)}")
        if i["SK"]["S"] == "META"
    ]
    assert meta["status"]["S"] == "SUCCEEDED"


def test_no_signals_branch_still_reports_a_flat_run(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    # A slow average longer than the data: no signal can exist.
    settings = {"params": {"fast": 10, "slow": 5_000}, "cash": 10_000}
    outcome = run(cloud, "nosignals.csv", DATA.read_bytes(), settings)
    assert outcome.succeeded
    names = [s.name for s in outcome.states]
    assert "ExecuteTrades" not in names and "NoSignals" in names
    metrics = report_of(cloud, run_id_of(outcome))["metrics"]
    assert (metrics["trades"], metrics["final_equity"], metrics["total_return"]) == (0, 10_000, 0)


def test_a_transient_failure_is_absorbed_by_retry(cloud: tuple[LocalCloud, Deployment]) -> None:
    local, _ = cloud
    # Enough throttles to exhaust botocore's own attempts once: the step fails with
    # TransientStoreError, and the state machine's Retry runs it again.
    local.inject_fault(
        "dynamodb", "TransactWriteItems", "ThrottlingException", times=CLIENT_ATTEMPTS
    )
    outcome = run(cloud, "retry.csv", DATA.read_bytes(), {})
    assert outcome.succeeded
    (execute,) = [s for s in outcome.states if s.name == "ExecuteTrades"]
    assert execute.retries == 1 and execute.status == "SUCCEEDED"


def test_a_permanent_failure_is_caught_recorded_alerted_and_leaves_the_portfolio_alone(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    local, deployment = cloud
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    boto3.client("sns", region_name="us-east-1").subscribe(
        TopicArn=deployment.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn
    )
    # A request DynamoDB rejects as invalid is not transient: no retry, the Catch takes it.
    local.inject_fault("dynamodb", "TransactWriteItems", "ValidationException", times=1)
    outcome = run(cloud, "permanent.csv", DATA.read_bytes(), {})
    assert outcome.status == "FAILED"
    assert outcome.failed_state == "ExecuteTrades"
    names = [s.name for s in outcome.states]
    assert names[-3:] == ["RecordFailure", "NotifyFailure", "RunFailed"]
    run_id = run_id_of(outcome)
    (meta,) = [
        i
        for i in dynamo_items(deployment, "RunsTableName", f"RUN#{run_id}")
        if i["SK"]["S"] == "META"
    ]
    assert meta["status"]["S"] == "FAILED"
    assert outcome.error and meta["error"]["S"] == outcome.error
    assert "ValidationException" in meta["cause"]["S"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    alerts = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    assert [a["run_id"] for a in alerts] == [run_id]
    assert dynamo_items(deployment, "PortfolioTableName", f"ACCOUNT#run-{run_id}") == []


def test_a_duplicated_execute_trades_invocation_never_fills_twice(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    local, deployment = cloud
    outcome = run(cloud, "duplicate.csv", DATA.read_bytes(), {"cash_fraction": 0.5})
    assert outcome.succeeded
    run_id = run_id_of(outcome)
    account = f"ACCOUNT#run-{run_id}"
    before = dynamo_items(deployment, "PortfolioTableName", account)
    first = next(
        json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
        for e in local.history(outcome.execution_arn)
        if e["type"] == "LambdaFunctionScheduled"
        and "ExecuteTrades" in e["lambdaFunctionScheduledEventDetails"]["resource"]
    )
    assert set(first) == {"run_id", "market_data"}
    again = local.invoke("ExecuteTradesFunction", first)
    assert again.ok
    assert again.payload == outcome.output["execution"]
    assert dynamo_items(deployment, "PortfolioTableName", account) == before


def test_the_sample_events_run_and_are_current(cloud: tuple[LocalCloud, Deployment]) -> None:
    # Regenerating the chained events from a real run gives the committed files.
    local, deployment = cloud
    for name, event in chained_events(local, deployment).items():
        committed = json.loads((ROOT / "events" / name).read_text())
        assert committed == event, (
            f"events/{name} is stale: run python -m scripts.make_sample_events"
        )


def test_a_live_account_without_signals_still_executes_its_open_orders(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    settings = {"params": {"fast": 10, "slow": 5_000}, "account": "live-paper-test"}
    outcome = run(cloud, "live.csv", DATA.read_bytes(), settings)
    assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)
    names = [s.name for s in outcome.states]
    assert "ExecuteTrades" in names and "NoSignals" not in names
    _, deployment = cloud
    state = [
        i
        for i in dynamo_items(deployment, "PortfolioTableName", "ACCOUNT#live-paper-test")
        if i["SK"]["S"] == "BOOK"
    ]
    assert len(state) == 1  # the account is kept for the next run


def test_the_workflow_input_event_starts_a_run_directly(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    # As from the Step Functions console: StartExecution with events/workflow_input.json.
    local, deployment = cloud
    bucket = deployment.outputs["MarketDataBucketName"]
    text = (ROOT / "events" / "workflow_input.json").read_text().replace(PLACEHOLDER_BUCKET, bucket)
    seed_raw_objects(local, bucket, text, ROOT / "data")
    arn = boto3.client("stepfunctions", region_name="us-east-1").start_execution(
        stateMachineArn=deployment.outputs["StateMachineArn"], name="console-run", input=text
    )["executionArn"]
    outcome = local.wait(arn, timeout=120)
    assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)
    assert report_of(cloud, "console-run")["data"]["bars_accepted"] == 8_592


def test_the_default_deploy_skips_only_what_the_emulation_lacks(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    _, deployment = cloud
    skipped = {
        warning.split(" (", 1)[1].split(")", 1)[0]
        for warning in deployment.skipped
        if "not supported by the emulation" in warning
    }
    # Types moto does not model are skipped with a warning (moto's registry decides, so the
    # list lives nowhere else); the optional ones are skipped whatever their condition says.
    assert {
        "AWS::CloudWatch::Alarm",
        "AWS::SecretsManager::Secret",
        "AWS::SecretsManager::RotationSchedule",
        "AWS::Lambda::Alias",
        "AWS::DynamoDB::GlobalTable",
        "AWS::DAX::Cluster",
        "AWS::CloudTrail::Trail",
    } <= skipped
    # What the workflow needs is really created.
    assert not skipped & {
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::Logs::LogGroup",
        "AWS::SQS::Queue",
        "AWS::Events::Rule",
    }
    resources = set(deployment.resources)
    for created in (
        "StorageStack/PortfolioTable",
        "StorageStack/QuotesTable",
        "TriggerDeadLetterQueue",
        "ExecuteTradesLogGroup",
    ):
        assert created in resources, created
    for absent in ("StorageStack/DaxCluster", "StorageStack/PortfolioGlobalTable"):
        assert absent not in resources, absent


def test_a_halted_accounts_upload_trades_nothing_and_fails_as_trading_halted(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    # An operator's `aws s3 cp` into the account's folder: no API check sees it, the
    # workflow's first step must.
    local, deployment = cloud
    registry = registry_of(local, deployment)
    create_account("desk-halted", owner="operator", settings=None, registry=registry)
    set_kill_switch("desk-halted", True, registry=registry)
    bucket = deployment.outputs["MarketDataBucketName"]
    key = "raw/desk-halted/bars.csv"
    body = DATA.read_bytes()
    (arn,) = local.upload(bucket, key, body)
    outcome = local.wait(arn, timeout=120)
    assert (outcome.status, outcome.failed_state, outcome.error) == (
        "FAILED",
        "ProcessMarketData",
        "TradingHaltedError",
    )
    assert outcome.cause and "TRADING_HALTED" in outcome.cause
    run_id = run_id_of(outcome)
    (meta,) = [
        i
        for i in dynamo_items(deployment, "RunsTableName", f"RUN#{run_id}")
        if i["SK"]["S"] == "META"
    ]
    assert (meta["status"]["S"], meta["error"]["S"]) == ("FAILED", "TradingHaltedError")
    assert local.read_object(bucket, key) == body  # the raw file is kept as it was
    s3 = boto3.client("s3", region_name="us-east-1")
    for prefix in (f"curated/{run_id}/", f"signals/{run_id}/", f"ledger/{run_id}/"):
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0, prefix
    quotes = dynamo_items(deployment, "QuotesTableName", "QUOTE#desk-halted#AAPL")
    assert quotes == []
    # The switch off, the same file trades: the refusal was the kill switch's.
    set_kill_switch("desk-halted", False, registry=registry)
    (arn,) = local.upload(bucket, "raw/desk-halted/bars-again.csv", body)
    outcome = local.wait(arn, timeout=120)
    assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)
    assert dynamo_items(deployment, "QuotesTableName", "QUOTE#desk-halted#AAPL") != []
