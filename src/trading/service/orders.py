"""The API's order use cases: place, read, list and cancel orders of the trading account.

An order placed here is the workflow's own kind of pending order: it goes through the core's
risk checks and :class:`~trading.core.execution.PaperBroker` against the symbol's latest bar, and
is saved in the account's engine state, where the next run (an upload, a schedule or
``POST /market-data``) fills it on the symbol's next bar, exactly like an order of a signal.

Each use case is one load → change → commit of the account aggregate
(:mod:`trading.service.account`): a placement commits only if no other order took its number
and the quote it was priced on is still the latest (and, for a client order id, the id is
unused); a cancel or amendment only if the account is still at the version it read. A lost
race is retried on what the account has become, so concurrent requests never lose an update.

>>> request = OrderRequest("AAPL", "buy", 10)
>>> placed = place_order(request, account="paper", accounts=accounts)  # doctest: +SKIP
>>> placed.created, placed.order["status"]  # doctest: +SKIP
(True, 'new')
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from trading.core.config import RunConfig
from trading.core.execution import AttachedExits, OrderValidationError, PaperBroker, validate_order
from trading.core.execution import OrderNotFoundError as OpenOrderNotFoundError
from trading.core.lots import LotSize
from trading.core.model import Order, OrderStatus, OrderType, Side, TimeInForce, ts_to_iso
from trading.errors import TransientStoreError
from trading.service.account import TradingAccount
from trading.service.errors import (
    ClientOrderIdConflictError,
    InvalidRequestError,
    NoMarketDataError,
    OrderNotAmendableError,
    OrderNotCancellableError,
    OrderNotFoundError,
    OrderRejectedError,
    TooManyOpenOrdersError,
)
from trading.service.pages import Page
from trading.service.ports import (
    AccountRepository,
    AccountVersionConflictError,
    ClientOrder,
    ClientOrderIdTakenError,
    OrderReader,
)
from trading.service.steps import Clock, iso, utc_now

ACCOUNT_CONFIG = RunConfig()
"""Limits and opening cash of an account without settings of its own: the run defaults
(long-only, 100,000 cash); a registered account's come from its profile
(:meth:`~trading.service.access.AccountProfile.run_config`). A run of the account applies
its own costs when it fills."""
MAX_OPEN_ORDERS = 1000
"""Open orders an account may keep. Each is an item of its own, so storage sets no limit; but
every run reads them all (one Query: about 0.7 MB at 1,000) and works them bar by bar, and a
book that deep is a real broker's job."""
MAX_ATTEMPTS = 30
"""Reads and commits of one request before it gives up with a 503 (a very busy account)."""
BACKOFF_CAP_SECONDS = 0.05
ORDER_STATUSES = tuple(status.value for status in OrderStatus)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated ``POST /orders`` body (the handler's model checked types and ranges).

    ``order_type`` is one of the core's types; the exits (absolute prices or fractions of the
    fill price) are attached to the order and armed when it fills.
    """

    symbol: str
    side: str
    quantity: float
    order_type: str = OrderType.MARKET.value
    limit_price: float | None = None
    time_in_force: str = TimeInForce.GTC.value
    client_order_id: str | None = None
    stop_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_pct: float | None = None

    def exits(self) -> AttachedExits | None:
        """The exits the order attaches, or None."""
        given = {
            "stop_loss": self.stop_loss,
            "take_profit": self.take_profit,
            "stop_loss_pct": self.stop_loss_pct,
            "take_profit_pct": self.take_profit_pct,
            "trailing_pct": self.trailing_pct,
        }
        if all(value is None for value in given.values()):
            return None
        return AttachedExits(**given)

    def check(self, market_price: float, lot: LotSize) -> AttachedExits | None:
        """The order's exits, once its quantity is a multiple of ``lot`` and its prices and
        exits are consistent with each other and with ``market_price``;
        :class:`InvalidRequestError` names the field that is not."""
        problem = lot.problem(self.quantity)
        if problem is not None:
            raise InvalidRequestError(problem, "quantity")
        try:
            exits = self.exits()
            probe = Order(
                "probe",
                self.symbol,
                Side(self.side),
                self.quantity,
                OrderType(self.order_type),
                self.limit_price,
                stop_price=self.stop_price,
            )
            if exits is not None:
                exits.attach_to(probe)
            validate_order(probe, market_price=market_price)
        except OrderValidationError as error:
            raise InvalidRequestError(str(error), error.field) from None
        return exits

    def fingerprint(self) -> str:
        """A digest of every field: the same request always has the same fingerprint."""
        document = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The order as the API shows it; ``created`` is False for a repeated request."""

    order: dict[str, Any]
    created: bool


