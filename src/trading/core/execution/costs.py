"""Costs and fill options of the paper broker: commission per fill, slippage on market and
stop fills, quantity steps and volume cap (plain data; the broker and the columnar path both
call these rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trading.core.lots import WHOLE_SHARES, LotSize
from trading.core.model import Side

BASIS_POINT = 1e-4

_BUY = Side.BUY


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    """Costs and fill options of the paper broker."""

    commission_rate: float = 0.0
    commission_minimum: float = 0.0
    slippage_bps: float = 0.0
    trade_on_close: bool = False
    volume_limit: float | None = None  # max fraction of a bar's volume one symbol may fill
    # Quantity step and minimum per symbol; others trade in ``default_lot`` (whole shares).
    lot_sizes: Mapping[str, LotSize] = field(default_factory=dict)
    default_lot: LotSize = WHOLE_SHARES

    def lot(self, symbol: str) -> LotSize:
        """The quantity step and minimum of ``symbol``."""
        return self.lot_sizes.get(symbol, self.default_lot)

    def commission(self, notional: float) -> float:
        """Commission of one fill: a rate of notional with an optional fixed minimum.

        >>> ExecutionConfig(commission_rate=0.001, commission_minimum=5.0).commission(1_000.0)
        5.0
        """
        charge = notional * self.commission_rate
        # max() without its call: this runs for every fill and every sizing step.
        return charge if charge >= self.commission_minimum else self.commission_minimum

    def slipped(self, price: float, side: Side) -> float:
        """Market fill price after slippage against the trader.

        >>> ExecutionConfig(slippage_bps=10.0).slipped(100.0, Side.SELL)
        99.9
        """
        if not self.slippage_bps:
            return price
        shift = self.slippage_bps * BASIS_POINT
        return price * (1 + shift) if side is _BUY else price * (1 - shift)
