"""The trading account: one aggregate, loaded and saved whole by one repository.

An account is its ledger (cash, positions, P&L: the core's ``Account``), its open orders,
its clock (per symbol, the last bar its runs processed, how many bars in all and where the
recent bars its next run warms up on are kept) and the numbering of its orders. Every
change — an order placed, cancelled or amended through the API, the fills of a run — goes
the same way::

    account = accounts.get("paper")                   # load (every open order)
    broker = account.broker(config)                   # the core decides...
    broker.cancel(order_id)
    accounts.save(account, account.changes(broker, at=now))   # ...and one commit

``save`` refuses a change when the account moved on since it was loaded (the caller loads
again and retries). Placing an order only numbers a new one: it never refuses a run's
commit, nor a run a placement's (see :class:`AccountChanges`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trading.core.config import RunConfig
from trading.core.execution import PaperBroker
from trading.core.model import Account, Fill, Order
from trading.core.portfolio import Portfolio
from trading.service.ports import ClientOrder, Quote, StepRecord

if TYPE_CHECKING:  # the engine brings numpy: the API's order path never loads it
    from trading.core.backtest import EngineResult, EngineState

NUMBER_WIDTH = 6
"""Digits of an order id's number (``paper-000042``); longer numbers keep every digit."""
RECENT_RUNS = 20
"""Run ids an account remembers, to answer a repeated ExecuteTrades without running it."""


@dataclass(frozen=True, order=True, slots=True)
class Turn:
    """A run's place in its account's queue: runs of one account take turns in the order
    they arrived (``arrived_at``, ISO 8601 UTC, then ``run_id``), from the start of their
    ProcessMarketData to the commit of their ExecuteTrades (see :mod:`trading.service.turns`).
    """

    arrived_at: str
    run_id: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What a run leaves beside its changes: its id, the summary it returned, its step, the
    turn it gives up and the warnings it adds to its run record."""

    run_id: str
    summary: Mapping[str, Any]
    step: StepRecord
    turn: Turn | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """One change of an account, saved atomically by the repository.

    ``created`` orders were numbered by this change (open ones join the book, closed ones go
    straight to the order history), after ``numbered_from`` (the last number given when the
    account was read: the save then requires that no other order took a number since; None
    when their numbers were reserved beforehand); ``changed`` are loaded open orders as they
    are now (still open, or filled, cancelled, expired). ``ledger`` and ``clock`` are set
    when they changed; ``history`` names, per symbol, the object holding the recent bars the
    next run warms up on (symbols it does not name keep theirs).

    A change that only creates orders (a placement) is saved without touching the account's
    version: it is checked against the order numbering and the quote it was priced on
    (``priced_on``) instead, so placements and runs never refuse each other's commits. Every
    other change is conditional on the version the account was loaded at.
    """

    at: str
    created: tuple[Order, ...] = ()
    changed: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    ledger: Account | None = None
    clock: tuple[dict[str, int], dict[str, int]] | None = None
    history: Mapping[str, str] | None = None
    sequence: int = 0
    numbered_from: int | None = None
    client_order: ClientOrder | None = None
    priced_on: Quote | None = None
    run: RunRecord | None = None
    run_ids: tuple[str, ...] = ()

    @property
    def placement(self) -> bool:
        """True for a change that only adds new orders (no fill, no change of the ledger)."""
        return bool(self.created) and not (
            self.changed or self.fills or self.ledger or self.clock or self.run
        )


@dataclass(slots=True)
class TradingAccount:
    """The aggregate root: see the module docstring.

    ``open_orders`` holds the open orders that were loaded (``complete``: all of them) in
    arrival order; ``revisions`` the account version that last changed each (0: as placed).
    ``version`` counts the saved changes that were not placements; ``exists`` is False for
    an account never saved. ``sequence`` is the last order number given when it was read.
    ``history`` names, per symbol, the object that keeps its recent bars.
    """

    account_id: str
    ledger: Account
    id_prefix: str
    last_ts: dict[str, int] = field(default_factory=dict)
    bars_seen: dict[str, int] = field(default_factory=dict)
    history: dict[str, str] = field(default_factory=dict)
    sequence: int = 0
    open_order_count: int = 0
    open_orders: dict[str, Order] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    version: int = 0
    exists: bool = False
    recent_runs: tuple[str, ...] = ()
    # The repository's bookkeeping of what it loaded, handed back to it by ``save``: the run
    # that last changed each loaded open order, and the checksum of the loaded book.
    order_runs: dict[str, str] = field(default_factory=dict)
    digest: int = 0

    @classmethod
    def opened(cls, account_id: str, cash: float, id_prefix: str) -> TradingAccount:
        """A new account holding ``cash``; its orders are numbered ``<id_prefix>000001``..."""
        return cls(account_id, Account(cash=cash, initial_cash=cash), id_prefix)

    # -- the core's view -------------------------------------------------------------------

    def broker_state(self) -> dict[str, Any]:
        """The broker's saved form (``PaperBroker.to_state``) of what was loaded."""
        return {
            "account": self.ledger.to_dict(),
            "open_orders": [order.to_dict() for order in self.open_orders.values()],
            "sequence": self.numbered(),
            "id_prefix": self.id_prefix,
        }

    def broker(self, config: RunConfig) -> PaperBroker:
        """The core's broker over this account (its loaded open orders, in arrival order),
        with ``config``'s costs, limits and margin rules (its buying power)."""
        return PaperBroker.from_state(
            self.broker_state(), config.execution, config.risk_limits(), config.margin
        )

    def engine_state(self) -> EngineState:
        """The engine's state of this account; every open order must have been loaded."""
        from trading.core.backtest import EngineState

        if not self.complete:
            raise ValueError(f"account {self.account_id}: a run needs every open order loaded")
        return EngineState(self.broker_state(), dict(self.last_ts), dict(self.bars_seen))

    def numbered(self) -> int:
        """The highest order number given so far (the loaded orders' included: an order placed
        while the account was being read may be newer than the sequence that was read)."""
        highest = self.sequence
        for order_id in self.open_orders:
            number = order_number(order_id, self.id_prefix)
            if number is not None and number > highest:
                highest = number
        return highest

    def equity(self) -> float:
        """Cash plus every position marked at the last price the account saw."""
        return Portfolio(self.ledger).equity()

    # -- changes ---------------------------------------------------------------------------

    def changes(
        self,
        broker: PaperBroker,
        *,
        at: str,
        client_order: ClientOrder | None = None,
        priced_on: Quote | None = None,
    ) -> AccountChanges:
        """What ``broker`` (from :meth:`broker`) did to this account, as one change."""
        state = broker.to_state()
        ledger = broker.portfolio.account
        return AccountChanges(
            at=at,
            created=tuple(broker.orders),
            changed=tuple(
                order
                for order in broker.restored
                if order.to_dict() != self.open_orders[order.order_id].to_dict()
            ),
            fills=tuple(broker.fills),
            ledger=ledger if ledger.to_dict() != self.ledger.to_dict() else None,
            sequence=int(state["sequence"]),
            numbered_from=self.numbered() if broker.orders else None,
            client_order=client_order,
            priced_on=priced_on,
        )

    def run_changes(
        self,
        result: EngineResult,
        *,
        at: str,
        run: RunRecord,
        records: bool,
        numbered_from: int | None,
        history: Mapping[str, str] | None = None,
    ) -> AccountChanges:
        """The change a run made: its ledger, clock, orders and fills; its new orders were
        numbered after ``numbered_from`` (None: in numbers reserved for them); ``history``
        the objects keeping its symbols' recent bars from now on.

        With ``records`` False (a backtest's own account) the closed orders and the fills are
        left to the run's S3 ledger; the orders still open are kept either way.
        """
        before = {order_id: order.to_dict() for order_id, order in self.open_orders.items()}
        created = [order for order in result.orders if records or order.is_open]
        state = result.state
        return AccountChanges(
            at=at,
            created=tuple(created),
            changed=tuple(
                order
                for order in result.carried_orders
                if order.to_dict() != before.get(order.order_id)
            ),
            fills=tuple(result.fills) if records else (),
            ledger=Account.from_dict(state.broker["account"]),
            clock=(dict(state.last_ts), dict(state.bars_seen)),
            history=history,
            sequence=int(state.broker["sequence"]),
            numbered_from=numbered_from if result.orders else None,
            run=run,
            run_ids=(*self.recent_runs, run.run_id)[-RECENT_RUNS:],
        )