def order_view(order: Mapping[str, Any]) -> dict[str, Any]:
    """An order item (the core's ``Order.to_dict`` and its run) as the API shows it."""
    created_ts = int(order.get("created_ts") or 0)
    return {
        "order_id": str(order["order_id"]),
        "client_order_id": order.get("client_order_id"),
        "symbol": str(order["symbol"]),
        "side": str(order["side"]),
        "type": str(order["order_type"]),
        "quantity": float(order.get("quantity") or 0),
        "limit_price": _number_or_none(order.get("limit_price")),
        "stop_price": _number_or_none(order.get("stop_price")),
        "time_in_force": str(order.get("time_in_force") or TimeInForce.GTC.value),
        "status": str(order["status"]),
        "filled_quantity": float(order.get("filled_quantity") or 0),
        "average_fill_price": float(order.get("average_fill_price") or 0.0),
        **{name: _number_or_none(order.get(name)) for name in _EXIT_FIELDS},
        "parent_id": order.get("parent_id"),
        "exit_kind": order.get("exit_kind"),
        "reject_reason": order.get("reject_reason"),
        "reject_message": order.get("reject_message"),
        "created_at": ts_to_iso(created_ts),
        "run_id": order.get("run_id"),
    }


_EXIT_FIELDS = ("stop_loss", "take_profit", "stop_loss_pct", "take_profit_pct", "trailing_pct")


def _number_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def as_opened(account: TradingAccount, config: RunConfig = ACCOUNT_CONFIG) -> TradingAccount:
    """The account as loaded; one never saved opens with ``config``'s cash."""
    if account.exists:
        return account
    return TradingAccount.opened(account.account_id, config.initial_cash, f"{account.account_id}-")


def _backoff(attempt: int, sleep: Callable[[float], None]) -> None:
    """Full jitter: concurrent requests that lost a race spread out before retrying."""
    sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.002 * 2**attempt)))


def place_order(
    request: OrderRequest,
    *,
    account: str,
    accounts: AccountRepository,
    orders: OrderReader,
    config: RunConfig = ACCOUNT_CONFIG,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    max_open_orders: int = MAX_OPEN_ORDERS,
) -> PlacedOrder:
    """Place ``request`` in ``account`` under ``config`` (its cash, mode and limits, kill
    switch included); see the module docstring.

    The same client order id with the same request returns the original order
    (``created=False``, read through ``orders``); with another request it raises
    :class:`ClientOrderIdConflictError`. Raises :class:`NoMarketDataError` when the symbol has
    no bar yet (no reference price), :class:`TooManyOpenOrdersError` at ``max_open_orders``,
    and :class:`OrderRejectedError` with the core's reject code when a risk check refuses it.
    """
    fingerprint = request.fingerprint()
    for attempt in range(MAX_ATTEMPTS):
        snapshot = accounts.load_for_placement(account, request.symbol, request.client_order_id)
        if snapshot.client_order is not None:
            return _repeated(request, snapshot.client_order, fingerprint, account, orders)
        if config.limits.halted:
            # A retry of a placed order still answers it; a new order is refused, priced or not.
            raise OrderRejectedError("TRADING_HALTED", "trading is halted (kill switch is on)")
        if snapshot.quote is None:
            raise NoMarketDataError(
                f"no bar of {request.symbol} has been processed yet: upload market data first"
            )
        trading = as_opened(snapshot.account, config)
        if trading.open_order_count >= max_open_orders:
            raise TooManyOpenOrdersError(
                f"account {account} has {trading.open_order_count} open orders, the most it "
                "keeps: cancel some or let them fill"
            )
        bar = snapshot.quote.bar
        exits = request.check(bar.close, config.execution.lot(request.symbol))
        broker = trading.broker(config)
        order = broker.submit(
            request.symbol,
            Side(request.side),
            bar,
            trading.bars_seen.get(request.symbol, 0),
            quantity=request.quantity,
            order_type=OrderType(request.order_type),
            limit_price=request.limit_price,
            time_in_force=TimeInForce(request.time_in_force),
            client_order_id=request.client_order_id,
            stop_price=request.stop_price,
            exits=exits,
        )
        if order.status is OrderStatus.REJECTED:
            raise OrderRejectedError(str(order.reject_reason), str(order.reject_message))
        client_order = None
        if request.client_order_id is not None:
            client_order = ClientOrder(request.client_order_id, order.order_id, fingerprint)
        changes = trading.changes(
            broker, at=iso(clock()), client_order=client_order, priced_on=snapshot.quote
        )
        try:
            accounts.save(trading, changes)
        except (AccountVersionConflictError, ClientOrderIdTakenError):
            _backoff(attempt, sleep)
            continue
        return PlacedOrder(order_view(order.to_dict()), created=True)
    raise TransientStoreError(f"account {account} kept changing while placing an order")


