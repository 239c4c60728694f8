"""Strategy parameters, declared once: type, default, inclusive range and description.

The declaration is what validates a run's values, what ``stp strategies`` lists and what a
parameter sweep reads; a bad value gets one line naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trading.sdk.errors import StrategyConfigError


@dataclass(frozen=True, slots=True)
class Param:
    """One strategy parameter: type, default and inclusive bounds.

    >>> Param("fast", int, 10, 1, 10_000, "bars in the fast average").parse("12")
    12
    """

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

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible declaration (what ``stp strategies --json`` shows)."""
        return {
            "name": self.name,
            "type": self.kind.__name__,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }


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


def parse_param_pairs(pairs: list[str]) -> dict[str, str]:
    """Turn ``["fast=10", "slow=30"]`` into a dict, with a clear error for a malformed pair."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise StrategyConfigError(f"parameter {pair!r} is not of the form key=value")
        values[key.strip()] = value.strip()
    return values
