"""The execution engine: signals → orders → paper fills → cash, positions and equity per bar.

The same :class:`PaperBroker` serves historical replays and live paper trading. The engine only
visits the bars where something can happen (a signal, or an open order of that symbol), in
timestamp order across symbols (ties: by symbol name), and rebuilds the equity curve for every
bar with numpy. Its state is plain data: running N bars in k chunks, restoring the state in
between, gives exactly the result of one run over the N bars.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.core.bars import BarSeries, FloatArray, IntArray
from trading.core.broker import ExecutionConfig, PaperBroker
from trading.core.model import Bar, Fill, Order, Side, Trade
from trading.core.portfolio import Portfolio
from trading.core.risk import RiskLimits
from trading.core.strategies import BUY, SELL, SignalArray

BoolArray = npt.NDArray[np.bool_]


class Mode(StrEnum):
    """Long-only, or long/short where an opposite signal reverses the position."""

    LONG_ONLY = "long-only"
    LONG_SHORT = "long-short"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How signals become orders.

    Sizing: ``quantity`` whole shares per entry when set, otherwise ``cash_fraction`` of the cash
    available when the entry fills (see :meth:`ExecutionConfig.affordable_quantity`).
    """

    initial_cash: float = 100_000.0
    mode: Mode = Mode.LONG_ONLY
    cash_fraction: float = 1.0
    quantity: int | None = None
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    limits: RiskLimits = field(default_factory=RiskLimits)
    id_prefix: str = "O"

    def risk_limits(self) -> RiskLimits:
        """The limits with short selling allowed exactly in long/short mode."""
        return replace(self.limits, allow_short=self.mode is Mode.LONG_SHORT)


