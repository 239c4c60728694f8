"""ProcessMarketData's use case over in-memory fakes."""

from __future__ import annotations

import json

import pytest

from tests.service.fakes import MARKET_BUCKET, FakePlatform, sample_csv
from trading.errors import InvalidEventError, InvalidRunConfigError, MarketDataUnreadableError
from trading.service.requests import IngestRequest

RAW_KEY = "raw/prices.csv"


def _platform(body: bytes, metadata: dict[str, str] | None = None) -> FakePlatform:
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, body, metadata or {})
    return platform


def test_valid_file_gives_curated_bars_signals_quotes_and_a_running_run() -> None:
    raw = sample_csv()
    platform = _platform(raw)
    payload = platform.ingest("r1")

    assert payload["curated_key"] == "curated/r1/bars.csv"
    assert payload["signals_key"] == "signals/r1/signals.json"
    assert payload["rejected_key"] is None
    assert (payload["bars_accepted"], payload["bars_rejected"]) == (500, 0)
    assert payload["symbols"] == ["AAA", "BBB"]
    assert payload["config"]["strategy"] == "sma_cross"
    assert len(json.dumps(payload)) < 2_000  # references and counts, never bars
    # The raw object is untouched; the curated CSV re-parses to the same bars.
    assert platform.objects.read(MARKET_BUCKET, RAW_KEY) == raw
    assert platform.objects.read(MARKET_BUCKET, payload["curated_key"]) == raw
    signals = json.loads(platform.objects.read(MARKET_BUCKET, payload["signals_key"]))
    pairs = [pair for values in signals["signals"].values() for pair in values]
    assert payload["signal_count"] == len(pairs) > 0
    assert all(signal in (1, -1) for _, signal in pairs)
    assert signals["bars"] == {"AAA": 250, "BBB": 250}
    assert set(platform.quotes.quotes) == {"AAA", "BBB"}
    run = platform.runs.runs["r1"]
    assert run["status"] == "RUNNING" and run["source_key"] == RAW_KEY
    assert run["settings"]["strategy"] == "sma_cross"
    step = platform.runs.steps[("r1", "STEP#01#ProcessMarketData")]
    assert step.summary["bars_accepted"] == 500 and step.duration_ms >= 0


def test_rejected_rows_are_kept_with_their_reasons_beside_the_curated_bars() -> None:
    raw = sample_csv(("AAA",), bars=40) + b"2021-01-01T00:00:00Z,AAA,10,9,11,10,100\nnot,a,row\n"
    platform = _platform(raw)
    payload = platform.ingest("r2")

    assert payload["rejected_key"] == "rejected/r2/prices.csv.jsonl"
    assert (payload["bars_accepted"], payload["bars_rejected"]) == (40, 2)
    rows = [
        json.loads(line)
        for line in platform.objects.read(MARKET_BUCKET, payload["rejected_key"]).splitlines()
    ]
    assert [row["line"] for row in rows] == [42, 43]
    assert all(row["reasons"] and row["reasons"][0]["code"] for row in rows)
    assert platform.objects.read(MARKET_BUCKET, RAW_KEY) == raw


def test_metadata_and_config_choose_the_settings() -> None:
    platform = _platform(sample_csv(("AAA",), bars=60), {"stp-strategy": "buy_and_hold"})
    payload = platform.ingest("r3", config={"cash": 5_000})
    assert payload["config"]["strategy"] == "buy_and_hold"
    assert payload["config"]["cash"] == 5_000.0
    assert payload["signal_count"] == 1


def test_too_few_bars_for_the_strategy_means_no_signals() -> None:
    platform = _platform(sample_csv(("AAA",), bars=20))
    assert platform.ingest("r4")["signal_count"] == 0


