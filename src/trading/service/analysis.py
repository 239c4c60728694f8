"""AnalyzePerformance: score a run and publish its reports.

From the run's ledger (equity curve and trades) — or, when the strategy signalled nothing, from
a flat replay of the account over the curated bars that persists nothing — compute the
performance metrics, write ``report.json``, ``report.html``, ``trades.csv`` and ``equity.csv``
to the reports bucket, and mark the run SUCCEEDED with its headline figures.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from trading.core.backtest import run_engine
from trading.core.bars import BarSeries, BoolArray, FloatArray, IntArray
from trading.core.breakdown import (
    BENCHMARK_NAME,
    buy_and_hold_equity,
    calendar_returns,
    gross_exposure,
    return_histogram,
    warnings_for,
)
from trading.core.marketdata import MarketDataError, parse_market_data
from trading.core.metrics import compute_metrics
from trading.core.model import Trade, ts_to_iso
from trading.core.pipeline import scored_trades
from trading.core.settings import RunSettings
from trading.errors import InvalidEventError, MarketDataUnreadableError
from trading.reporting import render_html_report
from trading.service import keys
from trading.service.documents import decode_equity, decode_exposure, decode_trades
from trading.service.ports import AccountRepository, ObjectNotFoundError, ObjectStore, RunRepository
from trading.service.requests import ExecutionRef, MarketDataRef, run_id_of
from trading.service.steps import (
    ANALYZE_PERFORMANCE,
    SUCCEEDED,
    Clock,
    StepTimer,
    account_of,
    run_settings,
    utc_now,
)

HEADLINE_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "trades", "final_equity")
BENCHMARK_METRICS = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "longest_drawdown_seconds",
    "final_equity",
)
"""The benchmark's figures the report sets beside the strategy's."""
"""The figures the run record and the step's output carry; the rest is in report.json."""
TRADE_COLUMNS = (
    "symbol",
    "direction",
    "quantity",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "bars_held",
    "pnl",
    "return_pct",
    "commission",
    "is_open",
    "exit_kind",
    "stop_first",
)


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    """AnalyzePerformance's event: ``{"run_id", "market_data", "execution": {...} | null}``."""

    run_id: str
    market_data: MarketDataRef
    execution: ExecutionRef | None

    @classmethod
    def from_event(cls, event: object) -> AnalysisRequest:
        """Parse and check the event; raises ``InvalidEventError`` naming a bad field.

        ``execution`` null (or absent) is the no-signals branch of the workflow.
        """
        run_id = run_id_of(event)
        assert isinstance(event, Mapping)  # run_id_of checked it
        market_data = MarketDataRef.from_payload(event.get("market_data"))
        raw_execution = event.get("execution")
        execution = None if raw_execution is None else ExecutionRef.from_payload(raw_execution)
        for ref, path in ((market_data, "market_data"), (execution, "execution")):
            if ref is not None and ref.run_id != run_id:
                raise InvalidEventError(
                    f"event field {path}.run_id is {ref.run_id!r}, not {run_id!r}"
                )
        return cls(run_id, market_data, execution)


@dataclass(frozen=True, slots=True)
class AnalysisOutcome:
    """Where the reports are, the headline figures, and how long the run took so far."""

    run_id: str
    report_key: str
    html_key: str
    headline: dict[str, Any]
    run_seconds: float | None

    def to_payload(self) -> dict[str, Any]:
        """The step's output in the workflow state (``$.performance``)."""
        return {
            "run_id": self.run_id,
            "report_key": self.report_key,
            "html_key": self.html_key,
            "headline": dict(self.headline),
        }


