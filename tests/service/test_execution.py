"""ExecuteTrades' use case over in-memory fakes: booking, idempotency, concurrency."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.service.fakes import (
    MARKET_BUCKET,
    FakeAccountRepository,
    FakeOrderReader,
    FakePlatform,
    sample_csv,
)
from trading.core.config import RunConfig
from trading.errors import InvalidEventError, MarketDataUnreadableError, TransientStoreError
from trading.service.execution import ExecutionRequest
from trading.service.orders import OrderRequest, place_order

RAW_KEY = "raw/prices.csv"


def _ingested(run_id: str, body: bytes, config: dict[str, Any] | None = None) -> Any:
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, body)
    return platform, platform.ingest(run_id, config=config)


def test_a_backtest_books_its_ledger_and_state_in_a_fresh_account() -> None:
    platform, market_data = _ingested("bt", sample_csv(bars=400))
    outcome = platform.execute("bt", market_data)
    summary = outcome.summary

    assert not outcome.duplicate
    assert summary["account"] == "run-bt"
    assert summary["orders_placed"] > 0 and summary["fills"] > 0
    assert summary["equity_key"] == "ledger/bt/equity.json"
    fills = platform.objects.read(MARKET_BUCKET, summary["fills_key"]).splitlines()
    orders = platform.objects.read(MARKET_BUCKET, summary["orders_key"]).splitlines()
    assert (len(orders), len(fills)) == (summary["orders_placed"], summary["fills"])
    assert all(json.loads(order)["order_id"].startswith("bt-") for order in orders)
    equity = json.loads(platform.objects.read(MARKET_BUCKET, summary["equity_key"]))
    assert len(equity["ts"]) == len(equity["equity"]) == len(equity["in_market"]) == 400
    assert equity["equity"][-1] == summary["final_equity"]
    trades = json.loads(platform.objects.read(MARKET_BUCKET, summary["trades_key"]))
    assert set(trades) == {"closed", "open"}
    account = platform.accounts.get("run-bt")
    assert account.version == 1 and account.ledger.initial_cash == 100_000.0
    assert platform.accounts.executions[("run-bt", "bt")] == summary
    assert (summary["execution_path"], summary["execution_path_reason"]) == ("columnar", None)


def test_a_run_the_columnar_path_does_not_cover_says_why_the_broker_path_ran() -> None:
    platform, market_data = _ingested("capped", sample_csv(bars=200), {"volume_limit": 0.5})
    summary = platform.execute("capped", market_data).summary
    assert summary["execution_path"] == "broker"
    assert summary["execution_path_reason"] == "a volume cap (partial fills)"


def test_a_backtest_keeps_its_closed_orders_and_fills_in_the_ledger_only() -> None:
    platform, market_data = _ingested("big", sample_csv(bars=1500))
    summary = platform.execute("big", market_data).summary
    assert summary["orders_placed"] > 50 and summary["fills"] > 50
    kept = platform.accounts.records("run-big", "ORDER")
    assert all(order["status"] in ("new", "partially_filled") for order in kept)
    assert platform.accounts.records("run-big", "FILL") == []
    assert platform.accounts.get("run-big").ledger.positions  # the account holds them


def test_a_live_step_books_one_item_per_order_fill_and_position() -> None:
    platform, market_data = _ingested(
        "live", sample_csv(("AAA",), bars=60), {"strategy": "buy_and_hold", "account": "paper"}
    )
    summary = platform.execute("live", market_data).summary
    assert summary["account"] == "paper"
    assert (summary["orders_placed"], summary["fills"]) == (1, 1)
    [order] = platform.accounts.records("paper", "ORDER")
    [fill] = platform.accounts.records("paper", "FILL")
    position = platform.accounts.get("paper").ledger.positions["AAA"]
    assert order["status"] == "filled" and fill["order_id"] == order["order_id"]
    assert order["run_id"] == fill["run_id"] == "live"
    assert position.quantity == fill["quantity"] > 0


def test_a_duplicate_invocation_returns_the_stored_summary_without_a_second_fill() -> None:
    platform, market_data = _ingested("dup", sample_csv(bars=300))
    first = platform.execute("dup", market_data)
    cash_after_first = platform.accounts.get("run-dup").ledger.cash
    second = platform.execute("dup", market_data)

    assert second.duplicate and second.summary == first.summary
    assert platform.accounts.saves == 1
    assert platform.accounts.get("run-dup").ledger.cash == cash_after_first


def test_a_duplicate_that_races_the_first_one_loses_on_the_execution_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform, market_data = _ingested("race", sample_csv(bars=300))
    before = platform.accounts.get("run-race")  # the twin loads before the first commits
    first = platform.execute("race", market_data)
    cash = platform.accounts.get("run-race").ledger.cash
    monkeypatch.setattr(platform.accounts, "get", lambda account, **_: before)
    twin = platform.execute("race", market_data)

    assert twin.duplicate and twin.summary == first.summary
    assert platform.accounts.saves == 1
    monkeypatch.undo()
    assert platform.accounts.get("run-race").ledger.cash == cash


def _cancel_one(accounts: FakeAccountRepository) -> None:
    """Another change of the account commits first: a cancel of its open order."""
    account = accounts.get("shared")
    broker = account.broker(RunConfig())
    broker.cancel(next(iter(account.open_orders)))
    accounts.save(account, account.changes(broker, at="now"))


def _shared_account_with_an_open_order(platform: FakePlatform) -> Any:
    """A live account whose first run leaves a buy order open; the second run's bars."""
    config = {"strategy": "buy_and_hold", "account": "shared"}
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=1))
    platform.execute("c0", platform.ingest("c0", config=config))
    assert platform.accounts.get("shared").open_order_count == 1
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=30))
    return platform.ingest("c1", config=config)


