"""AnalyzePerformance's use case over in-memory fakes: reports and the run's final status."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.service.fakes import MARKET_BUCKET, REPORTS_BUCKET, FakePlatform, sample_csv
from trading.errors import InvalidEventError, MarketDataUnreadableError
from trading.service.analysis import AnalysisRequest, analyze_performance

RAW_KEY = "raw/prices.csv"


def _executed(run_id: str, bars: int = 300, config: dict[str, Any] | None = None) -> Any:
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(bars=bars))
    market_data = platform.ingest(run_id, config=config)
    execution = (
        platform.execute(run_id, market_data).summary if market_data["signal_count"] else None
    )
    return platform, market_data, execution


def test_reports_are_written_and_the_run_succeeds_with_its_headline() -> None:
    platform, market_data, execution = _executed("a1")
    outcome = platform.analyze("a1", market_data, execution)
    payload = outcome.to_payload()

    assert payload["report_key"] == "reports/a1/report.json"
    assert payload["html_key"] == "reports/a1/report.html"
    assert set(payload["headline"]) == {
        "total_return",
        "cagr",
        "sharpe",
        "max_drawdown",
        "trades",
        "final_equity",
    }
    report = json.loads(platform.objects.read(REPORTS_BUCKET, payload["report_key"]))
    assert report["metrics"]["final_equity"] == pytest.approx(execution["final_equity"])
    assert report["settings"] == market_data["config"]
    assert report["data"]["symbols"] == ["AAA", "BBB"]
    assert report["data"]["bars_accepted"] == 600
    assert report["trades"]["total"] == report["metrics"]["trades"]
    assert report["execution_path"] == {"path": "columnar", "reason": None}
    html = platform.objects.read(REPORTS_BUCKET, payload["html_key"]).decode()
    assert html.startswith("<!DOCTYPE html>") and "a1" in html
    trades = list(
        csv.DictReader(
            io.StringIO(platform.objects.read(REPORTS_BUCKET, "reports/a1/trades.csv").decode())
        )
    )
    assert len(trades) == report["trades"]["total"]
    equity = platform.objects.read(REPORTS_BUCKET, "reports/a1/equity.csv").decode().splitlines()
    assert equity[0] == "timestamp,equity,in_market,exposure,benchmark" and len(equity) == 301
    # What the page draws beside the metrics, every figure in the JSON report.
    assert report["benchmark"]["name"] == "equal-weight buy-and-hold"
    assert report["benchmark"]["metrics"]["total_return"] is not None
    assert report["returns"]["yearly"] and report["returns"]["monthly"]
    closed = report["trades"]["closed"]
    assert sum(report["trade_returns"]["counts"]) == closed
    assert 0 <= report["exposure"]["average"] <= report["exposure"]["max"]
    assert report["warnings"] == ([] if closed >= 10 else [report["warnings"][0]])
    assert "ruin" not in report
    for section in ('id="equity"', 'id="drawdown"', 'id="exposure"', 'id="prices"'):
        assert section in html
    run = platform.runs.runs["a1"]
    assert run["status"] == "SUCCEEDED" and run["headline"] == payload["headline"]
    assert ("a1", "STEP#03#AnalyzePerformance") in platform.runs.steps


def test_without_signals_the_equity_is_flat_cash_and_nothing_is_booked() -> None:
    platform, market_data, execution = _executed("flat", bars=20)
    assert execution is None
    outcome = platform.analyze("flat", market_data, None)

    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    assert report["metrics"]["total_return"] == 0.0
    assert report["metrics"]["final_equity"] == 100_000.0
    assert report["metrics"]["trades"] == 0 and report["executed"] is False
    assert platform.accounts.saves == 0 and platform.accounts.accounts == {}
    assert platform.runs.runs["flat"]["status"] == "SUCCEEDED"


def test_without_signals_a_live_account_is_marked_at_the_new_prices() -> None:
    platform = FakePlatform()
    config = {"strategy": "buy_and_hold", "account": "paper"}
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=30))
    platform.execute("one", platform.ingest("one", config=config))
    held = platform.accounts.get("paper")
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, sample_csv(("AAA",), bars=40))
    market_data = platform.ingest("two", config=config)
    outcome = platform.analyze("two", market_data, None)

    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    assert report["metrics"]["bars"] == 10  # only the bars the account has not seen
    assert report["metrics"]["exposure"] == 1.0  # still holding
    # The benchmark starts with the run's first bar, not with the kept history's.
    first = report["returns"]["monthly"][0]
    assert report["benchmark"]["metrics"]["final_equity"] is not None and first["benchmark"]
    assert platform.accounts.get("paper") == held  # the replay persisted nothing


def test_the_run_duration_is_measured_from_the_run_record() -> None:
    platform, market_data, execution = _executed("d1")
    platform.runs.runs["d1"]["created_at"] = "2024-01-02T21:30:00.000Z"
    request = AnalysisRequest.from_event(
        {"run_id": "d1", "market_data": market_data, "execution": execution}
    )
    outcome = analyze_performance(
        request,
        objects=platform.objects,
        runs=platform.runs,
        accounts=platform.accounts,
        reports_bucket=REPORTS_BUCKET,
        clock=lambda: datetime(2024, 1, 2, 21, 30, tzinfo=UTC) + timedelta(seconds=90),
    )
    assert outcome.run_seconds == pytest.approx(90.0)


def test_a_missing_ledger_fails_as_unreadable() -> None:
    platform, market_data, execution = _executed("m1")
    del platform.objects.objects[(MARKET_BUCKET, execution["equity_key"])]
    with pytest.raises(MarketDataUnreadableError, match=r"equity\.json"):
        platform.analyze("m1", market_data, execution)


def test_a_malformed_event_names_the_field() -> None:
    _, market_data, execution = _executed("e1")
    with pytest.raises(InvalidEventError, match=r"execution\.equity_key"):
        AnalysisRequest.from_event(
            {"run_id": "e1", "market_data": market_data, "execution": {"run_id": "e1"}}
        )
    with pytest.raises(InvalidEventError, match="market_data"):
        AnalysisRequest.from_event({"run_id": "e1", "execution": execution})


def test_the_report_counts_exits_decided_by_the_stop_loss_first_assumption() -> None:
    # Tight exits on a volatile sample: some bars reach both the stop-loss and the target.
    config = {"params": {"fast": 3, "slow": 9, "stop_loss": 0.002, "take_profit": 0.002}}
    platform, market_data, execution = _executed("sl", config=config)
    outcome = platform.analyze("sl", market_data, execution)
    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    ledger = json.loads(platform.objects.read(MARKET_BUCKET, execution["trades_key"]))
    decided = sum(trade["stop_first"] for trade in ledger["closed"])
    assert decided > 0
    assert report["metrics"]["stop_first_trades"] == decided
    rows = list(
        csv.DictReader(
            io.StringIO(platform.objects.read(REPORTS_BUCKET, "reports/sl/trades.csv").decode())
        )
    )
    assert {row["exit_kind"] for row in rows} >= {"stop_loss", "take_profit"}
    assert sum(row["stop_first"] == "True" for row in rows) == decided


def test_a_short_run_warns_and_a_ruined_one_says_so() -> None:
    import numpy as np

    from trading.core.breakdown import FEW_BARS
    from trading.service.documents import decode_equity, encode_equity

    platform, market_data, execution = _executed("few", bars=FEW_BARS - 20)
    outcome = platform.analyze("few", market_data, execution)
    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    assert report["warnings"][0].startswith(f"Only {FEW_BARS - 20} bars")
    assert "ruin" not in report

    # The same ledger with the equity driven below zero half-way (a leveraged short, say).
    key = execution["equity_key"]
    ts, equity, in_market = decode_equity(platform.objects.read(MARKET_BUCKET, key))
    equity[len(equity) // 2 :] = -5_000.0
    platform.objects.write(MARKET_BUCKET, key, encode_equity(ts, equity, in_market), "x")
    outcome = platform.analyze("few", market_data, execution)
    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    assert report["metrics"]["ruined"] and report["metrics"]["max_drawdown"] == -1.0
    assert report["ruin"]["lowest_equity"] == -5_000.0
    assert report["ruin"]["message"].startswith("The account was ruined on ")
    assert report["exposure"]["average"] == 0.0  # a ledger written without exposure
    html = platform.objects.read(REPORTS_BUCKET, outcome.html_key).decode()
    assert 'class="banner ruin"' in html and "max drawdown -100.00%" in html
    assert np.isfinite(equity).all()


@pytest.mark.parametrize(
    ("spike", "ruined"),
    [(160.0, False), (200.0, True)],
    ids=["margin-call", "ruin"],
)
def test_the_engine_s_margin_call_and_ruin_reach_the_report(spike: float, ruined: bool) -> None:
    """A long/short sma_cross(2, 3) shorts 1,052 at 95 with all its buying power; the jump
    from 80 to 160 breaches the 130 % maintenance margin (equity 31,620 < 30 % of 168,320),
    the jump to 200 ruins it (equity −10,460). The report says so: a margin-call warning, or
    ``ruin`` with its time and cause, and a banner."""
    from tests.builders import series_from_closes
    from trading.core.marketdata import series_to_csv

    closes = [90.0, 92.0, 94.0, 96.0, 98.0, 100.0, 95.0, 90.0, 85.0, 80.0, 80.0, 80.0]
    closes += [spike] * 4
    platform = FakePlatform()
    upload = series_to_csv({"AAA": series_from_closes(closes, "AAA")})
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, upload)
    config = {"strategy": "sma_cross", "params": "fast=2,slow=3", "mode": "long-short"}
    market_data = platform.ingest("mc", config=config)
    execution = platform.execute("mc", market_data).summary
    assert execution["margin_calls"] == (0 if ruined else 1)
    outcome = platform.analyze("mc", market_data, execution)
    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    html = platform.objects.read(REPORTS_BUCKET, outcome.html_key).decode()
    trades = platform.objects.read(REPORTS_BUCKET, "reports/mc/trades.csv").decode()
    if ruined:
        ruin = report["ruin"]
        assert ruin["ruined"] and ruin["time"].startswith("2020-01-14")
        assert "every position closed at its next open" in ruin["cause"]
        assert ruin["message"].startswith("The account was ruined on 2020-01-14: equity ")
        assert 'class="banner ruin"' in html and ",ruin," in trades
        assert not [w for w in report["warnings"] if "margin call" in w]
    else:
        assert "ruin" not in report
        warning = report["warnings"][-1]  # after the few-bars and few-trades warnings
        assert warning.startswith("1 margin call (the first on 2020-01-14)")
        assert 'class="banner warning"' in html and ",margin_call," in trades