def analyze_performance(
    request: AnalysisRequest,
    *,
    objects: ObjectStore,
    runs: RunRepository,
    accounts: AccountRepository,
    reports_bucket: str,
    clock: Clock = utc_now,
) -> AnalysisOutcome:
    """Run the AnalyzePerformance step for ``request``; reports go to ``reports_bucket``.

    Raises ``MarketDataUnreadableError`` when the ledger or curated bars it needs are missing
    and ``InvalidRunConfigError`` for bad settings. Safe to retry: it writes the same keys.
    """
    timer = StepTimer(ANALYZE_PERFORMANCE, clock)
    run_id = request.run_id
    market_data = request.market_data
    settings = run_settings(None, market_data.config)
    account = account_of(settings, run_id)
    series = _curated(objects, market_data)
    if request.execution is not None:
        ts, equity, in_market, trades, exposure = _ledger(
            objects, market_data.bucket, request.execution
        )
    else:
        ts, equity, in_market, trades, exposure = _flat_replay(
            accounts, market_data, settings, series
        )
    if exposure is None:
        exposure = np.zeros(len(ts))

    metrics = compute_metrics(equity, ts, trades, in_market=in_market).to_dict()
    start = float(equity[0]) if len(equity) and equity[0] > 0 else settings.cash
    benchmark = buy_and_hold_equity(series, ts, start)
    benchmark_metrics = compute_metrics(benchmark, ts, []).to_dict()
    closed = [trade for trade in trades if not trade.is_open]
    report: dict[str, Any] = {
        "run_id": run_id,
        "account": account,
        "settings": settings.to_dict(),
        "metrics": metrics,
        "benchmark": {
            "name": BENCHMARK_NAME,
            "description": f"{BENCHMARK_NAME} of {', '.join(sorted(series))}: an equal share "
            "of the starting equity in each symbol at its first close, held, without costs",
            "metrics": {name: benchmark_metrics.get(name) for name in BENCHMARK_METRICS},
        },
        "returns": calendar_returns(ts, equity, benchmark),
        "trade_returns": return_histogram([trade.return_pct for trade in closed]),
        "exposure": {
            "average": float(exposure.mean()) if len(exposure) else None,
            "max": float(exposure.max()) if len(exposure) else None,
        },
        "warnings": warnings_for(len(ts), len(closed)),
        "trades": {
            "total": len(trades),
            "closed": len(closed),
            "open": sum(trade.is_open for trade in trades),
            "winners": sum(trade.pnl > 0 for trade in trades),
        },
        "data": {
            "bars_accepted": market_data.bars_accepted,
            "bars_rejected": market_data.bars_rejected,
            "bars_repaired": market_data.bars_repaired,
            "bars_excluded": market_data.bars_excluded,
            "symbols": list(market_data.symbols),
            "start": ts_to_iso(int(ts[0])) if len(ts) else None,
            "end": ts_to_iso(int(ts[-1])) if len(ts) else None,
            "curated_key": market_data.curated_key,
            "rejected_key": market_data.rejected_key,
            "repaired_key": market_data.repaired_key,
            "signal_count": market_data.signal_count,
            **_adjustments(objects, market_data),
        },
        "executed": request.execution is not None,
        "execution_path": _execution_path(request.execution),
        "generated_at": timer.started_at,
    }
    ruin = _ruin(request.execution, metrics, ts, equity)
    if ruin is not None:
        report["ruin"] = ruin
    calls = _margin_call_warning(request.execution)
    if calls is not None:
        report["warnings"].append(calls)
    report_key = keys.report_key(run_id, keys.REPORT_JSON)
    html_key = keys.report_key(run_id, keys.REPORT_HTML)
    objects.write(
        reports_bucket,
        report_key,
        json.dumps(report, indent=2, allow_nan=False).encode("utf-8"),
        "application/json",
    )
    html = render_html_report(
        report, ts, equity, trades, benchmark=benchmark, exposure=exposure, prices=series
    )
    objects.write(reports_bucket, html_key, html.encode("utf-8"), "text/html; charset=utf-8")
    objects.write(
        reports_bucket, keys.report_key(run_id, keys.TRADES_CSV), _trades_csv(trades), "text/csv"
    )
    objects.write(
        reports_bucket,
        keys.report_key(run_id, keys.EQUITY_CSV),
        _equity_csv(ts, equity, in_market, exposure, benchmark),
        "text/csv",
    )

    headline = {name: metrics.get(name) for name in HEADLINE_METRICS}
    step = timer.record({"headline": headline, "bars": len(ts), "trades": len(trades)})
    record = runs.record_step(
        run_id,
        step,
        {
            "status": SUCCEEDED,
            "headline": headline,
            "report_key": report_key,
            "html_key": html_key,
            "ended_at": step.ended_at,
            "updated_at": step.ended_at,
        },
    )
    return AnalysisOutcome(run_id, report_key, html_key, headline, _seconds_since(record, clock))


def _ruin(
    execution: ExecutionRef | None, metrics: Mapping[str, Any], ts: IntArray, equity: FloatArray
) -> dict[str, Any] | None:
    """``report["ruin"]``: the engine's record of the ruin (when, why, the equity then), or,
    for a curve that reached zero without it (a flat replay), when that happened."""
    lowest = float(equity.min()) if len(equity) else 0.0
    if execution is not None and execution.ruin is not None:
        ruin = dict(execution.ruin)
        when = str(ruin.get("time", ""))[:10]
        return {
            **ruin,
            "ruined": True,
            "lowest_equity": lowest,
            "message": f"The account was ruined on {when}: {ruin.get('cause', '')}. From then "
            "on the figures treat it as holding nothing (max drawdown -100%).",
        }
    if not metrics.get("ruined"):
        return None
    at = int(np.argmax(equity <= 0))
    return {
        "ruined": True,
        "time": ts_to_iso(int(ts[at])),
        "lowest_equity": lowest,
        "cause": "equity fell to zero or below",
        "message": f"The account was ruined on {ts_to_iso(int(ts[at]))[:10]}: equity fell "
        f"to zero or below (lowest {lowest:,.2f}). From then on the figures treat it as "
        "holding nothing (max drawdown -100%).",
    }


