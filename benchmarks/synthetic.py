"""Reproducible synthetic OHLCV bars for the benchmarks."""

from __future__ import annotations

import numpy as np

from trading.core.bars import BarSeries

MINUTE_NS = 60 * 1_000_000_000
HOUR_NS = 60 * MINUTE_NS
START_NS = 1_262_304_000_000_000_000  # 2010-01-01T00:00:00Z


def synthetic_series(
    n: int, seed: int = 7, symbol: str = "SYN", step_ns: int = MINUTE_NS
) -> BarSeries:
    """A geometric random walk of ``n`` bars ``step_ns`` apart (one minute by default) with
    consistent OHLC and volume."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.0002, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.001, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.001, n))
    volume = rng.integers(1_000, 100_000, n).astype(np.float64)
    ts = START_NS + np.arange(n, dtype=np.int64) * step_ns
    return BarSeries(symbol, ts, open_, high, low, close, volume)
