"""The execution engine: signals → orders → paper fills → cash, positions and equity per bar.

Two execution paths give the same result. The columnar path
(:mod:`trading.core.execution.columnar`) keeps orders, fills and trades as rows and is taken
whenever the run allows it; the broker path drives the :class:`PaperBroker` that also serves
live paper trading and the API, one order object at a time, and is the reference. The result
says which path ran (and why the broker's). Both only visit the bars where something can
happen (a signal, or a bar where an open order of that symbol can fill: found with a
vectorised look-ahead for limits and stops), in timestamp order across symbols (ties: by
symbol name), and the equity curve is rebuilt for every bar with numpy. The state is plain
data: running N bars in k chunks, restoring the state in between, gives exactly the result of
one run over the N bars.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from trading.core.bars import BarSeries, BoolArray, FloatArray, IntArray, SignalArray
from trading.core.config import RunConfig
from trading.core.execution import AttachedExits, PaperBroker
from trading.core.execution.broker import broker_state
from trading.core.execution.columnar import ColumnarReplay, unsupported
from trading.core.execution.margin import FORCED
from trading.core.ledger import (
    BROKER_PATH,
    COLUMNAR_PATH,
    Ledger,
    Records,
    TradeColumns,
    trade_from_row,
)
from trading.core.margin_watch import MarginWatch, watched
from trading.core.model import Account, Bar, Fill, Order, Side, Trade
from trading.core.portfolio import Portfolio
from trading.core.signal_orders import entry_exits, signal_orders
from trading.core.strategies import BUY


@dataclass(slots=True)
class EngineState:
    """What a run leaves for the next one: the broker's state and, per symbol, the timestamp
    of the last bar processed and how many bars were processed in all (bar numbering)."""

    broker: dict[str, Any]
    last_ts: dict[str, int]
    bars_seen: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {
            "broker": self.broker,
            "last_ts": dict(self.last_ts),
            "bars_seen": dict(self.bars_seen),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            broker=dict(data["broker"]),
            last_ts={k: int(v) for k, v in data["last_ts"].items()},
            bars_seen={k: int(v) for k, v in data["bars_seen"].items()},
        )


@dataclass(slots=True)
class EngineResult:
    """What one run produced, for the bars it processed."""

    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    in_market: BoolArray
    orders: Sequence[Order]
    carried_orders: list[Order]  # open at the start (from the state), as they are now
    fills: Sequence[Fill]
    trades: Sequence[Trade]
    open_trades: list[Trade]
    state: EngineState
    positions: dict[str, FloatArray]
    # Which execution path ran ("columnar" or "broker"), and why the broker's when it did.
    path: str = "broker"
    path_reason: str | None = None
    # The margin calls of the run (time, equity, long and short value, requirement at the
    # close that breached) and the account's ruin (None: not ruined), as plain data.
    margin_calls: list[dict[str, Any]] | None = None
    ruin: dict[str, Any] | None = None

    def trade_columns(self) -> TradeColumns:
        """The columns of the trades metrics score: closed ones, then marked-open ones."""
        symbols = list(self.positions)  # every symbol of the run
        only = symbols[0] if len(symbols) == 1 else None
        return TradeColumns.of_run(self.trades, self.open_trades, only)


def run_engine(
    series: Mapping[str, BarSeries],
    signals: Mapping[str, SignalArray],
    config: RunConfig,
    state: EngineState | None = None,
    *,
    path: str = "auto",
) -> EngineResult:
    """Execute ``signals`` over the bars of ``series`` not yet processed according to ``state``.

    ``series[s]`` holds bars of symbol ``s`` (enough history for its signals, then the new
    bars), ``signals[s]`` one signal per bar of it. Bars at or before ``state.last_ts[s]`` were
    handled by an earlier run and are skipped. Bar numbers (``Trade.entry_bar``...) count every
    bar processed for the symbol across runs.

    ``path``: ``"auto"`` takes the columnar path unless the run needs the broker's (see
    :func:`~trading.core.execution.columnar.unsupported`); ``"broker"`` always takes the
    broker's; ``"columnar"`` raises ``ValueError`` naming what it does not cover.
    """
    with _collector_paused():
        return _run(series, signals, config, state, path)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a run.

    A run allocates hundreds of thousands of small acyclic objects (orders, fills, trades);
    the collector would rescan them again and again (about a third of a run's time) and can
    free nothing: reference counting already reclaims them.

    Afterwards the objects the run left (the result's orders, fills and trades: long-lived)
    move straight to the oldest generation: re-enabled as it was, the collector's next young
    collection would otherwise scan all of them at once (about a tenth of a run), then again
    in the middle generation. Skipped when objects are already frozen (a pre-fork server's
    ``gc.freeze()``), which the move would undo.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()  # every tracked object to the permanent generation...
                gc.unfreeze()  # ...and back, into the oldest one: no scan
            gc.enable()


_BUY = Side.BUY
_SELL = Side.SELL

AUTO_PATH = "auto"
PATHS = (AUTO_PATH, BROKER_PATH, COLUMNAR_PATH)


def _run(
    series: Mapping[str, BarSeries],
    signals: Mapping[str, SignalArray],
    config: RunConfig,
    state: EngineState | None,
    path: str,
) -> EngineResult:
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, got {path!r}")
    symbols = sorted(series)
    for symbol in symbols:
        if signals[symbol].shape[0] != len(series[symbol]):
            raise ValueError(
                f"{symbol}: {signals[symbol].shape[0]} signals for {len(series[symbol])} bars"
            )
    starts = {s: _first_new_bar(series[s], state) for s in symbols}
    offsets = {s: (state.bars_seen.get(s, 0) if state else 0) - starts[s] for s in symbols}
    timeline = _timeline(series, starts)
    wheres = {s: _positions(series[s].ts[starts[s] :], timeline) for s in symbols}
    carried = len(state.broker["open_orders"]) if state is not None else 0
    reason = unsupported(config, carried)
    if path == COLUMNAR_PATH and reason is not None:
        raise ValueError(f"the columnar path does not cover this run: {reason}")
    if path == BROKER_PATH:
        reason = "the broker path was asked for"
    account = (
        Account.from_dict(state.broker["account"])
        if state is not None
        else Account(cash=config.initial_cash, initial_cash=config.initial_cash)
    )
    initial_cash = account.cash
    initial_qty = {
        s: account.positions[s].quantity if s in account.positions else 0 for s in symbols
    }
    watch = _watch(config, account, series, symbols, starts, wheres, timeline)
    if watch is not None and state is not None:
        # A margin call whose orders an earlier run left open is still being met.
        watch.liquidating = any(
            order.get("exit_kind") in FORCED for order in state.broker["open_orders"]
        )
    if reason is None:
        replay = ColumnarReplay(
            config,
            account,
            state.broker["sequence"] if state is not None else 0,
            state.broker["id_prefix"] if state is not None else config.id_prefix,
            watch,
        )
        for symbol in symbols:
            replay.add(
                series[symbol], signals[symbol], starts[symbol], offsets[symbol], wheres[symbol]
            )
        replay.run()
        ledger = Ledger(
            path=COLUMNAR_PATH,
            account=account,
            orders=Records(replay.order_rows, replay.make_order),
            carried_orders=[],
            fills=Records(replay.fill_rows, replay.make_fill),
            trades=Records(replay.trade_rows, trade_from_row),
            open_orders=replay.open_orders(),
            sequence=replay.sequence,
            id_prefix=replay.id_prefix,
            cash_changes=replay.cash_changes,
            qty_changes=replay.quantity_changes(),
        )
    else:
        feeds = [
            _Feed(series[s], signals[s], starts[s], offsets[s], wheres[s], rank)
            for rank, s in enumerate(symbols)
        ]
        ledger = _replay_broker(feeds, config, state, account, watch, timeline)
    if watch is not None:
        watch.release()  # before the result's arrays: the run's peak memory
    result = _result(
        ledger,
        reason,
        series,
        symbols,
        starts,
        offsets,
        timeline,
        wheres,
        state,
        initial_cash,
        initial_qty,
        watch,
    )
    # The cash and quantity changes live on in the result's arrays; the columnar path's rows
    # (which the result's orders, fills and trades read) would otherwise keep them alive too.
    ledger.cash_changes.clear()
    for changes in ledger.qty_changes.values():
        changes.clear()
    return result


def _watch(
    config: RunConfig,
    account: Account,
    series: Mapping[str, BarSeries],
    symbols: list[str],
    starts: Mapping[str, int],
    wheres: Mapping[str, IntArray],
    timeline: IntArray,
) -> MarginWatch | None:
    """The run's margin watch, or None when no close can breach and buying power is cash
    (long-only, unlevered, no short or loan carried in: :func:`watched`)."""
    if not watched(config, account):
        return None
    priors = {}
    for symbol in symbols:
        bars, start = series[symbol], starts[symbol]
        held = account.positions.get(symbol)
        before = float(bars.close[start - 1]) if start > 0 else (held.last_price if held else 0.0)
        marks = _marks(bars, start, wheres[symbol], len(timeline), account)
        priors[symbol] = np.concatenate([[before], marks])
    return MarginWatch(config.margin, account, timeline, priors)


def _replay_broker(
    feeds: list[_Feed],
    config: RunConfig,
    state: EngineState | None,
    account: Account,
    watch: MarginWatch | None,
    timeline: IntArray,
) -> Ledger:
    """The signals of ``feeds`` through the paper broker, one order object at a time."""
    broker = _broker(config, account, state)
    cash_changes: list[tuple[int, float]] = []
    qty_changes: dict[str, list[tuple[int, float]]] = {f.symbol: [] for f in feeds}
    queue: list[tuple[int, int, int]] = []
    for feed in feeds:
        feed.schedule(queue, feed.start - 1, broker)
    # Margin events sort after every symbol's bar of their timeline position (rank n).
    account_rank = len(feeds)
    if watch is not None:
        broker.price_of = watch.price_of
        _queue_margin_event(queue, watch, 0, account_rank, True)
    while queue:
        pos, rank, index = heapq.heappop(queue)
        if rank == account_rank:
            assert watch is not None
            if index == watch.generation:
                _margin_event(broker, feeds, queue, watch, pos, account_rank)
            continue
        feed = feeds[rank]
        if index <= feed.visited:
            continue  # queued twice (a margin call's orders asked for an earlier visit)
        feed.visited = index
        symbol = feed.symbol
        bar = feed.bar(index)
        number = index + feed.offset
        fills_before = len(broker.fills)
        if watch is not None:
            watch.at = pos
        if broker.has_open_orders(symbol):
            broker.on_bar(bar, number)
        signal = feed.signals.item(index)
        if signal and (watch is None or not watch.halted):
            exits = config.exits if config.trailing_atr is None else feed.entry_exits(config, index)
            _act(broker, config, symbol, signal, bar, number, exits)
        if len(broker.fills) != fills_before:  # cash and positions only move on fills
            cash_changes.append((pos, account.cash))
            qty_changes[symbol].append((pos, broker.portfolio.position(symbol)))
            if watch is not None:
                watch.settled()
                _queue_margin_event(queue, watch, pos, account_rank, True)
        feed.schedule(queue, index, broker)
    return Ledger.of_broker(broker, account, cash_changes, qty_changes)


def _queue_margin_event(
    queue: list[tuple[int, int, int]], watch: MarginWatch, begin: int, rank: int, fresh: bool
) -> None:
    """Queue the watch's next event from timeline position ``begin`` (after the symbols'
    bars there; tagged with the watch's generation, so a later change makes it stale)."""
    event = watch.next_event(begin, fresh)
    if event is not None:
        heapq.heappush(queue, (event[0], rank, watch.generation))
        watch.pending = event[1]


