"""In-memory implementations of the service ports, with the same contracts as the adapters."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trading.core.model import Account, Order
from trading.service.account import AccountChanges, TradingAccount, Turn, sorted_by_arrival
from trading.service.pages import Page
from trading.service.ports import (
    AccountVersionConflictError,
    ClientOrder,
    ClientOrderIdTakenError,
    DuplicateExecutionError,
    NewRun,
    ObjectNotFoundError,
    OrderNumbersTakenError,
    PlacementSnapshot,
    Quote,
    StepRecord,
    StoredObject,
)


@dataclass
class FakeObject:
    body: bytes
    metadata: dict[str, str]
    content_type: str = "application/octet-stream"


class FakeObjectStore:
    """Buckets as a dict of (bucket, key) -> object."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], FakeObject] = {}
        self.writes: list[tuple[str, str]] = []

    def upload(self, bucket: str, key: str, body: bytes, metadata: Mapping[str, str] = {}) -> None:
        self.objects[(bucket, key)] = FakeObject(body, dict(metadata))

    def open(self, bucket: str, key: str) -> StoredObject:
        found = self._get(bucket, key)
        return StoredObject(io.BytesIO(found.body), dict(found.metadata))

    def read(self, bucket: str, key: str) -> bytes:
        return self._get(bucket, key).body

    def write(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.objects[(bucket, key)] = FakeObject(body, {}, content_type)
        self.writes.append((bucket, key))

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def _get(self, bucket: str, key: str) -> FakeObject:
        try:
            return self.objects[(bucket, key)]
        except KeyError:
            raise ObjectNotFoundError(f"s3://{bucket}/{key}") from None


class FakeRunRepository:
    """Run META records and step records in dicts."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.steps: dict[tuple[str, str], StepRecord] = {}

    def start(self, run: NewRun) -> dict[str, Any]:
        if run.run_id in self.runs:
            return dict(self.runs[run.run_id])
        record = {
            "run_id": run.run_id,
            "status": "RUNNING",
            "source_bucket": run.source_bucket,
            "source_key": run.source_key,
            "source": run.source,
            "config": run.config,
            "created_at": run.created_at,
        }
        self.runs[run.run_id] = record
        return dict(record)

    def record_step(
        self, run_id: str, step: StepRecord, run_updates: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.steps[(run_id, f"STEP#{step.number:02d}#{step.name}")] = step
        self.runs.setdefault(run_id, {"run_id": run_id}).update(copy.deepcopy(dict(run_updates)))
        return dict(self.runs[run_id])

    def get(self, run_id: str) -> dict[str, Any] | None:
        found = self.runs.get(run_id)
        return copy.deepcopy(found) if found is not None else None


class FakeQuoteStore:
    """Latest quote per data source (an account; None: the operator's) and symbol; an older
    or same-time quote does not replace a newer one."""

    def get_latest(self, symbol: str, feed: str | None = None) -> Quote | None:
        return self.feed(feed).get(symbol)

    def __init__(self) -> None:
        self.feeds: dict[str | None, dict[str, Quote]] = {}

    @property
    def quotes(self) -> dict[str, Quote]:
        """The operator's feed."""
        return self.feed(None)

    def feed(self, feed: str | None) -> dict[str, Quote]:
        return self.feeds.setdefault(feed, {})

    def put_latest(self, quotes: Sequence[Quote], feed: str | None = None) -> int:
        stored = 0
        latest = self.feed(feed)
        for quote in quotes:
            current = latest.get(quote.symbol)
            if current is None or current.ts < quote.ts:
                latest[quote.symbol] = quote
                stored += 1
        return stored


@dataclass
class StoredAccount:
    """One account as the fake keeps it: the root's fields and its open orders."""

    ledger: dict[str, Any]
    id_prefix: str
    last_ts: dict[str, int] = field(default_factory=dict)
    bars_seen: dict[str, int] = field(default_factory=dict)
    history: dict[str, str] = field(default_factory=dict)
    sequence: int = 0
    version: int = 0
    runs: tuple[str, ...] = ()
    book: dict[str, tuple[dict[str, Any], int, str | None]] = field(default_factory=dict)


@dataclass
class FakeAccountRepository:
    """Accounts in dicts, saved atomically with the adapter's conditions: a placement checks
    the numbering, the quote it was priced on and the client order id; any other change the
    version, and each changed order's revision.

    ``before_save`` runs inside ``save`` before the checks, once: a test plays a concurrent
    change with it. ``orders`` and ``fills`` hold every order and fill item ever written.
    """

    quotes: FakeQuoteStore = field(default_factory=FakeQuoteStore)
    accounts: dict[str, StoredAccount] = field(default_factory=dict)
    orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fills: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    clients: dict[tuple[str, str], ClientOrder] = field(default_factory=dict)
    executions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    turns: dict[str, set[Turn]] = field(default_factory=dict)
    runs: FakeRunRepository | None = None
    saves: int = 0
    before_save: Callable[[FakeAccountRepository], None] | None = None

    def get(
        self, account: str, *, orders: Collection[str] | None = None, consistent: bool = True
    ) -> TradingAccount:
        stored = self.accounts.get(account)
        if stored is None:
            return TradingAccount(account, Account(cash=0.0, initial_cash=0.0), f"{account}-")
        book = {
            order_id: entry
            for order_id, entry in stored.book.items()
            if orders is None or order_id in orders
        }
        loaded = [Order.from_dict(copy.deepcopy(order)) for order, _, _ in book.values()]
        return TradingAccount(
            account_id=account,
            ledger=Account.from_dict(copy.deepcopy(stored.ledger)),
            id_prefix=stored.id_prefix,
            last_ts=dict(stored.last_ts),
            bars_seen=dict(stored.bars_seen),
            history=dict(stored.history),
            sequence=stored.sequence,
            open_order_count=len(stored.book),
            open_orders={o.order_id: o for o in sorted_by_arrival(loaded, stored.id_prefix)},
            revisions={order_id: revision for order_id, (_, revision, _) in book.items()},
            complete=orders is None,
            version=stored.version,
            exists=True,
            recent_runs=stored.runs,
            order_runs={order_id: run for order_id, (_, _, run) in book.items() if run},
        )

    def load_for_placement(
        self, account: str, symbol: str, client_order_id: str | None
    ) -> PlacementSnapshot:
        client = self.clients.get((account, client_order_id or ""))
        return PlacementSnapshot(
            self.get(account, orders=()), client, self.quotes.feed(account).get(symbol)
        )

    def execution(self, account: str, run_id: str) -> dict[str, Any] | None:
        found = self.executions.get((account, run_id))
        return copy.deepcopy(found) if found is not None else None

    def take_turn(self, account: str, turn: Turn) -> None:
        self.turns.setdefault(account, set()).add(turn)

    def queue(self, account: str) -> tuple[TradingAccount, list[Turn]]:
        return self.get(account, orders=()), sorted(self.turns.get(account, ()))

    def drop_turn(self, account: str, turn: Turn) -> None:
        self.turns.get(account, set()).discard(turn)

    def reserve_order_numbers(self, account: TradingAccount, count: int) -> int:
        stored = self.accounts[account.account_id]
        stored.sequence += count
        return stored.sequence - count + 1

    def save(self, account: TradingAccount, changes: AccountChanges) -> None:
        if self.before_save is not None:
            hook, self.before_save = self.before_save, None
            hook(self)
        stored = self.accounts.get(account.account_id)
        if changes.placement:
            self._check_placement(account, changes, stored)
        else:
            self._check_change(account, changes, stored)
        if stored is None:
            stored = StoredAccount(account.ledger.to_dict(), account.id_prefix)
            self.accounts[account.account_id] = stored
        run_id = changes.run.run_id if changes.run is not None else None
        version = stored.version if changes.placement else account.version + 1
        for order in changes.changed:
            written_by = run_id or account.order_runs.get(order.order_id)
            self._write(account.account_id, stored, order, version, written_by)
        for order in changes.created:
            self._write(
                account.account_id, stored, order, 0 if changes.placement else version, run_id
            )
        for fill in changes.fills:
            self.fills[(account.account_id, fill.fill_id)] = {**fill.to_dict(), "run_id": run_id}
        if not account.exists or (changes.created and changes.numbered_from is not None):
            stored.sequence = changes.sequence
        if not changes.placement:
            stored.version = version
        if changes.ledger is not None:
            stored.ledger = changes.ledger.to_dict()
        if changes.clock is not None:
            stored.last_ts, stored.bars_seen = (dict(part) for part in changes.clock)
            stored.history.update(changes.history or {})
        if changes.client_order is not None:
            record = changes.client_order
            self.clients[(account.account_id, record.client_order_id)] = record
        if changes.run is not None:
            self.executions[(account.account_id, changes.run.run_id)] = copy.deepcopy(
                dict(changes.run.summary)
            )
            stored.runs = changes.run_ids
            if changes.run.turn is not None:
                self.drop_turn(account.account_id, changes.run.turn)
            if self.runs is not None:
                record = self.runs.runs.setdefault(changes.run.run_id, {})
                record["committed"] = {"account": account.account_id, "at": changes.at}
                record["warnings"] = [*record.get("warnings", []), *changes.run.warnings]
        self.saves += 1

    def _check_placement(
        self, account: TradingAccount, changes: AccountChanges, stored: StoredAccount | None
    ) -> None:
        if (stored is None) == account.exists or (
            stored is not None and stored.sequence != changes.numbered_from
        ):
            raise AccountVersionConflictError(account.account_id)
        quote = changes.priced_on
        latest = self.quotes.feed(account.account_id)
        if quote is not None and latest[quote.symbol].ts != quote.ts:
            raise AccountVersionConflictError(f"{quote.symbol}: a newer bar")
        record = changes.client_order
        if record is not None and (account.account_id, record.client_order_id) in self.clients:
            raise ClientOrderIdTakenError(record.client_order_id)

    def _check_change(
        self, account: TradingAccount, changes: AccountChanges, stored: StoredAccount | None
    ) -> None:
        if changes.run is not None and (account.account_id, changes.run.run_id) in self.executions:
            raise DuplicateExecutionError(
                copy.deepcopy(self.executions[(account.account_id, changes.run.run_id)])
            )
        if (stored is None) == account.exists or (
            stored is not None and stored.version != account.version
        ):
            raise AccountVersionConflictError(account.account_id)
        numbered = changes.numbered_from
        if stored is not None and changes.created and numbered not in (None, stored.sequence):
            raise OrderNumbersTakenError(account.account_id)
        for order in changes.changed:
            booked = stored.book.get(order.order_id) if stored else None
            if booked is None or booked[1] != account.revisions.get(order.order_id, 0):
                raise AccountVersionConflictError(order.order_id)
        for order in changes.created:
            assert (account.account_id, order.order_id) not in self.orders, "booked twice"
        for fill in changes.fills:
            assert (account.account_id, fill.fill_id) not in self.fills, "booked twice"

    def _write(
        self,
        account: str,
        stored: StoredAccount,
        order: Order,
        revision: int,
        run_id: str | None,
    ) -> None:
        values = order.to_dict()
        self.orders[(account, order.order_id)] = {**values, "run_id": run_id}
        if order.is_open:
            stored.book[order.order_id] = (values, revision, run_id)
        else:
            stored.book.pop(order.order_id, None)

    def records(self, account: str, kind: str) -> list[dict[str, Any]]:
        """The order (``ORDER``) or fill (``FILL``) items of an account, by id."""
        items = self.orders if kind == "ORDER" else self.fills
        return [copy.deepcopy(v) for (a, _), v in sorted(items.items()) if a == account]


@dataclass
class FakeOrderReader:
    """The API's order lists over a :class:`FakeAccountRepository`'s items."""

    accounts: FakeAccountRepository

    def get_order(self, account: str, order_id: str) -> dict[str, Any] | None:
        found = self.accounts.orders.get((account, order_id))
        return copy.deepcopy(found) if found is not None else None

    def list_orders(
        self,
        account: str,
        *,
        status: str | None,
        symbol: str | None,
        limit: int,
        next_token: str | None,
    ) -> Page[dict[str, Any]]:
        orders = [
            order
            for order in self.accounts.records(account, "ORDER")
            if (status is None or order["status"] == status)
            and (symbol is None or order["symbol"] == symbol)
        ]
        return Page(orders[:limit], None)


# --- a whole workflow over the fakes ------------------------------------------------------

MARKET_BUCKET = "market"
REPORTS_BUCKET = "reports"


def sample_csv(symbols: Sequence[str] = ("AAA", "BBB"), bars: int = 250, seed: int = 7) -> bytes:
    """A valid multi-symbol CSV upload of random-walk daily bars (enough for sma_cross)."""
    from tests.builders import random_series
    from trading.core.marketdata import series_to_csv

    series = {s: random_series(seed + i, bars, symbol=s) for i, s in enumerate(symbols)}
    return series_to_csv(series)


@dataclass
class FakeAccountProfiles:
    """Registered accounts by id (what a workflow step reads of the registry)."""

    profiles: dict[str, Any] = field(default_factory=dict)

    def profile(self, account_id: str) -> Any:
        return self.profiles.get(account_id)


@dataclass
class FakePlatform:
    """The fakes wired together, with one method per workflow step."""

    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    runs: FakeRunRepository = field(default_factory=FakeRunRepository)
    quotes: FakeQuoteStore = field(default_factory=FakeQuoteStore)
    accounts: FakeAccountRepository = field(default_factory=FakeAccountRepository)
    profiles: FakeAccountProfiles = field(default_factory=FakeAccountProfiles)

    def __post_init__(self) -> None:
        self.accounts.quotes = self.quotes  # one market: the API prices on the runs' quotes
        self.accounts.runs = self.runs

    def ingest(
        self,
        run_id: str,
        key: str = "raw/prices.csv",
        config: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        from trading.service.ingest import process_market_data
        from trading.service.requests import IngestRequest

        event: dict[str, Any] = {"run_id": run_id, "input": {"bucket": MARKET_BUCKET, "key": key}}
        if config is not None:
            event["input"]["config"] = dict(config)
        outcome = process_market_data(
            IngestRequest.from_event(event),
            objects=self.objects,
            runs=self.runs,
            quotes=self.quotes,
            accounts=self.accounts,
            profiles=self.profiles,
            output_bucket=MARKET_BUCKET,
            **options,
        )
        return outcome.to_payload()

    def execute(self, run_id: str, market_data: Mapping[str, Any], **options: Any) -> Any:
        from trading.service.execution import ExecutionRequest, execute_trades

        request = ExecutionRequest.from_event({"run_id": run_id, "market_data": market_data})
        return execute_trades(
            request, objects=self.objects, accounts=self.accounts, quotes=self.quotes, **options
        )

    def analyze(
        self, run_id: str, market_data: Mapping[str, Any], execution: Mapping[str, Any] | None
    ) -> Any:
        from trading.service.analysis import AnalysisRequest, analyze_performance

        event = {"run_id": run_id, "market_data": market_data, "execution": execution}
        return analyze_performance(
            AnalysisRequest.from_event(event),
            objects=self.objects,
            runs=self.runs,
            accounts=self.accounts,
            reports_bucket=REPORTS_BUCKET,
        )
