"""ExecuteTrades: turn a run's signals into orders and fills, and book them exactly once.

The account is the run's named live paper account (kept across runs) or, for a backtest, a
fresh ``run-<run_id>`` account. The run is one load → change → commit of the account
aggregate (:mod:`trading.service.account`): the account is loaded with every open order, the
engine runs from its state, the ledger (orders, fills, trades, equity) goes to S3, then ONE
commit saves the ledger, clock, orders, fills, the execution record (guarded by absence) and
the step record, conditional on the account's version. A live account keeps every order and
fill as an item; a backtest's own account only the orders still open (its S3 ledger holds the
rest). However many items the commit changes, it is all or nothing (see the repository).

Orders placed while the run works never refuse its commit: the run's new orders take numbers
reserved for them. A cancel, an amendment or another run that commits first does; the run
then loads the account again and runs again, for as long as :data:`RETRY_SECONDS` allows,
before it gives up with ``TransientStoreError`` (and the workflow retries the step).

Idempotent: a repeated invocation finds its run among the account's recent runs (or loses the
race on the execution record) and returns the stored summary, so nothing fills twice.

A live account's run also gives up its turn (:mod:`trading.service.turns`), makes its history
object the account's for its symbols and notes on its run record that its trades stand, all in
the same commit; it stores its symbols' quotes only after it (again on a repeated invocation,
so a crash in between is mended). Bars the engine skips because the account's clock had
passed them (a run that lost its turn) are counted in ``bars_skipped`` with a warning on the
run record: a run never drops a bar silently.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trading.core.backtest import EngineResult, run_engine
from trading.core.bars import BarSeries, SignalArray
from trading.core.breakdown import gross_exposure
from trading.core.marketdata import MarketDataError, parse_market_data
from trading.core.model import OrderStatus, ts_to_iso
from trading.core.settings import RunSettings
from trading.errors import (
    InvalidEventError,
    MarketDataUnreadableError,
    StrategyFailedError,
    TransientStoreError,
)
from trading.sdk.base import SignalStrategy
from trading.sdk.drive import run_strategy
from trading.sdk.errors import StrategyRuntimeError
from trading.service import keys
from trading.service.account import RunRecord, TradingAccount, Turn, renumber
from trading.service.documents import (
    decode_signals,
    encode_equity,
    encode_fills,
    encode_orders,
    encode_trades,
)
from trading.service.ingest import latest_quote
from trading.service.ports import (
    AccountRepository,
    AccountVersionConflictError,
    DuplicateExecutionError,
    ObjectNotFoundError,
    ObjectStore,
    OrderNumbersTakenError,
    QuoteStore,
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

RETRY_SECONDS = 60.0
"""How long a run keeps loading and running again after losing its commit to another change
(half the function's timeout)."""
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


def _run(
    series: Mapping[str, BarSeries],
    signals: Mapping[str, SignalArray],
    settings: RunSettings,
    account: TradingAccount,
) -> EngineResult:
    """The engine over the run's bars: the signals a signal strategy computed in
    ProcessMarketData, or the strategy itself bar by bar for the other forms."""
    strategy = settings.build_strategy()
    config = settings.run_config()
    if isinstance(strategy, SignalStrategy):
        return run_engine(series, signals, config, account.engine_state())
    try:
        return run_strategy(series, strategy, config, account.engine_state())
    except StrategyRuntimeError as error:
        raise StrategyFailedError(str(error)) from None


def execute_trades(
    request: ExecutionRequest,
    *,
    objects: ObjectStore,
    accounts: AccountRepository,
    quotes: QuoteStore,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    retry_seconds: float = RETRY_SECONDS,
) -> ExecutionOutcome:
    """Run the ExecuteTrades step for ``request`` (see the module docstring).

    Raises ``InvalidRunConfigError`` for bad settings, ``MarketDataUnreadableError`` when the
    curated bars or signals are missing or inconsistent, ``TransientStoreError`` when the
    account kept changing for ``retry_seconds``.
    """
    timer = StepTimer(EXECUTE_TRADES, clock)
    run_id = request.run_id
    settings = run_settings(None, request.market_data.config)
    account_id = account_of(settings, run_id)
    series: dict[str, BarSeries] | None = None
    signals: dict[str, SignalArray] = {}
    live = settings.account is not None
    deadline = time.monotonic() + retry_seconds
    attempt = 0
    while True:
        account = accounts.get(account_id)
        if run_id in account.recent_runs:
            stored = accounts.execution(account_id, run_id)
            if stored is not None:
                if live:
                    _publish_quotes(
                        quotes, request, series or _load_inputs(objects, request)[0], account_id
                    )
                return ExecutionOutcome(stored, duplicate=True)
        if series is None:
            series, signals = _load_inputs(objects, request)
        if not account.exists:
            # A fresh account numbers its orders "<run_id>-000001"...; a saved one keeps the
            # prefix it was created with, so ids stay unique across the account's runs.
            account = TradingAccount.opened(account_id, settings.cash, f"{run_id}-")
        result = _run(series, signals, settings, account)
        try:
            summary = _commit(
                request,
                account,
                series,
                result,
                live,
                objects=objects,
                accounts=accounts,
                timer=timer,
            )
        except DuplicateExecutionError as duplicate:
            if live:
                _publish_quotes(quotes, request, series, account_id)
            return ExecutionOutcome(duplicate.summary, duplicate=True)
        except AccountVersionConflictError:
            if time.monotonic() >= deadline:
                raise TransientStoreError(
                    f"account {account_id} kept changing while run {run_id} was executing "
                    f"(last loaded at version {account.version}); retry on the new state"
                ) from None
            sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
            attempt += 1
            continue
        if live:
            _publish_quotes(quotes, request, series, account_id)
        return ExecutionOutcome(summary, duplicate=False)


def _publish_quotes(
    quotes: QuoteStore,
    request: ExecutionRequest,
    series: Mapping[str, BarSeries],
    account_id: str,
) -> None:
    """The latest bar of each of the run's symbols becomes its quote in the account's own
    data (unless newer is known)."""
    latest = [latest_quote(bars, request.run_id) for bars in series.values() if len(bars)]
    quotes.put_latest(latest, account_id)


def skipped_bars(
    series: Mapping[str, BarSeries], after: Mapping[str, int], account: TradingAccount
) -> tuple[int, list[str]]:
    """Bars the run brought (after ``after``, the clock its ProcessMarketData read) that the
    account had processed meanwhile, so the engine skips them; a warning per symbol."""
    total = 0
    warnings: list[str] = []
    for symbol, bars in series.items():
        now, before = account.last_ts.get(symbol), after.get(symbol)
        if now is None or (before is not None and now <= before):
            continue
        start = 0 if before is None else int(np.searchsorted(bars.ts, before, side="right"))
        stop = int(np.searchsorted(bars.ts, now, side="right"))
        if stop > start:
            total += stop - start
            warnings.append(
                f"{stop - start} bar(s) of {symbol} ({ts_to_iso(int(bars.ts[start]))} to "
                f"{ts_to_iso(int(bars.ts[stop - 1]))}) skipped: account {account.account_id} "
                f"had processed up to {ts_to_iso(now)} when the run committed"
            )
    return total, warnings


def _commit(
    request: ExecutionRequest,
    account: TradingAccount,
    series: Mapping[str, BarSeries],
    result: EngineResult,
    records: bool,
    *,
    objects: ObjectStore,
    accounts: AccountRepository,
    timer: StepTimer,
) -> dict[str, Any]:
    """Write the ledger and save the run's change; its summary.

    The run's new orders keep the numbers it gave them unless orders placed meanwhile took
    them; then they move to numbers reserved for them and the same change commits (placements
    never make a run start again)."""
    numbered = account.numbered()
    numbered_from: int | None = numbered if account.exists else None
    market_data = request.market_data
    skipped, warnings = (
        skipped_bars(series, market_data.after, account)
        if market_data.turn is not None
        else (0, [])
    )
    turn = Turn(market_data.turn, request.run_id) if market_data.turn is not None else None
    history = (
        {symbol: market_data.history_key for symbol in series}
        if market_data.history_key is not None
        else None
    )
    while True:
        summary = _write_ledger(objects, request, account.account_id, series, result)
        if turn is not None:  # a live account's run says what it skipped
            summary["bars_skipped"] = skipped
            summary["warnings"] = warnings
        step_summary = {
            **{k: v for k, v in summary.items() if not k.endswith("_key")},
            "version": account.version + 1,
            "records": "table" if records else "ledger",
        }
        run = RunRecord(request.run_id, summary, timer.record(step_summary), turn, tuple(warnings))
        changes = account.run_changes(
            result,
            at=run.step.ended_at,
            run=run,
            records=records,
            numbered_from=numbered_from,
            history=history,
        )
        try:
            accounts.save(account, changes)
        except OrderNumbersTakenError:
            created = int(result.state.broker["sequence"]) - numbered
            first = accounts.reserve_order_numbers(account, created)
            renumber(result, account.id_prefix, numbered + 1, first - numbered - 1)
            numbered_from = None
            continue
        return summary


def _write_ledger(
    objects: ObjectStore,
    request: ExecutionRequest,
    account: str,
    series: Mapping[str, BarSeries],
    result: EngineResult,
) -> dict[str, Any]:
    """Write the run's ledger to S3; the step's summary."""
    run_id = request.run_id
    bucket = request.market_data.bucket
    ledger = {name: keys.ledger_key(run_id, name) for name in _LEDGER}
    objects.write(bucket, ledger["orders.jsonl"], encode_orders(result.orders), JSONL_TYPE)
    objects.write(bucket, ledger["fills.jsonl"], encode_fills(result.fills), JSONL_TYPE)
    trades = encode_trades(result.trades, result.open_trades)
    objects.write(bucket, ledger["trades.json"], trades, JSON_TYPE)
    exposure = gross_exposure(series, result.ts, result.equity, result.positions)
    equity = encode_equity(result.ts, result.equity, result.in_market, exposure)
    objects.write(bucket, ledger["equity.json"], equity, JSON_TYPE)
    rejected = sum(order.status is OrderStatus.REJECTED for order in result.orders)
    return {
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
        # Margin calls of the run (how many, the first close that breached) and the ruin.
        "margin_calls": len(result.margin_calls or ()),
        "first_margin_call": result.margin_calls[0]["time"] if result.margin_calls else None,
        "ruin": result.ruin,
    }


_LEDGER = ("orders.jsonl", "fills.jsonl", "trades.json", "equity.json")


def _load_inputs(
    objects: ObjectStore, request: ExecutionRequest
) -> tuple[dict[str, BarSeries], dict[str, SignalArray]]:
    """The curated bars and the dense signals of the run."""
    market_data: MarketDataRef = request.market_data
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
