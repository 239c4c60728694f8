"""The three Lambda handlers on emulated AWS (moto), invoked with the sample events."""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

# Powertools reads these when the handler modules are imported (as the template sets them).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "trading-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ServerlessTradingPlatform")

from handlers import analyze_performance, execute_trades, process_market_data
from handlers.observability import logger
from tests.infra.test_events import EXECUTION_KEYS, MARKET_DATA_KEYS
from tests.integration.test_adapters import create_tables
from tests.service.fakes import sample_csv
from trading.bootstrap import get_platform, reset_platform
from trading.errors import (
    InvalidEventError,
    InvalidRunConfigError,
    MarketDataUnreadableError,
    TransientStoreError,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MARKET_BUCKET = "example-market-data"  # the bucket the sample events name
REPORTS_BUCKET = "example-reports"
TABLES = {"RunsTable": "runs", "PortfolioTable": "portfolio", "QuotesTable": "quotes"}
ENVIRONMENT = {
    "MARKET_DATA_BUCKET": MARKET_BUCKET,
    "REPORTS_BUCKET": REPORTS_BUCKET,
    "RUNS_TABLE": "runs",
    "PORTFOLIO_TABLE": "portfolio",
    "QUOTES_TABLE": "quotes",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
}
EXECUTION_OUTPUT_KEYS = EXECUTION_KEYS | {"account", "orders_key", "fills_key"}
# A duplicate or failed invocation has no metrics to publish, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


@dataclass
class Context:
    """The attributes of the Lambda context that Powertools reads."""

    function_name: str = "ExecuteTrades"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ExecuteTrades"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def sample_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return event


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket=MARKET_BUCKET)
        s3.create_bucket(Bucket=REPORTS_BUCKET)
        create_tables(dynamodb, TABLES)
        reset_platform()
        yield {"s3": s3, "dynamodb": dynamodb}
        reset_platform()


def upload(cloud: dict[str, Any], body: bytes, metadata: dict[str, str] | None = None) -> None:
    cloud["s3"].put_object(
        Bucket=MARKET_BUCKET, Key="raw/stocks.csv", Body=body, Metadata=metadata or {}
    )


def item(cloud: dict[str, Any], table: str, pk: str, sk: str) -> dict[str, Any] | None:
    found = cloud["dynamodb"].get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}})
    return found.get("Item")  # type: ignore[no-any-return]


def partition(cloud: dict[str, Any], table: str, pk: str) -> list[str]:
    found = cloud["dynamodb"].query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return sorted(entry["SK"]["S"] for entry in found["Items"])


def emitted_metrics(out: str) -> dict[str, float]:
    """Metric values of the EMF documents printed on stdout."""
    values: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        if "_aws" in document:
            for spec in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[spec["Name"]]
                values[spec["Name"]] = value[0] if isinstance(value, list) else value
    return values


