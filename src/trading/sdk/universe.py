"""Helpers for multi-asset strategies: every symbol's closes on one timeline."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from trading.core.bars import BarSeries, FloatArray, IntArray


def aligned_closes(
    universe: Mapping[str, BarSeries],
) -> tuple[IntArray, list[str], FloatArray]:
    """The union of the symbols' timestamps, the symbols in order, and a matrix of closes
    (one row per timestamp, one column per symbol): each symbol's latest close at or before
    the timestamp, NaN before its first bar."""
    symbols = sorted(universe)
    if not symbols:
        return np.zeros(0, dtype=np.int64), [], np.zeros((0, 0))
    timeline = np.unique(np.concatenate([universe[s].ts for s in symbols]))
    closes = np.full((timeline.shape[0], len(symbols)), np.nan)
    for column, symbol in enumerate(symbols):
        bars = universe[symbol]
        where = np.searchsorted(bars.ts, timeline, side="right") - 1
        known = where >= 0
        closes[known, column] = bars.close[where[known]]
    return timeline, symbols, closes


def per_symbol(
    universe: Mapping[str, BarSeries], timeline: IntArray, symbols: list[str], matrix: FloatArray
) -> dict[str, FloatArray]:
    """A timeline × symbols matrix back to one array per symbol on its own bars (the row of
    each of its bars' timestamps)."""
    return {
        symbol: matrix[np.searchsorted(timeline, universe[symbol].ts), column]
        for column, symbol in enumerate(symbols)
    }
