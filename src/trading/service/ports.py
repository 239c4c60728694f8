"""The ports of the use cases: what they need from storage, as Protocols and plain data.

The adapters (``trading.adapters``) implement these over S3 and DynamoDB; the service tests
implement them in memory (``tests/service/fakes.py``). Nothing here imports boto3.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from trading.core.model import Bar
from trading.service.pages import Page

if TYPE_CHECKING:
    from trading.service.account import AccountChanges, TradingAccount, Turn


class Readable(Protocol):
    """A binary stream: what a raw object's body offers (read in chunks, never all at once)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all the rest when negative); ``b""`` at the end."""
        ...


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object opened for reading: its body stream and its user metadata (``stp-*`` keys)."""

    body: Readable
    metadata: Mapping[str, str]


class ObjectNotFoundError(LookupError):
    """The requested object does not exist (or is not readable by this function)."""


class ObjectStore(Protocol):
    """Buckets of objects (S3)."""

    def open(self, bucket: str, key: str) -> StoredObject:
        """Open ``key`` for streaming; raises :class:`ObjectNotFoundError` if it is absent."""
        ...

    def read(self, bucket: str, key: str) -> bytes:
        """The whole body of ``key``; raises :class:`ObjectNotFoundError` if it is absent."""
        ...

    def write(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        """Create or replace ``key``."""
        ...


@dataclass(frozen=True, slots=True)
class NewRun:
    """What is known of a run when its first step starts."""

    run_id: str
    source_bucket: str
    source_key: str
    source: str | None
    config: Mapping[str, Any] | None
    created_at: str  # ISO 8601 UTC
    account: str | None = None
    """The account the run belongs to (None: the operator's); only its callers see it."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One workflow step of a run: when it ran and what it produced (a small summary)."""

    number: int
    name: str
    started_at: str
    ended_at: str
    duration_ms: int
    summary: Mapping[str, Any]


class RunRepository(Protocol):
    """The run records (RunsTable): one META item per run plus one item per step."""

    def start(self, run: NewRun) -> dict[str, Any]:
        """Create the run's record as RUNNING, or return the existing one (a retried step)."""
        ...

    def record_step(
        self, run_id: str, step: StepRecord, run_updates: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Store ``step`` and set ``run_updates`` on the run record; returns the record."""
        ...

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run's record, or ``None`` when no run has this id."""
        ...


class RunReader(Protocol):
    """Reading a run's record back (the API): the META item and the step items."""

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run's META record, or ``None`` when no run has this id."""
        ...

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's step items in the order the steps ran (empty before the first ends)."""
        ...


class ObjectCatalog(Protocol):
    """Whether objects exist, without reading them (S3 HeadObject)."""

    def exists(self, bucket: str, key: str) -> bool:
        """True when ``key`` exists in ``bucket``."""
        ...


@dataclass(frozen=True, slots=True)
class WorkflowExecution:
    """One execution of the trading workflow; its name is the run id."""

    name: str
    execution_arn: str
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED...


class ExecutionExistsError(Exception):
    """An execution with this name exists already and was started with another input."""

    def __init__(self, name: str, execution_arn: str) -> None:
        super().__init__(f"execution {name} exists with another input: {execution_arn}")
        self.name = name
        self.execution_arn = execution_arn


class WorkflowStarter(Protocol):
    """Starts the trading workflow (Step Functions StartExecution)."""

    def start(self, name: str, payload: Mapping[str, Any]) -> WorkflowExecution:
        """Start an execution named ``name`` on ``payload``.

        Idempotent: an execution of the same name and the same payload is returned as it is;
        the same name with another payload raises :class:`ExecutionExistsError`.
        """
        ...


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest bar of one symbol, as the quotes table keeps it, and the run that saw it."""

    bar: Bar
    run_id: str

    @property
    def symbol(self) -> str:
        """The bar's symbol."""
        return self.bar.symbol

    @property
    def ts(self) -> int:
        """The bar's timestamp (epoch ns)."""
        return self.bar.ts


class QuoteStore(Protocol):
    """The latest bar per symbol and data source (QuotesTable).

    A data source (``feed``) is the account whose runs brought the bars; ``None`` is the
    operator's feed (files dropped under ``raw/`` with no account). One account's bars never
    move another account's quotes.
    """

    def put_latest(self, quotes: Sequence[Quote], feed: str | None = None) -> int:
        """Store each quote in ``feed`` unless a newer one is stored already; returns how
        many were."""
        ...


@dataclass(frozen=True, slots=True)
class ClientOrder:
    """What a client order id was used for: the order and the fingerprint of its request."""

    client_order_id: str
    order_id: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PlacementSnapshot:
    """Everything placing one order reads, in one round trip: the account (without its open
    orders), the client order id's record (when the request has one) and the symbol's quote."""

    account: TradingAccount
    client_order: ClientOrder | None
    quote: Quote | None


class DuplicateExecutionError(Exception):
    """This run's execution was already committed; ``summary`` is what it returned."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__("execution already recorded")
        self.summary = summary


class AccountVersionConflictError(Exception):
    """The account changed since it was loaded (another change committed first)."""


class OrderNumbersTakenError(AccountVersionConflictError):
    """Only the order numbering moved on (orders were placed meanwhile): the change stands,
    but its new orders need numbers reserved for them."""


class ClientOrderIdTakenError(Exception):
    """A concurrent request placed an order with the same client order id first."""


class AccountRepository(Protocol):
    """Trading accounts (PortfolioTable): each one aggregate, loaded and saved whole."""

    def get(
        self, account: str, *, orders: Collection[str] | None = None, consistent: bool = True
    ) -> TradingAccount:
        """The account with every open order (``orders`` None) or only those named.

        A never-saved account comes back with ``exists`` False and no ledger worth keeping:
        the caller opens it. ``consistent`` False reads what the API shows (it may lag a
        write by a moment, and may come from a cache).
        """
        ...

    def load_for_placement(
        self, account: str, symbol: str, client_order_id: str | None
    ) -> PlacementSnapshot:
        """The account (no open orders), the client order id's record and the quote."""
        ...

    def save(self, account: TradingAccount, changes: AccountChanges) -> None:
        """Commit ``changes`` of ``account`` (as loaded) atomically.

        Raises :class:`AccountVersionConflictError` when the account moved on since it was
        loaded (or, for a placement, its order numbering or the quote did),
        :class:`ClientOrderIdTakenError` when the client order id was taken meanwhile and
        :class:`DuplicateExecutionError` when the run's execution is recorded already.
        """
        ...

    def reserve_order_numbers(self, account: TradingAccount, count: int) -> int:
        """Take ``count`` order numbers of a saved account; returns the first."""
        ...

    def execution(self, account: str, run_id: str) -> dict[str, Any] | None:
        """The summary a run's execution returned, or None when it was never committed."""
        ...

    def take_turn(self, account: str, turn: Turn) -> None:
        """Queue ``turn`` in the account (again: no change). The run's commit
        (``RunRecord.turn``) or :meth:`drop_turn` removes it."""
        ...

    def queue(self, account: str) -> tuple[TradingAccount, list[Turn]]:
        """The account without its open orders and its queued turns, oldest first (one
        consistent read)."""
        ...

    def drop_turn(self, account: str, turn: Turn) -> None:
        """Remove ``turn`` from the queue (a run that failed or was lost gives it up)."""
        ...


class OrderReader(Protocol):
    """The account's orders as the API lists them (open and closed): by key and query only."""

    def get_order(self, account: str, order_id: str) -> dict[str, Any] | None:
        """The order's item, or ``None``."""
        ...

    def list_orders(
        self,
        account: str,
        *,
        status: str | None,
        symbol: str | None,
        limit: int,
        next_token: str | None,
    ) -> Page[dict[str, Any]]:
        """Orders of the account, oldest first, optionally of one status and/or symbol."""
        ...


class QuoteReader(Protocol):
    """Reading the latest bar of a symbol (QuotesTable)."""

    def get_latest(self, symbol: str, feed: str | None = None) -> Quote | None:
        """The symbol's latest quote in ``feed``, or ``None``."""
        ...


class RunLister(Protocol):
    """An account's runs, newest first (the RunsByTime index)."""

    def list_runs(
        self, *, limit: int, next_token: str | None, account: str | None = None
    ) -> Page[dict[str, Any]]:
        """One page of ``account``'s run records (None: the operator's)."""
        ...


class ObjectLinks(Protocol):
    """Presigned URLs: a client reads or uploads an object without AWS credentials."""

    def download_url(self, bucket: str, key: str, expires_in: int) -> str:
        """A GET URL for ``key``."""
        ...

    def upload_url(
        self, bucket: str, key: str, expires_in: int, metadata: Mapping[str, str]
    ) -> str:
        """A PUT URL for ``key``; the client must send ``metadata`` as x-amz-meta-* headers."""
        ...
