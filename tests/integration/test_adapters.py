"""The adapters against emulated S3 and DynamoDB (moto), with the template's key schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws

from stp.cfn_yaml import load_template
from trading.adapters.accounts import DynamoAccountRepository
from trading.adapters.dynamo import from_attribute, to_attribute
from trading.adapters.quotes import DynamoQuoteStore
from trading.adapters.runs import DynamoRunRepository
from trading.adapters.s3_store import S3ObjectStore
from trading.core.model import Bar
from trading.errors import TransientStoreError
from trading.service.ports import (
    AccountVersionConflictError,
    DuplicateExecutionError,
    ExecutionCommit,
    NewRun,
    ObjectNotFoundError,
    Quote,
    StepRecord,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
TABLES = {"RunsTable": "runs", "PortfolioTable": "portfolio", "QuotesTable": "quotes"}
BUCKET = "market"
NO_RETRIES: Any = {"mode": "standard", "total_max_attempts": 1}


def create_tables(client: Any, names: dict[str, str]) -> None:
    """Create the storage stack's tables with their own key schemas and indexes."""
    resources = load_template(ROOT / "stacks" / "storage.yaml")["Resources"]
    for logical_id, name in names.items():
        spec = resources[logical_id]["Properties"]
        extra = {}
        if "GlobalSecondaryIndexes" in spec:
            extra["GlobalSecondaryIndexes"] = spec["GlobalSecondaryIndexes"]
        client.create_table(
            TableName=name,
            AttributeDefinitions=spec["AttributeDefinitions"],
            KeySchema=spec["KeySchema"],
            BillingMode=spec["BillingMode"],
            **extra,
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        create_tables(dynamodb, TABLES)
        yield {"s3": s3, "dynamodb": dynamodb}


def _step(number: int = 2, name: str = "ExecuteTrades") -> StepRecord:
    return StepRecord(
        number, name, "2024-01-02T21:30:00.000Z", "2024-01-02T21:30:01.000Z", 1000, {}
    )


def _commit(run_id: str, version: int, cash: float, **extra: Any) -> ExecutionCommit:
    return ExecutionCommit(
        account="paper",
        run_id=run_id,
        expected_version=version,
        state={"broker": {"account": {"cash": cash}}, "last_ts": {}, "bars_seen": {}},
        summary={"run_id": run_id, "fills": 1, "final_equity": cash},
        step=_step(),
        **extra,
    )


# --- attribute values ---------------------------------------------------------------------


def test_plain_values_round_trip_through_attribute_values_exactly() -> None:
    value = {
        "int": 1_700_000_000_000_000_000,
        "float": 0.1,
        "neg": -2.5e-7,
        "s": "x",
        "b": True,
        "none": None,
        "list": [1, "a", {"k": 2.0}],
    }
    assert from_attribute(to_attribute(value)) == value
    assert to_attribute(float("nan")) == {"NULL": True}


# --- S3 -----------------------------------------------------------------------------------


def test_objects_are_written_read_and_streamed_with_their_metadata(aws: dict[str, Any]) -> None:
    aws["s3"].put_object(
        Bucket=BUCKET,
        Key="raw/a.csv",
        Body=b"abc" * 1000,
        Metadata={"stp-Strategy": "buy_and_hold"},
    )
    store = S3ObjectStore(aws["s3"])
    opened = store.open(BUCKET, "raw/a.csv")
    assert opened.metadata == {"stp-strategy": "buy_and_hold"}
    assert opened.body.read(4) + opened.body.read() == b"abc" * 1000
    store.write(BUCKET, "curated/r/bars.csv", b"x,y\n", "text/csv")
    assert store.read(BUCKET, "curated/r/bars.csv") == b"x,y\n"
    head = aws["s3"].head_object(Bucket=BUCKET, Key="curated/r/bars.csv")
    assert head["ContentType"] == "text/csv"
    with pytest.raises(ObjectNotFoundError, match=r"s3://market/raw/missing\.csv"):
        store.open(BUCKET, "raw/missing.csv")


def test_s3_throttling_is_a_transient_error(aws: dict[str, Any]) -> None:
    store = S3ObjectStore(aws["s3"])
    with Stubber(aws["s3"]) as stub:
        stub.add_client_error("get_object", "SlowDown", "Please reduce your request rate.", 503)
        with pytest.raises(TransientStoreError, match="SlowDown"):
            store.read(BUCKET, "raw/a.csv")


# --- runs ---------------------------------------------------------------------------------


def test_a_run_is_created_once_and_a_retry_reuses_it(aws: dict[str, Any]) -> None:
    runs = DynamoRunRepository(aws["dynamodb"], "runs")
    run = NewRun("r1", BUCKET, "raw/a.csv", "s3-upload", {"cash": 5}, "2024-01-02T21:30:00.000Z")
    created = runs.start(run)
    again = runs.start(NewRun("r1", BUCKET, "raw/a.csv", None, None, "2024-01-02T22:00:00.000Z"))
    assert again["created_at"] == created["created_at"] == "2024-01-02T21:30:00.000Z"
    assert again["status"] == "RUNNING" and again["config"] == {"cash": 5}
    listed = aws["dynamodb"].query(
        TableName="runs",
        IndexName="RunsByTime",
        KeyConditionExpression="GSI1PK = :runs",
        ExpressionAttributeValues={":runs": {"S": "RUNS"}},
    )
    assert [item["run_id"]["S"] for item in listed["Items"]] == ["r1"]


def test_a_step_is_recorded_and_the_run_updated(aws: dict[str, Any]) -> None:
    runs = DynamoRunRepository(aws["dynamodb"], "runs")
    runs.start(NewRun("r2", BUCKET, "raw/a.csv", None, None, "2024-01-02T21:30:00.000Z"))
    record = runs.record_step(
        "r2", _step(3, "AnalyzePerformance"), {"status": "SUCCEEDED", "headline": {"sharpe": 1.5}}
    )
    assert record["status"] == "SUCCEEDED" and record["headline"] == {"sharpe": 1.5}
    assert record["created_at"] == "2024-01-02T21:30:00.000Z"
    step = aws["dynamodb"].get_item(
        TableName="runs", Key={"PK": {"S": "RUN#r2"}, "SK": {"S": "STEP#03#AnalyzePerformance"}}
    )["Item"]
    assert step["duration_ms"] == {"N": "1000"}


def test_a_run_created_ahead_by_the_api_becomes_running(aws: dict[str, Any]) -> None:
    aws["dynamodb"].put_item(
        TableName="runs",
        Item={"PK": {"S": "RUN#r3"}, "SK": {"S": "META"}, "status": {"S": "PENDING"}},
    )
    runs = DynamoRunRepository(aws["dynamodb"], "runs")
    record = runs.start(NewRun("r3", BUCKET, "raw/a.csv", None, None, "2024-01-02T21:30:00Z"))
    assert record["status"] == "RUNNING"


# --- quotes -------------------------------------------------------------------------------


def test_only_a_newer_bar_replaces_a_quote(aws: dict[str, Any]) -> None:
    quotes = DynamoQuoteStore(aws["dynamodb"], "quotes")
    newer = Quote(Bar("AAPL", 2_000, 1.0, 2.0, 0.5, 1.5, 100.0), "r-new")
    older = Quote(Bar("AAPL", 1_000, 9.0, 9.0, 9.0, 9.0, 9.0), "r-old")
    assert quotes.put_latest([newer]) == 1
    assert quotes.put_latest([older, Quote(Bar("MSFT", 1_000, 1, 1, 1, 1, 1), "r-old")]) == 1
    item = aws["dynamodb"].get_item(
        TableName="quotes", Key={"PK": {"S": "QUOTE#AAPL"}, "SK": {"S": "LATEST"}}
    )["Item"]
    assert item["run_id"] == {"S": "r-new"} and item["close"] == {"N": "1.5"}


# --- accounts -----------------------------------------------------------------------------


def test_an_execution_commits_state_record_step_and_items_together(aws: dict[str, Any]) -> None:
    accounts = DynamoAccountRepository(aws["dynamodb"], "portfolio", "runs")
    assert accounts.load("paper", "r1").state is None
    order = {"order_id": "r1-000001", "symbol": "AAPL", "status": "filled", "limit_price": None}
    fill = {"fill_id": "r1-000001-1", "order_id": "r1-000001", "quantity": 5, "price": 10.25}
    accounts.commit(
        _commit(
            "r1",
            0,
            900.0,
            orders=[order],
            fills=[fill],
            positions={"AAPL": {"symbol": "AAPL", "quantity": 5}},
        )
    )
    snapshot = accounts.load("paper", "r1")
    assert snapshot.version == 1 and snapshot.state is not None
    assert snapshot.state["broker"]["account"]["cash"] == 900.0
    assert snapshot.execution == {"run_id": "r1", "fills": 1, "final_equity": 900.0}
    items = aws["dynamodb"].query(
        TableName="portfolio",
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "ACCOUNT#paper"}},
    )["Items"]
    assert sorted(item["SK"]["S"] for item in items) == [
        "FILL#r1-000001-1",
        "ORDER#r1-000001",
        "POSITION#AAPL",
        "RUN#r1",
        "STATE",
    ]
    step = aws["dynamodb"].get_item(
        TableName="runs", Key={"PK": {"S": "RUN#r1"}, "SK": {"S": "STEP#02#ExecuteTrades"}}
    )
    assert "Item" in step


