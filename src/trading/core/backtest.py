"""The execution engine: signals → orders → paper fills → cash, positions and equity per bar.

The same :class:`PaperBroker` serves historical replays and live paper trading. The engine only
visits the bars where something can happen (a signal, or a bar where an open order of that
symbol can fill: found with a vectorised look-ahead for limits and stops), in
timestamp order across symbols (ties: by symbol name), and rebuilds the equity curve for every
bar with numpy. Its state is plain data: running N bars in k chunks, restoring the state in
between, gives exactly the result of one run over the N bars.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from trading.core.bars import BarSeries, BoolArray, FloatArray, IntArray, SignalArray
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, PaperBroker
from trading.core.model import Bar, Fill, Order, Side, Trade
from trading.core.portfolio import Portfolio
from trading.core.strategies import BUY, SELL


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
    orders: list[Order]
    carried_orders: list[Order]  # open at the start (from the state), as they are now
    fills: list[Fill]
    trades: list[Trade]
    open_trades: list[Trade]
    state: EngineState
    positions: dict[str, FloatArray]


def run_engine(
    series: Mapping[str, BarSeries],
    signals: Mapping[str, SignalArray],
    config: RunConfig,
    state: EngineState | None = None,
) -> EngineResult:
    """Execute ``signals`` over the bars of ``series`` not yet processed according to ``state``.

    ``series[s]`` holds bars of symbol ``s`` (enough history for its signals, then the new
    bars), ``signals[s]`` one signal per bar of it. Bars at or before ``state.last_ts[s]`` were
    handled by an earlier run and are skipped. Bar numbers (``Trade.entry_bar``...) count every
    bar processed for the symbol across runs.
    """
    with _collector_paused():
        return _run(series, signals, config, state)


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


def _run(
    series: Mapping[str, BarSeries],
    signals: Mapping[str, SignalArray],
    config: RunConfig,
    state: EngineState | None,
) -> EngineResult:
    broker = _broker(config, state)
    symbols = sorted(series)
    starts = {s: _first_new_bar(series[s], state) for s in symbols}
    offsets = {s: (state.bars_seen.get(s, 0) if state else 0) - starts[s] for s in symbols}
    timeline = _timeline(series, starts)
    feeds = [
        _Feed(series[s], signals[s], starts[s], offsets[s], timeline, rank)
        for rank, s in enumerate(symbols)
    ]
    positions = {f.symbol: f.where for f in feeds}
    cash_changes: list[tuple[int, float]] = []
    qty_changes: dict[str, list[tuple[int, float]]] = {s: [] for s in symbols}
    initial_cash = broker.portfolio.account.cash
    initial_qty = {s: broker.portfolio.position(s) for s in symbols}
    queue: list[tuple[int, int, int]] = []
    for feed in feeds:
        feed.schedule(queue, feed.start - 1, broker)
    account = broker.portfolio.account
    while queue:
        pos, rank, index = heapq.heappop(queue)
        feed = feeds[rank]
        symbol = feed.symbol
        bar = feed.bar(index)
        number = index + feed.offset
        fills_before = len(broker.fills)
        if broker.has_open_orders(symbol):
            broker.on_bar(bar, number)
        signal = feed.signals.item(index)
        if signal:
            exits = config.exits if config.trailing_atr is None else feed.entry_exits(config, index)
            _act(broker, config, symbol, signal, bar, number, exits)
        if len(broker.fills) != fills_before:  # cash and positions only move on fills
            cash_changes.append((pos, account.cash))
            qty_changes[symbol].append((pos, broker.portfolio.position(symbol)))
        feed.schedule(queue, index, broker)

    for symbol in symbols:
        if len(series[symbol]) > starts[symbol]:
            broker.portfolio.mark(symbol, float(series[symbol].close[-1]))
    cash = _step(len(timeline), initial_cash, cash_changes)
    equity = cash.copy()
    held = {}
    in_market = np.zeros(len(timeline), dtype=bool)
    for symbol in symbols:
        qty = _step(len(timeline), float(initial_qty[symbol]), qty_changes[symbol])
        held[symbol] = qty
        if not qty.any():
            continue
        marks = _marks(series[symbol], starts[symbol], positions[symbol], len(timeline), broker)
        equity += qty * marks
        in_market |= qty != 0
    last_ts = {s: int(series[s].ts[-1]) for s in symbols if len(series[s])}
    last_bar = {s: len(series[s]) - 1 + offsets[s] for s in symbols}
    seen = dict(state.bars_seen) if state else {}
    last = dict(state.last_ts) if state else {}
    for symbol in symbols:
        seen[symbol] = len(series[symbol]) + offsets[symbol]
        if len(series[symbol]):
            last[symbol] = max(last.get(symbol, -(2**63)), int(series[symbol].ts[-1]))
    return EngineResult(
        ts=timeline,
        equity=equity,
        cash=cash,
        in_market=in_market,
        orders=broker.orders,
        carried_orders=broker.restored,
        fills=broker.fills,
        trades=broker.portfolio.trades,
        open_trades=broker.portfolio.open_trades(last_ts, last_bar),
        state=EngineState(broker=broker.to_state(), last_ts=last, bars_seen=seen),
        positions=held,
    )


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
        "volume",
        "where",
    )

    def __init__(
        self,
        bars: BarSeries,
        signals: SignalArray,
        start: int,
        offset: int,
        timeline: IntArray,
        rank: int,
    ) -> None:
        if signals.shape[0] != len(bars):
            raise ValueError(f"{bars.symbol}: {signals.shape[0]} signals for {len(bars)} bars")
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
        own = bars.ts[start:]
        # Alone on the timeline, a symbol's bar k is timeline position k: no search needed.
        alone = own.shape == timeline.shape
        self.where = np.arange(own.shape[0]) if alone else np.searchsorted(timeline, own)

    def entry_exits(self, config: RunConfig, index: int) -> AttachedExits | None:
        """The exits an entry on bar ``index`` carries: the configured ones, plus a trailing
        stop at ``trailing_atr`` × ATR of that bar (none while the ATR is undefined)."""
        if config.trailing_atr is None:
            return config.exits
        if self.atr is None:
            from trading.core.indicators import atr

            self.atr = atr(self.high, self.low, self.close, config.atr_period)
        distance = config.trailing_atr * self.atr.item(index)
        if not distance > 0:  # NaN during the ATR's warm-up, or a flat market
            return config.exits
        return replace(config.exits or AttachedExits(), trailing_distance=distance)

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


def _broker(config: RunConfig, state: EngineState | None) -> PaperBroker:
    if state is None:
        return PaperBroker(
            Portfolio.with_cash(config.initial_cash),
            config.execution,
            config.risk_limits(),
            id_prefix=config.id_prefix,
        )
    return PaperBroker.from_state(state.broker, config.execution, config.risk_limits())


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
    position = broker.portfolio.position(symbol)
    held = (signal == BUY and position > 0) or (signal == SELL and position < 0)
    if held and not config.reopen_on_repeat:
        return
    if position:
        # Reduce-only when exits may close the position first: the close then never reverses it.
        reduce_only = config.exits is not None or config.trailing_atr is not None
        closing = Side.SELL if position > 0 else Side.BUY
        broker.submit(symbol, closing, bar, index, quantity=abs(position), reduce_only=reduce_only)
    if signal == SELL and config.mode is Mode.LONG_ONLY:
        return
    if config.quantity is not None:
        broker.submit(symbol, side, bar, index, quantity=config.quantity, exits=exits)
    else:
        broker.submit(symbol, side, bar, index, cash_fraction=config.cash_fraction, exits=exits)


def _step(length: int, initial: float, changes: list[tuple[int, float]]) -> FloatArray:
    """A step function over the timeline: ``initial`` until the first change, and so on.

    ``changes`` are (position, value) in non-decreasing position order; at one position the
    last value wins (the state after everything that happened on that bar).
    """
    if not changes:
        return np.full(length, float(initial))
    where = np.fromiter((c[0] for c in changes), dtype=np.int64, count=len(changes))
    values = np.fromiter((c[1] for c in changes), dtype=np.float64, count=len(changes))
    last = np.empty(len(changes), dtype=bool)
    last[:-1] = where[1:] != where[:-1]
    last[-1] = True
    return _hold(length, initial, where[last], values[last])


def _hold(length: int, initial: float, where: IntArray, values: FloatArray) -> FloatArray:
    """``initial`` before ``where[0]``, then each value held until the next position."""
    counts = np.diff(np.concatenate([[0], where, [length]]))
    return np.repeat(np.concatenate([[initial], values]), counts)


def _marks(
    bars: BarSeries, start: int, where: IntArray, length: int, broker: PaperBroker
) -> FloatArray:
    """Each timeline position's latest close of one symbol (forward-filled)."""
    if where.shape[0] == length:
        return bars.close[start:]  # the symbol trades on every timeline bar
    held = broker.portfolio.account.positions.get(bars.symbol)
    before = float(bars.close[start - 1]) if start > 0 else (held.last_price if held else 0.0)
    return _hold(length, before, where, bars.close[start:])