def _margin_event(
    broker: PaperBroker,
    feeds: list[_Feed],
    queue: list[tuple[int, int, int]],
    watch: MarginWatch,
    pos: int,
    rank: int,
) -> None:
    """A margin event at the close of timeline position ``pos``: continue the look-ahead, or
    act on a breach: the working orders that are not exits are cancelled and every position
    gets the account's closing order, filled at its symbol's next open."""
    kind = watch.pending
    if kind is None:
        _queue_margin_event(queue, watch, pos, rank, False)
        return
    watch.breach(pos, kind)
    ts = int(watch.timeline[pos])
    for order in list(broker.open_orders.values()):
        if order.parent_id is None and order.exit_kind is None:
            broker.cancel(order.order_id)
    for feed in feeds:
        if broker.force_close(feed.symbol, ts, kind) is not None:
            after = int(np.searchsorted(feed.ts, ts, side="right")) - 1
            feed.schedule(queue, max(after, feed.visited, feed.start - 1), broker)
    _queue_margin_event(queue, watch, pos + 1, rank, True)


def _result(
    ledger: Ledger,
    reason: str | None,
    series: Mapping[str, BarSeries],
    symbols: list[str],
    starts: Mapping[str, int],
    offsets: Mapping[str, int],
    timeline: IntArray,
    wheres: Mapping[str, IntArray],
    state: EngineState | None,
    initial_cash: float,
    initial_qty: Mapping[str, float],
    watch: MarginWatch | None = None,
) -> EngineResult:
    """The engine's result from what an execution path left: equity and positions rebuilt
    for every bar of the timeline, open round trips marked, the state for the next run."""
    account = ledger.account
    portfolio = Portfolio(account)
    for symbol in symbols:
        if len(series[symbol]) > starts[symbol]:
            portfolio.mark(symbol, float(series[symbol].close[-1]))
    cash = _step(len(timeline), initial_cash, ledger.cash_changes)
    equity: FloatArray | None = None
    held = {}
    in_market = np.zeros(len(timeline), dtype=bool)
    for symbol in symbols:
        qty = _step(len(timeline), float(initial_qty[symbol]), ledger.qty_changes[symbol])
        held[symbol] = qty
        if not qty.any():
            continue
        marks = _marks(series[symbol], starts[symbol], wheres[symbol], len(timeline), account)
        value = qty * marks
        if equity is None:  # cash + value, in the first value's array (one array less)
            value += cash
            equity = value
        else:
            equity += value
        in_market |= qty != 0
    if equity is None:
        equity = cash.copy()
    last_ts = {s: int(series[s].ts[-1]) for s in symbols if len(series[s])}
    last_bar = {s: len(series[s]) - 1 + offsets[s] for s in symbols}
    seen = dict(state.bars_seen) if state else {}
    last = dict(state.last_ts) if state else {}
    for symbol in symbols:
        seen[symbol] = len(series[symbol]) + offsets[symbol]
        if len(series[symbol]):
            last[symbol] = max(last.get(symbol, -(2**63)), int(series[symbol].ts[-1]))
    broker = broker_state(account, ledger.open_orders, ledger.sequence, ledger.id_prefix)
    return EngineResult(
        ts=timeline,
        equity=equity,
        cash=cash,
        in_market=in_market,
        orders=ledger.orders,
        carried_orders=ledger.carried_orders,
        fills=ledger.fills,
        trades=ledger.trades,
        open_trades=portfolio.open_trades(last_ts, last_bar),
        state=EngineState(broker=broker, last_ts=last, bars_seen=seen),
        positions=held,
        path=ledger.path,
        path_reason=reason,
        margin_calls=list(watch.calls) if watch is not None else [],
        ruin=dict(account.ruin) if account.ruin is not None else None,
    )


