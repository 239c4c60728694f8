"""Breakdowns of a run's result for its report: the buy-and-hold benchmark, calendar returns,
the distribution of trade returns and the exposure over time.

Pure numpy; every figure lands in the JSON report, which the HTML page only draws::

    bench = buy_and_hold_equity(series, ts, initial_cash=100_000)
    calendar_returns(ts, equity)  # {"monthly": [...], "yearly": [...]}
    return_histogram([t.return_pct for t in trades])  # {"edges": [...], "counts": [...]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trading.core.bars import BarSeries, FloatArray, IntArray

BENCHMARK_NAME = "equal-weight buy-and-hold"
"""What the benchmark is: each symbol of the run gets an equal share of the initial cash,
invested in (fractional) shares at its first close and held, without costs."""
HISTOGRAM_BINS = 20
FEW_BARS = 60
"""Below this many bars the annualised figures (CAGR, volatility, Sharpe, Sortino) say little."""
FEW_TRADES = 10
"""Below this many closed trades the trade statistics (win rate, profit factor) say little."""


def marks(series: Mapping[str, BarSeries], ts: IntArray) -> dict[str, FloatArray]:
    """Each symbol's latest close at every timestamp of ``ts`` (NaN before its first bar)."""
    out: dict[str, FloatArray] = {}
    for symbol, bars in series.items():
        where = np.searchsorted(bars.ts, ts, side="right") - 1
        closes = np.where(where >= 0, bars.close[np.maximum(where, 0)], np.nan)
        out[symbol] = closes.astype(np.float64)
    return out


def buy_and_hold_equity(
    series: Mapping[str, BarSeries], ts: IntArray, initial_cash: float
) -> FloatArray:
    """The :data:`BENCHMARK_NAME` equity at every timestamp of ``ts``: a symbol's share stays
    cash until its first bar in ``ts``, then follows its close from there."""
    if not series or not len(ts):
        return np.full(len(ts), float(initial_cash))
    share = float(initial_cash) / len(series)
    equity = np.zeros(len(ts))
    for closes in marks(series, ts).values():
        known = np.flatnonzero(~np.isnan(closes))
        if not len(known):
            equity += share
            continue
        # Bought at the first close inside ts (bars before it are warm-up history).
        equity += np.where(np.isnan(closes), share, share * closes / closes[known[0]])
    return equity


def calendar_returns(
    ts: IntArray, equity: FloatArray, benchmark: FloatArray | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Returns of each calendar month and year (UTC): the period's last equity over the last
    equity before it (the first period starts from the first bar), with the benchmark's."""
    result: dict[str, list[dict[str, Any]]] = {"monthly": [], "yearly": []}
    if len(ts) < 2:
        return result
    days = ts.astype("datetime64[ns]")
    for name, unit in (("monthly", "M"), ("yearly", "Y")):
        periods = days.astype(f"datetime64[{unit}]")
        last = np.flatnonzero(np.append(periods[1:] != periods[:-1], True))
        rows = []
        for index, end in enumerate(last.tolist()):
            start = 0 if index == 0 else int(last[index - 1])
            row: dict[str, Any] = {
                "period": str(periods[end]),
                "return": _ratio(equity, start, end),
            }
            if benchmark is not None:
                row["benchmark"] = _ratio(benchmark, start, end)
            rows.append(row)
        result[name] = rows
    return result


def return_histogram(returns: Sequence[float], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Counts of trade returns in ``bins`` equal bins from the lowest to the highest return
    (``edges`` has one more value than ``counts``); empty without finite returns."""
    values = np.asarray([r for r in returns if math.isfinite(r)], dtype=np.float64)
    if not len(values):
        return {"edges": [], "counts": []}
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 0.005, high + 0.005
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


def gross_exposure(
    series: Mapping[str, BarSeries],
    ts: IntArray,
    equity: FloatArray,
    positions: Mapping[str, FloatArray],
) -> FloatArray:
    """Σ |quantity × close| over the symbols, as a fraction of equity, at every timestamp
    (0 where equity is not positive)."""
    value = np.zeros(len(ts))
    closes = marks(series, ts)
    for symbol, quantity in positions.items():
        if symbol in closes and len(quantity) == len(ts):
            value += np.abs(np.nan_to_num(quantity * closes[symbol]))
    return np.divide(value, equity, out=np.zeros(len(ts)), where=equity > 0)


def warnings_for(bars: int, closed_trades: int) -> list[str]:
    """What a reader must know before trusting the figures: too few bars or trades."""
    notes = []
    if bars < FEW_BARS:
        notes.append(
            f"Only {bars:,} bars: the annualised figures (CAGR, volatility, Sharpe, Sortino, "
            f"Calmar) extrapolate from too little data to mean much (fewer than {FEW_BARS})."
        )
    if closed_trades < FEW_TRADES:
        notes.append(
            f"Only {closed_trades:,} closed trades: win rate, profit factor, expectancy and "
            f"SQN rest on too few trades to mean much (fewer than {FEW_TRADES})."
        )
    return notes


def _ratio(values: FloatArray, start: int, end: int) -> float | None:
    base = float(values[start])
    if base <= 0 or not math.isfinite(base) or not math.isfinite(float(values[end])):
        return None
    return float(values[end]) / base - 1.0
