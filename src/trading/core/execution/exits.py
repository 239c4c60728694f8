"""Attached exits: the stop-loss, take-profit and trailing stop an entry carries, their prices
from the entry's fill price, and how a trailing stop follows the market. See
docs/execution.md ("Attached exits")."""

from __future__ import annotations

from dataclasses import dataclass

from trading.core.execution.order_rules import check_exit_fractions, check_trailing_distance
from trading.core.model import Bar, ExitKind, Order, OrderType, Side

# Enum members as module constants: reading one from its class goes through a descriptor
# (about 45 ns on CPython 3.11), a module global costs a few; these are read for every
# order and fill of a backtest.
_STOP_LOSS = ExitKind.STOP_LOSS
_TAKE_PROFIT = ExitKind.TAKE_PROFIT
_TRAILING_STOP = ExitKind.TRAILING_STOP
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_BUY = Side.BUY
_SELL = Side.SELL


@dataclass(frozen=True, slots=True)
class AttachedExits:
    """Exits an entry carries: absolute prices or fractions of the entry's average fill price.

    ``trailing_pct`` is the distance of a trailing stop from the best price since entry, as a
    fraction; ``trailing_distance`` the same as a price distance (e.g. a multiple of ATR).
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_pct: float | None = None
    trailing_distance: float | None = None

    def __post_init__(self) -> None:
        check_exit_fractions(self.stop_loss_pct, self.take_profit_pct, self.trailing_pct)
        check_trailing_distance(self.trailing_pct, self.trailing_distance)

    @property
    def priced(self) -> bool:
        """True when an exit is an absolute price, to be checked against each entry."""
        return self.stop_loss is not None or self.take_profit is not None

    def attach_to(self, order: Order) -> None:
        """Copy these exits onto ``order`` (validated with the order at submission)."""
        order.stop_loss = self.stop_loss
        order.take_profit = self.take_profit
        order.stop_loss_pct = self.stop_loss_pct
        order.take_profit_pct = self.take_profit_pct
        order.trailing_pct = self.trailing_pct
        order.trailing_distance = self.trailing_distance


def stop_loss_price(reference: float, pct: float, long: bool) -> float:
    """A stop-loss ``pct`` away from the entry price ``reference``: below a long's."""
    return reference * (1 - pct if long else 1 + pct)


def take_profit_price(reference: float, pct: float, long: bool) -> float:
    """A take-profit ``pct`` away from the entry price ``reference``: above a long's."""
    return reference * (1 + pct if long else 1 - pct)


def trailing_stop(extreme: float, pct: float | None, distance: float | None, long: bool) -> float:
    """Where a trailing stop stands for the best price ``extreme`` since entry: ``pct`` of it
    or ``distance`` away from it, below a long's best price and above a short's."""
    if long:
        return extreme * (1 - pct) if pct is not None else extreme - (distance or 0.0)
    return extreme * (1 + pct) if pct is not None else extreme + (distance or 0.0)


def price_exit(child: Order, entry: Order, reference: float, long: bool) -> None:
    """Set an exit order's price from its entry's exits and average fill price."""
    kind = child.exit_kind
    if kind is _STOP_LOSS:
        if entry.stop_loss is not None:
            child.stop_price = entry.stop_loss
        else:
            assert entry.stop_loss_pct is not None
            child.stop_price = stop_loss_price(reference, entry.stop_loss_pct, long)
    elif kind is _TAKE_PROFIT:
        if entry.take_profit is not None:
            child.limit_price = entry.take_profit
        else:
            assert entry.take_profit_pct is not None
            child.limit_price = take_profit_price(reference, entry.take_profit_pct, long)
    else:
        child.trail_extreme = reference if child.trail_extreme is None else child.trail_extreme
        _tighten(child)


def trail(order: Order, bar: Bar) -> None:
    """Move a trailing stop after ``bar``: its best price only improves, its stop only
    tightens."""
    extreme = order.trail_extreme
    assert extreme is not None
    if order.side is _SELL:
        order.trail_extreme = max(extreme, bar.high)
    else:
        order.trail_extreme = min(extreme, bar.low)
    _tighten(order)


def _tighten(order: Order) -> None:
    extreme = order.trail_extreme
    assert extreme is not None and (
        order.trailing_pct is not None or order.trailing_distance is not None
    )
    long = order.side is _SELL  # a sell stop protects a long
    candidate = trailing_stop(extreme, order.trailing_pct, order.trailing_distance, long)
    stop = order.stop_price
    if stop is None or (candidate > stop if long else candidate < stop):
        order.stop_price = candidate