def _margin_call_warning(execution: ExecutionRef | None) -> str | None:
    """The report's warning about the run's margin calls, if it had any."""
    if execution is None or not execution.margin_calls:
        return None
    count = execution.margin_calls
    first = (execution.first_margin_call or "")[:10]
    return (
        f"{count} margin call{'s' if count != 1 else ''} (the first on {first}): equity fell "
        "below the maintenance margin at a close and every position was closed at its next "
        "open (settings leverage, short_margin, maintenance_margin)."
    )


def _execution_path(execution: ExecutionRef | None) -> dict[str, Any] | None:
    """Which execution path ran the trades ("columnar" or "broker") and why the broker's."""
    if execution is None or execution.execution_path is None:
        return None
    return {"path": execution.execution_path, "reason": execution.execution_path_reason}


def _ledger(
    objects: ObjectStore, bucket: str, execution: ExecutionRef
) -> tuple[IntArray, FloatArray, BoolArray, list[Trade], FloatArray | None]:
    """The equity curve, the trades and the exposure ExecuteTrades wrote."""
    try:
        body = objects.read(bucket, execution.equity_key)
        ts, equity, in_market = decode_equity(body)
        exposure = decode_exposure(body)
        trades = decode_trades(objects.read(bucket, execution.trades_key))
    except ObjectNotFoundError as missing:
        raise MarketDataUnreadableError(f"{missing} does not exist") from None
    except (ValueError, KeyError, TypeError) as error:
        raise MarketDataUnreadableError(f"the ledger of run {execution.run_id}: {error}") from None
    return ts, equity, in_market, trades, exposure


def _adjustments(objects: ObjectStore, market_data: MarketDataRef) -> dict[str, Any]:
    """The report's record of the corporate actions applied to the bars (and skipped)."""
    settings = market_data.config
    found: dict[str, Any] = {
        "corporate_actions": settings.get("corporate_actions"),
        "bars_adjusted": 0,
        "adjustments": [],
        "adjustments_skipped": [],
    }
    if market_data.adjustments_key is None:
        return found
    try:
        record = json.loads(objects.read(market_data.bucket, market_data.adjustments_key))
    except ObjectNotFoundError as missing:
        raise MarketDataUnreadableError(f"{missing} does not exist") from None
    found.update(
        bars_adjusted=record["bars_adjusted"],
        adjustments=record["applied"],
        adjustments_skipped=record["skipped"],
    )
    return found


def _curated(objects: ObjectStore, market_data: MarketDataRef) -> dict[str, BarSeries]:
    """The run's curated bars (benchmark, exposure and price charts are drawn on them)."""
    try:
        curated = objects.read(market_data.bucket, market_data.curated_key)
        return parse_market_data(curated, name=market_data.curated_key).series
    except ObjectNotFoundError as missing:
        raise MarketDataUnreadableError(f"{missing} does not exist") from None
    except MarketDataError as error:
        raise MarketDataUnreadableError(f"{market_data.curated_key}: {error}") from None


def _flat_replay(
    accounts: AccountRepository,
    market_data: MarketDataRef,
    settings: RunSettings,
    series: dict[str, BarSeries],
) -> tuple[IntArray, FloatArray, BoolArray, list[Trade], FloatArray | None]:
    """No signals: the account's equity over the run's bars, holding what it holds.

    Runs the engine with all-zero signals from the account's saved state (fresh cash for a
    backtest) and persists nothing: the account is not the analysis' to change.
    """
    account = accounts.get(account_of(settings, market_data.run_id))
    state = account.engine_state() if account.exists else None
    zeros = {symbol: np.zeros(len(bars), dtype=np.int8) for symbol, bars in series.items()}
    result = run_engine(series, zeros, settings.run_config(), state)
    exposure = gross_exposure(series, result.ts, result.equity, result.positions)
    return result.ts, result.equity, result.in_market, scored_trades(result), exposure


def _trades_csv(trades: Sequence[Trade]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for trade in trades:
        row = trade.to_dict()
        writer.writerow([row[column] for column in TRADE_COLUMNS])
    return out.getvalue().encode("utf-8")


def _equity_csv(
    ts: IntArray,
    equity: FloatArray,
    in_market: BoolArray,
    exposure: FloatArray,
    benchmark: FloatArray,
) -> bytes:
    lines = ["timestamp,equity,in_market,exposure,benchmark"]
    columns = (ts.tolist(), equity.tolist(), in_market.tolist(), exposure.tolist())
    lines.extend(
        f"{ts_to_iso(t)},{e!r},{int(m)},{x!r},{b!r}"
        for (t, e, m, x), b in zip(zip(*columns, strict=True), benchmark.tolist(), strict=True)
    )
    return ("\n".join(lines) + "\n").encode("utf-8")


def _seconds_since(record: Mapping[str, Any], clock: Clock) -> float | None:
    """Seconds from the run's creation (its record's ``created_at``) to now."""
    created = record.get("created_at")
    if not isinstance(created, str):
        return None
    try:
        started = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (clock() - started).total_seconds())