def run_workflow(
    cloud: dict[str, Any], body: bytes, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ProcessMarketData → ExecuteTrades (if any signal) → AnalyzePerformance, sample events."""
    upload(cloud, body)
    start = sample_event("process_market_data.json")
    if config is not None:
        start["input"]["config"] = config
    market_data = process_market_data.handler(start, Context())
    execution = None
    if market_data["signal_count"]:
        event = sample_event("execute_trades.json")
        event["market_data"] = market_data
        execution = execute_trades.handler(event, Context())
    analysis = sample_event("analyze_performance.json")
    analysis.update(market_data=market_data, execution=execution)
    performance = analyze_performance.handler(analysis, Context())
    return {
        "run_id": start["run_id"],
        "market_data": market_data,
        "execution": execution,
        "performance": performance,
    }


def test_process_market_data_validates_stores_and_reports(
    cloud: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    raw = sample_csv(("AAPL", "MSFT"), bars=120) + b"2021-01-01,AAPL,1,0.5,1,1,1\n"
    upload(cloud, raw)
    event = sample_event("process_market_data.json")
    output = process_market_data.handler(event, Context())
    run_id = event["run_id"]

    assert set(output) == MARKET_DATA_KEYS
    assert output["bucket"] == MARKET_BUCKET and output["symbols"] == ["AAPL", "MSFT"]
    assert (output["bars_accepted"], output["bars_rejected"]) == (240, 1)
    assert output["rejected_key"] == f"rejected/{run_id}/stocks.csv.jsonl"
    s3 = cloud["s3"]
    assert s3.get_object(Bucket=MARKET_BUCKET, Key="raw/stocks.csv")["Body"].read() == raw
    rejected = s3.get_object(Bucket=MARKET_BUCKET, Key=output["rejected_key"])["Body"].read()
    assert json.loads(rejected)["reasons"][0]["code"] == "HIGH_BELOW_OPEN_CLOSE"
    run = item(cloud, "runs", f"RUN#{run_id}", "META")
    assert run is not None and run["status"] == {"S": "RUNNING"}
    assert run["settings"]["M"]["strategy"] == {"S": "sma_cross"}
    assert partition(cloud, "runs", f"RUN#{run_id}") == ["META", "STEP#01#ProcessMarketData"]
    quote = item(cloud, "quotes", "QUOTE#MSFT", "LATEST")
    assert quote is not None and quote["run_id"] == {"S": run_id}
    out = capsys.readouterr().out
    assert emitted_metrics(out) == {"BarsAccepted": 240, "BarsRejected": 1}
    assert logger.get_correlation_id() == run_id  # every log line of the run carries it


def test_the_workflow_books_once_even_when_execution_is_delivered_twice(
    cloud: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_workflow(cloud, sample_csv(("AAPL", "MSFT"), bars=300))
    run_id, execution = outcome["run_id"], outcome["execution"]
    assert execution is not None and set(execution) == EXECUTION_OUTPUT_KEYS
    account = f"ACCOUNT#run-{run_id}"
    state_before = item(cloud, "portfolio", account, "BOOK")
    capsys.readouterr()

    duplicate = sample_event("execute_trades.duplicate.json")
    duplicate["market_data"] = outcome["market_data"]
    again = execute_trades.handler(duplicate, Context())

    assert again == execution
    assert item(cloud, "portfolio", account, "BOOK") == state_before  # cash unchanged
    assert state_before is not None and state_before["version"] == {"N": "1"}
    fills = cloud["s3"].get_object(Bucket=MARKET_BUCKET, Key=execution["fills_key"])
    assert len(fills["Body"].read().splitlines()) == execution["fills"] > 0
    assert [sk for sk in partition(cloud, "portfolio", account) if sk.startswith("RUN#")] == [
        f"RUN#{run_id}"
    ]
    assert emitted_metrics(capsys.readouterr().out) == {}  # counted once, by the first

    performance = outcome["performance"]
    assert set(performance) == {"run_id", "report_key", "html_key", "headline"}
    assert performance["headline"]["final_equity"] == pytest.approx(execution["final_equity"])
    reports = cloud["s3"].list_objects_v2(Bucket=REPORTS_BUCKET, Prefix=f"reports/{run_id}/")
    assert sorted(entry["Key"].rsplit("/", 1)[1] for entry in reports["Contents"]) == [
        "equity.csv",
        "report.html",
        "report.json",
        "trades.csv",
    ]
    run = item(cloud, "runs", f"RUN#{run_id}", "META")
    assert run is not None and run["status"] == {"S": "SUCCEEDED"}
    assert set(run["headline"]["M"]) == set(performance["headline"])
    assert partition(cloud, "runs", f"RUN#{run_id}") == [
        "META",
        "STEP#01#ProcessMarketData",
        "STEP#02#ExecuteTrades",
        "STEP#03#AnalyzePerformance",
    ]


def test_a_live_step_costs_at_most_two_dynamodb_round_trips_per_order(
    cloud: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    upload(cloud, sample_csv(("AAPL",), bars=50), {"stp-strategy": "buy_and_hold"})
    start = sample_event("process_market_data.json")
    start["input"]["config"] = {"account": "paper"}
    market_data = process_market_data.handler(start, Context())
    requests: Counter[str] = Counter()

    def count(event_name: str, **kwargs: Any) -> None:
        requests[event_name.rsplit(".", 1)[1]] += 1

    get_platform().dynamodb.meta.events.register_first("before-send.dynamodb", count)
    event = sample_event("execute_trades.json")
    event["market_data"] = market_data
    summary = execute_trades.handler(event, Context())

    assert summary["account"] == "paper" and summary["orders_placed"] == 1
    # One Query (the account and its open orders), one transaction, then the symbol's quote
    # (a live run stores it once its commit stands).
    assert requests == Counter({"Query": 1, "TransactWriteItems": 1, "PutItem": 1})
    assert (requests["Query"] + requests["TransactWriteItems"]) / summary["orders_placed"] <= 2
    booked = partition(cloud, "portfolio", "ACCOUNT#paper")
    assert [sk.split("#")[0] for sk in booked] == ["BOOK", "FILL", "ORDER", "RUN"]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["OrdersPlaced"] == 1 and metrics["Fills"] == 1
    assert metrics["Equity"] == pytest.approx(summary["final_equity"])


def test_without_signals_the_analysis_reports_flat_equity(
    cloud: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_workflow(cloud, sample_csv(("AAPL",), bars=20))
    assert outcome["market_data"]["signal_count"] == 0 and outcome["execution"] is None
    headline = outcome["performance"]["headline"]
    assert headline["total_return"] == 0.0 and headline["final_equity"] == 100_000.0
    metrics = emitted_metrics(capsys.readouterr().out)
    # The dashboard's P&L panel: total return and final equity of the run.
    assert metrics["TotalReturn"] == 0.0 and metrics["Equity"] == 100_000.0
    assert partition(cloud, "portfolio", f"ACCOUNT#run-{outcome['run_id']}") == []


def test_dynamodb_throttling_fails_the_step_as_retryable(cloud: dict[str, Any]) -> None:
    upload(cloud, sample_csv(("AAPL",), bars=120))
    market_data = process_market_data.handler(sample_event("process_market_data.json"), Context())
    event = sample_event("execute_trades.json")
    event["market_data"] = market_data
    with Stubber(get_platform().dynamodb) as stub:
        stub.add_client_error(
            "query", "ProvisionedThroughputExceededException", "Throughput exceeded", 400
        )
        with pytest.raises(TransientStoreError):
            execute_trades.handler(event, Context())


def test_step_errors_carry_the_workflow_error_names(cloud: dict[str, Any]) -> None:
    event = sample_event("process_market_data.json")
    with pytest.raises(MarketDataUnreadableError, match="does not exist"):
        process_market_data.handler(copy.deepcopy(event), Context())
    upload(cloud, sample_csv(("AAPL",), bars=30))
    bad_config = copy.deepcopy(event)
    bad_config["input"]["config"] = {"strategy": "astrology"}
    with pytest.raises(InvalidRunConfigError, match="astrology"):
        process_market_data.handler(bad_config, Context())
    no_key = copy.deepcopy(event)
    del no_key["input"]["key"]
    with pytest.raises(InvalidEventError, match=r"input\.key"):
        process_market_data.handler(no_key, Context())
    with pytest.raises(InvalidEventError, match="market_data"):
        execute_trades.handler({"run_id": event["run_id"]}, Context())
