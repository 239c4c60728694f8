"""Builders of bars and series shared by the tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trading.core.bars import BarSeries
from trading.core.model import Bar

DAY = 86_400 * 1_000_000_000
T0 = 1_577_923_200_000_000_000  # 2020-01-02T00:00:00Z


def make_bar(
    i: int,
    open_: float,
    high: float | None = None,
    low: float | None = None,
    close: float | None = None,
    volume: float = 1_000_000.0,
    symbol: str = "TEST",
) -> Bar:
    """Bar number ``i`` of a daily series; high/low default to the open/close envelope."""
    close = open_ if close is None else close
    high = max(open_, close) if high is None else high
    low = min(open_, close) if low is None else low
    return Bar(symbol, T0 + i * DAY, open_, high, low, close, volume)


def series_from_closes(
    closes: Sequence[float], symbol: str = "TEST", opens: Sequence[float] | None = None
) -> BarSeries:
    """A daily series whose open is the previous close unless ``opens`` is given."""
    close = np.asarray(closes, dtype=np.float64)
    if opens is None:
        open_ = np.concatenate([[close[0]], close[:-1]]) if len(close) else close
    else:
        open_ = np.asarray(opens, dtype=np.float64)
    n = len(close)
    return BarSeries(
        symbol,
        T0 + np.arange(n, dtype=np.int64) * DAY,
        open_,
        np.maximum(open_, close) * 1.01,
        np.minimum(open_, close) * 0.99,
        close,
        np.full(n, 1_000_000.0),
    )


def random_series(seed: int, n: int, symbol: str = "TEST", vol: float = 0.02) -> BarSeries:
    """A reproducible random-walk series with a gap between close and next open."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0.0, vol / 4, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, n))
    volume = rng.integers(100, 10_000, n).astype(np.float64)
    return BarSeries(
        symbol, T0 + np.arange(n, dtype=np.int64) * DAY, open_, high, low, close, volume
    )


# A user's signal strategy, as a file of a strategies folder holds it (tests of the SDK's
# registry load it from there, like a trader's own).
CHANNEL_STRATEGY = """
import numpy as np

from trading.sdk import BUY, SELL, Param, SignalStrategy


class Channel(SignalStrategy):
    name = "channel"
    description = "buy above the last N closes, sell below them"
    params = (Param("window", int, 5, 2, 100, "bars in the channel"),)

    def signals(self, bars):
        n = int(self["window"])
        out = np.zeros(len(bars), dtype=np.int8)
        for t in range(n, len(bars)):
            if bars.close[t] > bars.close[t - n : t].max():
                out[t] = BUY
            elif bars.close[t] < bars.close[t - n : t].min():
                out[t] = SELL
        return out
"""