def _repeated(
    request: OrderRequest,
    client_order: ClientOrder,
    fingerprint: str,
    account: str,
    orders: OrderReader,
) -> PlacedOrder:
    """The answer to a client order id that was used before."""
    if client_order.fingerprint != fingerprint:
        raise ClientOrderIdConflictError(
            f"client_order_id {request.client_order_id} was used for another order "
            f"({client_order.order_id})"
        )
    stored = orders.get_order(account, client_order.order_id)
    if stored is None:  # written in the same transaction as the client record: cannot happen
        raise TransientStoreError(f"order {client_order.order_id} is not readable yet")
    return PlacedOrder(order_view(stored), created=False)


def get_order(order_id: str, *, account: str, orders: OrderReader) -> dict[str, Any]:
    """The order ``order_id`` of ``account``; raises :class:`OrderNotFoundError`."""
    stored = orders.get_order(account, order_id)
    if stored is None:
        raise OrderNotFoundError(f"no order {order_id}")
    return order_view(stored)


def list_orders(
    *,
    account: str,
    orders: OrderReader,
    status: str | None,
    symbol: str | None,
    limit: int,
    next_token: str | None,
) -> Page[dict[str, Any]]:
    """One page of the account's orders (oldest first), filtered by status and/or symbol."""
    if status is not None and status not in ORDER_STATUSES:
        raise InvalidRequestError(f"status must be one of {', '.join(ORDER_STATUSES)}", "status")
    page = orders.list_orders(
        account, status=status, symbol=symbol, limit=limit, next_token=next_token
    )
    return Page([order_view(item) for item in page.items], page.next_token)


def cancel_order(
    order_id: str,
    *,
    account: str,
    accounts: AccountRepository,
    orders: OrderReader,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Cancel an open order and return it; cancelling a cancelled order returns it as it is.

    Raises :class:`OrderNotFoundError` for an unknown id and
    :class:`OrderNotCancellableError` for a filled or rejected order.
    """
    return _change_open_order(
        order_id,
        lambda broker: broker.cancel(order_id),
        lambda: _not_open(order_id, account, orders),
        account=account,
        accounts=accounts,
        clock=clock,
        sleep=sleep,
    )


def amend_order(
    order_id: str,
    *,
    quantity: float | None = None,
    limit_price: float | None = None,
    stop_price: float | None = None,
    account: str,
    accounts: AccountRepository,
    orders: OrderReader,
    config: RunConfig = ACCOUNT_CONFIG,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Amend an open order's quantity, limit or stop price in place (cancel/replace: it keeps
    its id and its place in the queue) and return it.

    Raises :class:`InvalidRequestError` naming the field the amended order breaks,
    :class:`OrderNotFoundError` for an unknown id and :class:`OrderNotAmendableError` for an
    order that is no longer open.
    """

    def amend(broker: PaperBroker) -> Order:
        try:
            return broker.replace(
                order_id, quantity=quantity, limit_price=limit_price, stop_price=stop_price
            )
        except OrderValidationError as error:
            raise InvalidRequestError(str(error), error.field) from None

    def closed() -> dict[str, Any]:
        stored = orders.get_order(account, order_id)
        if stored is None:
            raise OrderNotFoundError(f"no order {order_id}")
        raise OrderNotAmendableError(
            f"order {order_id} is {stored.get('status')}: it can no longer be amended"
        )

    if config.limits.halted:
        raise OrderRejectedError("TRADING_HALTED", "trading is halted (kill switch is on)")
    return _change_open_order(
        order_id,
        amend,
        closed,
        account=account,
        accounts=accounts,
        config=config,
        clock=clock,
        sleep=sleep,
    )


def _change_open_order(
    order_id: str,
    change_order: Callable[[PaperBroker], Order],
    not_open: Callable[[], dict[str, Any]],
    *,
    account: str,
    accounts: AccountRepository,
    config: RunConfig = ACCOUNT_CONFIG,
    clock: Clock,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Load the account with the order, let its broker change the order, commit conditional
    on the account's version (retried on a concurrent change); ``not_open`` answers when the
    order is not among the open ones."""
    for attempt in range(MAX_ATTEMPTS):
        trading = accounts.get(account, orders=(order_id,))
        broker = trading.broker(config)
        try:
            order = change_order(broker)
        except OpenOrderNotFoundError:
            return not_open()
        try:
            accounts.save(trading, trading.changes(broker, at=iso(clock())))
        except AccountVersionConflictError:
            _backoff(attempt, sleep)
            continue
        view = order.to_dict()
        view["run_id"] = trading.order_runs.get(order_id)
        return order_view(view)
    raise TransientStoreError(f"account {account} kept changing while changing {order_id}")


def _not_open(order_id: str, account: str, orders: OrderReader) -> dict[str, Any]:
    stored = orders.get_order(account, order_id)
    if stored is None:
        raise OrderNotFoundError(f"no order {order_id}")
    if stored.get("status") == OrderStatus.CANCELLED.value:
        return order_view(stored)
    raise OrderNotCancellableError(
        f"order {order_id} is {stored.get('status')}: it cannot be cancelled"
    )
