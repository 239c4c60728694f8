"""How signals become orders: the mode and sizing of a run, its costs and risk limits.

Plain data with no numeric library, so the order path (and the API) can read a run's
configuration without importing numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from trading.core.execution import AttachedExits, ExecutionConfig
from trading.core.execution.margin import MarginRules
from trading.core.risk import RiskLimits


class Mode(StrEnum):
    """Long-only, or long/short where an opposite signal reverses the position."""

    LONG_ONLY = "long-only"
    LONG_SHORT = "long-short"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How signals become orders.

    Sizing: ``quantity`` (shares or units) per entry when set, otherwise ``cash_fraction`` of the
    buying power when the entry fills (see ``trading.core.execution.sizing``); ``margin``: the
    gross-exposure limit, short margin and maintenance margin (``...execution.margin``).
    ``exits``: the stop-loss, take-profit and trailing stop every entry carries (fractions of
    its fill price), or None.
    """

    initial_cash: float = 100_000.0
    mode: Mode = Mode.LONG_ONLY
    cash_fraction: float = 1.0
    quantity: float | None = None
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    limits: RiskLimits = field(default_factory=RiskLimits)
    id_prefix: str = "O"
    exits: AttachedExits | None = None
    # A trailing stop on every entry at this multiple of ATR(atr_period) at the signal bar.
    trailing_atr: float | None = None
    atr_period: int = 14
    # A signal in the direction already held closes the position and opens it again (two
    # orders, two commissions), as backtesting.py's exclusive_orders; False keeps it.
    reopen_on_repeat: bool = False
    margin: MarginRules = field(default_factory=MarginRules)

    def risk_limits(self) -> RiskLimits:
        """The limits with short selling allowed exactly in long/short mode."""
        return replace(self.limits, allow_short=self.mode is Mode.LONG_SHORT)
