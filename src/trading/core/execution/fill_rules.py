"""Fill rules: where an order stands against one bar (limit and stop fills, which attached
exit of a position fills first), pure functions of the order and the bar's prices. See
docs/execution.md ("Fill model", "Attached exits") for the rules."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from trading.core.execution.costs import ExecutionConfig
from trading.core.model import Bar, ExitKind, Order, OrderType, Side, TimeInForce

# Enum members as module constants: reading one from its class goes through a descriptor
# (about 45 ns on CPython 3.11), a module global costs a few; these are read for every
# order and fill of a backtest.
_LIMIT = OrderType.LIMIT
_TRAILING_STOP = ExitKind.TRAILING_STOP
_DAY = TimeInForce.DAY
_MARKET = OrderType.MARKET
_STOP = OrderType.STOP
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


def fill_price(order: Order, bar: Bar, execution: ExecutionConfig) -> float | None:
    """The price ``order`` fills at on ``bar``, or None when the bar does not reach it.

    Triggers a stop-limit (sets ``order.triggered``) when the bar trades through its stop.
    """
    kind = order.order_type
    if kind is _MARKET:
        return execution.slipped(bar.open, order.side)
    if kind is _LIMIT or order.triggered:
        return limit_fill(order, bar)
    stop = order.stop_price
    assert stop is not None  # checked at submission
    buy = order.side is _BUY
    gapped = bar.open >= stop if buy else bar.open <= stop
    if not gapped and not (bar.high >= stop if buy else bar.low <= stop):
        return None
    if kind is _STOP:
        return execution.slipped(bar.open if gapped else stop, order.side)
    order.triggered = True
    if gapped:  # triggered at the open: a limit order for the whole bar
        return limit_fill(order, bar)
    limit = order.limit_price
    assert limit is not None
    # Triggered inside the bar at the stop: the limit fills there if the stop price is
    # within it; a limit beyond the stop needs a move after the trigger that the bar
    # cannot prove, so it waits for the next bar (pessimistic).
    if limit >= stop if buy else limit <= stop:
        return stop
    return None


def exit_contest(
    order: Order, bar: Bar, price: float, working: Iterable[Order]
) -> tuple[float | None, bool]:
    """Which exit of a position fills when several are reachable on ``bar``.

    ``working`` holds the open orders of the symbol (``order``'s siblings among them). One the
    bar opens at or beyond fills at the open, before anything inside the bar. Of two stops
    reached inside the bar the tighter one is reached first. A stop and a take-profit both
    reached inside the bar: the stop is assumed first (pessimistic), and its fill says so.
    Returns the price (None: a sibling fills instead) and that flag.
    """
    if fills_at_open(order, bar):
        return price, False
    stop_first = False
    parent = order.parent_id
    opening, high, low = bar.open, bar.high, bar.low
    # fills_at_open and reaches of each sibling, inline (every exit fill runs this).
    for sibling in working:
        if sibling is order or sibling.parent_id != parent:
            continue
        sell = sibling.side is _SELL
        if sibling.order_type is _LIMIT:
            limit = sibling.limit_price
            assert limit is not None
            if opening >= limit if sell else opening <= limit:
                return None, False
            if high >= limit if sell else low <= limit:
                stop_first = True
            continue
        stop = sibling.stop_price
        assert stop is not None
        if opening <= stop if sell else opening >= stop:
            return None, False
        if not (low <= stop if sell else high >= stop):
            continue
        if sibling.order_type is _STOP:
            if order.order_type is not _STOP or tighter(sibling, order):
                return None, False
        else:
            stop_first = True
    return price, stop_first


def wake_levels(working: Sequence[Order]) -> tuple[float, float] | None:
    """Prices that wake the open orders ``working`` of one symbol: none of them can fill on a
    bar whose low is above the first and whose high is below the second. ``None`` when some
    order may act on any bar (market, DAY, trailing): the next bar must be processed."""
    low_wake = -math.inf
    high_wake = math.inf
    for order in working:
        if (
            order.order_type is _MARKET
            or order.time_in_force is _DAY
            or order.exit_kind is _TRAILING_STOP
        ):
            return None
        buy = order.side is _BUY
        if order.order_type is _LIMIT or order.triggered:
            level = order.limit_price
            wakes_low = buy
        else:
            level = order.stop_price
            wakes_low = not buy
        assert level is not None  # checked at submission
        if wakes_low:
            low_wake = max(low_wake, level)
        else:
            high_wake = min(high_wake, level)
    return low_wake, high_wake
