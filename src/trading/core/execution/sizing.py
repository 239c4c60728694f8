"""Sizing: how many units a fraction of the account's cash buys at a fill price, commission
included, in steps of the symbol's lot; and the rejection when it buys none."""

from __future__ import annotations

import math

from trading.core.execution.costs import ExecutionConfig
from trading.core.lots import WHOLE_SHARES, LotSize
from trading.core.risk import RejectCode, Rejection


def affordable_quantity(
    execution: ExecutionConfig,
    fraction: float,
    cash: float,
    price: float,
    lot: LotSize = WHOLE_SHARES,
) -> float:
    """What ``fraction`` of ``cash`` buys at ``price`` with commission, cash never < 0.

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
    """The rejection of a fraction-of-cash order that buys nothing at ``price``."""
    unit = "whole share" if lot.whole else f"lot of {max(lot.step, lot.minimum):g}"
    return Rejection(
        RejectCode.INSUFFICIENT_CASH,
        f"cash {cash:.2f} buys no {unit} of {symbol} at {price:.4f}",
    )
