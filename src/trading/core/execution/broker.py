"""The broker port and the paper broker: orders and their life cycle (submit, amend, cancel,
work against each bar, fill, expire), on the rules of its sibling modules: fill prices
(``fill_rules``), costs (``costs``), attached exits (``exits``) and sizing (``sizing``).

An order created on bar t fills no earlier than bar t+1 of its symbol (see docs/execution.md).
This module imports no numeric library: it is the order path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from trading.core.execution.costs import ExecutionConfig
from trading.core.execution.exits import (
    AttachedExits,
    price_exit,
    stop_loss_price,
    take_profit_price,
    trail,
)
from trading.core.execution.fill_rules import exit_contest, fill_price, reaches, wake_levels
from trading.core.execution.margin import FORCED, MarginRules, buying_power, last_price
from trading.core.execution.order_rules import OrderValidationError, validate_order
from trading.core.execution.sizing import affordable_quantity, check_order_size, unaffordable
from trading.core.lots import WHOLE_SHARES, without_dust
from trading.core.model import (
    OPEN_STATUSES,
    Account,
    Bar,
    ExitKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from trading.core.portfolio import Portfolio
from trading.core.risk import RejectCode, Rejection, RiskLimits, check_sized, check_static

# Enum members as module constants: reading one from its class goes through a descriptor
# (about 45 ns on CPython 3.11), a module global costs a few; these are read for every
# order and fill of a backtest.
_STOP_LOSS = ExitKind.STOP_LOSS
_TAKE_PROFIT = ExitKind.TAKE_PROFIT
_TRAILING_STOP = ExitKind.TRAILING_STOP
_CANCELLED = OrderStatus.CANCELLED
_FILLED = OrderStatus.FILLED
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_REJECTED = OrderStatus.REJECTED
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_STOP = OrderType.STOP
_BUY = Side.BUY
_SELL = Side.SELL
_DAY = TimeInForce.DAY
_GTC = TimeInForce.GTC


class BrokerPort(Protocol):
    """What the platform needs from a broker: submit, cancel and process market data."""

    def submit(
        self,
        symbol: str,
        side: Side,
        bar: Bar,
        bar_index: int,
        *,
        quantity: float | None = None,
        cash_fraction: float | None = None,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
        stop_price: float | None = None,
        exits: AttachedExits | None = None,
        reduce_only: bool = False,
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
        "_armed",
        "_by_symbol",
        "_carries_exits",
        "_id_prefix",
        "_reducing",
        "_sequence",
        "_whole_lots",
        "execution",
        "fills",
        "limits",
        "margin",
        "open_orders",
        "orders",
        "portfolio",
        "price_of",
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
        margin: MarginRules | None = None,
    ) -> None:
        self.portfolio = portfolio
        self.execution = execution or ExecutionConfig()
        self.limits = limits or RiskLimits()
        self.margin = margin or MarginRules()
        # How the other positions are marked when buying power is computed: their last price
        # here; a backtest's engine marks them at their latest close before the fill.
        self.price_of: Callable[[Position], float] = last_price
        self.open_orders: dict[str, Order] = {}
        self._by_symbol: dict[str, list[Order]] = {}  # open orders per symbol, in arrival order
        self.orders: list[Order] = []  # every order submitted through this broker instance
        self.fills: list[Fill] = []  # every fill made by this broker instance
        # Orders left open by an earlier run, restored from its state; processing here updates
        # them like any other order (filled, cancelled, expired or rejected, with a reason).
        self.restored: list[Order] = []
        self._id_prefix = id_prefix
        self._sequence = sequence
        # Exits armed by an entry filled at the open of the bar being processed (reused list).
        self._armed: list[Order] = []
        # Open reduce-only orders: while none is open, no fill can leave one stale.
        self._reducing = 0
        # Whether any order here attaches exits: until one does, fills skip arming them.
        self._carries_exits = False
        # Every symbol in whole shares (the common case): quantity checks reduce to integers.
        self._whole_lots = (
            not self.execution.lot_sizes
            and self.execution.default_lot.whole
            and (self.execution.default_lot.minimum <= 1)
        )

    @property
    def sequence(self) -> int:
        """The number of the last order id given out."""
        return self._sequence

    @property
    def id_prefix(self) -> str:
        """What every order id of this broker starts with."""
        return self._id_prefix

    # -- order entry ---------------------------------------------------------------------------

    def submit(
        self,
        symbol: str,
        side: Side,
        bar: Bar,
        bar_index: int,
        *,
        quantity: float | None = None,
        cash_fraction: float | None = None,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
        stop_price: float | None = None,
        exits: AttachedExits | None = None,
        reduce_only: bool = False,
    ) -> Order:
        """Place an order created on ``bar`` (the latest bar of ``symbol``).

        Give exactly one of ``quantity`` (a multiple of the symbol's lot step, whole shares by
        default) or ``cash_fraction`` (sized at fill time from the cash then). Risk checks run
        now with ``bar.close`` as the reference price; a fraction-sized order is checked again
        once its quantity is known. ``exits`` are armed as exit orders of the position when the
        order fills; a ``reduce_only`` order never fills more than the position it reduces.
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
        if stop_price is not None:
            order.stop_price = stop_price
        if exits is not None:
            exits.attach_to(order)
            self._carries_exits = True
        if reduce_only:
            order.reduce_only = True
        self.orders.append(order)
        # A plain market order has no prices to validate (the common case of a backtest).
        # Exits given only as fractions were checked when the AttachedExits was made.
        priced = order_type is not _MARKET or (exits is not None and exits.priced)
        rejection = self._pre_trade(
            order, bar.close, priced or limit_price is not None or stop_price is not None
        )
        if rejection is not None:
            _reject(order, rejection)
            return order
        if self.execution.trade_on_close and order_type is _MARKET:
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

    def trigger_levels(self, symbol: str) -> tuple[float, float] | tuple[()] | None:
        """Prices that wake the open orders of ``symbol`` (:func:`fill_rules.wake_levels`);
        ``()`` when no order is open."""
        working = self._by_symbol.get(symbol)
        if working is None:
            return ()
        if working[0].order_type is _MARKET:
            return None  # the common case (a signal's order), without the loop
        return wake_levels(working)

    def _track(self, order: Order) -> None:
        self.open_orders[order.order_id] = order
        self._by_symbol.setdefault(order.symbol, []).append(order)
        if order.reduce_only:
            self._reducing += 1

    def _untrack(self, order: Order) -> None:
        del self.open_orders[order.order_id]
        if order.reduce_only:
            self._reducing -= 1
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
        order.status = _CANCELLED
        return order

    def replace(
        self,
        order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> Order:
        """Amend an open order's quantity, limit or stop price in place (cancel/replace).

        The order keeps its id and place in the queue. Raises :class:`OrderNotFoundError` when
        no such order is open and :class:`OrderValidationError` (the field named) when the
        amended order is invalid or its quantity is below what already filled; the order is
        then unchanged.
        """
        order = self.open_orders.get(order_id)
        if order is None:
            raise OrderNotFoundError(order_id)
        before = (order.quantity, order.limit_price, order.stop_price)
        if quantity is not None:
            if quantity <= order.filled_quantity or quantity <= 0:
                raise OrderValidationError(
                    "quantity",
                    f"quantity must be above the {order.filled_quantity:g} already filled",
                )
            problem = self.execution.lot(order.symbol).problem(quantity)
            if problem is not None:
                raise OrderValidationError("quantity", problem)
            order.quantity = quantity
        if limit_price is not None:
            order.limit_price = limit_price
        if stop_price is not None:
            order.stop_price = stop_price
        try:
            validate_order(order)
        except OrderValidationError:
            order.quantity, order.limit_price, order.stop_price = before
            raise
        return order

    def _pre_trade(
        self, order: Order, reference_price: float, validate: bool = True
    ) -> Rejection | None:
        limits = self.limits
        if limits.halted or limits.allowed_symbols is not None:  # a call only when it can fail
            static = check_static(order.symbol, limits)
            if static is not None:
                return static
        if validate:
            try:
                validate_order(order, reference_price)
            except OrderValidationError as error:
                return Rejection(RejectCode.INVALID_ORDER, str(error))
        return check_order_size(
            order.symbol,
            order.side,
            order.quantity,
            order.cash_fraction,
            reference_price,
            self.portfolio.position(order.symbol),
            # Only a fixed quantity is checked now (a fraction is sized when it fills).
            self.buying_power(order.symbol, order.side is _SELL, reference_price)
            if order.cash_fraction is None
            else 0.0,
            self.execution,
            limits,
            self._whole_lots,
        )

    def buying_power(self, symbol: str, short: bool, price: float) -> float:
        """What an entry in ``symbol`` (a ``short`` one or a long) may spend at ``price``
        (:func:`~trading.core.execution.margin.buying_power`; ``symbol``'s own position is
        marked at ``price``, the others by :attr:`price_of`)."""
        price_of = self.price_of

        def mark(held: Position) -> float:
            return price if held.symbol == symbol else price_of(held)

        account = self.portfolio.account
        return buying_power(self.margin, account.cash, account.positions.values(), mark, short)

    def force_close(self, symbol: str, ts: int, kind: ExitKind) -> Order | None:
        """Place the account's own order closing the position in ``symbol`` (a margin call or
        ruin: ``kind``), created at ``ts``: a reduce-only market order that fills at the
        symbol's next open and passes no risk check. None when nothing is held."""
        held = self.portfolio.position(symbol)
        if not held:
            return None
        self._sequence += 1
        order = Order(
            f"{self._id_prefix}{self._sequence:06d}",
            symbol,
            _BUY if held < 0 else _SELL,
            abs(held),
            _MARKET,
            None,
            _GTC,
            None,
            ts,
        )
        order.reduce_only = True
        order.exit_kind = kind
        self.orders.append(order)
        self._track(order)
        return order

    # -- market data ---------------------------------------------------------------------------

    def on_bar(self, bar: Bar, bar_index: int) -> list[Fill]:
        """Fill or expire the open orders of ``bar.symbol`` created before ``bar``; mark it."""
        first_fill = len(self.fills)
        working = self._by_symbol.get(bar.symbol)
        if working:
            capacity = -1 if self.execution.volume_limit is None else self._capacity(bar)
            armed = self._armed
            later: list[Order] | None = None  # orders that can fill only after the open
            for order in list(working):
                if order.created_ts >= bar.ts or order.status is _CANCELLED:
                    continue  # too early, or cancelled by an earlier fill of this bar
                if order.order_type is not _MARKET:
                    if later is None:
                        later = [order]
                    else:
                        later.append(order)
                    continue
                # Market orders first, inline (the common case of a backtest): at the open.
                price = (
                    bar.open
                    if not self.execution.slippage_bps
                    else self.execution.slipped(bar.open, order.side)
                )
                if capacity != 0:
                    capacity -= self._fill_at(order, bar, bar_index, price, capacity, False, armed)
                if order.time_in_force is _DAY and order.status in OPEN_STATUSES:
                    order.status = _CANCELLED
                if order.status not in OPEN_STATUSES:
                    self._untrack(order)
            if later is not None:
                for order in later:
                    if order.status is not _CANCELLED:
                        capacity = self._work(order, bar, bar_index, capacity, armed)
            # Exits of an entry filled at this bar's open see the rest of the bar.
            while armed:
                batch = list(armed)
                armed.clear()
                for order in batch:
                    # A fixed exit the rest of the bar cannot reach needs no work (a
                    # trailing stop still follows the bar).
                    if order.status in OPEN_STATUSES and (
                        order.exit_kind is _TRAILING_STOP or reaches(order, bar)
                    ):
                        capacity = self._work(order, bar, bar_index, capacity, armed)
        self.portfolio.mark(bar.symbol, bar.close)
        return self.fills[first_fill:]

    def _work(
        self, order: Order, bar: Bar, bar_index: int, capacity: float, armed: list[Order]
    ) -> float:
        """Try to fill ``order`` on ``bar``, expire or trail it; returns the capacity left."""
        stop_first = False
        if order.order_type is _MARKET:
            at_open = True
            price: float | None = (
                bar.open
                if not self.execution.slippage_bps
                else fill_price(order, bar, self.execution)
            )
        else:
            price = fill_price(order, bar, self.execution)
            at_open = price == bar.open
            if price is not None and order.exit_kind is not None:
                price, stop_first = exit_contest(
                    order, bar, price, self._by_symbol.get(order.symbol, ())
                )
        if price is not None and capacity != 0:
            same_bar = armed if at_open else None
            capacity -= self._fill_at(order, bar, bar_index, price, capacity, stop_first, same_bar)
        if order.status in OPEN_STATUSES:
            if order.time_in_force is _DAY:
                order.status = _CANCELLED
            elif order.exit_kind is _TRAILING_STOP:
                trail(order, bar)
        if order.status not in OPEN_STATUSES and order.order_id in self.open_orders:
            self._untrack(order)
        return capacity

    def _capacity(self, bar: Bar) -> float:
        """Quantity the bar can fill, in steps of the symbol's lot (−1 = unlimited)."""
        if self.execution.volume_limit is None:
            return -1
        lot = self.execution.lot(bar.symbol)
        if lot.whole:
            return math.floor(self.execution.volume_limit * bar.volume)
        return lot.round_down(self.execution.volume_limit * bar.volume)

    def _fill_at(
        self,
        order: Order,
        bar: Bar,
        bar_index: int,
        price: float,
        capacity: float = -1,
        stop_first: bool = False,
        same_bar: list[Order] | None = None,
    ) -> float:
        """Fill as much of ``order`` as allowed at ``price``; returns the quantity filled.

        Exits the fill arms go to ``same_bar`` when given (an entry filled at the open).
        """
        power = -1.0  # not computed yet
        if order.cash_fraction is not None and order.quantity == 0:
            lot = WHOLE_SHARES if self._whole_lots else self.execution.lot(order.symbol)
            power = self.buying_power(order.symbol, order.side is _SELL, price)
            quantity = affordable_quantity(self.execution, order.cash_fraction, power, price, lot)
            if quantity <= 0:
                _reject(order, unaffordable(order.symbol, power, price, lot))
                return 0
            order.quantity = quantity
        remaining = order.quantity - order.filled_quantity
        wanted = remaining if capacity < 0 else min(remaining, capacity)
        if order.reduce_only:
            held = self.portfolio.position(order.symbol)
            reducible = held if order.side is _SELL else -held
            if reducible <= 0:  # nothing left to reduce: the position was closed meanwhile
                order.status = _CANCELLED
                return 0
            if reducible < wanted:
                wanted = reducible
        if not self._whole_lots:  # fractional: whole steps only, no float dust
            wanted = self.execution.lot(order.symbol).round_down(wanted)
        if wanted <= 0:
            return 0
        commission = self.execution.commission(wanted * price)
        position = self.portfolio.position(order.symbol)
        # Buying power only where the fill opens or adds to a position (closing needs none).
        opens = position == 0 or (position > 0) == (order.side is _BUY) or wanted > abs(position)
        rejection = (
            check_sized(  # positional: runs for every fill
                order.symbol,
                order.side,
                wanted,
                price,
                position,
                (
                    power
                    if power >= 0
                    else self.buying_power(order.symbol, order.side is _SELL, price)
                )
                if opens
                else 0.0,
                commission,
                self.limits,
            )
            if order.exit_kind not in FORCED
            else None
        )
        if rejection is not None:
            if order.filled_quantity:
                order.status = _CANCELLED
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
            order.exit_kind,
            stop_first,
        )
        previous = order.filled_quantity
        order.filled_quantity = (
            order.quantity if wanted >= remaining else without_dust(previous + wanted)
        )
        # The first fill's price as it is: exits at a fraction of it are then exact.
        order.average_fill_price = (
            price
            if not previous
            else (previous * order.average_fill_price + wanted * price) / order.filled_quantity
        )
        order.status = _FILLED if order.remaining == 0 else _PARTIALLY_FILLED
        self.portfolio.apply(fill, bar_index)
        self.fills.append(fill)
        if order.parent_id is not None:
            self._cancel_siblings(order)
        elif order.reduce_only:
            pass
        elif self._carries_exits and order.has_exits:
            self._arm_exits(order, wanted, bar, same_bar)
        # Only when another reduce-only order is open can this fill leave one stale.
        if self._reducing > (order.reduce_only and order.order_id in self.open_orders):
            self._cancel_stale_exits(order)
        return wanted

    def _arm_exits(
        self, entry: Order, quantity: float, bar: Bar, same_bar: list[Order] | None
    ) -> None:
        """Create (or grow by ``quantity``) the exit orders of ``entry`` after a fill.

        Prices given as fractions are taken from the entry's average fill price. Exits of an
        entry filled at the bar's open go to ``same_bar`` and are worked on the rest of that
        bar; otherwise they are live from the next bar (the path after an intrabar fill is
        unknown).
        """
        reference = entry.average_fill_price
        long = entry.side is _BUY
        # Only an entry filled before can have exits already (cheap test on the hot path).
        children = (
            [o for o in self._by_symbol.get(entry.symbol, ()) if o.parent_id == entry.order_id]
            if entry.filled_quantity > quantity
            else None
        )
        if children:
            for child in children:
                child.quantity = without_dust(child.quantity + quantity)
                price_exit(child, entry, reference, long)
            return
        # Created in this order (stop-loss, take-profit, trailing stop): ids follow it.
        exit_side = _SELL if long else _BUY
        if entry.stop_loss is not None or entry.stop_loss_pct is not None:
            child = self._exit_order(entry, exit_side, quantity, _STOP, bar, same_bar)
            child.exit_kind = _STOP_LOSS
            if entry.stop_loss is not None:
                child.stop_price = entry.stop_loss
            else:
                pct = entry.stop_loss_pct
                assert pct is not None
                child.stop_price = stop_loss_price(reference, pct, long)
        if entry.take_profit is not None or entry.take_profit_pct is not None:
            child = self._exit_order(entry, exit_side, quantity, _LIMIT, bar, same_bar)
            child.exit_kind = _TAKE_PROFIT
            if entry.take_profit is not None:
                child.limit_price = entry.take_profit
            else:
                pct = entry.take_profit_pct
                assert pct is not None
                child.limit_price = take_profit_price(reference, pct, long)
        if entry.trailing_pct is not None or entry.trailing_distance is not None:
            child = self._exit_order(entry, exit_side, quantity, _STOP, bar, same_bar)
            child.exit_kind = _TRAILING_STOP
            child.trailing_pct = entry.trailing_pct
            child.trailing_distance = entry.trailing_distance
            price_exit(child, entry, reference, long)

    def _exit_order(
        self,
        entry: Order,
        side: Side,
        quantity: float,
        order_type: OrderType,
        bar: Bar,
        same_bar: list[Order] | None,
    ) -> Order:
        """A new exit order of ``entry``, tracked (and queued in ``same_bar`` when given);
        the caller sets its kind and price."""
        self._sequence += 1
        child = Order(
            f"{self._id_prefix}{self._sequence:06d}",
            entry.symbol,
            side,
            quantity,
            order_type,
            None,
            _GTC,
            None,
            bar.ts,
        )
        child.reduce_only = True
        child.parent_id = entry.order_id
        self.orders.append(child)
        self._track(child)
        if same_bar is not None:
            same_bar.append(child)
        return child

    def _cancel_siblings(self, exit_order: Order) -> None:
        """One-cancels-other: the first exit of a position to fill cancels the others."""
        for other in list(self._by_symbol.get(exit_order.symbol, ())):
            if other is not exit_order and other.parent_id == exit_order.parent_id:
                self._untrack(other)
                other.status = _CANCELLED

    def _cancel_stale_exits(self, filled: Order) -> None:
        """Closing (or reversing) a position cancels the reduce-only orders left reducing it."""
        held = self.portfolio.position(filled.symbol)
        for other in list(self._by_symbol.get(filled.symbol, ())):
            if not other.reduce_only or other is filled:
                continue
            if (held if other.side is _SELL else -held) <= 0:
                self._untrack(other)
                other.status = _CANCELLED

    # -- state ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Account, open orders and id sequence as plain JSON-compatible data."""
        return broker_state(
            self.portfolio.account, self.open_orders.values(), self._sequence, self._id_prefix
        )

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        execution: ExecutionConfig | None = None,
        limits: RiskLimits | None = None,
        margin: MarginRules | None = None,
    ) -> PaperBroker:
        """Restore a broker saved with :meth:`to_state`."""
        broker = cls(
            Portfolio(Account.from_dict(state["account"])),
            execution,
            limits,
            id_prefix=state["id_prefix"],
            sequence=state["sequence"],
            margin=margin,
        )
        for data in state["open_orders"]:
            order = Order.from_dict(data)
            broker.restored.append(order)
            broker._track(order)
            broker._carries_exits = broker._carries_exits or order.has_exits
        return broker


def broker_state(
    account: Account, open_orders: Iterable[Order], sequence: int, id_prefix: str
) -> dict[str, Any]:
    """A broker's state as :meth:`PaperBroker.to_state` writes it and ``from_state`` reads it."""
    return {
        "account": account.to_dict(),
        "open_orders": [o.to_dict() for o in open_orders],
        "sequence": sequence,
        "id_prefix": id_prefix,
    }


def _reject(order: Order, rejection: Rejection) -> None:
    order.status = _REJECTED
    order.reject_reason = rejection.code.value
    order.reject_message = rejection.message
