"""A vectorised single-symbol signal strategy: a Donchian channel breakout."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from trading.sdk import BUY, SELL, Param, SignalStrategy


class Breakout(SignalStrategy):
    """Buy a close above the highest high of the previous `window` bars; sell a close below
    the lowest low of the previous `exit_window` bars."""

    name = "breakout"
    description = "Donchian channel breakout"
    params = (
        Param("window", int, 20, 2, 1_000, "bars of the entry channel"),
        Param("exit_window", int, 10, 2, 1_000, "bars of the exit channel"),
    )

    @property
    def warmup(self):
        return int(max(self["window"], self["exit_window"])) + 1

    def signals(self, bars):
        out = np.zeros(len(bars), dtype=np.int8)
        n, m = int(self["window"]), int(self["exit_window"])
        if len(bars) > n:
            # Window k covers bars k..k+n-1: bar t compares with window t-n, bars t-n..t-1.
            highest = sliding_window_view(bars.high, n).max(axis=1)[:-1]
            out[n:][bars.close[n:] > highest] = BUY
        if len(bars) > m:
            lowest = sliding_window_view(bars.low, m).min(axis=1)[:-1]
            out[m:][bars.close[m:] < lowest] = SELL
        return out
