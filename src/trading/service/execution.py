"""ExecuteTrades: turn a run's signals into orders and fills, and book them exactly once.

The account is the run's named live paper account (kept across runs) or, for a backtest, a
fresh ``run-<run_id>`` account. Its saved engine state is loaded with this run's execution
record in one read; the engine runs; the ledger (orders, fills, trades, equity) goes to S3;
then ONE transaction commits the new state (guarded by its version), the execution record
(guarded by absence) and the step record.

A live step — at most :data:`LIVE_STEP_MAX_RECORDS` orders and fills — also books one item
per order, fill and changed position in that transaction. A larger backtest keeps its orders
and fills in the S3 ledger only: a transaction holds at most 100 items, and thousands of
historical fills are read as a file, not item by item.

Idempotent: a repeated invocation finds the execution record (or loses the race on it) and
returns the stored summary, so nothing fills twice. A concurrent change of the account's
state raises ``TransientStoreError``; the workflow retries and the retry sees the new state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trading.core.backtest import EngineResult, EngineState, run_engine
from trading.core.bars import BarSeries, SignalArray
from trading.core.breakdown import gross_exposure
from trading.core.marketdata import MarketDataError, parse_market_data
from trading.core.model import OrderStatus
from trading.errors import InvalidEventError, MarketDataUnreadableError, TransientStoreError
from trading.service import keys
from trading.service.documents import (
    decode_signals,
    encode_equity,
    encode_fills,
    encode_orders,
    encode_trades,
)
from trading.service.ports import (
    AccountRepository,
    AccountSnapshot,
    AccountVersionConflictError,
    DuplicateExecutionError,
    ExecutionCommit,
    ObjectNotFoundError,
    ObjectStore,
)
from trading.service.requests import MarketDataRef, run_id_of
from trading.service.steps import (
    EXECUTE_TRADES,
    Clock,
    StepTimer,
    account_of,
    run_settings,
    utc_now,
)

LIVE_STEP_MAX_RECORDS = 40
"""Orders + fills up to which a run books one table item each (a live paper-trading step)."""
MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on the items of one TransactWriteItems."""
_FIXED_ITEMS = 3  # the state, the execution record and the step record
JSONL_TYPE = "application/x-ndjson"
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """ExecuteTrades' event: ``{"run_id", "market_data": <ProcessMarketData's output>}``."""

    run_id: str
    market_data: MarketDataRef

    @classmethod
    def from_event(cls, event: object) -> ExecutionRequest:
        """Parse and check the event; raises ``InvalidEventError`` naming a bad field."""
        run_id = run_id_of(event)
        assert isinstance(event, Mapping)  # run_id_of checked it
        market_data = MarketDataRef.from_payload(event.get("market_data"))
        if market_data.run_id != run_id:
            raise InvalidEventError(
                f"event field market_data.run_id is {market_data.run_id!r}, not {run_id!r}"
            )
        return cls(run_id, market_data)


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    """The step's summary (its output) and whether an earlier invocation had produced it."""

    summary: dict[str, Any]
    duplicate: bool


def execute_trades(
    request: ExecutionRequest,
    *,
    objects: ObjectStore,
    accounts: AccountRepository,
    clock: Clock = utc_now,
) -> ExecutionOutcome:
    """Run the ExecuteTrades step for ``request`` (see the module docstring).

    Raises ``InvalidRunConfigError`` for bad settings, ``MarketDataUnreadableError`` when the
    curated bars or signals are missing or inconsistent, ``TransientStoreError`` on a
    concurrent change of the account.
    """
    timer = StepTimer(EXECUTE_TRADES, clock)
    run_id = request.run_id
    market_data = request.market_data
    settings = run_settings(None, market_data.config)
    account = account_of(settings, run_id)
    snapshot = accounts.load(account, run_id)
    if snapshot.execution is not None:
        return ExecutionOutcome(snapshot.execution, duplicate=True)

    series, signals = _load_inputs(objects, market_data)
    state = EngineState.from_dict(snapshot.state) if snapshot.state is not None else None
    # A fresh account numbers its orders "<run_id>-000001"...; a saved state keeps the prefix
    # and sequence it was created with, so ids stay unique across the account's runs.
    result = run_engine(series, signals, settings.run_config(id_prefix=f"{run_id}-"), state)

    bucket = market_data.bucket
    ledger = {name: keys.ledger_key(run_id, name) for name in _LEDGER}
    objects.write(bucket, ledger["orders.jsonl"], encode_orders(result.orders), JSONL_TYPE)
    objects.write(bucket, ledger["fills.jsonl"], encode_fills(result.fills), JSONL_TYPE)
    trades = encode_trades(result.trades, result.open_trades)
    objects.write(bucket, ledger["trades.json"], trades, JSON_TYPE)
    exposure = gross_exposure(series, result.ts, result.equity, result.positions)
    equity = encode_equity(result.ts, result.equity, result.in_market, exposure)
    objects.write(bucket, ledger["equity.json"], equity, JSON_TYPE)

    rejected = sum(order.status is OrderStatus.REJECTED for order in result.orders)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "account": account,
        "orders_placed": len(result.orders),
        "orders_rejected": rejected,
        "fills": len(result.fills),
        "equity_key": ledger["equity.json"],
        "trades_key": ledger["trades.json"],
        "orders_key": ledger["orders.jsonl"],
        "fills_key": ledger["fills.jsonl"],
        "final_equity": _final_equity(result),
        # Which execution path ran (columnar or broker), and why the broker's when it did.
        "execution_path": result.path,
        "execution_path_reason": result.path_reason,
    }
    orders, updated_orders, fills, positions = _table_records(snapshot, result)
    step_summary = {
        **{k: v for k, v in summary.items() if not k.endswith("_key")},
        "version": snapshot.version + 1,
        "records": "table" if orders or fills else "ledger",
    }
    commit = ExecutionCommit(
        account=account,
        run_id=run_id,
        expected_version=snapshot.version,
        state=result.state.to_dict(),
        summary=summary,
        step=timer.record(step_summary),
        orders=orders,
        updated_orders=updated_orders,
        fills=fills,
        positions=positions,
    )
    try:
        accounts.commit(commit)
    except DuplicateExecutionError as duplicate:
        return ExecutionOutcome(duplicate.summary, duplicate=True)
    except AccountVersionConflictError:
        raise TransientStoreError(
            f"account {account} changed while run {run_id} was executing "
            f"(expected version {snapshot.version}); retry on the new state"
        ) from None
    return ExecutionOutcome(summary, duplicate=False)


