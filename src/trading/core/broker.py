"""The broker port and the paper broker: order life cycle, fill model, costs and sizing.

Fill rules (see docs/execution.md): an order created on bar t fills no earlier than bar t+1 of
its symbol. Market orders fill at that bar's open (or, with ``trade_on_close``, at bar t's close
when submitted); limit orders fill when the bar trades through the limit, at the limit, or at the
open when the bar opens beyond it. Slippage moves market fills against the trader; commission is
charged on every fill. This module imports no numeric library: it is the order path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from trading.core.model import (
    Account,
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from trading.core.portfolio import Portfolio
from trading.core.risk import RejectCode, Rejection, RiskLimits, check_sized, check_static

BASIS_POINT = 1e-4


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    """Costs and fill options of the paper broker."""

    commission_rate: float = 0.0
    commission_minimum: float = 0.0
    slippage_bps: float = 0.0
    trade_on_close: bool = False
    volume_limit: float | None = None  # max fraction of a bar's volume one symbol may fill

    def commission(self, notional: float) -> float:
        """Commission of one fill: a rate of notional with an optional fixed minimum."""
        return max(notional * self.commission_rate, self.commission_minimum)

    def slipped(self, price: float, side: Side) -> float:
        """Market fill price after slippage against the trader."""
        if not self.slippage_bps:
            return price
        shift = self.slippage_bps * BASIS_POINT
        return price * (1 + shift) if side is Side.BUY else price * (1 - shift)

    def affordable_quantity(self, fraction: float, cash: float, price: float) -> int:
        """Whole shares a fraction of cash buys at ``price`` with commission, cash never < 0.

        floor(f × cash / (price × (1 + commission rate))), lowered further when a fixed minimum
        commission would not be covered.
        """
        if cash <= 0 or price <= 0:
            return 0
        budget = fraction * cash
        quantity = math.floor(budget / (price * (1 + self.commission_rate)))
        while quantity > 0 and quantity * price + self.commission(quantity * price) > budget:
            quantity -= 1
        return max(quantity, 0)


class BrokerPort(Protocol):
    """What the platform needs from a broker: submit, cancel and process market data."""

    def submit(
        self,
        symbol: str,
        side: Side,
        bar: Bar,
        bar_index: int,
        *,
        quantity: int | None = None,
        cash_fraction: float | None = None,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order created on ``bar``; the result is open, filled or rejected."""
        ...

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order."""
        ...

    def on_bar(self, bar: Bar, bar_index: int) -> list[Fill]:
        """Process one new bar of ``bar.symbol``: fill, expire and mark."""
        ...


class OrderNotFoundError(KeyError):
    """No open order has that id."""


class PaperBroker:
    """Simulated execution against bars, with the accounting of a cash account."""

    __slots__ = (
        "_by_symbol",
        "_id_prefix",
        "_sequence",
        "execution",
        "fills",
        "limits",
        "open_orders",
        "orders",
        "portfolio",
        "restored",
    )

    def __init__(
        self,
        portfolio: Portfolio,
        execution: ExecutionConfig | None = None,
        limits: RiskLimits | None = None,
        *,
        id_prefix: str = "O",
        sequence: int = 0,
    ) -> None:
        self.portfolio = portfolio
        self.execution = execution or ExecutionConfig()
        self.limits = limits or RiskLimits()
        self.open_orders: dict[str, Order] = {}
        self._by_symbol: dict[str, list[Order]] = {}  # open orders per symbol, in arrival order
        self.orders: list[Order] = []  # every order submitted through this broker instance
        self.fills: list[Fill] = []  # every fill made by this broker instance
        # Orders left open by an earlier run, restored from its state; processing here updates
        # them like any other order (filled, cancelled, expired or rejected, with a reason).
        self.restored: list[Order] = []
        self._id_prefix = id_prefix
        self._sequence = sequence

    # -- order entry ---------------------------------------------------------------------------

    def submit(
        self,
        symbol: str,
        side: Side,
        bar: Bar,
        bar_index: int,
        *,
        quantity: int | None = None,
        cash_fraction: float | None = None,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order created on ``bar`` (the latest bar of ``symbol``).

        Give exactly one of ``quantity`` (whole shares) or ``cash_fraction`` (sized at fill time
        from the cash then). Risk checks run now with ``bar.close`` as the reference price; a
        fraction-sized order is checked again once its quantity is known.
        """
        self._sequence += 1
        order = Order(  # positional: this runs for every order of a backtest
            f"{self._id_prefix}{self._sequence:06d}",
            symbol,
            side,
            quantity or 0,
            order_type,
            limit_price,
            time_in_force,
            client_order_id,
            bar.ts,
        )
        order.cash_fraction = cash_fraction
        self.orders.append(order)
        rejection = self._pre_trade(order, bar.close)
        if rejection is not None:
            _reject(order, rejection)
            return order
        if self.execution.trade_on_close and order_type is OrderType.MARKET:
            self._fill_at(order, bar, bar_index, bar.close)
            return order
        self._track(order)
        return order

    def has_open_orders(self, symbol: str) -> bool:
        """True when an order in ``symbol`` can still fill."""
        return symbol in self._by_symbol

    def open_orders_for(self, symbol: str) -> list[Order]:
        """The open orders of ``symbol`` in arrival order (a copy)."""
        return list(self._by_symbol.get(symbol, ()))

    def _track(self, order: Order) -> None:
        self.open_orders[order.order_id] = order
        self._by_symbol.setdefault(order.symbol, []).append(order)

    def _untrack(self, order: Order) -> None:
        del self.open_orders[order.order_id]
        working = self._by_symbol[order.symbol]
        working.remove(order)
        if not working:
            del self._by_symbol[order.symbol]

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order; raises :class:`OrderNotFoundError` when none is open."""
        order = self.open_orders.get(order_id)
        if order is None:
            raise OrderNotFoundError(order_id)
        self._untrack(order)
        order.status = OrderStatus.CANCELLED
        return order

    def _pre_trade(self, order: Order, reference_price: float) -> Rejection | None:
        static = check_static(
            order.symbol, order.side, order.order_type, order.limit_price, self.limits
        )
        if static is not None:
            return static
        if (order.quantity > 0) == (order.cash_fraction is not None):
            return Rejection(
                RejectCode.INVALID_ORDER, "give exactly one of a positive quantity or cash_fraction"
            )
        if order.cash_fraction is not None:
            if not 0 < order.cash_fraction <= 1:
                return Rejection(RejectCode.INVALID_ORDER, "cash_fraction must be in (0, 1]")
            return None  # sized and checked when it fills
        commission = self.execution.commission(order.quantity * reference_price)
        return self._check_quantity(order, order.quantity, reference_price, commission)

    def _check_quantity(
        self, order: Order, quantity: int, price: float, commission: float
    ) -> Rejection | None:
        return check_sized(  # positional: runs for every order and fill of a backtest
            order.symbol,
            order.side,
            quantity,
            price,
            self.portfolio.position(order.symbol),
            self.portfolio.account.cash,
            commission,
            self.limits,
        )

    # -- market data ---------------------------------------------------------------------------

    def on_bar(self, bar: Bar, bar_index: int) -> list[Fill]:
        """Fill or expire the open orders of ``bar.symbol`` created before ``bar``; mark it."""
        first_fill = len(self.fills)
        working = self._by_symbol.get(bar.symbol)
        if working:
            capacity = -1 if self.execution.volume_limit is None else self._capacity(bar)
            for order in list(working):
                if order.created_ts >= bar.ts:
                    continue
                if order.order_type is OrderType.MARKET and not self.execution.slippage_bps:
                    price: float | None = bar.open
                else:
                    price = self._fill_price(order, bar)
                if price is not None and capacity != 0:
                    capacity -= self._fill_at(order, bar, bar_index, price, capacity)
                if order.time_in_force is TimeInForce.DAY and order.is_open:
                    order.status = OrderStatus.CANCELLED
                if not order.is_open:
                    self._untrack(order)
        self.portfolio.mark(bar.symbol, bar.close)
        return self.fills[first_fill:]

    def _capacity(self, bar: Bar) -> int:
        """Shares the bar can fill (−1 = unlimited)."""
        if self.execution.volume_limit is None:
            return -1
        return math.floor(self.execution.volume_limit * bar.volume)

    def _fill_price(self, order: Order, bar: Bar) -> float | None:
        if order.order_type is OrderType.MARKET:
            return self.execution.slipped(bar.open, order.side)
        limit = order.limit_price
        assert limit is not None  # checked at submission
        if order.side is Side.BUY:
            if bar.open <= limit:
                return bar.open
            return limit if bar.low <= limit else None
        if bar.open >= limit:
            return bar.open
        return limit if bar.high >= limit else None

    def _fill_at(
        self, order: Order, bar: Bar, bar_index: int, price: float, capacity: int = -1
    ) -> int:
        """Fill as much of ``order`` as allowed at ``price``; returns the quantity filled."""
        if order.cash_fraction is not None and order.quantity == 0:
            quantity = self.execution.affordable_quantity(
                order.cash_fraction, self.portfolio.account.cash, price
            )
            if quantity <= 0:
                _reject(
                    order,
                    Rejection(
                        RejectCode.INSUFFICIENT_CASH,
                        f"cash {self.portfolio.account.cash:.2f} buys no whole share of "
                        f"{order.symbol} at {price:.4f}",
                    ),
                )
                return 0
            order.quantity = quantity
        remaining = order.quantity - order.filled_quantity
        wanted = remaining if capacity < 0 else min(remaining, capacity)
        if wanted <= 0:
            return 0
        commission = self.execution.commission(wanted * price)
        rejection = self._check_quantity(order, wanted, price, commission)
        if rejection is not None:
            if order.filled_quantity:
                order.status = OrderStatus.CANCELLED
                order.reject_reason = rejection.code.value
                order.reject_message = rejection.message
            else:
                _reject(order, rejection)
            return 0
        order.fill_count += 1
        fill = Fill(
            f"{order.order_id}-{order.fill_count}",
            order.order_id,
            order.symbol,
            order.side,
            wanted,
            price,
            commission,
            bar.ts,
        )
        previous = order.filled_quantity
        order.filled_quantity += wanted
        order.average_fill_price = (
            previous * order.average_fill_price + wanted * price
        ) / order.filled_quantity
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        self.portfolio.apply(fill, bar_index)
        self.fills.append(fill)
        return wanted

    # -- state ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Account, open orders and id sequence as plain JSON-compatible data."""
        return {
            "account": self.portfolio.account.to_dict(),
            "open_orders": [o.to_dict() for o in self.open_orders.values()],
            "sequence": self._sequence,
            "id_prefix": self._id_prefix,
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        execution: ExecutionConfig | None = None,
        limits: RiskLimits | None = None,
    ) -> PaperBroker:
        """Restore a broker saved with :meth:`to_state`."""
        broker = cls(
            Portfolio(Account.from_dict(state["account"])),
            execution,
            limits,
            id_prefix=state["id_prefix"],
            sequence=state["sequence"],
        )
        for data in state["open_orders"]:
            order = Order.from_dict(data)
            broker.restored.append(order)
            broker._track(order)
        return broker


def _reject(order: Order, rejection: Rejection) -> None:
    order.status = OrderStatus.REJECTED
    order.reject_reason = rejection.code.value
    order.reject_message = rejection.message
