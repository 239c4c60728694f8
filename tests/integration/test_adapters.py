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
from trading.adapters.accounts import CONFLICT_ATTEMPTS, DynamoAccountRepository
from trading.adapters.dynamo import from_attribute, to_attribute
from trading.adapters.quotes import DynamoQuoteStore
from trading.adapters.runs import DynamoRunRepository
from trading.adapters.s3_store import S3ObjectStore
from trading.core.config import RunConfig
from trading.core.model import Account, Bar, Fill, Order, OrderStatus, Side
from trading.errors import TransientStoreError
from trading.service.account import AccountChanges, RunRecord, TradingAccount
from trading.service.ports import (
    AccountVersionConflictError,
    DuplicateExecutionError,
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


def _repository(client: Any) -> DynamoAccountRepository:
    return DynamoAccountRepository(client, "portfolio", quotes_table="quotes", runs_table="runs")


def _order(number: int, status: str = "new", symbol: str = "AAPL", prefix: str = "p-") -> Order:
    order = Order(f"{prefix}{number:06d}", symbol, Side.BUY, 5, created_ts=1_000)
    order.status = OrderStatus(status)
    return order


def _fill(order: Order) -> Fill:
    return Fill(f"{order.order_id}-1", order.order_id, order.symbol, order.side, 5, 10.25, 0.0, 2)


def _run(
    account: TradingAccount,
    run_id: str,
    *,
    cash: float,
    created: tuple[Order, ...] = (),
    changed: tuple[Order, ...] = (),
    fills: tuple[Fill, ...] = (),
) -> AccountChanges:
    """A run's change of ``account``: its ledger, clock, orders and fills."""
    summary = {"run_id": run_id, "fills": len(fills), "final_equity": cash}
    return AccountChanges(
        at="2024-01-02T21:30:01.000Z",
        created=created,
        changed=changed,
        fills=fills,
        ledger=Account(cash=cash, initial_cash=1000.0),
        clock=({"AAPL": 2}, {"AAPL": 1}),
        sequence=account.sequence + len(created),
        run=RunRecord(run_id, summary, _step()),
        run_ids=(*account.recent_runs, run_id),
    )


def _opened(accounts: DynamoAccountRepository) -> TradingAccount:
    loaded = accounts.get("paper")
    return loaded if loaded.exists else TradingAccount.opened("paper", 1000.0, "p-")


def _keys(aws: dict[str, Any]) -> list[str]:
    pages = (
        aws["dynamodb"]
        .get_paginator("query")
        .paginate(
            TableName="portfolio",
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "ACCOUNT#paper"}},
        )
    )
    return sorted(item["SK"]["S"] for page in pages for item in page["Items"])


def _seed_quote(aws: dict[str, Any], ts: int = 1_000) -> Quote:
    quote = Quote(Bar("AAPL", ts, 10.0, 11.0, 9.0, 10.0, 1e6), "seed")
    DynamoQuoteStore(aws["dynamodb"], "quotes").put_latest([quote], "paper")  # its own data
    return quote


def _place(accounts: DynamoAccountRepository, quote: Quote) -> Order:
    """Place one market order through the aggregate, as the API does."""
    snapshot = accounts.load_for_placement("paper", "AAPL", None)
    account = snapshot.account
    if not account.exists:
        account = TradingAccount.opened("paper", 1000.0, "p-")
    broker = account.broker(RunConfig(initial_cash=1000.0))
    order = broker.submit("AAPL", Side.BUY, quote.bar, 0, quantity=1)
    accounts.save(account, account.changes(broker, at="2024-01-02T21:30:00.000Z", priced_on=quote))
    return order