@dataclass(slots=True)
class EngineState:
    """What a run leaves for the next one: broker state and bars already processed."""

    broker: dict[str, Any]
    bars_done: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {"broker": self.broker, "bars_done": dict(self.bars_done)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineState:
        """Inverse of :meth:`to_dict`."""
        return cls(broker=dict(data["broker"]), bars_done=dict(data["bars_done"]))


@dataclass(slots=True)
class EngineResult:
    """What one run produced, for the bars it processed."""

    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    in_market: BoolArray
    orders: list[Order]
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

    ``series[s]`` holds the full history of symbol ``s`` up to now, ``signals[s]`` one signal per
    bar of it. Bars before ``state.bars_done[s]`` were handled by an earlier run.
    """
    broker = _broker(config, state)
    done = dict(state.bars_done) if state else {}
    symbols = sorted(series)
    starts = {s: done.get(s, 0) for s in symbols}
    timeline = _timeline(series, starts)
    positions = {s: np.searchsorted(timeline, series[s].ts[starts[s] :]) for s in symbols}
    cash_changes: list[tuple[int, float]] = []
    qty_changes: dict[str, list[tuple[int, int]]] = {s: [] for s in symbols}
    initial_cash = broker.portfolio.account.cash
    initial_qty = {s: broker.portfolio.position(s) for s in symbols}

    signal_bars = {
        s: (np.flatnonzero(signals[s][starts[s] :]) + starts[s]).tolist() for s in symbols
    }
    cursor = dict.fromkeys(symbols, 0)
    rank = {s: k for k, s in enumerate(symbols)}
    queue: list[tuple[int, int, int]] = []

    def schedule(symbol: str, after: int) -> None:
        """Queue the next bar of ``symbol`` after bar ``after`` where something can happen."""
        length = len(series[symbol])
        if broker.has_open_orders(symbol):
            nxt = after + 1
        else:
            bars = signal_bars[symbol]
            k = cursor[symbol]
            while k < len(bars) and bars[k] <= after:
                k += 1
            cursor[symbol] = k
            nxt = bars[k] if k < len(bars) else length
        if nxt < length:
            pos = int(positions[symbol][nxt - starts[symbol]])
            heapq.heappush(queue, (pos, rank[symbol], nxt))

    for symbol in symbols:
        schedule(symbol, starts[symbol] - 1)
    while queue:
        pos, k, index = heapq.heappop(queue)
        symbol = symbols[k]
        bar = series[symbol].bar(index)
        broker.on_bar(bar, index)
        signal = int(signals[symbol][index])
        if signal:
            _act(broker, config, symbol, signal, bar, index)
        cash_changes.append((pos, broker.portfolio.account.cash))
        qty_changes[symbol].append((pos, broker.portfolio.position(symbol)))
        schedule(symbol, index)

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
    last_bar = {s: len(series[s]) - 1 for s in symbols}
    return EngineResult(
        ts=timeline,
        equity=equity,
        cash=cash,
        in_market=in_market,
        orders=broker.orders,
        fills=broker.fills,
        trades=broker.portfolio.trades,
        open_trades=broker.portfolio.open_trades(last_ts, last_bar),
        state=EngineState(broker=broker.to_state(), bars_done={s: len(series[s]) for s in symbols}),
        positions=held,
    )


def _broker(config: RunConfig, state: EngineState | None) -> PaperBroker:
    if state is None:
        return PaperBroker(
            Portfolio.with_cash(config.initial_cash),
            config.execution,
            config.risk_limits(),
            id_prefix=config.id_prefix,
        )
    return PaperBroker.from_state(state.broker, config.execution, config.risk_limits())


def _timeline(series: Mapping[str, BarSeries], starts: Mapping[str, int]) -> IntArray:
    parts = [series[s].ts[starts[s] :] for s in series]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))


def _act(
    broker: PaperBroker, config: RunConfig, symbol: str, signal: int, bar: Bar, index: int
) -> None:
    """Turn one signal into orders: enter, exit, or (long/short) close then reverse."""
    side = Side.BUY if signal == BUY else Side.SELL
    # An opposite signal supersedes whatever is still working in this symbol.
    if broker.has_open_orders(symbol):
        for order in broker.open_orders_for(symbol):
            if order.side is not side:
                broker.cancel(order.order_id)
        if broker.has_open_orders(symbol):
            return  # an order in the signal's direction is already working
    position = broker.portfolio.position(symbol)
    if (signal == BUY and position > 0) or (signal == SELL and position < 0):
        return
    if position:
        broker.submit(symbol, side, bar, index, quantity=abs(position))
    if signal == SELL and config.mode is Mode.LONG_ONLY:
        return
    if config.quantity is not None:
        broker.submit(symbol, side, bar, index, quantity=config.quantity)
    else:
        broker.submit(symbol, side, bar, index, cash_fraction=config.cash_fraction)


def _step(
    length: int, initial: float, changes: list[tuple[int, float]] | list[tuple[int, int]]
) -> FloatArray:
    """A step function over the timeline: ``initial`` until the first change, and so on."""
    values = np.empty(len(changes) + 1)
    values[0] = initial
    marker = np.zeros(length, dtype=np.int64)
    if changes:
        where = np.fromiter((c[0] for c in changes), dtype=np.int64, count=len(changes))
        values[1:] = [c[1] for c in changes]
        # Later changes at the same position overwrite earlier ones: the last state wins.
        marker[where] = np.arange(1, len(changes) + 1)
        np.maximum.accumulate(marker, out=marker)
    return values[marker]


def _marks(
    bars: BarSeries, start: int, where: IntArray, length: int, broker: PaperBroker
) -> FloatArray:
    """Each timeline position's latest close of one symbol (forward-filled)."""
    closes = np.empty(bars.close.shape[0] - start + 1)
    held = broker.portfolio.account.positions.get(bars.symbol)
    closes[0] = float(bars.close[start - 1]) if start > 0 else (held.last_price if held else 0.0)
    closes[1:] = bars.close[start:]
    marker = np.zeros(length, dtype=np.int64)
    marker[where] = np.arange(1, where.shape[0] + 1)
    np.maximum.accumulate(marker, out=marker)
    return closes[marker]
