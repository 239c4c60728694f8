"""Where an order stands against one bar: pure functions of the order and the bar's prices
(limit fills, exit triggers, trailing-stop moves), used by the paper broker. See
docs/execution.md for the rules."""

from __future__ import annotations

from trading.core.model import Bar, ExitKind, Order, OrderType, Side

# Enum members as module constants: reading one from its class goes through a descriptor
# (about 45 ns on CPython 3.11), a module global costs a few; these are read for every
# order and fill of a backtest.
_STOP_LOSS = ExitKind.STOP_LOSS
_TAKE_PROFIT = ExitKind.TAKE_PROFIT
_LIMIT = OrderType.LIMIT
_BUY = Side.BUY
_SELL = Side.SELL


def fills_at_open(order: Order, bar: Bar) -> bool:
    """True when the bar opens at or beyond an exit's limit or stop."""
    sell = order.side is _SELL
    if order.order_type is _LIMIT:
        limit = order.limit_price
        assert limit is not None
        return bar.open >= limit if sell else bar.open <= limit
    stop = order.stop_price
    assert stop is not None
    return bar.open <= stop if sell else bar.open >= stop


def reaches(order: Order, bar: Bar) -> bool:
    """True when the bar's range reaches an exit's limit or stop."""
    sell = order.side is _SELL
    if order.order_type is _LIMIT:
        limit = order.limit_price
        assert limit is not None
        return bar.high >= limit if sell else bar.low <= limit
    stop = order.stop_price
    assert stop is not None
    return bar.low <= stop if sell else bar.high >= stop


def tighter(one: Order, other: Order) -> bool:
    """True when stop ``one`` is nearer the price than ``other`` (reached first)."""
    assert one.stop_price is not None and other.stop_price is not None
    if one.side is _SELL:
        return one.stop_price > other.stop_price
    return one.stop_price < other.stop_price


def limit_fill(order: Order, bar: Bar) -> float | None:
    """A limit order's fill on ``bar``: at the open when it opens beyond the limit, at the
    limit when the bar trades through it, else none."""
    limit = order.limit_price
    assert limit is not None  # checked at submission
    if order.side is _BUY:
        if bar.open <= limit:
            return bar.open
        return limit if bar.low <= limit else None
    if bar.open >= limit:
        return bar.open
    return limit if bar.high >= limit else None


def price_exit(child: Order, entry: Order, reference: float, long: bool) -> None:
    """Set an exit order's price from its entry's exits and average fill price."""
    kind = child.exit_kind
    if kind is _STOP_LOSS:
        if entry.stop_loss is not None:
            child.stop_price = entry.stop_loss
        else:
            assert entry.stop_loss_pct is not None
            child.stop_price = reference * (
                1 - entry.stop_loss_pct if long else 1 + entry.stop_loss_pct
            )
    elif kind is _TAKE_PROFIT:
        if entry.take_profit is not None:
            child.limit_price = entry.take_profit
        else:
            assert entry.take_profit_pct is not None
            child.limit_price = reference * (
                1 + entry.take_profit_pct if long else 1 - entry.take_profit_pct
            )
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
    pct = order.trailing_pct
    distance = order.trailing_distance
    assert extreme is not None and (pct is not None or distance is not None)
    if order.side is _SELL:  # protects a long
        candidate = extreme * (1 - pct) if pct is not None else extreme - (distance or 0.0)
        if order.stop_price is None or candidate > order.stop_price:
            order.stop_price = candidate
    else:
        candidate = extreme * (1 + pct) if pct is not None else extreme + (distance or 0.0)
        if order.stop_price is None or candidate < order.stop_price:
            order.stop_price = candidate