def _positions(own: IntArray, timeline: IntArray) -> IntArray:
    """Where each of a symbol's bars sits on the timeline."""
    # Alone on the timeline, a symbol's bar k is timeline position k: no search needed.
    if own.shape == timeline.shape:
        return np.arange(own.shape[0])
    return np.searchsorted(timeline, own)


class _Feed:
    """One symbol's bars and signals, and where its next interesting bar is."""

    __slots__ = (
        "atr",
        "close",
        "cursor",
        "high",
        "length",
        "low",
        "offset",
        "open",
        "rank",
        "signal_bars",
        "signals",
        "start",
        "symbol",
        "ts",
        "visited",
        "volume",
        "where",
    )

    def __init__(
        self,
        bars: BarSeries,
        signals: SignalArray,
        start: int,
        offset: int,
        where: IntArray,
        rank: int,
    ) -> None:
        self.symbol = bars.symbol
        self.rank = rank
        self.start = start
        self.offset = offset
        self.length = len(bars)
        self.ts, self.open, self.high = bars.ts, bars.open, bars.high
        self.low, self.close, self.volume = bars.low, bars.close, bars.volume
        self.signals = signals
        # ATR for trailing stops at a multiple of it (computed only when configured).
        self.atr: FloatArray | None = None
        self.signal_bars: list[int] = (np.flatnonzero(signals[start:]) + start).tolist()
        self.cursor = 0
        self.where = where
        self.visited = start - 1  # the last bar processed

    def entry_exits(self, config: RunConfig, index: int) -> AttachedExits | None:
        """The exits an entry on bar ``index`` carries (:func:`entry_exits` with this
        symbol's ATR of that bar)."""
        if config.trailing_atr is None:
            return config.exits
        if self.atr is None:
            from trading.core.indicators import atr

            self.atr = atr(self.high, self.low, self.close, config.atr_period)
        return entry_exits(config, self.atr.item(index))

    def bar(self, index: int) -> Bar:
        """Bar ``index`` as plain Python values."""
        return Bar(
            self.symbol,
            self.ts.item(index),
            self.open.item(index),
            self.high.item(index),
            self.low.item(index),
            self.close.item(index),
            self.volume.item(index),
        )

    def schedule(self, queue: list[tuple[int, int, int]], after: int, broker: PaperBroker) -> None:
        """Queue the next bar after ``after`` where something can happen: the next signal, or
        an earlier bar where a working order can fill (the next bar for market and DAY orders
        and trailing stops; for limits and stops the first bar whose range reaches them)."""
        levels = broker.trigger_levels(self.symbol)
        if levels is None:
            nxt = after + 1
        else:
            bars = self.signal_bars
            k = self.cursor
            while k < len(bars) and bars[k] <= after:
                k += 1
            self.cursor = k
            nxt = bars[k] if k < len(bars) else self.length
            if levels:
                nxt = self.first_touch(after + 1, nxt, *levels)
        if nxt < self.length:
            heapq.heappush(queue, (self.where.item(nxt - self.start), self.rank, nxt))

    def first_touch(self, begin: int, end: int, low_wake: float, high_wake: float) -> int:
        """The first bar in [begin, end) whose low is at or below ``low_wake`` or whose high is
        at or above ``high_wake``; ``end`` when none. Scans in growing windows: a stop near
        the price costs a few comparisons, a far one a few vectorised passes."""
        # The first bars one by one, in two steps (8 then 32 bars): a stop near the price is
        # usually reached within a few, and a numpy pass costs more than dozens of plain
        # comparisons.
        for size in (8, 32):
            near = min(end, begin + size)
            lows, highs = self.low[begin:near].tolist(), self.high[begin:near].tolist()
            for k, low in enumerate(lows):
                if low <= low_wake or highs[k] >= high_wake:
                    return begin + k
            begin += size
            if begin >= end:
                return end
        window = 64
        while begin < end:
            stop = min(end, begin + window)
            hit = np.flatnonzero(
                (self.low[begin:stop] <= low_wake) | (self.high[begin:stop] >= high_wake)
            )
            if hit.shape[0]:
                return begin + int(hit[0])
            begin = stop
            window *= 8
        return end


