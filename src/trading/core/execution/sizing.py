"""Sizing: how many units a fraction of the account's buying power buys at a fill price,
commission included, in steps of the symbol's lot; and the rejection when it buys none.

Buying power (:mod:`.margin`) is the cash of an unlevered account without shorts; with
shorts or leverage it is what the gross-exposure limit and the short margin leave."""

from __future__ import annotations

import math

from trading.core.execution.costs import ExecutionConfig
from trading.core.lots import WHOLE_SHARES, LotSize
from trading.core.model import Side
from trading.core.risk import RejectCode, Rejection, RiskLimits, check_sized


def affordable_quantity(
    execution: ExecutionConfig,
    fraction: float,
    cash: float,
    price: float,
    lot: LotSize = WHOLE_SHARES,
) -> float:
    """What ``fraction`` of ``cash`` (the buying power) buys at ``price`` with commission.

    floor(f × cash / (price × (1 + commission rate))) in steps of the lot (whole shares by
    default), lowered further when a fixed minimum commission would not be covered; 0 when
    that is below the lot's minimum.

    >>> affordable_quantity(ExecutionConfig(commission_minimum=5.0), 1.0, 1_000.0, 99.0)
    10
    """
    if cash <= 0 or price <= 0:
        return 0
    budget = fraction * cash
    rate = execution.commission_rate
    if lot.whole:
        quantity: float = math.floor(budget / (price * (1 + rate)))
        while quantity > 0 and quantity * price + execution.commission(quantity * price) > budget:
            quantity -= 1
    else:
        steps = lot.steps_in(budget / (price * (1 + rate)))
        quantity = lot.quantity(steps)
        while steps > 0 and quantity * price + execution.commission(quantity * price) > budget:
            steps -= 1
            quantity = lot.quantity(steps)
    return quantity if quantity > 0 and quantity >= lot.minimum else 0


def unaffordable(symbol: str, cash: float, price: float, lot: LotSize) -> Rejection:
    """The rejection of a fraction-sized order whose buying power (``cash``) buys nothing at
    ``price``."""
    unit = "whole share" if lot.whole else f"lot of {max(lot.step, lot.minimum):g}"
    return Rejection(
        RejectCode.INSUFFICIENT_BUYING_POWER,
        f"buying power {cash:.2f} buys no {unit} of {symbol} at {price:.4f}",
    )


def check_order_size(
    symbol: str,
    side: Side,
    quantity: float,
    cash_fraction: float | None,
    price: float,
    position: float,
    cash: float,
    execution: ExecutionConfig,
    limits: RiskLimits,
    whole_lots: bool = False,
) -> Rejection | None:
    """Pre-trade checks of an order's size at the reference ``price``: exactly one of a
    positive quantity or a cash fraction in (0, 1] (sized and checked when it fills); a
    quantity on the symbol's lot, then :func:`~trading.core.risk.check_sized` with the
    commission it would pay. ``whole_lots``: every symbol trades whole shares (integers need
    no lot check). ``cash``: the account's buying power."""
    if (quantity > 0) == (cash_fraction is not None):
        return Rejection(
            RejectCode.INVALID_ORDER, "give exactly one of a positive quantity or cash_fraction"
        )
    if cash_fraction is not None:
        if not 0 < cash_fraction <= 1:
            return Rejection(RejectCode.INVALID_ORDER, "cash_fraction must be in (0, 1]")
        return None
    if not whole_lots or (quantity.__class__ is float and not quantity.is_integer()):
        problem = execution.lot(symbol).problem(quantity)
        if problem is not None:
            return Rejection(RejectCode.INVALID_ORDER, f"{symbol}: {problem}")
    commission = execution.commission(quantity * price)
    return check_sized(symbol, side, quantity, price, position, cash, commission, limits)
