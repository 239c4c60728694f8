"""A multi-asset rotation: the strongest symbols by momentum, only while they are rising."""

import numpy as np

from trading.sdk import Param, PortfolioStrategy
from trading.sdk.universe import aligned_closes, per_symbol


class DualMomentum(PortfolioStrategy):
    """Every `rebalance` bars, hold the `top_k` symbols with the best return over the last
    `lookback` bars, 1/top_k of equity each, but only those whose return is positive
    (absolute momentum): the rest of the money waits in cash."""

    name = "dual_momentum"
    description = "top-k by relative momentum, in cash when absolute momentum is negative"
    params = (
        Param("lookback", int, 126, 2, 2_000, "bars of the momentum"),
        Param("top_k", int, 2, 1, 50, "symbols held at most"),
        Param("rebalance", int, 21, 1, 500, "bars between rebalances"),
    )

    @property
    def warmup(self):
        return int(self["lookback"]) + 1

    def weights(self, universe):
        timeline, symbols, closes = aligned_closes(universe)
        lookback, top_k = int(self["lookback"]), int(self["top_k"])
        weights = np.full(closes.shape, np.nan)  # NaN: no rebalance on that bar
        for row in range(lookback, len(timeline), int(self["rebalance"])):
            momentum = closes[row] / closes[row - lookback] - 1
            best = [c for c in np.argsort(-momentum) if momentum[c] > 0][:top_k]
            weights[row] = 0.0
            weights[row, best] = 1 / top_k
        return per_symbol(universe, timeline, symbols, weights)
