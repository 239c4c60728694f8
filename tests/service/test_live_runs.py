"""A live paper account across runs, over the in-memory fakes: each run's bars are processed
once, in order, all or nothing; history per symbol; turns; stale and future bars."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.service.fakes import MARKET_BUCKET, FakeAccountRepository, FakePlatform, sample_csv
from trading.core.bars import BarSeries
from trading.core.marketdata import parse_market_data, series_to_csv
from trading.errors import StaleMarketDataError, TransientStoreError

RAW_KEY = "raw/prices.csv"
STRATEGY = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "cash_fraction": 0.3}
LIVE = {**STRATEGY, "account": "live"}


def _series(symbols: tuple[str, ...] = ("AAA", "BBB"), bars: int = 300) -> dict[str, BarSeries]:
    return dict(parse_market_data(sample_csv(symbols, bars=bars), name="whole.csv").series)


def _file(series: Mapping[str, BarSeries], start: int, stop: int, *symbols: str) -> bytes:
    chosen = symbols or tuple(series)
    return series_to_csv({s: series[s].slice(start, stop) for s in chosen})


def _run(platform: FakePlatform, run_id: str, body: bytes, config: Mapping[str, Any]) -> Any:
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, body)
    return platform.execute(run_id, platform.ingest(run_id, config=config)).summary


def _trades(platform: FakePlatform, *summaries: Mapping[str, Any]) -> list[Any]:
    closed: list[Any] = []
    for summary in summaries:
        body = platform.objects.read(MARKET_BUCKET, str(summary["trades_key"]))
        closed += json.loads(body)["closed"]
    return closed


def _by_symbol(trades: list[Any], symbol: str) -> list[tuple[Any, ...]]:
    """When and at what price each round trip of ``symbol`` opened and closed (sizes depend
    on the account's other positions)."""
    fields = ("direction", "entry_ts", "entry_price", "exit_ts", "exit_price", "exit_kind")
    return [tuple(t[f] for f in fields) for t in trades if t["symbol"] == symbol]


# --- history: every symbol keeps its own -------------------------------------------------------


def test_a_file_of_other_symbols_leaves_each_symbols_history_alone() -> None:
    # AAA's first half, then a file of BBB alone, then AAA's second half: AAA's second run
    # still warms up on AAA's first half, so AAA trades exactly as in one backtest.
    series = _series()
    backtest = FakePlatform()
    whole = _run(backtest, "whole", _file(series, 0, 300, "AAA"), STRATEGY)
    # Cut a few bars before an entry: without AAA's history its slow average is not ready.
    cut = next(t["entry_bar"] - 5 for t in _trades(backtest, whole) if t["entry_bar"] > 100)

    live = FakePlatform()
    first = _run(live, "aaa1", _file(series, 0, cut, "AAA"), LIVE)
    _run(live, "bbb", _file(series, 0, 300, "BBB"), LIVE)
    assert set(live.accounts.get("live").history) == {"AAA", "BBB"}
    second = _run(live, "aaa2", _file(series, cut, 300, "AAA"), LIVE)

    expected = _by_symbol(_trades(backtest, whole), "AAA")
    assert len(expected) > 5
    assert _by_symbol(_trades(live, first, second), "AAA") == expected


# --- all or nothing ---------------------------------------------------------------------------


def _failing_save(accounts: FakeAccountRepository) -> None:
    raise RuntimeError("ExecuteTrades died before its commit")


def test_a_run_that_fails_before_its_commit_leaves_the_account_as_it_was() -> None:
    # Files 1, 2 (its ExecuteTrades dies), 3 end exactly like files 1 and 3: the failed run
    # changed nothing, neither the ledger nor the history nor the quotes.
    series = _series()
    straight = FakePlatform()
    runs = [_run(straight, "s1", _file(series, 0, 100), LIVE)]
    runs.append(_run(straight, "s3", _file(series, 200, 300), LIVE))

    failing = FakePlatform()
    _run(failing, "f1", _file(series, 0, 100), LIVE)
    before = failing.accounts.get("live")
    quotes = dict(failing.quotes.quotes)
    failing.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 100, 200))
    market_data = failing.ingest("f2", config=LIVE)
    failing.accounts.before_save = _failing_save
    with pytest.raises(RuntimeError):
        failing.execute("f2", market_data)
    after = failing.accounts.get("live")
    assert (after.version, after.last_ts, after.history) == (
        before.version,
        before.last_ts,
        before.history,
    )
    assert failing.quotes.quotes == quotes
    failing.runs.runs["f2"]["status"] = "FAILED"  # the workflow's failure path
    last = _run(failing, "f3", _file(series, 200, 300), LIVE)

    assert last["final_equity"] == runs[-1]["final_equity"]
    assert _trades(failing, last) == _trades(straight, runs[-1])


