"""Backtest a batch of work items over one data set, sharing what items have in common.

Within a batch each distinct bar selection (symbols x window) is made once and each distinct
indicator (e.g. an SMA window) is computed once per symbol (`shared_indicators`), not once
per parameter set. Each item runs exactly what ``stp run`` runs for the same settings:
signals over the selected bars, the engine (`run_engine`), then the metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from trading.core.backtest import run_engine
from trading.core.bars import BarSeries
from trading.core.config import RunConfig
from trading.core.indicators import shared_indicators
from trading.core.marketdata.selection import select_bars
from trading.core.metrics import PerformanceReport, compute_metrics, periods_per_year
from trading.core.model import ts_to_iso
from trading.core.research.plan import OUT_OF_SAMPLE
from trading.core.settings import ENGINE_PARAMS, resolve_settings
from trading.sdk import create_signal_strategy

# The metrics a leaderboard carries for every item.
LEADERBOARD_METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "profit_factor",
    "sqn",
    "win_rate",
    "trades",
    "exposure",
    "final_equity",
    "start_time",
    "end_time",
)


def leaderboard_metrics(report: PerformanceReport) -> dict[str, Any]:
    """The leaderboard's metrics of ``report``, as its JSON form holds them (None for an
    undefined or non-finite value, ISO start and end times), without building all of it."""
    values: dict[str, Any] = {}
    for name in LEADERBOARD_METRICS:
        if name in ("start_time", "end_time"):
            ts = report.start_ts if name == "start_time" else report.end_ts
            values[name] = None if ts is None else ts_to_iso(ts)
            continue
        value = getattr(report, name)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        values[name] = value
    return values


def needs_curve(request: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """Whether Aggregate needs the item's equity curve (walk-forward out-of-sample parts are
    stitched; universe runs are summed into the equal-weight portfolio)."""
    window = item.get("window")
    return request["mode"] == "universe" or bool(window and window["phase"] == OUT_OF_SAMPLE)


def evaluate_batch(
    series: Mapping[str, BarSeries],
    request: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One result per item, in order: the item, its metrics, its seconds, and (when Aggregate
    needs it) its equity curve as ``{"ts": [...], "equity": [...]}``."""
    selections: dict[tuple[Any, ...], dict[str, BarSeries]] = {}
    # Bars per year depend on the bar times alone: once per selection, not once per item.
    per_year: dict[tuple[Any, ...], float] = {}
    base = resolve_settings(request.get("settings") or {}, {"strategy": request["strategy"]})
    # The run settings are the batch's; only the strategy's parameters change (the strategy
    # checks them when it is built below), and the engine's configuration only with the few
    # of them it reads: built once per distinct value of those, not once per item.
    configs: dict[tuple[Any, ...], RunConfig] = {}
    results = []
    with shared_indicators():
        for item in items:
            started = time.perf_counter()
            params = dict(item["params"])
            engine_params = tuple(params.get(name) for name in ENGINE_PARAMS)
            config = configs.get(engine_params)
            if config is None:
                config = configs[engine_params] = replace(base, params=params).run_config()
            symbols = tuple(item.get("symbols") or base.symbols)
            first, last = base.period()
            window = item.get("window")
            if window:
                first = max(first, window["start_ts"]) if first is not None else window["start_ts"]
                last = min(last, window["end_ts"]) if last is not None else window["end_ts"]
            key = (symbols, first, last)
            if key not in selections:
                selections[key] = select_bars(series, symbols=symbols, first=first, last=last)
            chosen = selections[key]
            # Sweeps fan out signal strategies (the form the columnar path runs).
            strategy = create_signal_strategy(base.strategy, params)
            signals = {symbol: strategy.signals(bars) for symbol, bars in chosen.items()}
            engine = run_engine(chosen, signals, config)
            if key not in per_year:
                per_year[key] = periods_per_year(engine.ts)
            report = compute_metrics(
                engine.equity,
                engine.ts,
                engine.trade_columns(),
                in_market=engine.in_market,
                periods=per_year[key],
            )
            result: dict[str, Any] = {
                **item,
                "metrics": leaderboard_metrics(report),
                "seconds": time.perf_counter() - started,
            }
            if needs_curve(request, item):
                result["curve"] = {
                    "ts": engine.ts.tolist(),
                    "equity": engine.equity.tolist(),
                }
            results.append(result)
    return results