def _broker(config: RunConfig, account: Account, state: EngineState | None) -> PaperBroker:
    """The paper broker of a run, on ``account`` (fresh, or the state's)."""
    if state is None:
        return PaperBroker(
            Portfolio(account),
            config.execution,
            config.risk_limits(),
            id_prefix=config.id_prefix,
            margin=config.margin,
        )
    broker = PaperBroker.from_state(
        state.broker, config.execution, config.risk_limits(), config.margin
    )
    broker.portfolio.account = account
    return broker


def _first_new_bar(bars: BarSeries, state: EngineState | None) -> int:
    """Index of the first bar of ``bars`` after the last one an earlier run processed."""
    if state is None or bars.symbol not in state.last_ts:
        return 0
    return int(np.searchsorted(bars.ts, state.last_ts[bars.symbol], side="right"))


def _timeline(series: Mapping[str, BarSeries], starts: Mapping[str, int]) -> IntArray:
    parts = [series[s].ts[starts[s] :] for s in series]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))


def _act(
    broker: PaperBroker,
    config: RunConfig,
    symbol: str,
    signal: int,
    bar: Bar,
    index: int,
    exits: AttachedExits | None,
) -> None:
    """Turn one signal into orders: enter, exit, or (long/short) close then reverse."""
    side = Side.BUY if signal == BUY else Side.SELL
    # An opposite signal supersedes whatever is still working in this symbol, except the
    # position's attached exits (they go when the position does).
    if broker.has_open_orders(symbol):
        same_side = False
        for order in broker.open_orders_for(symbol):
            if order.parent_id is not None:
                continue
            if order.side is not side:
                broker.cancel(order.order_id)
            else:
                same_side = True
        if same_side:
            return  # an order in the signal's direction is already working
    for buy, quantity, fraction, reduce_only, entry in signal_orders(
        signal, broker.portfolio.position(symbol), config
    ):
        broker.submit(
            symbol,
            _BUY if buy else _SELL,
            bar,
            index,
            quantity=quantity,
            cash_fraction=fraction,
            exits=exits if entry else None,
            reduce_only=reduce_only,
        )


