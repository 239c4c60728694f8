"""In-memory implementations of the service ports, with the same contracts as the adapters."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trading.service.pages import Page
from trading.service.ports import (
    AccountSnapshot,
    AccountState,
    AccountVersionConflictError,
    ClientOrder,
    ClientOrderIdTakenError,
    DuplicateExecutionError,
    ExecutionCommit,
    NewRun,
    ObjectNotFoundError,
    OrderChange,
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


class FakeQuoteStore:
    """Latest quote per symbol; an older or same-time quote does not replace a newer one."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}

    def put_latest(self, quotes: Sequence[Quote]) -> int:
        stored = 0
        for quote in quotes:
            current = self.quotes.get(quote.symbol)
            if current is None or current.ts < quote.ts:
                self.quotes[quote.symbol] = quote
                stored += 1
        return stored


@dataclass
class FakeAccountRepository:
    """Accounts in dicts, committed atomically with the adapter's conditions.

    ``before_commit`` runs inside ``commit`` before the checks: a test uses it to play a
    concurrent execution. ``hide_executions`` makes ``load`` miss the execution records (a
    duplicate that races the first invocation).
    """

    states: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    executions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    commits: int = 0
    before_commit: Callable[[FakeAccountRepository], None] | None = None
    hide_executions: bool = False

    def load(self, account: str, run_id: str) -> AccountSnapshot:
        state, version = self.states.get(account, (None, 0))  # type: ignore[arg-type]
        execution = None if self.hide_executions else self.executions.get((account, run_id))
        return AccountSnapshot(account, copy.deepcopy(state), version, copy.deepcopy(execution))

    def commit(self, commit: ExecutionCommit) -> None:
        if self.before_commit is not None:
            hook, self.before_commit = self.before_commit, None
            hook(self)
        key = (commit.account, commit.run_id)
        if key in self.executions:
            raise DuplicateExecutionError(copy.deepcopy(self.executions[key]))
        version = self.states.get(commit.account, ({}, 0))[1]
        if version != commit.expected_version:
            raise AccountVersionConflictError(commit.account)
        for sort_key in [f"ORDER#{o['order_id']}" for o in commit.orders] + [
            f"FILL#{f['fill_id']}" for f in commit.fills
        ]:
            assert (commit.account, sort_key) not in self.items, f"{sort_key} booked twice"
        self.states[commit.account] = (copy.deepcopy(commit.state), version + 1)
        self.executions[key] = copy.deepcopy(commit.summary)
        for order in [*commit.orders, *commit.updated_orders]:
            self.items[(commit.account, f"ORDER#{order['order_id']}")] = dict(order)
        for fill in commit.fills:
            self.items[(commit.account, f"FILL#{fill['fill_id']}")] = dict(fill)
        for symbol, position in commit.positions.items():
            self.items[(commit.account, f"POSITION#{symbol}")] = dict(position)
        self.commits += 1

    def records(self, account: str, prefix: str) -> list[dict[str, Any]]:
        return [
            v for (a, k), v in sorted(self.items.items()) if a == account and k.startswith(prefix)
        ]


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
class FakePlatform:
    """The fakes wired together, with one method per workflow step."""

    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    runs: FakeRunRepository = field(default_factory=FakeRunRepository)
    quotes: FakeQuoteStore = field(default_factory=FakeQuoteStore)
    accounts: FakeAccountRepository = field(default_factory=FakeAccountRepository)

    def ingest(
        self, run_id: str, key: str = "raw/prices.csv", config: Mapping[str, Any] | None = None
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
            output_bucket=MARKET_BUCKET,
        )
        return outcome.to_payload()

    def execute(self, run_id: str, market_data: Mapping[str, Any]) -> Any:
        from trading.service.execution import ExecutionRequest, execute_trades

        request = ExecutionRequest.from_event({"run_id": run_id, "market_data": market_data})
        return execute_trades(request, objects=self.objects, accounts=self.accounts)

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


@dataclass
class FakeOrderBook:
    """The API's order book over a :class:`FakeAccountRepository`'s states and items (so the
    workflow's fakes see the orders the API placed), with the adapter's conditions.

    ``before_commit`` runs inside ``commit`` before the checks, once: a test uses it to play a
    concurrent request.
    """

    accounts: FakeAccountRepository = field(default_factory=FakeAccountRepository)
    quotes: FakeQuoteStore = field(default_factory=FakeQuoteStore)
    clients: dict[tuple[str, str], ClientOrder] = field(default_factory=dict)
    commits: int = 0
    before_commit: Callable[[FakeOrderBook], None] | None = None

    def load_for_placement(
        self, account: str, symbol: str, client_order_id: str | None
    ) -> PlacementSnapshot:
        client = self.clients.get((account, client_order_id or ""))
        return PlacementSnapshot(self.load_state(account), client, self.quotes.quotes.get(symbol))

    def load_state(self, account: str) -> AccountState:
        state, version = self.accounts.states.get(account, (None, 0))  # type: ignore[arg-type]
        return AccountState(account, copy.deepcopy(state), version)

    def commit(self, change: OrderChange) -> None:
        if self.before_commit is not None:
            hook, self.before_commit = self.before_commit, None
            hook(self)
        version = self.accounts.states.get(change.account, ({}, 0))[1]
        order_key = (change.account, f"ORDER#{change.order['order_id']}")
        if version != change.expected_version or (
            change.created and order_key in self.accounts.items
        ):
            raise AccountVersionConflictError(change.account)
        client = change.client_order
        if client is not None and (change.account, client.client_order_id) in self.clients:
            raise ClientOrderIdTakenError(client.client_order_id)
        self.accounts.states[change.account] = (copy.deepcopy(change.state), version + 1)
        self.accounts.items[order_key] = {**self.accounts.items.get(order_key, {}), **change.order}
        if client is not None:
            self.clients[(change.account, client.client_order_id)] = client
        self.commits += 1

    def get_order(self, account: str, order_id: str) -> dict[str, Any] | None:
        found = self.accounts.items.get((account, f"ORDER#{order_id}"))
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
            for order in self.accounts.records(account, "ORDER#")
            if (status is None or order["status"] == status)
            and (symbol is None or order["symbol"] == symbol)
        ]
        return Page(orders[:limit], None)