def test_a_second_commit_of_a_run_returns_the_stored_summary(aws: dict[str, Any]) -> None:
    accounts = DynamoAccountRepository(aws["dynamodb"], "portfolio", "runs")
    accounts.commit(_commit("r1", 0, 900.0))
    with pytest.raises(DuplicateExecutionError) as raised:
        accounts.commit(_commit("r1", 0, 1.0))  # a twin that loaded before the first committed
    assert raised.value.summary == {"run_id": "r1", "fills": 1, "final_equity": 900.0}
    assert accounts.load("paper", "r1").state["broker"]["account"]["cash"] == 900.0  # type: ignore[index]


def test_a_stale_version_is_a_conflict(aws: dict[str, Any]) -> None:
    accounts = DynamoAccountRepository(aws["dynamodb"], "portfolio", "runs")
    accounts.commit(_commit("r1", 0, 900.0))
    accounts.commit(_commit("r2", 1, 800.0))
    with pytest.raises(AccountVersionConflictError):
        accounts.commit(_commit("r3", 1, 700.0))
    assert accounts.load("paper", "r3").version == 2


def test_dynamodb_throttling_and_timeouts_are_transient_errors(aws: dict[str, Any]) -> None:
    # No client-side retries here, so the test does not sit through botocore's backoff.
    client = boto3.client("dynamodb", region_name=REGION, config=Config(retries=NO_RETRIES))
    accounts = DynamoAccountRepository(client, "portfolio", "runs")
    with Stubber(client) as stub:
        stub.add_client_error(
            "batch_get_item", "ProvisionedThroughputExceededException", "Slow down", 400
        )
        with pytest.raises(TransientStoreError, match="ProvisionedThroughputExceeded"):
            accounts.load("paper", "r1")

    def time_out(**kwargs: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client.meta.events.register_first("before-send.dynamodb.TransactWriteItems", time_out)
    with pytest.raises(TransientStoreError, match="Read timeout"):
        accounts.commit(_commit("r1", 0, 900.0))


def test_a_transaction_cancelled_by_throttling_is_transient(aws: dict[str, Any]) -> None:
    client = aws["dynamodb"]
    accounts = DynamoAccountRepository(client, "portfolio", "runs")
    with Stubber(client) as stub:
        stub.add_client_error(
            "transact_write_items",
            "TransactionCanceledException",
            "Transaction cancelled",
            400,
            response_meta={},
            modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}]},
        )
        with pytest.raises(TransientStoreError, match="ThrottlingError"):
            accounts.commit(_commit("r1", 0, 900.0))


def test_the_state_is_stored_as_exact_json(aws: dict[str, Any]) -> None:
    accounts = DynamoAccountRepository(aws["dynamodb"], "portfolio", "runs")
    accounts.commit(_commit("r1", 0, 0.1 + 0.2))
    item = aws["dynamodb"].get_item(
        TableName="portfolio", Key={"PK": {"S": "ACCOUNT#paper"}, "SK": {"S": "STATE"}}
    )["Item"]
    assert json.loads(item["state"]["S"])["broker"]["account"]["cash"] == 0.1 + 0.2
    assert item["version"] == {"N": "1"}