def _step(length: int, initial: float, changes: list[tuple[int, float]]) -> FloatArray:
    """A step function over the timeline: ``initial`` until the first change, and so on.

    ``changes`` are (position, value) in non-decreasing position order; at one position the
    last value wins (the state after everything that happened on that bar).
    """
    if not changes:
        return np.full(length, float(initial))
    # The pairs flattened in C, converted once (positions are far below 2**53: exact as
    # floats); twice as fast as one generator per column over 100,000 changes.
    pairs = np.fromiter(
        chain.from_iterable(changes), dtype=np.float64, count=2 * len(changes)
    ).reshape(-1, 2)
    where = pairs[:, 0].astype(np.int64)
    values = pairs[:, 1]
    last = np.empty(len(changes), dtype=bool)
    last[:-1] = where[1:] != where[:-1]
    last[-1] = True
    return _hold(length, initial, where[last], values[last])


def _hold(length: int, initial: float, where: IntArray, values: FloatArray) -> FloatArray:
    """``initial`` before ``where[0]``, then each value held until the next position."""
    counts = np.diff(np.concatenate([[0], where, [length]]))
    return np.repeat(np.concatenate([[initial], values]), counts)


def _marks(
    bars: BarSeries, start: int, where: IntArray, length: int, account: Account
) -> FloatArray:
    """Each timeline position's latest close of one symbol (forward-filled)."""
    if where.shape[0] == length:
        return bars.close[start:]  # the symbol trades on every timeline bar
    held = account.positions.get(bars.symbol)
    before = float(bars.close[start - 1]) if start > 0 else (held.last_price if held else 0.0)
    return _hold(length, before, where, bars.close[start:])
