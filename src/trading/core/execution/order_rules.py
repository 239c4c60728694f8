"""Validation of an order's prices and attached exits: one pure function, one error naming the
field, shared by the paper broker (a rejection ``INVALID_ORDER``) and the API (a 400)."""

from __future__ import annotations

import math

from trading.core.model import Order, OrderType, Side

# Order types that need a limit price, and those that need a stop price.
LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


class OrderValidationError(ValueError):
    """An order field is missing, out of range or inconsistent; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def entry_reference(order: Order, market_price: float | None) -> float | None:
    """The price an entry is expected to fill at, which its exits are checked against:
    the limit price (limit, stop-limit), the stop price (stop), else the market price."""
    if order.order_type in LIMIT_TYPES:
        return order.limit_price
    if order.order_type is OrderType.STOP:
        return order.stop_price
    return market_price


def validate_order(order: Order, market_price: float | None = None) -> None:
    """Check the prices of ``order``; raise :class:`OrderValidationError` naming the field.

    ``market_price`` (the last close or quote) is the reference of a market order's absolute
    stop-loss and take-profit; without it only the limit or stop price is used.

    >>> validate_order(Order("1", "X", Side.BUY, 1, stop_loss=95.0), market_price=100.0)
    >>> try:
    ...     validate_order(Order("1", "X", Side.BUY, 1, stop_loss=110.0), market_price=100.0)
    ... except OrderValidationError as error:
    ...     print(error.field)
    stop_loss
    """
    _price_field(order, "limit_price", order.limit_price, order.order_type in LIMIT_TYPES)
    _price_field(order, "stop_price", order.stop_price, order.order_type in STOP_TYPES)
    if order.parent_id is not None:
        return  # an attached exit: its prices were derived from a validated entry
    for name, absolute, pct in (
        ("stop_loss", order.stop_loss, order.stop_loss_pct),
        ("take_profit", order.take_profit, order.take_profit_pct),
    ):
        if absolute is not None and pct is not None:
            raise OrderValidationError(name, f"give {name} or {name}_pct, not both")
        if absolute is not None and not _positive(absolute):
            raise OrderValidationError(name, f"{name} must be a positive price, got {absolute!r}")
    check_exit_fractions(order.stop_loss_pct, order.take_profit_pct, order.trailing_pct)
    check_trailing_distance(order.trailing_pct, order.trailing_distance)
    if order.reduce_only and order.has_exits:
        raise OrderValidationError("reduce_only", "a reduce-only order cannot attach exits")
    reference = entry_reference(order, market_price)
    if reference is None:
        return
    buy = order.side is Side.BUY
    # A long's stop-loss lies below its entry and its take-profit above; a short's mirrored.
    if order.stop_loss is not None and (
        order.stop_loss >= reference if buy else order.stop_loss <= reference
    ):
        raise OrderValidationError(
            "stop_loss",
            f"stop_loss {order.stop_loss:g} of a {order.side.value} must be "
            f"{'below' if buy else 'above'} the entry price {reference:g}",
        )
    if order.take_profit is not None and (
        order.take_profit <= reference if buy else order.take_profit >= reference
    ):
        raise OrderValidationError(
            "take_profit",
            f"take_profit {order.take_profit:g} of a {order.side.value} must be "
            f"{'above' if buy else 'below'} the entry price {reference:g}",
        )


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _price_field(order: Order, name: str, value: float | None, needed: bool) -> None:
    kind = order.order_type.value
    if needed and (value is None or not _positive(value)):
        raise OrderValidationError(name, f"{name} must be a positive number for a {kind} order")
    if not needed and value is not None:
        raise OrderValidationError(name, f"{name} is not valid for a {kind} order")


def check_exit_fractions(
    stop_loss_pct: float | None, take_profit_pct: float | None, trailing_pct: float | None
) -> None:
    """Exits given as fractions of the fill price: a stop-loss and a trailing distance in
    (0, 1), a take-profit above 0; raise :class:`OrderValidationError` naming the field."""
    _fraction("stop_loss_pct", stop_loss_pct, 1.0)
    _fraction("take_profit_pct", take_profit_pct, math.inf)
    _fraction("trailing_pct", trailing_pct, 1.0)


def check_trailing_distance(trailing_pct: float | None, trailing_distance: float | None) -> None:
    """A trailing stop's price distance is positive, and given instead of a fraction."""
    if trailing_distance is None:
        return
    if trailing_pct is not None:
        raise OrderValidationError(
            "trailing_distance", "give trailing_pct or trailing_distance, not both"
        )
    if not _positive(trailing_distance):
        raise OrderValidationError(
            "trailing_distance", f"trailing_distance must be positive, got {trailing_distance!r}"
        )


def _fraction(name: str, value: float | None, upper: float) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and 0 < value < upper):
        bound = "1" if upper == 1.0 else "inf"
        raise OrderValidationError(name, f"{name} must be in (0, {bound}), got {value!r}")