_LEDGER = ("orders.jsonl", "fills.jsonl", "trades.json", "equity.json")


def _load_inputs(
    objects: ObjectStore, market_data: MarketDataRef
) -> tuple[dict[str, BarSeries], dict[str, SignalArray]]:
    """The curated bars and the dense signals of the run."""
    bucket = market_data.bucket
    try:
        curated = objects.read(bucket, market_data.curated_key)
        document = objects.read(bucket, market_data.signals_key)
    except ObjectNotFoundError as missing:
        raise MarketDataUnreadableError(f"{missing} does not exist") from None
    try:
        series = parse_market_data(curated, name=market_data.curated_key).series
        return series, decode_signals(document, series)
    except (MarketDataError, ValueError, KeyError) as error:
        raise MarketDataUnreadableError(
            f"the curated bars or signals of run {market_data.run_id} are inconsistent: {error}"
        ) from None


def _final_equity(result: EngineResult) -> float:
    """Equity after the last bar; without new bars, the account marked at its last prices."""
    if len(result.equity):
        return float(result.equity[-1])
    account = result.state.broker["account"]
    held = account["positions"].values()
    return float(account["cash"] + sum(p["quantity"] * p["last_price"] for p in held))


_Records = list[dict[str, Any]]


def _table_records(
    snapshot: AccountSnapshot, result: EngineResult
) -> tuple[_Records, _Records, _Records, dict[str, dict[str, Any]]]:
    """The new orders, updated orders, fills and positions to book as items.

    Orders and fills only for a live step (empty lists for a backtest); positions unless they
    would overflow the transaction (the state item holds them too: these are a read model).
    """
    positions = _changed_positions(result)
    orders = [order.to_dict() for order in result.orders]
    updated = _carried_orders(snapshot, result)
    fills = [fill.to_dict() for fill in result.fills]
    items = _FIXED_ITEMS + len(orders) + len(updated) + len(fills)
    if len(orders) + len(fills) > LIVE_STEP_MAX_RECORDS or items > MAX_TRANSACTION_ITEMS:
        orders, fills = [], []
        # Orders carried from earlier runs (e.g. placed through the API) keep their items
        # current whenever they fit: clients read them there.
        if _FIXED_ITEMS + len(updated) > MAX_TRANSACTION_ITEMS:
            updated = []
        items = _FIXED_ITEMS + len(updated)
    if items + len(positions) > MAX_TRANSACTION_ITEMS:
        positions = {}
    return orders, updated, fills, positions


def _changed_positions(result: EngineResult) -> dict[str, dict[str, Any]]:
    """The positions (plain dicts) of the symbols that had a fill in this run."""
    held = result.state.broker["account"]["positions"]
    return {
        fill.symbol: dict(held.get(fill.symbol) or {"symbol": fill.symbol, "quantity": 0})
        for fill in result.fills
    }


def _carried_orders(snapshot: AccountSnapshot, result: EngineResult) -> list[dict[str, Any]]:
    """Orders left open by an earlier run that this run changed (filled, partly filled,
    cancelled, expired or rejected), as the engine left them."""
    before = {
        order["order_id"]: order
        for order in (snapshot.state or {}).get("broker", {}).get("open_orders", [])
    }
    return [
        order.to_dict()
        for order in result.carried_orders
        if order.to_dict() != before.get(order.order_id)
    ]
