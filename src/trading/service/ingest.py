"""ProcessMarketData: validate an uploaded market data file and prepare the run's inputs.

Reads the raw object (never modifying it), resolves the run settings from its metadata and the
start's ``config``, writes the curated bars and the rejected rows with their reasons, keeps the
latest bar per symbol, computes the strategy's signals and records the step::

    outcome = process_market_data(request, objects=..., runs=..., quotes=...,
                                  output_bucket="market-data")
    outcome.to_payload()  # what the workflow carries to the next step (small: keys, counts)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from trading.errors import InvalidRunConfigError, MarketDataUnreadableError, StrategyFailedError
from trading.sdk.base import SignalStrategy, Strategy
from trading.sdk.compute import compute_signals
from trading.sdk.drive import decision_count
from trading.sdk.errors import StrategyRuntimeError
from trading.service import keys
from trading.service.documents import encode_signals
from trading.service.ports import (
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

CSV_TYPE = "text/csv; charset=utf-8"
JSONL_TYPE = "application/x-ndjson"
JSON_TYPE = "application/json"


def process_market_data(
    request: IngestRequest,
    *,
    objects: ObjectStore,
    runs: RunRepository,
    quotes: QuoteStore,
    output_bucket: str,
    clock: Clock = utc_now,
) -> MarketDataRef:
    """Run the ProcessMarketData step for ``request``; outputs go to ``output_bucket``.

    Raises ``MarketDataUnreadableError`` when the object is missing, cannot be parsed at all or
    has no valid bar, ``InvalidRunConfigError`` when a setting is invalid (or the strategy
    cannot be loaded) and ``StrategyFailedError`` when the strategy raised. Safe to retry:
    every write replaces the same keys with the same content.
    """
    timer = StepTimer(PROCESS_MARKET_DATA, clock)
    run_id = request.run_id
    runs.start(
        NewRun(
            run_id=run_id,
            source_bucket=request.bucket,
            source_key=request.key,
            source=request.source,
            config=request.config,
            created_at=timer.started_at,
        )
    )
    where = f"s3://{request.bucket}/{request.key}"
    try:
        raw = objects.open(request.bucket, request.key)
    except ObjectNotFoundError:
        raise MarketDataUnreadableError(f"{where} does not exist") from None
    settings = run_settings(raw.metadata, request.config)
    # One symbol names a file without a symbol column; several can only filter one with it.
    default_symbol = settings.symbols[0] if len(settings.symbols) == 1 else None
    try:
        # The parser only calls read(): an S3 body streams straight in, chunk by chunk.
        parsed = parse_market_data(
            cast(BinaryIO, raw.body), name=request.key, symbol=default_symbol
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
    if settings.account is not None:
        series, carried = _with_history(objects, output_bucket, settings.account, series)
        tails = {
            symbol: bars.slice(max(0, len(bars) - history_bars(strategy.warmup)), len(bars))
            for symbol, bars in series.items()
        }
        objects.write(
            output_bucket, keys.history_key(settings.account), series_to_csv(tails), CSV_TYPE
        )
    curated_key = keys.curated_key(run_id)
    objects.write(output_bucket, curated_key, series_to_csv(series), CSV_TYPE)

    quotes.put_latest([_latest_quote(bars, run_id) for bars in parsed.series.values()])

    document, signal_count = _signals_document(strategy, series, carried)
    signals_key = keys.signals_key(run_id)
    objects.write(output_bucket, signals_key, document, JSON_TYPE)

    symbols = tuple(sorted(chosen))
    begins = min(int(bars.ts[0]) for bars in chosen.values())
    ends = max(int(bars.ts[-1]) for bars in chosen.values())
    summary = {
        "bars_accepted": parsed.rows_kept,
        "bars_rejected": parsed.rows_rejected,
        "bars_repaired": parsed.rows_repaired,
        "bars_excluded": parsed.rows_kept - bars_used,
        "bars_adjusted": 0 if adjusted is None else adjusted.bars_adjusted,
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
    )


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


def _with_history(
    objects: ObjectStore, bucket: str, account: str, new: Mapping[str, BarSeries]
) -> tuple[dict[str, BarSeries], dict[str, int]]:
    """``new`` preceded by the account's kept bars older than each symbol's first new bar,
    and how many kept bars each symbol got."""
    try:
        history_key = keys.history_key(account)
        kept = parse_market_data(objects.read(bucket, history_key), name=history_key).series
    except ObjectNotFoundError:
        return dict(new), {}
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


def _latest_quote(bars: BarSeries, run_id: str) -> Quote:
    return Quote(bars.bar(len(bars) - 1), run_id)