def test_a_run_that_loses_its_commit_runs_again_on_the_new_state() -> None:
    platform = FakePlatform()
    market_data = _shared_account_with_an_open_order(platform)
    platform.accounts.before_save = _cancel_one  # a cancel lands while the run works

    summary = platform.execute("c1", market_data, sleep=lambda _: None).summary
    assert summary["fills"] == 0  # the order it would have filled was cancelled first
    account = platform.accounts.get("shared")
    assert (account.version, account.recent_runs) == (3, ("c0", "c1"))
    [cancelled] = platform.accounts.records("shared", "ORDER")
    assert cancelled["status"] == "cancelled"


def test_orders_placed_while_a_run_works_never_refuse_its_commit() -> None:
    platform = FakePlatform()
    market_data = _shared_account_with_an_open_order(platform)
    reader = FakeOrderReader(platform.accounts)

    def place(accounts: FakeAccountRepository) -> None:
        request = OrderRequest("AAA", "buy", 1, order_type="limit", limit_price=0.01)
        place_order(request, account="shared", accounts=accounts, orders=reader)

    platform.accounts.before_save = place
    summary = platform.execute("c1", market_data, retry_seconds=0).summary
    assert summary["fills"] == 1  # committed at the first try: no retry was allowed
    account = platform.accounts.get("shared")
    assert account.version == 2 and account.open_order_count == 1
    (resting,) = account.open_orders.values()
    assert resting.limit_price == 0.01 and resting.order_id == "c0-000002"


def test_an_account_that_keeps_changing_is_a_transient_error_in_the_end() -> None:
    platform = FakePlatform()
    market_data = _shared_account_with_an_open_order(platform)

    def another_run(accounts: FakeAccountRepository) -> None:
        accounts.accounts["shared"].version += 1
        accounts.before_save = another_run

    platform.accounts.before_save = another_run
    with pytest.raises(TransientStoreError, match="shared"):
        platform.execute("c1", market_data, retry_seconds=0.05, sleep=lambda _: None)
    assert ("shared", "c1") not in platform.accounts.executions


def test_a_live_account_carries_cash_positions_and_open_orders_to_the_next_run() -> None:
    platform = FakePlatform()
    config = {"strategy": "buy_and_hold", "account": "paper"}
    # Run 1 buys on its first bar's signal; its last bar's signal would fill in run 2.
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=30))
    first = platform.execute("one", platform.ingest("one", config=config)).summary
    one = platform.accounts.get("paper")
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=45))
    second = platform.execute("two", platform.ingest("two", config=config)).summary

    two = platform.accounts.get("paper")
    assert (one.version, two.version) == (1, 2)
    assert first["fills"] == 1
    assert second["fills"] == 0  # already long: bars seen before are skipped, no new entry
    assert two.bars_seen["AAA"] == 45
    assert two.ledger.cash == one.ledger.cash


def test_missing_curated_bars_fail_as_unreadable_market_data() -> None:
    platform, market_data = _ingested("gone", sample_csv(("AAA",), bars=60))
    del platform.objects.objects[(MARKET_BUCKET, market_data["curated_key"])]
    with pytest.raises(MarketDataUnreadableError, match=r"curated/gone/bars\.csv"):
        platform.execute("gone", market_data)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.pop("market_data"), "market_data"),
        (lambda e: e["market_data"].pop("signals_key"), "market_data.signals_key"),
        (lambda e: e["market_data"].update(signal_count="3"), "market_data.signal_count"),
        (lambda e: e["market_data"].update(run_id="other"), "market_data.run_id"),
        (lambda e: e["market_data"].update(config=None), "market_data.config"),
    ],
)
def test_a_malformed_event_names_the_field(change: Any, field: str) -> None:
    _, market_data = _ingested("ev", sample_csv(("AAA",), bars=60))
    event = {"run_id": "ev", "market_data": dict(market_data)}
    change(event)
    with pytest.raises(InvalidEventError, match=field.replace(".", r"\.")):
        ExecutionRequest.from_event(event)


