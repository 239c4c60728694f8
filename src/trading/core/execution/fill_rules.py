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


def limit_touch(opening: float, high: float, low: float, limit: float, buy: bool) -> float | None:
    """A limit order's fill price on a bar: the open when the bar opens beyond the limit, the
    limit when the bar trades through it, else None (never worse than the limit)."""
    if buy:
        if opening <= limit:
            return opening
        return limit if low <= limit else None
    if opening >= limit:
        return opening
    return limit if high >= limit else None


def stop_touch(opening: float, high: float, low: float, stop: float, buy: bool) -> float | None:
    """Where a stop triggers on a bar, before slippage: the open when the bar gaps through the
    stop, the stop when the bar trades through it, else None."""
    if buy:
        if opening >= stop:
            return opening
        return stop if high >= stop else None
    if opening <= stop:
        return opening
    return stop if low <= stop else None


def limit_fill(order: Order, bar: Bar) -> float | None:
    """A limit order's fill on ``bar`` (:func:`limit_touch`)."""
    limit = order.limit_price
    assert limit is not None  # checked at submission
    return limit_touch(bar.open, bar.high, bar.low, limit, order.side is _BUY)


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
    if kind is _STOP:
        touched = stop_touch(bar.open, bar.high, bar.low, stop, buy)
        return None if touched is None else execution.slipped(touched, order.side)
    gapped = bar.open >= stop if buy else bar.open <= stop
    if not gapped and not (bar.high >= stop if buy else bar.low <= stop):
        return None
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
    """Which exit of a position fills when several are reachable on ``bar`` (:func:`contest`
    of ``order`` against its siblings among ``working``, the open orders of the symbol).
    Returns the price (None: a sibling fills instead) and whether the stop-first rule decided.
    """
    parent = order.parent_id
    own_limit = order.order_type is _LIMIT
    stop_first = contest(
        order.side is _SELL,
        own_limit,
        order.limit_price if own_limit else order.stop_price,  # type: ignore[arg-type]
        bar.open,
        bar.high,
        bar.low,
        [
            (s.order_type is _LIMIT, s.limit_price if s.order_type is _LIMIT else s.stop_price)
            for s in working
            if s is not order and s.parent_id == parent
        ],
    )
    return (None, False) if stop_first is None else (price, stop_first)


def contest(
    sell: bool,
    own_limit: bool,
    own_level: float,
    opening: float,
    high: float,
    low: float,
    siblings: Iterable[tuple[bool, float | None]],
) -> bool | None:
    """Whether an exit reachable on a bar fills, or a sibling exit of the same position does.

    An exit is a stop (``own_limit`` False) or a limit at ``own_level``; ``siblings`` are the
    other exits as (is a limit, level). One the bar opens at or beyond fills at the open,
    before anything inside the bar. Of two stops reached inside the bar the tighter one is
    reached first. A stop and a take-profit both reached inside the bar: the stop is assumed
    first (pessimistic), and its fill says so. Returns None when a sibling fills instead, else
    whether the stop-first rule decided.
    """
    if own_limit:
        if opening >= own_level if sell else opening <= own_level:
            return False
    elif opening <= own_level if sell else opening >= own_level:
        return False
    stop_first = False
    for limit, level in siblings:
        assert level is not None  # checked at submission
        if limit:
            if opening >= level if sell else opening <= level:
                return None
            if high >= level if sell else low <= level:
                stop_first = True
            continue
        if opening <= level if sell else opening >= level:
            return None
        if not (low <= level if sell else high >= level):
            continue
        # Both stops reached inside the bar: the tighter (nearer the price) came first.
        if own_limit or (level > own_level if sell else level < own_level):
            return None
    return stop_first


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
