"""The broker path bar by bar: every bar of every symbol, in timeline order, worked by the
paper broker and then handed to a strategy that decides on its close.

The path of strategies that cannot be reduced to signals: event-driven ones (``on_bar``) and
target positions or weights (orders netted per symbol against what is held). Same broker, same
fill model, same result and state as :func:`~trading.core.backtest.run_engine`; it visits every
bar (a strategy may act on any), so it is slower than the signal paths.

At one timestamp the broker first works the symbols with an open sell order (their proceeds
pay for the buys of a rebalance), then the others by symbol; then the strategy sees every
bar of that timestamp at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from trading.core.backtest import (
    EngineResult,
    EngineState,
    _broker,
    _first_new_bar,
    _positions,
    _result,
    _timeline,
    _watch,
)
from trading.core.bars import BarSeries, IntArray
from trading.core.config import RunConfig
from trading.core.execution import PaperBroker
from trading.core.execution.margin import FORCED
from trading.core.ledger import Ledger
from trading.core.margin_watch import MarginWatch
from trading.core.model import Account, Bar, ExitKind, Side


class BarEvent(NamedTuple):
    """One bar of one symbol as the strategy sees it: its index in the symbol's series and
    its bar number across runs (what trades record)."""

    symbol: str
    bar: Bar
    bar_index: int
    number: int


class BarHandler(Protocol):
    """What drives the orders of a bar-by-bar run."""

    def before_fill(self, broker: PaperBroker, event: BarEvent) -> None:
        """Called just before the broker works ``event``'s bar (e.g. to size a target's buy
        at the price it fills at)."""

    def on_bars(self, broker: PaperBroker, events: list[BarEvent]) -> None:
        """Every symbol's bar of one timestamp, after the broker worked them: place, amend
        or cancel orders (they fill on a later bar)."""

    def finish(self, broker: PaperBroker) -> None:
        """After the last bar: place what is still only decided (it stays open for the
        account's next run)."""


def run_bars(
    series: Mapping[str, BarSeries],
    handler: BarHandler,
    config: RunConfig,
    state: EngineState | None = None,
    *,
    reason: str = "the strategy decides bar by bar",
) -> EngineResult:
    """Run ``handler`` over the bars of ``series`` not yet processed according to ``state``
    (see :func:`~trading.core.backtest.run_engine` for ``series`` and ``state``)."""
    symbols = sorted(series)
    starts = {s: _first_new_bar(series[s], state) for s in symbols}
    offsets = {s: (state.bars_seen.get(s, 0) if state else 0) - starts[s] for s in symbols}
    timeline = _timeline(series, starts)
    wheres = {s: _positions(series[s].ts[starts[s] :], timeline) for s in symbols}
    account = (
        Account.from_dict(state.broker["account"])
        if state is not None
        else Account(cash=config.initial_cash, initial_cash=config.initial_cash)
    )
    broker = _broker(config, account, state)
    initial_cash = account.cash
    initial_qty = {
        s: account.positions[s].quantity if s in account.positions else 0 for s in symbols
    }
    # Margin calls and ruin as on the signal paths: checked at every close, orders forced.
    watch = _watch(config, account, series, symbols, starts, wheres, timeline)
    upcoming = None
    if watch is not None:
        if state is not None:
            watch.liquidating = any(
                order.get("exit_kind") in FORCED for order in state.broker["open_orders"]
            )
        broker.price_of = watch.price_of
        upcoming = watch.next_event(0, True)
    cash_changes: list[tuple[int, float]] = []
    qty_changes: dict[str, list[tuple[int, float]]] = {s: [] for s in symbols}
    for pos, events in _by_timestamp(series, symbols, starts, offsets, wheres):
        fills_before = len(broker.fills)
        if watch is not None:
            watch.at = pos
        for event in _sells_first(broker, events):
            handler.before_fill(broker, event)
            broker.on_bar(event.bar, event.number)
        if watch is None or not watch.halted:
            handler.on_bars(broker, events)
        if len(broker.fills) != fills_before:  # trade-on-close fills happen in on_bars
            cash_changes.append((pos, account.cash))
            for event in events:
                qty_changes[event.symbol].append((pos, broker.portfolio.position(event.symbol)))
            if watch is not None:
                watch.settled()
                upcoming = watch.next_event(pos, True)
        if watch is not None:
            upcoming = _margin_events(broker, watch, upcoming, pos, symbols)
    handler.finish(broker)
    ledger = Ledger.of_broker(broker, account, cash_changes, qty_changes)
    return _result(
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


def _margin_events(
    broker: PaperBroker,
    watch: MarginWatch,
    upcoming: tuple[int, ExitKind | None] | None,
    pos: int,
    symbols: list[str],
) -> tuple[int, ExitKind | None] | None:
    """Act on the watch's events up to the close of ``pos``: continue its look-ahead, or on a
    breach cancel the working orders that are not exits and close every position at its
    next open (the signal paths' rule). Returns the next event."""
    while upcoming is not None and upcoming[0] <= pos:
        at, kind = upcoming
        if kind is None:
            upcoming = watch.next_event(at, False)
            continue
        watch.breach(pos, kind)
        for order in list(broker.open_orders.values()):
            if order.parent_id is None and order.exit_kind is None:
                broker.cancel(order.order_id)
        ts = int(watch.timeline[pos])
        for symbol in symbols:
            broker.force_close(symbol, ts, kind)
        upcoming = watch.next_event(pos + 1, True)
    return upcoming


def _by_timestamp(
    series: Mapping[str, BarSeries],
    symbols: list[str],
    starts: Mapping[str, int],
    offsets: Mapping[str, int],
    wheres: Mapping[str, IntArray],
) -> list[tuple[int, list[BarEvent]]]:
    """The new bars grouped by timeline position, each group in symbol order."""
    groups: dict[int, list[BarEvent]] = {}
    for symbol in symbols:
        bars = series[symbol]
        start = starts[symbol]
        columns = (
            bars.ts[start:].tolist(),
            bars.open[start:].tolist(),
            bars.high[start:].tolist(),
            bars.low[start:].tolist(),
            bars.close[start:].tolist(),
            bars.volume[start:].tolist(),
        )
        offset = offsets[symbol]
        for k, (pos, *values) in enumerate(zip(wheres[symbol].tolist(), *columns, strict=True)):
            index = start + k
            bar = Bar(symbol, *values)
            groups.setdefault(pos, []).append(BarEvent(symbol, bar, index, index + offset))
    return sorted(groups.items())


def _sells_first(broker: PaperBroker, events: list[BarEvent]) -> list[BarEvent]:
    """``events`` with the symbols that have an open sell order first (order kept)."""
    if len(events) < 2:
        return events
    selling = [
        e for e in events if any(o.side is Side.SELL for o in broker.open_orders_for(e.symbol))
    ]
    if not selling:
        return events
    return [*selling, *(e for e in events if e not in selling)]
