"""Quantity steps: how finely a symbol trades (whole shares by default, e.g. 0.0001 for a
crypto asset) and its minimum order size. Sizing rounds down to the step, so it never spends
more than the budget."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from decimal import Decimal

# Quantities within this many steps of a multiple count as that multiple (float division).
STEP_TOLERANCE = 1e-6
# A given quantity is on the step when it is a multiple up to float rounding (a few units in
# the last place), not up to STEP_TOLERANCE: 1.0000000001 shares is not a whole number.
ON_STEP_ULPS = 8 * sys.float_info.epsilon
# Sums of fractional quantities are rounded to this many decimals: float dust (0.1 + 0.2)
# would otherwise leave a closed position at 5e-17 instead of 0. Steps are far coarser.
QUANTITY_DECIMALS = 10


@dataclass(frozen=True, slots=True)
class LotSize:
    """A symbol's quantity step and minimum order size.

    >>> LotSize(0.0001).round_down(1.23456789)
    1.2345
    """

    step: float = 1.0
    minimum: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.step) and self.step > 0):
            raise ValueError(f"quantity step must be positive, got {self.step!r}")
        if not (math.isfinite(self.minimum) and self.minimum >= 0):
            raise ValueError(f"minimum quantity must be >= 0, got {self.minimum!r}")

    @property
    def whole(self) -> bool:
        """True for whole units (step 1): quantities stay integers."""
        return self.step == 1

    def steps_in(self, quantity: float) -> int:
        """Whole steps in ``quantity`` (rounded down, tolerant of float division)."""
        return math.floor(quantity / self.step + STEP_TOLERANCE)

    def quantity(self, steps: int) -> float:
        """``steps`` steps as a quantity, rounded to the step's decimals (no float dust)."""
        if self.whole:
            return steps
        exponent = Decimal(repr(self.step)).normalize().as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return round(steps * self.step, decimals)

    def round_down(self, quantity: float) -> float:
        """The largest multiple of the step not above ``quantity``."""
        return self.quantity(self.steps_in(quantity))

    def problem(self, quantity: float) -> str | None:
        """Why ``quantity`` cannot be ordered (off the step, below the minimum), or None."""
        nearest = round(quantity / self.step) * self.step
        if abs(nearest - quantity) > ON_STEP_ULPS * max(abs(quantity), self.step):
            return f"quantity {quantity:.15g} is not a multiple of the step {self.step:g}"
        if quantity < self.minimum:
            return f"quantity {quantity:g} is below the minimum {self.minimum:g}"
        return None


WHOLE_SHARES = LotSize()


def without_dust(quantity: float) -> float:
    """``quantity`` with float dust removed; integers (whole shares) are returned as they are."""
    if quantity.__class__ is int:
        return quantity
    return round(quantity, QUANTITY_DECIMALS)
