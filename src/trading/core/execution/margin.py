"""Buying power and margin: what an account may hold for the equity it has, when a margin call
closes its positions, and when it is ruined.

The rules (docs/execution.md, "Buying power, margin and ruin"), on the account's equity E,
the market value of its longs L and of its shorts S (both positive), G = L + S:

- **Entries** (an order's part that opens or adds to a position) need buying power: after the
  fill, G ≤ ``leverage`` × E (the gross-exposure limit; 1 = no borrowing) and, for a short,
  E + S ≥ ``short_margin`` × S (Reg T initial margin: 150 % of the short's value, i.e. the
  proceeds plus 50 % in equity). Short proceeds are cash, never buying power.
- **Maintenance**: at every bar's close, E ≥ (``maintenance_margin`` − 1) × G (Reg T's 130 %
  of a short's value, applied to longs alike; an unlevered long can never breach it). Below it
  the account is in a margin call: every position is closed at its symbol's next open.
- **Ruin**: at a close where E ≤ 0, every position is closed at its next open and the account
  stops trading for good.

Plain functions on floats, imported by both execution paths. No numeric library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from trading.core.model import ExitKind, Position

MARGIN_CALL = ExitKind.MARGIN_CALL
RUIN = ExitKind.RUIN
FORCED = frozenset({MARGIN_CALL, RUIN})
"""The exit kinds of the orders the account places by itself (not a strategy's)."""

DEFAULT_LEVERAGE = 1.0
DEFAULT_SHORT_MARGIN = 1.5  # Reg T initial margin of a short sale: 150 % of its value
DEFAULT_MAINTENANCE_MARGIN = 1.3  # Reg T / FINRA maintenance of a short: 130 % of its value


class MarginRulesError(ValueError):
    """Margin parameters that contradict each other; the message names them."""


@dataclass(frozen=True, slots=True)
class MarginRules:
    """The buying-power and margin parameters of an account (defaults: no borrowing, Reg T
    150 % / 130 % for shorts).

    >>> MarginRules().entry_power(100_000.0, 0.0, 0.0, short=True)
    100000.0
    >>> MarginRules().entry_power(150_000.0, 0.0, 50_000.0, short=False)  # short 50k on 100k
    50000.0
    """

    leverage: float = DEFAULT_LEVERAGE
    short_margin: float = DEFAULT_SHORT_MARGIN
    maintenance_margin: float = DEFAULT_MAINTENANCE_MARGIN
    # short_margin − 1 and maintenance_margin − 1 rounded to 12 places (1.5 → 0.5, 1.3 → 0.3,
    # not the 0.30000000000000004 of the float subtraction): set once, read on every entry
    # (round() to 12 places costs more than the rest of entry_power).
    short_rate: float = field(init=False, repr=False, compare=False)
    maintenance_rate: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.leverage > 0:
            raise MarginRulesError(f"leverage must be above 0, got {self.leverage}")
        if not 1.0 <= self.maintenance_margin <= self.short_margin <= 2.0:
            raise MarginRulesError(
                "margins must satisfy 1 <= maintenance_margin <= short_margin <= 2, got "
                f"maintenance_margin {self.maintenance_margin}, short_margin {self.short_margin}"
            )
        object.__setattr__(self, "short_rate", round(self.short_margin - 1.0, 12))
        object.__setattr__(self, "maintenance_rate", round(self.maintenance_margin - 1.0, 12))
        if self.maintenance_rate >= 1.0 / self.leverage:
            raise MarginRulesError(
                f"maintenance_margin {self.maintenance_margin} would call every position "
                f"entered at leverage {self.leverage}: it must be below {1 + 1 / self.leverage:g}"
            )

    def entry_power(self, cash: float, long_value: float, short_value: float, short: bool) -> float:
        """The market value a new long (or ``short``) may add: what keeps G ≤ leverage × E
        and, for a short, the Reg T initial margin; never below 0.

        Written on cash (E = cash + L − S) so that an unlevered account without shorts has
        exactly its cash to spend: leverage × E − G = cash + (leverage − 1) × E − 2 × S.
        """
        leverage = self.leverage
        if leverage == 1.0:
            power = cash - 2.0 * short_value if short_value else cash
        else:
            power = leverage * cash + (leverage - 1.0) * long_value - (leverage + 1.0) * short_value
        if short and self.short_margin > 1.0:
            equity = cash + long_value - short_value
            power = min(power, equity / self.short_rate - short_value)
        return power if power > 0 else 0.0

    def maintenance(self, long_value: float, short_value: float) -> float:
        """The equity the positions require at a close."""
        return self.maintenance_rate * (long_value + short_value)

    def breach(self, equity: float, long_value: float, short_value: float) -> ExitKind | None:
        """RUIN at E ≤ 0, MARGIN_CALL below maintenance, else None (E = equity)."""
        if equity <= 0:
            return RUIN
        if equity < self.maintenance(long_value, short_value):
            return MARGIN_CALL
        return None

    @property
    def levered(self) -> bool:
        """True when longs may be bought on credit (cash can go below 0)."""
        return self.leverage > 1.0


def exposure(
    positions: Iterable[Position], price_of: Callable[[Position], float]
) -> tuple[float, float]:
    """Marked value of the positions: (long value, short value, both ≥ 0), each held at
    ``price_of(position)``."""
    longs = shorts = 0.0
    for held in positions:
        quantity = held.quantity
        if quantity > 0:
            longs += quantity * price_of(held)
        elif quantity < 0:
            shorts -= quantity * price_of(held)
    return longs, shorts


def buying_power(
    rules: MarginRules,
    cash: float,
    positions: Iterable[Position],
    price_of: Callable[[Position], float],
    short: bool,
) -> float:
    """What an entry (``short`` or long) may spend now, commission included: the account's
    :meth:`MarginRules.entry_power` with every position marked by ``price_of``."""
    longs, shorts = exposure(positions, price_of)
    return rules.entry_power(cash, longs, shorts, short)


def last_price(held: Position) -> float:
    """A position's own mark: its last fill or the last close seen (the live account's)."""
    return held.last_price
