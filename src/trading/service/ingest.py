"""ProcessMarketData: validate an uploaded market data file and prepare the run's inputs.

Reads the raw object (never modifying it), resolves the run settings from its metadata and the
start's ``config``, writes the curated bars and the rejected rows with their reasons, keeps the
latest bar per symbol, computes the strategy's signals and records the step::

    outcome = process_market_data(request, objects=..., runs=..., quotes=..., accounts=...,
                                  output_bucket="market-data")
    outcome.to_payload()  # what the workflow carries to the next step (small: keys, counts)

A bar stamped more than :data:`FUTURE_TOLERANCE_SECONDS` after now is rejected
(``FUTURE_TIMESTAMP``): it would stand in front of every real bar of its symbol.

A run of a live paper account (``account`` setting) first waits for its turn
(:mod:`trading.service.turns`), then reads the account and drops the bars at or before the
last bar the account processed, per symbol (counted in ``bars_stale``, a warning on the run
record; a file with nothing new fails as ``StaleMarketDataError``). Its signals warm up on the
recent bars the account keeps per symbol; the recent bars of its own symbols are written to
an object of the run, which the run's ExecuteTrades commit makes the account's (with the
clock): a run that fails before that commit leaves the account as it was, history included.
The quotes of a live run are stored by its ExecuteTrades, after the commit, for the same
reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import BinaryIO, cast

import numpy as np

from trading.core.bars import BarSeries
from trading.core.marketdata import MarketDataError, parse_market_data
from trading.core.marketdata.corporate_actions import (
    AdjustedSeries,
    CorporateActionsError,
    apply_corporate_actions,
    parse_corporate_actions,
)
from trading.core.marketdata.output import rejected_rows_jsonl, repaired_rows_jsonl, series_to_csv
from trading.core.marketdata.selection import SelectionError, select_bars
from trading.core.model import ts_to_iso
from trading.errors import (
    InvalidRunConfigError,
    MarketDataUnreadableError,
    StaleMarketDataError,
    StrategyFailedError,
    TradingHaltedError,
)
from trading.sdk.base import SignalStrategy, Strategy
from trading.sdk.compute import compute_signals
from trading.sdk.drive import decision_count
from trading.sdk.errors import StrategyRuntimeError
from trading.service import keys
from trading.service.access import AccountProfile, AccountProfiles
from trading.service.account import TradingAccount, Turn
from trading.service.documents import encode_signals
from trading.service.ports import (
    AccountRepository,
    NewRun,
    ObjectNotFoundError,
    ObjectStore,
    Quote,
    QuoteStore,
    RunRepository,
)
from trading.service.requests import IngestRequest, MarketDataRef
from trading.service.steps import (
    PROCESS_MARKET_DATA,
    Clock,
    StepTimer,
    iso,
    run_settings,
    utc_now,
)
from trading.service.turns import TURN_WAIT_SECONDS, wait_for_turn

CSV_TYPE = "text/csv; charset=utf-8"
JSONL_TYPE = "application/x-ndjson"
JSON_TYPE = "application/json"
FUTURE_TOLERANCE_SECONDS = 86_400
"""How far after now a bar may be stamped: a daily bar stamped with the end of its session,
a feed whose clock runs ahead of ours. Anything later cannot be a real bar yet."""


def latest_allowed(moment_ns: int) -> int:
    """The latest timestamp (epoch ns) a bar checked at ``moment_ns`` may have."""
    return moment_ns + FUTURE_TOLERANCE_SECONDS * 10**9


def run_feed(key: str, account: str | None) -> str | None:
    """The data source a run's bars quote in: the account the run belongs to (see
    :func:`keys.run_owner`), None for the operator's. Raises ``InvalidRunConfigError`` when
    the settings trade an account other than the one whose folder the object is in."""
    try:
        return keys.run_owner(key, account)
    except keys.AccountMismatchError as error:
        raise InvalidRunConfigError(str(error)) from None


def _config_account(config: Mapping[str, object] | None) -> str | None:
    account = (config or {}).get("account")
    return account if isinstance(account, str) else None


def process_market_data(
    request: IngestRequest,
    *,
    objects: ObjectStore,
    runs: RunRepository,
    quotes: QuoteStore,
    accounts: AccountRepository,
    profiles: AccountProfiles,
    output_bucket: str,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    turn_wait_seconds: float = TURN_WAIT_SECONDS,
) -> MarketDataRef:
    """Run the ProcessMarketData step for ``request``; outputs go to ``output_bucket``.

    Raises ``MarketDataUnreadableError`` when the object is missing, cannot be parsed at all or
    has no valid bar, ``InvalidRunConfigError`` when a setting is invalid (or the strategy
    cannot be loaded), ``StrategyFailedError`` when the strategy raised,
    ``StaleMarketDataError`` when a live account has seen every bar already,
    ``TradingHaltedError`` when the registered account the run belongs to (its folder's or
    its settings') has its kill switch on, and ``TransientStoreError`` when a live account's
    earlier runs keep it busy. Safe to retry:
    every write replaces the same keys with the same content.
    """
    timer = StepTimer(PROCESS_MARKET_DATA, clock)
    run_id = request.run_id
    record = runs.start(
        NewRun(
            run_id=run_id,
            source_bucket=request.bucket,
            source_key=request.key,
            source=request.source,
            config=request.config,
            created_at=timer.started_at,
            account=keys.account_of(request.key) or _config_account(request.config),
        )
    )
    where = f"s3://{request.bucket}/{request.key}"
    try:
        raw = objects.open(request.bucket, request.key)
    except ObjectNotFoundError:
        raise MarketDataUnreadableError(f"{where} does not exist") from None
    settings = run_settings(raw.metadata, request.config)
    feed = run_feed(request.key, settings.account)
    profile = _registered(feed, profiles, where)
    if profile is not None and settings.account == profile.account_id:
        # A live run of a registered account trades on the account's own cash, mode, costs
        # and margin, whatever the file's metadata says (an operator's upload, or a link
        # issued before an admin changed them).
        fixed = profile.run_settings()
        settings = run_settings(raw.metadata, {**(request.config or {}), **fixed})
    elif profile is not None:
        # A backtest on the account's data starts from its costs and margin; the file's
        # metadata and the start's settings may try others (it trades nothing).
        own = profile.settings.own_costs_and_margin()
        if own:
            settings = run_settings(raw.metadata, request.config, defaults=own)
    # One symbol names a file without a symbol column; several can only filter one with it.
    default_symbol = settings.symbols[0] if len(settings.symbols) == 1 else None
    try:
        # The parser only calls read(): an S3 body streams straight in, chunk by chunk.
        parsed = parse_market_data(
            cast(BinaryIO, raw.body),
            name=request.key,
            symbol=default_symbol,
            not_after=latest_allowed(int(timer.started.timestamp() * 10**9)),
        )
    except MarketDataError as error:
        raise MarketDataUnreadableError(f"{where}: {error}") from None

    rejected_key = None
    if parsed.errors:
        rejected_key = keys.rejected_key(run_id, request.key)
        objects.write(output_bucket, rejected_key, rejected_rows_jsonl(parsed.errors), JSONL_TYPE)
    repaired_key = None
    if parsed.repairs:
        repaired_key = keys.repaired_key(run_id, request.key)
        objects.write(output_bucket, repaired_key, repaired_rows_jsonl(parsed.repairs), JSONL_TYPE)
    if not parsed.rows_kept:
        detail = f"see s3://{output_bucket}/{rejected_key}" if rejected_key else "no data rows"
        raise MarketDataUnreadableError(
            f"{where}: no valid bar in {parsed.rows_read} row(s) ({detail})"
        )
    first, last = settings.period()
    try:
        chosen = select_bars(parsed.series, symbols=settings.symbols)
        adjusted = None
        adjustments_key = None
        if settings.corporate_actions is not None:
            # The run's symbols, adjusted over the whole file: the period does not move prices.
            adjusted = _adjusted(objects, request.bucket, settings.corporate_actions, chosen)
            adjustments_key = keys.adjustments_key(run_id)
            objects.write(output_bucket, adjustments_key, _adjustments_json(adjusted), JSON_TYPE)
            chosen = adjusted.series
        chosen = select_bars(chosen, first=first, last=last)
    except SelectionError as error:
        raise InvalidRunConfigError(f"{where}: {error}") from None
    bars_used = sum(len(bars) for bars in chosen.values())
    strategy = settings.build_strategy()
    series = chosen
    carried: dict[str, int] = {}
    live = settings.account is not None
    turn = history_key = None
    after: dict[str, int] = {}
    stale: dict[str, int] = {}
    warnings: list[str] = []
    if settings.account is not None:
        turn = Turn(str(record.get("created_at") or timer.started_at), run_id)
        account = wait_for_turn(
            settings.account,
            turn,
            accounts=accounts,
            runs=runs,
            clock=clock,
            sleep=sleep,
            wait_seconds=turn_wait_seconds,
        )
        chosen, stale, warnings = _new_bars(chosen, account)
        if not chosen:
            raise StaleMarketDataError(
                f"{where}: all {bars_used} bar(s) are at or before the last bar account "
                f"{settings.account} processed: nothing new to trade ({'; '.join(warnings)})"
            )
        after = {s: account.last_ts[s] for s in chosen if s in account.last_ts}
        series, carried = _with_history(objects, output_bucket, account, chosen)
        tails = {
            symbol: bars.slice(max(0, len(bars) - history_bars(strategy.warmup)), len(bars))
            for symbol, bars in series.items()
        }
        history_key = keys.history_key(settings.account, run_id)
        objects.write(output_bucket, history_key, series_to_csv(tails), CSV_TYPE)
    curated_key = keys.curated_key(run_id)
    objects.write(output_bucket, curated_key, series_to_csv(series), CSV_TYPE)

    if not live:  # a live run's quotes wait for its commit (ExecuteTrades)
        quotes.put_latest([latest_quote(bars, run_id) for bars in parsed.series.values()], feed)

    document, signal_count = _signals_document(strategy, series, carried)
    signals_key = keys.signals_key(run_id)
    objects.write(output_bucket, signals_key, document, JSON_TYPE)

    symbols = tuple(sorted(chosen))
    begins = min(int(bars.ts[0]) for bars in chosen.values())
    ends = max(int(bars.ts[-1]) for bars in chosen.values())
    bars_stale = sum(stale.values())
    summary = {
        "bars_accepted": parsed.rows_kept,
        "bars_rejected": parsed.rows_rejected,
        "bars_repaired": parsed.rows_repaired,
        "bars_excluded": parsed.rows_kept - bars_used,
        "bars_adjusted": 0 if adjusted is None else adjusted.bars_adjusted,
        "bars_stale": bars_stale,
        "rows_read": parsed.rows_read,
        "format": parsed.format,
        "symbols": list(symbols),
        "signal_count": signal_count,
        "start": ts_to_iso(begins),
        "end": ts_to_iso(ends),
    }
    runs.record_step(
        run_id,
        timer.record(summary),
        {
            "settings": settings.to_dict(),
            "curated_key": curated_key,
            "rejected_key": rejected_key,
            "repaired_key": repaired_key,
            "adjustments_key": adjustments_key,
            "bars_accepted": parsed.rows_kept,
            "bars_rejected": parsed.rows_rejected,
            "bars_repaired": parsed.rows_repaired,
            "bars_stale": bars_stale,
            "warnings": warnings,
            "symbols": list(symbols),
            "updated_at": iso(clock()),
        },
    )
    return MarketDataRef(
        run_id=run_id,
        bucket=output_bucket,
        curated_key=curated_key,
        rejected_key=rejected_key,
        signals_key=signals_key,
        signal_count=signal_count,
        bars_accepted=parsed.rows_kept,
        bars_rejected=parsed.rows_rejected,
        symbols=symbols,
        config=settings.to_dict(),
        repaired_key=repaired_key,
        bars_repaired=parsed.rows_repaired,
        bars_excluded=parsed.rows_kept - bars_used,
        adjustments_key=adjustments_key,
        bars_stale=bars_stale,
        history_key=history_key,
        turn=turn.arrived_at if turn is not None else None,
        after=after,
    )


def _registered(
    account: str | None, profiles: AccountProfiles, where: str
) -> AccountProfile | None:
    """The profile of ``account`` when it is registered. Raises ``TradingHaltedError`` when
    its kill switch is on: checked before the file's bars are parsed, so a halted account's
    upload (an operator's ``aws s3 cp`` included, which no API check sees) applies nothing;
    the raw object stays where it is."""
    if account is None:
        return None
    profile = profiles.profile(account)
    if profile is not None and profile.halted:
        raise TradingHaltedError(
            f"trading is halted in account {account!r} (TRADING_HALTED): {where} is kept and "
            "nothing of it was applied; once an admin turns the kill switch off "
            f"(PUT /admin/accounts/{account}/kill-switch), upload it again"
        )
    return profile


def _signals_document(
    strategy: Strategy, series: Mapping[str, BarSeries], carried: Mapping[str, int]
) -> tuple[bytes, int]:
    """The signals document and its count. A signal strategy's signals (those of a live
    account's kept history zeroed: earlier runs acted on them); for the bar-by-bar forms an
    empty document, counting the bars the strategy acts on (its targets are computed here,
    so a strategy that fails, fails before ExecuteTrades)."""
    try:
        if isinstance(strategy, SignalStrategy):
            signals = compute_signals(strategy, series)
            for symbol, count in carried.items():
                signals[symbol][:count] = 0
            return encode_signals(series, signals, strategy.describe())
        new_bars = {s: bars.slice(carried.get(s, 0), len(bars)) for s, bars in series.items()}
        decisions = decision_count(strategy, series if strategy.form != "events" else new_bars)
    except StrategyRuntimeError as error:
        raise StrategyFailedError(str(error)) from None
    empty = {s: np.zeros(len(bars), dtype=np.int8) for s, bars in series.items()}
    document, _ = encode_signals(series, empty, strategy.describe())
    return document, decisions


def _adjusted(
    objects: ObjectStore, bucket: str, key: str, series: Mapping[str, BarSeries]
) -> AdjustedSeries:
    """``series`` back-adjusted by the corporate actions file at ``key`` (the raw object and
    the raw series stay as they are). A missing or bad file is the run's settings' fault."""
    where = f"s3://{bucket}/{key}"
    try:
        actions = parse_corporate_actions(objects.read(bucket, key), name=where)
        return apply_corporate_actions(series, actions)
    except ObjectNotFoundError:
        raise InvalidRunConfigError(f"corporate actions {where} does not exist") from None
    except CorporateActionsError as error:
        raise InvalidRunConfigError(str(error)) from None


def _adjustments_json(adjusted: AdjustedSeries) -> bytes:
    return json.dumps(
        {
            "applied": [adjustment.to_dict() for adjustment in adjusted.applied],
            "skipped": [skipped.to_dict() for skipped in adjusted.skipped],
            "bars_adjusted": adjusted.bars_adjusted,
        },
        indent=1,
    ).encode("utf-8")


def history_bars(warmup: int) -> int:
    """Bars of history a live account keeps per symbol for a strategy with this warm-up.

    Ten warm-ups (at least 250 bars): windowed indicators (SMA) need only their window, so
    their signals equal a backtest's exactly; recursive ones (Wilder's RSI) converge within it.
    """
    return max(10 * warmup, 250)


def _new_bars(
    chosen: Mapping[str, BarSeries], account: TradingAccount
) -> tuple[dict[str, BarSeries], dict[str, int], list[str]]:
    """The bars after the last one the account processed, per symbol; how many were not
    (stale), and a warning for each symbol that had some."""
    fresh: dict[str, BarSeries] = {}
    stale: dict[str, int] = {}
    warnings: list[str] = []
    for symbol, bars in chosen.items():
        last = account.last_ts.get(symbol)
        first_new = 0 if last is None else int(np.searchsorted(bars.ts, last, side="right"))
        if first_new:
            stale[symbol] = first_new
            warnings.append(
                f"{first_new} bar(s) of {symbol} ({ts_to_iso(int(bars.ts[0]))} to "
                f"{ts_to_iso(int(bars.ts[first_new - 1]))}) skipped: at or before "
                f"{ts_to_iso(last or 0)}, the last bar account {account.account_id} processed"
            )
        if first_new < len(bars):
            fresh[symbol] = bars.slice(first_new, len(bars))
    return fresh, stale, warnings


def _with_history(
    objects: ObjectStore, bucket: str, account: TradingAccount, new: Mapping[str, BarSeries]
) -> tuple[dict[str, BarSeries], dict[str, int]]:
    """``new`` preceded by the account's kept bars older than each symbol's first new bar,
    and how many kept bars each symbol got. Each symbol's bars are in the object its last
    committed run wrote (one read per object, however many symbols it holds)."""
    kept: dict[str, BarSeries] = {}
    for key in sorted({account.history[s] for s in new if s in account.history}):
        try:
            found = parse_market_data(objects.read(bucket, key), name=key).series
        except ObjectNotFoundError:
            raise MarketDataUnreadableError(
                f"s3://{bucket}/{key}, the recent bars of account {account.account_id}, "
                "does not exist"
            ) from None
        kept.update((s, found[s]) for s in new if account.history.get(s) == key and s in found)
    merged: dict[str, BarSeries] = {}
    carried: dict[str, int] = {}
    for symbol, bars in new.items():
        history = kept.get(symbol)
        count = 0 if history is None else int(np.searchsorted(history.ts, bars.ts[0]))
        if history is not None and count:
            merged[symbol] = BarSeries.concat([history.slice(0, count), bars])
        else:
            merged[symbol] = bars
        carried[symbol] = count
    return merged, carried


def latest_quote(bars: BarSeries, run_id: str) -> Quote:
    """The quote of ``bars``' last bar, seen by run ``run_id``."""
    return Quote(bars.bar(len(bars) - 1), run_id)