def test_a_failed_run_retried_on_the_same_file_completes_it_exactly_once() -> None:
    series = _series()
    straight = FakePlatform()
    expected = [
        _run(straight, f"s{n}", _file(series, 100 * n, 100 * n + 100), LIVE) for n in (0, 1)
    ]

    retried = FakePlatform()
    _run(retried, "r0", _file(series, 0, 100), LIVE)
    retried.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 100, 200))
    market_data = retried.ingest("r1", config=LIVE)
    retried.accounts.before_save = _failing_save
    with pytest.raises(RuntimeError):
        retried.execute("r1", market_data)
    retried.runs.runs["r1"]["status"] = "FAILED"
    again = _run(retried, "r1-retry", _file(series, 100, 200), LIVE)
    assert again["final_equity"] == expected[1]["final_equity"]
    assert _trades(retried, again) == _trades(straight, expected[1])


def test_a_run_whose_trades_stand_says_so_and_its_file_never_trades_twice() -> None:
    # The commit stood, then a later step failed: the run record says what stands, and the
    # same file again brings nothing new (its bars are the account's already).
    series = _series()
    platform = FakePlatform()
    summary = _run(platform, "done", _file(series, 0, 100), LIVE)
    platform.runs.runs["done"]["status"] = "FAILED"  # e.g. AnalyzePerformance failed
    assert platform.runs.runs["done"]["committed"]["account"] == "live"
    fills = platform.accounts.records("live", "FILL")
    assert len(fills) == summary["fills"] > 0

    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 0, 100))
    with pytest.raises(StaleMarketDataError, match="all 200 bar"):
        platform.ingest("again", config=LIVE)
    assert platform.accounts.records("live", "FILL") == fills


# --- order: stale bars, future bars, turns ----------------------------------------------------


def test_bars_the_account_processed_already_are_skipped_counted_and_warned() -> None:
    series = _series(("AAA",))
    platform = FakePlatform()
    _run(platform, "h2", _file(series, 100, 200), LIVE)
    # An older file that overlaps: 20 bars are stale, 30 are new.
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 180, 230))
    market_data = platform.ingest("late", config=LIVE)
    assert market_data["bars_stale"] == 20
    record = platform.runs.runs["late"]
    assert record["bars_stale"] == 20
    [warning] = record["warnings"]
    assert warning.startswith("20 bar(s) of AAA") and "skipped" in warning
    summary = platform.execute("late", market_data).summary
    assert summary["bars_skipped"] == 0
    assert platform.accounts.get("live").last_ts["AAA"] == int(series["AAA"].ts[229])

    # Entirely older (H1 after H2): the run fails saying so, it never SUCCEEDS silently.
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 0, 100))
    with pytest.raises(StaleMarketDataError, match="nothing new"):
        platform.ingest("h1", config=LIVE)


def test_a_bar_in_the_future_is_rejected_and_never_blocks_the_real_ones() -> None:
    series = _series(("AAA",), bars=60)
    body = _file(series, 0, 50) + b"2099-01-04T00:00:00Z,AAA,10,11,9,10,100\n"
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, body)
    market_data = platform.ingest("future", config=LIVE)
    assert market_data["bars_rejected"] == 1
    rejected = platform.objects.read(MARKET_BUCKET, str(market_data["rejected_key"]))
    assert json.loads(rejected)["reasons"][0]["code"] == "FUTURE_TIMESTAMP"
    platform.execute("future", market_data)
    summary = _run(platform, "next", _file(series, 50, 60), LIVE)
    assert summary["bars_skipped"] == 0
    assert platform.accounts.get("live").last_ts["AAA"] == int(series["AAA"].ts[59])


def test_runs_of_one_account_take_turns_in_arrival_order() -> None:
    series = _series(("AAA",))
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 0, 100))
    first = platform.ingest("first", config=LIVE)
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 100, 200))
    waits: list[float] = []
    with pytest.raises(TransientStoreError, match="waits for run first"):
        platform.ingest("second", config=LIVE, sleep=waits.append, turn_wait_seconds=0.05)
    assert waits  # it polled before giving up (the workflow retries the step)
    platform.execute("first", first)  # the commit gives the turn up
    second = platform.ingest("second", config=LIVE)
    assert second["after"] == {"AAA": int(series["AAA"].ts[99])}
    platform.execute("second", second)
    assert platform.accounts.turns["live"] == set()


def test_a_failed_run_gives_up_its_turn() -> None:
    series = _series(("AAA",))
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 0, 100))
    platform.ingest("failed", config=LIVE)
    platform.runs.runs["failed"]["status"] = "FAILED"
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 100, 200))
    platform.ingest("next", config=LIVE, turn_wait_seconds=0)
    assert [turn.run_id for turn in platform.accounts.turns["live"]] == ["next"]


def test_a_run_that_lost_its_turn_counts_and_warns_the_bars_it_skips() -> None:
    # "slow" arrived first but was taken for lost; "fast" committed later bars meanwhile.
    series = _series(("AAA",))
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, _file(series, 0, 100))
    slow = platform.ingest("slow", config=LIVE)
    platform.runs.runs["slow"]["status"] = "FAILED"
    _run(platform, "fast", _file(series, 50, 150), LIVE)
    platform.runs.runs["slow"]["status"] = "RUNNING"
    summary = platform.execute("slow", slow).summary
    assert summary["bars_skipped"] == 100
    [warning] = platform.runs.runs["slow"]["warnings"]
    assert warning.startswith("100 bar(s) of AAA") and "when the run committed" in warning