def order_number(order_id: str, prefix: str) -> int | None:
    """The number of an order id with ``prefix`` (``paper-000042`` → 42), else None."""
    if not order_id.startswith(prefix):
        return None
    digits = order_id[len(prefix) :]
    return int(digits) if digits.isdigit() else None


def order_id_of(prefix: str, number: int) -> str:
    """The id of order ``number`` of an account numbering with ``prefix``."""
    return f"{prefix}{number:0{NUMBER_WIDTH}d}"


def renumber(result: EngineResult, prefix: str, first: int, offset: int) -> None:
    """Shift the numbers of the orders a run created (``first`` onwards) by ``offset``.

    A run numbers its new orders after the account's sequence as it read it; orders placed
    meanwhile took some of those numbers, so the repository reserves a free range and the run's
    orders, their fills, their exits' parent ids and the state it leaves move to it.
    """
    if not offset:
        return

    def moved(order_id: str | None) -> str | None:
        if order_id is None:
            return None
        number = order_number(order_id, prefix)
        if number is None or number < first:
            return order_id
        return order_id_of(prefix, number + offset)

    for order in result.orders:
        order.order_id = str(moved(order.order_id))
        order.parent_id = moved(order.parent_id)
    for order in result.carried_orders:
        order.parent_id = moved(order.parent_id)
    for fill in result.fills:
        count = fill.fill_id.rsplit("-", 1)[1]
        fill.order_id = str(moved(fill.order_id))
        fill.fill_id = f"{fill.order_id}-{count}"
    broker = result.state.broker
    for saved in broker["open_orders"]:
        saved["order_id"] = moved(saved["order_id"])
        saved["parent_id"] = moved(saved.get("parent_id"))
    broker["sequence"] = int(broker["sequence"]) + offset


def sorted_by_arrival(orders: Sequence[Order], prefix: str) -> list[Order]:
    """Orders in the order the account numbered them (its arrival order)."""

    def key(order: Order) -> tuple[int, str]:
        number = order_number(order.order_id, prefix)
        return (number if number is not None else -1, order.order_id)

    return sorted(orders, key=key)
