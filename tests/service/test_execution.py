"""ExecuteTrades' use case over in-memory fakes: booking, idempotency, concurrency."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.service.fakes import MARKET_BUCKET, FakeAccountRepository, FakePlatform, sample_csv
from trading.errors import InvalidEventError, MarketDataUnreadableError, TransientStoreError
from trading.service.execution import LIVE_STEP_MAX_RECORDS, ExecutionRequest

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
    state, version = platform.accounts.states["run-bt"]
    assert version == 1 and state["broker"]["account"]["initial_cash"] == 100_000.0
    assert platform.accounts.executions[("run-bt", "bt")] == summary
    assert (summary["execution_path"], summary["execution_path_reason"]) == ("columnar", None)


def test_a_run_the_columnar_path_does_not_cover_says_why_the_broker_path_ran() -> None:
    platform, market_data = _ingested("capped", sample_csv(bars=200), {"volume_limit": 0.5})
    summary = platform.execute("capped", market_data).summary
    assert summary["execution_path"] == "broker"
    assert summary["execution_path_reason"] == "a volume cap (partial fills)"


def test_a_large_backtest_keeps_orders_and_fills_in_the_ledger_only() -> None:
    platform, market_data = _ingested("big", sample_csv(bars=1500))
    summary = platform.execute("big", market_data).summary
    assert summary["orders_placed"] + summary["fills"] > LIVE_STEP_MAX_RECORDS
    assert platform.accounts.records("run-big", "ORDER#") == []
    assert platform.accounts.records("run-big", "FILL#") == []
    assert platform.accounts.records("run-big", "POSITION#")  # the read model of positions


def test_a_live_step_books_one_item_per_order_fill_and_position() -> None:
    platform, market_data = _ingested(
        "live", sample_csv(("AAA",), bars=60), {"strategy": "buy_and_hold", "account": "paper"}
    )
    summary = platform.execute("live", market_data).summary
    assert summary["account"] == "paper"
    assert (summary["orders_placed"], summary["fills"]) == (1, 1)
    [order] = platform.accounts.records("paper", "ORDER#")
    [fill] = platform.accounts.records("paper", "FILL#")
    [position] = platform.accounts.records("paper", "POSITION#")
    assert order["status"] == "filled" and fill["order_id"] == order["order_id"]
    assert position["quantity"] == fill["quantity"] > 0


def test_a_duplicate_invocation_returns_the_stored_summary_without_a_second_fill() -> None:
    platform, market_data = _ingested("dup", sample_csv(bars=300))
    first = platform.execute("dup", market_data)
    state_after_first = platform.accounts.states["run-dup"]
    second = platform.execute("dup", market_data)

    assert second.duplicate and second.summary == first.summary
    assert platform.accounts.commits == 1
    assert platform.accounts.states["run-dup"] == state_after_first


def test_a_duplicate_that_races_the_first_one_loses_on_the_execution_record() -> None:
    platform, market_data = _ingested("race", sample_csv(bars=300))
    first = platform.execute("race", market_data)
    cash = platform.accounts.states["run-race"][0]["broker"]["account"]["cash"]
    platform.accounts.hide_executions = True  # the twin loaded before the first committed
    platform.accounts.states["run-race"] = (platform.accounts.states["run-race"][0], 0)
    twin = platform.execute("race", market_data)

    assert twin.duplicate and twin.summary == first.summary
    assert platform.accounts.commits == 1
    assert platform.accounts.states["run-race"][0]["broker"]["account"]["cash"] == cash


def test_a_concurrent_change_of_the_account_is_a_transient_error() -> None:
    platform, market_data = _ingested(
        "c1", sample_csv(("AAA",), bars=60), {"strategy": "buy_and_hold", "account": "shared"}
    )

    def other_run_commits(accounts: FakeAccountRepository) -> None:
        accounts.states["shared"] = ({"broker": "changed"}, 1)

    platform.accounts.before_commit = other_run_commits
    with pytest.raises(TransientStoreError, match="shared"):
        platform.execute("c1", market_data)
    assert ("shared", "c1") not in platform.accounts.executions


def test_a_live_account_carries_cash_positions_and_open_orders_to_the_next_run() -> None:
    platform = FakePlatform()
    config = {"strategy": "buy_and_hold", "account": "paper"}
    # Run 1 buys on its first bar's signal; its last bar's signal would fill in run 2.
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=30))
    first = platform.execute("one", platform.ingest("one", config=config)).summary
    state_one, version_one = platform.accounts.states["paper"]
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=45))
    second = platform.execute("two", platform.ingest("two", config=config)).summary

    assert version_one == 1 and platform.accounts.states["paper"][1] == 2
    assert first["fills"] == 1
    assert second["fills"] == 0  # already long: bars seen before are skipped, no new entry
    state_two = platform.accounts.states["paper"][0]
    assert state_two["bars_seen"]["AAA"] == 45
    assert state_two["broker"]["account"]["cash"] == state_one["broker"]["account"]["cash"]


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
            carried = live.accounts.load("live", "next").state

    expected = closed_trades(backtest, whole)
    got = closed_trades(live, runs[0]) + closed_trades(live, runs[1])
    assert len(expected) > 10
    assert got == expected
    assert runs[1]["final_equity"] == whole["final_equity"]
    if exits:
        assert any(trade["exit_kind"] is not None for trade in expected)
        assert carried is not None  # exits of the position open at the cut
        assert [o for o in carried["broker"]["open_orders"] if o["exit_kind"]]