@pytest.mark.parametrize(
    "exits",
    [{}, {"stop_loss": 0.02, "take_profit": 0.04}, {"trailing_stop": 0.03}],
    ids=["signals-only", "stop-loss-take-profit", "trailing-stop"],
)
def test_live_runs_on_consecutive_files_trade_exactly_like_one_backtest(
    exits: dict[str, float],
) -> None:
    # A live account keeps its recent bars, so the next file's signals see the warm-up they
    # need: two uploads of consecutive halves give the trades of one run over the whole. Exit
    # orders working at the cut wait in the account's state and go on in the second run.
    from trading.core.marketdata import parse_market_data, series_to_csv

    whole_file = sample_csv(("AAA", "BBB"), bars=300)
    series = parse_market_data(whole_file, name="whole.csv").series
    params = {"fast": 5, "slow": 20, **exits}
    strategy = {"strategy": "sma_cross", "params": params, "cash_fraction": 0.5}

    def closed_trades(platform: FakePlatform, summary: dict[str, object]) -> list[Any]:
        body = platform.objects.read(MARKET_BUCKET, str(summary["trades_key"]))
        return list(json.loads(body)["closed"])

    backtest = FakePlatform()
    backtest.objects.upload(MARKET_BUCKET, RAW_KEY, whole_file)
    whole = backtest.execute("whole", backtest.ingest("whole", config=strategy)).summary
    # Cut inside a position that an exit closes later, so its exits are working at the cut.
    cut = 170
    if exits:
        cut = next(
            t["entry_bar"] + 1
            for t in closed_trades(backtest, whole)
            if t["exit_kind"] and t["exit_bar"] > t["entry_bar"] + 1 and t["entry_bar"] > 100
        )
    halves = [
        series_to_csv({s: b.slice(0, cut) for s, b in series.items()}),
        series_to_csv({s: b.slice(cut, 300) for s, b in series.items()}),
    ]

    live = FakePlatform()
    runs = []
    for number, half in enumerate(halves):
        live.objects.upload(MARKET_BUCKET, RAW_KEY, half)
        config = {**strategy, "account": "live"}
        run_id = f"live{number}"
        runs.append(live.execute(run_id, live.ingest(run_id, config=config)).summary)
        if number == 0:
            carried = live.accounts.get("live")

    expected = closed_trades(backtest, whole)
    got = closed_trades(live, runs[0]) + closed_trades(live, runs[1])
    assert len(expected) > 10
    assert got == expected
    assert runs[1]["final_equity"] == whole["final_equity"]
    if exits:
        assert any(trade["exit_kind"] is not None for trade in expected)
        # exits of the position open at the cut
        assert [o for o in carried.open_orders.values() if o.exit_kind]


def test_a_run_whose_order_numbers_were_taken_meanwhile_moves_its_orders_to_free_ones() -> None:
    platform = FakePlatform()
    _shared_account_with_an_open_order(platform)
    platform.runs.runs["c1"]["status"] = "FAILED"  # c1 gives its turn up to c2
    config = {"strategy": "sma_cross", "params": {"fast": 2, "slow": 3}, "account": "shared"}
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=80, seed=3))
    market_data = platform.ingest("c2", config=config)
    reader = FakeOrderReader(platform.accounts)
    placed: list[str] = []

    def place(accounts: FakeAccountRepository) -> None:
        request = OrderRequest("AAA", "buy", 1, order_type="limit", limit_price=0.01)
        placed.append(
            place_order(request, account="shared", accounts=accounts, orders=reader).order[
                "order_id"
            ]
        )

    platform.accounts.before_save = place
    summary = platform.execute("c2", market_data, retry_seconds=0).summary
    assert placed == ["c0-000002"]  # the number the run had given its first order
    run_orders = [
        json.loads(line)
        for line in platform.objects.read(MARKET_BUCKET, summary["orders_key"]).splitlines()
    ]
    numbers = [int(order["order_id"].rsplit("-", 1)[1]) for order in run_orders]
    assert len(numbers) > 2 and numbers == list(range(3, 3 + len(numbers)))
    booked = {order["order_id"] for order in platform.accounts.records("shared", "ORDER")}
    assert {order["order_id"] for order in run_orders} | {"c0-000002"} <= booked
    fills = platform.accounts.records("shared", "FILL")
    assert {fill["order_id"] for fill in fills} <= booked
    assert platform.accounts.get("shared").sequence == 2 + len(numbers)