@pytest.mark.parametrize(
    ("metadata", "config", "named"),
    [
        ({}, {"strategy": "moon_phase"}, "moon_phase"),
        ({"stp-params": "fast=50,slow=10"}, None, "fast"),
        ({}, {"cash": -1}, "cash"),
        ({}, {"leverage": 0}, "leverage"),
        ({}, {"levrage": 3}, "levrage"),
    ],
)
def test_bad_settings_fail_as_invalid_run_config(
    metadata: dict[str, str], config: dict[str, object] | None, named: str
) -> None:
    platform = _platform(sample_csv(("AAA",), bars=30), metadata)
    with pytest.raises(InvalidRunConfigError, match=named):
        platform.ingest("r5", config=config)


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        (None, RAW_KEY, "does not exist"),
        (b"", RAW_KEY, "EMPTY_FILE"),
        (b"\x00\x01\x02binary", RAW_KEY, "BINARY_FILE"),
        (b"a,b\n1,2\n", "raw/prices.parquet", "UNKNOWN_FORMAT"),
        (b"date,open,high,low,close,volume\n2020-01-01,-1,1,1,1,1\n", RAW_KEY, "no valid bar"),
    ],
)
def test_unreadable_market_data_fails_as_such(body: bytes | None, key: str, message: str) -> None:
    platform = FakePlatform()
    if body is not None:
        platform.objects.upload(MARKET_BUCKET, key, body)
    with pytest.raises(MarketDataUnreadableError, match=message):
        platform.ingest("r6", key=key)


def test_a_retry_reuses_the_run_record_and_rewrites_the_same_objects() -> None:
    platform = _platform(sample_csv(("AAA",), bars=80))
    first = platform.ingest("r7")
    created = platform.runs.runs["r7"]["created_at"]
    assert platform.ingest("r7") == first
    assert platform.runs.runs["r7"]["created_at"] == created


def test_an_older_file_never_replaces_a_newer_quote() -> None:
    platform = _platform(sample_csv(("AAA",), bars=80))
    platform.ingest("new")
    newest = platform.quotes.quotes["AAA"]
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=30))
    platform.ingest("old")
    assert platform.quotes.quotes["AAA"] == newest


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({}, "run_id"),
        ({"run_id": "r"}, "input"),
        ({"run_id": "r", "input": {"key": "k"}}, "input.bucket"),
        ({"run_id": "r", "input": {"bucket": "b"}}, "input.key"),
        ({"run_id": "r", "input": {"bucket": "b", "key": "k", "config": [1]}}, "input.config"),
        ([], "event"),
    ],
)
def test_a_malformed_event_names_the_field(event: object, field: str) -> None:
    with pytest.raises(InvalidEventError, match=field.replace(".", r"\.")):
        IngestRequest.from_event(event)


def test_a_live_run_of_a_registered_account_trades_on_the_accounts_costs_and_margin() -> None:
    from trading.service.access import AccountProfile, AccountSettings

    account = AccountSettings(cash=5_000.0, commission=0.002, slippage_bps=5.0, leverage=2.0)
    platform = FakePlatform()
    platform.profiles.profiles["desk-x"] = AccountProfile("desk-x", "owner", account)
    # An operator's upload whose metadata says otherwise (or a link issued before a change).
    metadata = {"stp-account": "desk-x", "stp-commission": "0", "stp-leverage": "1"}
    platform.objects.upload(MARKET_BUCKET, "raw/desk-x/bars.csv", sample_csv(), metadata)
    config = platform.ingest("r-live", key="raw/desk-x/bars.csv")["config"]
    assert (config["cash"], config["commission"], config["slippage_bps"], config["leverage"]) == (
        5_000.0,
        0.002,
        5.0,
        2.0,
    )


def test_a_backtest_on_an_accounts_data_starts_from_its_costs() -> None:
    from trading.service.access import AccountProfile, AccountSettings

    platform = FakePlatform()
    account = AccountSettings(commission=0.002, leverage=2.0)
    platform.profiles.profiles["desk-y"] = AccountProfile("desk-y", "owner", account)
    platform.objects.upload(MARKET_BUCKET, "raw/desk-y/bars.csv", sample_csv(), {})
    platform.objects.upload(
        MARKET_BUCKET, "raw/desk-y/what-if.csv", sample_csv(), {"stp-commission": "0.0005"}
    )
    plain = platform.ingest("r-plain", key="raw/desk-y/bars.csv")["config"]
    tried = platform.ingest("r-tried", key="raw/desk-y/what-if.csv")["config"]
    assert (plain["account"], plain["commission"], plain["leverage"]) == (None, 0.002, 2.0)
    assert (tried["commission"], tried["leverage"]) == (0.0005, 2.0)
