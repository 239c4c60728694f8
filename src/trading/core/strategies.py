"""Strategies: validated parameters, a warm-up length, and signals computed from bars.

A signal array holds one int8 per bar: +1 = buy (go long), −1 = sell (exit long / go short),
0 = nothing. A signal on bar t uses only bars up to t; orders it causes fill on a later bar.

Importing this module loads no numeric library: validating a run's strategy and parameters
(the API does it on every request) stays cheap; numpy is loaded when signals are computed.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from trading.core.bars import BarSeries, SignalArray

BUY = 1
SELL = -1


class StrategyConfigError(ValueError):
    """Unknown strategy, unknown parameter or a parameter out of range."""


@dataclass(frozen=True, slots=True)
class Param:
    """One strategy parameter: type, default and inclusive bounds."""

    name: str
    kind: type[int] | type[float]
    default: float
    minimum: float
    maximum: float
    description: str

    def parse(self, raw: object) -> float:
        """Convert ``raw`` (number or text) and check its type and range."""
        try:
            text = str(raw).strip()
            value: float = int(text) if self.kind is int else float(text)
        except (TypeError, ValueError):
            kind = "an integer" if self.kind is int else "a number"
            raise StrategyConfigError(
                f"parameter {self.name!r} must be {kind}, got {raw!r}"
            ) from None
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise StrategyConfigError(
                f"parameter {self.name!r} must be between {self.minimum:g} and "
                f"{self.maximum:g}, got {raw!r}"
            )
        return value


def _plain(raw: object) -> object:
    """An integral float (e.g. 10.0 from JSON) is accepted for an integer parameter."""
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


# Exits every strategy's entries may attach (fractions of the entry's fill price; see
# docs/execution.md). Optional: absent means no such exit.
EXIT_PARAMS = (
    Param("stop_loss", float, 0.0, 1e-6, 0.99, "stop-loss: this fraction below a long's fill"),
    Param("take_profit", float, 0.0, 1e-6, 100.0, "take-profit: this fraction above a long's fill"),
    Param(
        "trailing_stop", float, 0.0, 1e-6, 0.99, "trailing stop: this fraction off the best price"
    ),
    Param("trailing_atr", float, 0.0, 1e-6, 100.0, "trailing stop: this many ATRs off the best"),
    Param("atr_period", int, 14, 1, 1_000, "bars in the ATR of trailing_atr"),
)


class Strategy(ABC):
    """Base of every strategy: subclasses declare ``name``, ``params`` and ``signals``.

    Every strategy also accepts the optional :data:`EXIT_PARAMS`; they do not change its
    signals, they are carried by its entry orders (see :attr:`exit_values`).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **values: object) -> None:
        known = {p.name: p for p in (*self.params, *EXIT_PARAMS)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            allowed = ", ".join(known)
            raise StrategyConfigError(
                f"unknown parameter(s) for {self.name}: {', '.join(unknown)} (allowed: {allowed})"
            )
        self.values: dict[str, float] = {
            p.name: p.parse(values[p.name]) if p.name in values else p.default for p in self.params
        }
        # Exits only when given: a strategy's parameters read as before without them.
        self.values.update(
            {p.name: p.parse(values[p.name]) for p in EXIT_PARAMS if p.name in values}
        )
        if "trailing_stop" in self.values and "trailing_atr" in self.values:
            raise StrategyConfigError("give trailing_stop or trailing_atr, not both")
        self.check()

    @property
    def exit_values(self) -> dict[str, float]:
        """The exit parameters given (name → fraction)."""
        return {p.name: self.values[p.name] for p in EXIT_PARAMS if p.name in self.values}

    def check(self) -> None:  # noqa: B027 - optional hook, most strategies have no such rule
        """Cross-parameter rules; raise :class:`StrategyConfigError` when broken."""

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Bars needed before the first possible signal."""

    @abstractmethod
    def signals(self, series: BarSeries) -> SignalArray:
        """One signal per bar of ``series``."""

    def describe(self) -> dict[str, Any]:
        """Name and effective parameters, JSON-compatible."""
        return {"name": self.name, "params": dict(self.values)}


class SmaCross(Strategy):
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
        import numpy as np

        from trading.core.indicators import crossed_above, sma

        fast = sma(series.close, int(self.values["fast"]))
        slow = sma(series.close, int(self.values["slow"]))
        out = np.zeros(len(series), dtype=np.int8)
        out[crossed_above(fast, slow)] = BUY
        out[crossed_above(slow, fast)] = SELL
        return out


class RsiReversion(Strategy):
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


class BuyAndHold(Strategy):
    """Buy on the first bar and hold: the baseline every strategy should beat."""

    name = "buy_and_hold"
    description = "buy on the first bar, never sell"

    @property
    def warmup(self) -> int:
        return 1

    def signals(self, series: BarSeries) -> SignalArray:
        import numpy as np

        out = np.zeros(len(series), dtype=np.int8)
        if len(series):
            out[0] = BUY
        return out


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (SmaCross, RsiReversion, BuyAndHold)
}


def create_strategy(name: str, params: Mapping[str, object] | None = None) -> Strategy:
    """Build a registered strategy from its name and raw parameter values."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise StrategyConfigError(
            f"unknown strategy {name!r} (available: {', '.join(sorted(STRATEGIES))})"
        )
    return cls(**dict(params or {}))


def parse_param_pairs(pairs: list[str]) -> dict[str, str]:
    """Turn ``["fast=10", "slow=30"]`` into a dict, with a clear error for a malformed pair."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise StrategyConfigError(f"parameter {pair!r} is not of the form key=value")
        values[key.strip()] = value.strip()
    return values