def test_a_run_commits_ledger_orders_fills_record_and_step_together(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    assert not accounts.get("paper").exists
    filled, resting = _order(1, "filled"), _order(2)
    account = _opened(accounts)
    accounts.save(
        account, _run(account, "r1", cash=900.0, created=(filled, resting), fills=(_fill(filled),))
    )

    loaded = accounts.get("paper")
    assert (loaded.version, loaded.ledger.cash, loaded.open_order_count) == (1, 900.0, 1)
    assert list(loaded.open_orders) == ["p-000002"] and loaded.revisions == {"p-000002": 1}
    assert (loaded.last_ts, loaded.bars_seen, loaded.recent_runs) == (
        {"AAPL": 2},
        {"AAPL": 1},
        ("r1",),
    )
    assert accounts.execution("paper", "r1") == {"run_id": "r1", "fills": 1, "final_equity": 900.0}
    assert _keys(aws) == ["BOOK", "BOOK#p-000002", "FILL#p-000001-1", "ORDER#p-000001", "RUN#r1"]
    step = aws["dynamodb"].get_item(
        TableName="runs", Key={"PK": {"S": "RUN#r1"}, "SK": {"S": "STEP#02#ExecuteTrades"}}
    )
    assert "Item" in step


def test_an_order_that_closes_leaves_the_book_for_the_order_history(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    account = _opened(accounts)
    accounts.save(account, _run(account, "r1", cash=900.0, created=(_order(1), _order(2))))
    account = accounts.get("paper")
    done = account.open_orders["p-000001"]
    done.status = OrderStatus.FILLED
    accounts.save(account, _run(account, "r2", cash=850.0, changed=(done,), fills=(_fill(done),)))
    loaded = accounts.get("paper")
    assert list(loaded.open_orders) == ["p-000002"] and loaded.open_order_count == 1
    assert "BOOK#p-000001" not in _keys(aws) and "ORDER#p-000001" in _keys(aws)


def test_a_second_commit_of_a_run_returns_the_stored_summary(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    account = _opened(accounts)
    accounts.save(account, _run(account, "r1", cash=900.0))
    with pytest.raises(DuplicateExecutionError) as raised:
        accounts.save(account, _run(account, "r1", cash=1.0))  # a twin loaded before it
    assert raised.value.summary == {"run_id": "r1", "fills": 0, "final_equity": 900.0}
    assert accounts.get("paper").ledger.cash == 900.0


def test_a_change_of_an_account_that_moved_on_is_a_conflict(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    account = _opened(accounts)
    accounts.save(account, _run(account, "r1", cash=900.0))
    stale = accounts.get("paper")
    accounts.save(stale, _run(stale, "r2", cash=800.0))
    with pytest.raises(AccountVersionConflictError):
        accounts.save(stale, _run(stale, "r3", cash=700.0))
    assert accounts.get("paper").version == 2


def test_placements_number_orders_without_refusing_a_run_loaded_before_them(
    aws: dict[str, Any],
) -> None:
    accounts = _repository(aws["dynamodb"])
    quote = _seed_quote(aws)
    first = _place(accounts, quote)
    loaded = accounts.get("paper")  # a run loads...
    second = _place(accounts, quote)  # ...an order is placed meanwhile...
    assert (first.order_id, second.order_id) == ("p-000001", "p-000002")
    filled = loaded.open_orders["p-000001"]
    filled.status = OrderStatus.FILLED
    change = _run(loaded, "r1", cash=990.0, changed=(filled,), fills=(_fill(filled),))
    accounts.save(loaded, change)  # ...and the run still commits
    after = accounts.get("paper")
    assert list(after.open_orders) == ["p-000002"] and after.open_order_count == 1
    assert (after.version, after.sequence) == (1, 2)


def test_a_run_takes_order_numbers_no_placement_can_take(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    quote = _seed_quote(aws)
    _place(accounts, quote)
    loaded = accounts.get("paper")
    _place(accounts, quote)  # takes number 2 while the run works
    assert accounts.reserve_order_numbers(loaded, 3) == 3
    assert _place(accounts, quote).order_id == "p-000006"


def test_a_placement_priced_on_a_quote_that_moved_on_is_refused(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    quote = _seed_quote(aws, ts=1_000)
    snapshot = accounts.load_for_placement("paper", "AAPL", None)
    account = TradingAccount.opened("paper", 1000.0, "p-")
    broker = account.broker(RunConfig(initial_cash=1000.0))
    broker.submit("AAPL", Side.BUY, quote.bar, 0, quantity=1)
    _seed_quote(aws, ts=2_000)  # a new bar is published before the order commits
    with pytest.raises(AccountVersionConflictError):
        accounts.save(account, account.changes(broker, at="t", priced_on=snapshot.quote))
    assert not accounts.get("paper").exists


def test_a_change_beyond_one_transaction_is_journaled_and_applied_whole(
    aws: dict[str, Any],
) -> None:
    count = 120
    accounts = _repository(aws["dynamodb"])
    account = _opened(accounts)
    orders = tuple(_order(n) for n in range(1, count + 1))
    accounts.save(account, _run(account, "r1", cash=900.0, created=orders))
    account = accounts.get("paper")
    assert account.open_order_count == len(account.open_orders) == count
    closing = []
    for order in account.open_orders.values():
        order.status = OrderStatus.FILLED
        closing.append(order)
    fills = tuple(_fill(order) for order in closing)
    # 4 fixed items + count x (delete + put) + count fills: many transactions' worth.
    accounts.save(account, _run(account, "r2", cash=100.0, changed=tuple(closing), fills=fills))
    loaded = accounts.get("paper")
    assert loaded.open_orders == {} and loaded.open_order_count == 0
    keys = _keys(aws)
    assert sum(key.startswith("ORDER#") for key in keys) == count
    assert sum(key.startswith("FILL#") for key in keys) == count
    assert not [key for key in keys if key.startswith(("BOOK#", "JOURNAL#"))]
    root = aws["dynamodb"].get_item(
        TableName="portfolio", Key={"PK": {"S": "ACCOUNT#paper"}, "SK": {"S": "BOOK"}}
    )["Item"]
    assert "journal" not in root


def test_a_journal_left_by_a_crash_is_finished_by_the_next_reader(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = _repository(aws["dynamodb"])
    account = _opened(accounts)
    orders = tuple(_order(n, "filled") for n in range(1, 60))
    fills = tuple(_fill(order) for order in orders)
    change = _run(account, "r1", cash=900.0, created=orders, fills=fills)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the function died after its commit")

    monkeypatch.setattr(accounts, "_roll_forward", crash)
    with pytest.raises(RuntimeError):
        accounts.save(account, change)
    monkeypatch.undo()
    assert [key for key in _keys(aws) if key.startswith("JOURNAL#")]
    assert accounts.get("paper").ledger.cash == 900.0  # committed: the reader applies the rest
    keys = _keys(aws)
    assert sum(key.startswith("FILL#") for key in keys) == 59
    assert not [key for key in keys if key.startswith("JOURNAL#")]


def test_a_book_read_half_way_through_a_commit_is_read_again(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = _repository(aws["dynamodb"])
    account = _opened(accounts)
    accounts.save(account, _run(account, "r1", cash=900.0, created=(_order(1),)))
    read_book = accounts._read_book
    reads: list[int] = []

    def torn(account: str, consistent: bool) -> Any:
        root, items = read_book(account, consistent)
        reads.append(1)
        if len(reads) == 1:  # the root seen after a commit, its order before it
            items = [{**item, "revision": 0} for item in items]
        return root, items

    monkeypatch.setattr(accounts, "_read_book", torn)
    assert accounts.get("paper").revisions == {"p-000001": 1}
    assert len(reads) == 2


def test_dynamodb_throttling_and_timeouts_are_transient_errors(aws: dict[str, Any]) -> None:
    # No client-side retries here, so the test does not sit through botocore's backoff.
    client = boto3.client("dynamodb", region_name=REGION, config=Config(retries=NO_RETRIES))
    accounts = _repository(client)
    with Stubber(client) as stub:
        stub.add_client_error("query", "ProvisionedThroughputExceededException", "Slow down", 400)
        with pytest.raises(TransientStoreError, match="ProvisionedThroughputExceeded"):
            accounts.get("paper")

    def time_out(**kwargs: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client.meta.events.register_first("before-send.dynamodb.TransactWriteItems", time_out)
    account = TradingAccount.opened("paper", 1000.0, "p-")
    with pytest.raises(TransientStoreError, match="Read timeout"):
        accounts.save(account, _run(account, "r1", cash=900.0))


def test_a_transaction_that_stays_throttled_is_transient(aws: dict[str, Any]) -> None:
    client = aws["dynamodb"]
    accounts = _repository(client)
    account = TradingAccount.opened("paper", 1000.0, "p-")
    with Stubber(client) as stub:
        for _ in range(CONFLICT_ATTEMPTS):
            stub.add_client_error(
                "transact_write_items",
                "TransactionCanceledException",
                "Transaction cancelled",
                400,
                response_meta={},
                modeled_fields={
                    "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}]
                },
            )
        with pytest.raises(TransientStoreError, match="kept conflicting"):
            accounts.save(account, _run(account, "r1", cash=900.0))


def test_the_ledger_is_stored_as_exact_json(aws: dict[str, Any]) -> None:
    accounts = _repository(aws["dynamodb"])
    account = TradingAccount.opened("paper", 1000.0, "p-")
    accounts.save(account, _run(account, "r1", cash=0.1 + 0.2))
    item = aws["dynamodb"].get_item(
        TableName="portfolio", Key={"PK": {"S": "ACCOUNT#paper"}, "SK": {"S": "BOOK"}}
    )["Item"]
    assert json.loads(item["ledger"]["S"])["cash"] == 0.1 + 0.2
    assert item["version"] == {"N": "1"}
