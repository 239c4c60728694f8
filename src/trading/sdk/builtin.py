"""The built-in strategies, written on the SDK as a user's would be.

numpy is imported inside the methods: listing or validating a strategy stays free of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from trading.sdk.base import BUY, SELL, PortfolioStrategy, SignalStrategy, Strategy
from trading.sdk.errors import StrategyConfigError
from trading.sdk.params import Param

if TYPE_CHECKING:
    from trading.core.bars import BarSeries, FloatArray, SignalArray


class SmaCross(SignalStrategy):
    """Buy when the fast SMA crosses strictly above the slow one; sell on the mirror cross."""

    name = "sma_cross"
    description = "moving-average crossover"
    params = (
        Param("fast", int, 10, 1, 10_000, "bars in the fast average"),
        Param("slow", int, 30, 2, 10_000, "bars in the slow average"),
    )

    def check(self) -> None:
        if self.values["fast"] >= self.values["slow"]:
            raise StrategyConfigError(
                f"sma_cross needs fast < slow, got fast={self.values['fast']:g} "
                f"slow={self.values['slow']:g}"
            )

    @property
    def warmup(self) -> int:
        return int(self.values["slow"])

    def signals(self, series: BarSeries) -> SignalArray:
        from trading.core.indicators import crossings, sma

        fast = sma(series.close, int(self.values["fast"]))
        slow = sma(series.close, int(self.values["slow"]))
        return crossings(fast, slow)  # BUY where fast crosses above slow, SELL below


class RsiReversion(SignalStrategy):
    """Buy when RSI crosses down into oversold (< lower); sell when it crosses above upper."""

    name = "rsi_reversion"
    description = "RSI mean reversion"
    params = (
        Param("period", int, 14, 2, 1_000, "RSI period (Wilder)"),
        Param("lower", float, 30.0, 0.0, 100.0, "oversold level: buy on the cross below it"),
        Param("upper", float, 70.0, 0.0, 100.0, "overbought level: sell on the cross above it"),
    )

    def check(self) -> None:
        if self.values["lower"] >= self.values["upper"]:
            raise StrategyConfigError(
                f"rsi_reversion needs lower < upper, got lower={self.values['lower']:g} "
                f"upper={self.values['upper']:g}"
            )

    @property
    def warmup(self) -> int:
        return int(self.values["period"]) + 1

    def signals(self, series: BarSeries) -> SignalArray:
        import numpy as np

        from trading.core.indicators import crossed_above, rsi

        level = rsi(series.close, int(self.values["period"]))
        lower = np.full(level.shape[0], self.values["lower"])
        upper = np.full(level.shape[0], self.values["upper"])
        out = np.zeros(len(series), dtype=np.int8)
        out[crossed_above(lower, level)] = BUY
        out[crossed_above(level, upper)] = SELL
        return out


class BuyAndHold(SignalStrategy):
    """Buy on the first bar and hold: the baseline every strategy should beat."""

    name = "buy_and_hold"
    description = "buy on the first bar, never sell"

    def signals(self, series: BarSeries) -> SignalArray:
        import numpy as np

        out = np.zeros(len(series), dtype=np.int8)
        if len(series):
            out[0] = BUY
        return out


class MomentumRotation(PortfolioStrategy):
    """Every ``rebalance`` bars, hold the ``top_k`` symbols with the highest return over the
    last ``lookback`` bars, in equal weights (1/top_k of equity each); sell the rest."""

    name = "momentum_rotation"
    description = "rotate into the top-k symbols by momentum, rebalanced every N bars"
    params = (
        Param("lookback", int, 63, 1, 5_000, "bars of the momentum (return over them)"),
        Param("top_k", int, 1, 1, 100, "symbols held, each 1/top_k of equity"),
        Param("rebalance", int, 21, 1, 5_000, "bars between rebalances (21: monthly on daily)"),
    )

    @property
    def warmup(self) -> int:
        return int(self.values["lookback"]) + 1

    def weights(self, universe: Mapping[str, BarSeries]) -> dict[str, FloatArray]:
        import numpy as np

        from trading.sdk.universe import aligned_closes, per_symbol

        timeline, symbols, closes = aligned_closes(universe)
        lookback, top_k = int(self.values["lookback"]), int(self.values["top_k"])
        matrix = np.full(closes.shape, np.nan)
        for row in range(lookback, closes.shape[0], int(self.values["rebalance"])):
            momentum = closes[row] / closes[row - lookback] - 1.0
            ranked = [c for c in np.argsort(-momentum, kind="stable") if np.isfinite(momentum[c])]
            matrix[row] = 0.0
            matrix[row, ranked[:top_k]] = 1.0 / top_k
        return per_symbol(universe, timeline, symbols, matrix)


BUILT_IN: tuple[type[Strategy], ...] = (SmaCross, RsiReversion, BuyAndHold, MomentumRotation)
"""The strategies every installation has, in the order they are listed."""
