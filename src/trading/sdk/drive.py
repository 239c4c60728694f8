"""How the engine drives each strategy form bar by bar (targets, portfolio weights, events).

Signal strategies never come here: their signals take the engine's signal paths (columnar
when it covers the run). The other forms run on :func:`trading.core.bar_replay.run_bars`
with one of the handlers below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from trading.core.backtest import EngineResult, EngineState
from trading.core.bar_replay import BarEvent, run_bars
from trading.core.bars import BarSeries, FloatArray
from trading.core.config import Mode, RunConfig
from trading.core.execution import PaperBroker
from trading.core.execution.sizing import affordable_quantity
from trading.core.model import OrderType, Side, ts_to_iso
from trading.sdk.base import (
    QUANTITY,
    WEIGHT,
    EventStrategy,
    PortfolioStrategy,
    SignalStrategy,
    Strategy,
    TargetStrategy,
)
from trading.sdk.compute import failure, guarded
from trading.sdk.context import BarContext
from trading.sdk.errors import StrategyRuntimeError


def run_strategy(
    series: Mapping[str, BarSeries],
    strategy: Strategy,
    config: RunConfig,
    state: EngineState | None = None,
) -> EngineResult:
    """Run a targets, portfolio or events strategy over ``series`` (bar by bar, on the
    broker). A strategy that raises or returns something malformed raises
    :class:`StrategyRuntimeError` naming it and the line."""
    if isinstance(strategy, EventStrategy):
        handler: EventHandler | TargetHandler = EventHandler(strategy, series, config)
    elif isinstance(strategy, TargetStrategy | PortfolioStrategy):
        handler = TargetHandler(strategy, config, compute_targets(strategy, series))
    elif isinstance(strategy, SignalStrategy):
        raise TypeError("signal strategies run on run_engine with their signals")
    else:
        raise TypeError(f"unknown strategy form {strategy.form!r}")
    reason = f"the strategy decides bar by bar: {strategy.form}"
    return run_bars(series, handler, config, state, reason=reason)


def compute_targets(strategy: Strategy, series: Mapping[str, BarSeries]) -> dict[str, FloatArray]:
    """The targets of a :class:`TargetStrategy` (per symbol) or the weights of a
    :class:`PortfolioStrategy`, checked: one finite-or-NaN float per bar of each symbol."""
    if isinstance(strategy, TargetStrategy):
        raw: Mapping[str, Any] = {
            symbol: guarded(strategy, f"targets({symbol})", partial(strategy.targets, bars))
            for symbol, bars in series.items()
        }
    elif isinstance(strategy, PortfolioStrategy):
        raw = guarded(strategy, "weights", partial(strategy.weights, series))
        if not isinstance(raw, Mapping):
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned {type(raw).__name__} from weights, "
                "not a mapping of symbol to weights"
            )
        extra = sorted(set(raw) - set(series))
        if extra:
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned weights for symbols not in the run: "
                f"{', '.join(map(str, extra))}"
            )
    else:
        raise TypeError(f"{strategy.name} computes no targets")
    out: dict[str, FloatArray] = {}
    for symbol, bars in series.items():
        values = raw.get(symbol)
        if values is None:
            out[symbol] = np.full(len(bars), np.nan)
            continue
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned targets of {symbol} that are not numbers"
            ) from None
        if array.shape != (len(bars),):
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned targets of shape {array.shape} for "
                f"{len(bars)} bars of {symbol}"
            )
        if np.isinf(array).any():
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned an infinite target for {symbol}"
            )
        out[symbol] = array
    return out


def decision_count(strategy: Strategy, series: Mapping[str, BarSeries]) -> int:
    """How many bars a strategy of a bar-by-bar form acts on: the bars with a target for
    targets and weights (computed, so a failing strategy fails here), every bar for events."""
    if isinstance(strategy, EventStrategy):
        return sum(len(bars) for bars in series.values())
    targets = compute_targets(strategy, series)
    return int(sum(np.count_nonzero(~np.isnan(v)) for v in targets.values()))


class EventHandler:
    """Hands every bar to an :class:`EventStrategy`'s ``on_bar``."""

    def __init__(
        self, strategy: EventStrategy, series: Mapping[str, BarSeries], config: RunConfig
    ) -> None:
        self.strategy = strategy
        self.series = series
        self.config = config
        self.states: dict[str, dict[str, Any]] = {symbol: {} for symbol in series}

    def before_fill(self, broker: PaperBroker, event: BarEvent) -> None:
        """Nothing: the strategy's orders are filled as placed."""

    def finish(self, broker: PaperBroker) -> None:
        """Nothing: the strategy placed its orders itself."""

    def on_bars(self, broker: PaperBroker, events: list[BarEvent]) -> None:
        """``on_bar`` for each bar, in symbol order."""
        for event in events:
            context = BarContext(
                broker,
                self.config,
                self.series[event.symbol],
                event.bar,
                event.bar_index,
                event.number,
                self.states[event.symbol],
            )
            try:
                self.strategy.on_bar(context)
            except Exception as error:  # named only when it happens: a bar costs microseconds
                where = f"on_bar({event.symbol} {ts_to_iso(event.bar.ts)})"
                raise failure(self.strategy, where, error) from error


class TargetHandler:
    """Turns targets (weights of equity or quantities) into one netted market order per
    symbol, decided on the bar's close (replacing any entry order of the symbol still
    working): sells are placed at once; a buy is placed with them
    but sized and risk-checked just before the next bar of its symbol is worked, after the
    sells of that timestamp filled, so the proceeds of a rebalance pay for its buys. A buy is
    cut to what the cash then pays at the higher of the open it fills at and the close it
    was decided on (with trade-on-close: what it pays at that close)."""

    def __init__(
        self, strategy: Strategy, config: RunConfig, targets: Mapping[str, FloatArray]
    ) -> None:
        self.unit = strategy.unit if isinstance(strategy, TargetStrategy) else WEIGHT
        self.config = config
        self.targets = {s: v.tolist() for s, v in targets.items()}
        self.long_only = config.mode is Mode.LONG_ONLY
        self.buys: dict[str, tuple[BarEvent, float]] = {}  # symbol → buy decided, not placed

    def before_fill(self, broker: PaperBroker, event: BarEvent) -> None:
        """Place the buy decided on this symbol's previous bar, sized with the cash now."""
        decided = self.buys.pop(event.symbol, None)
        if decided is not None:
            self._buy(broker, decided[0], decided[1], max(event.bar.open, decided[0].bar.close))

    def finish(self, broker: PaperBroker) -> None:
        """Buys decided on the last bar are placed as decided (sized at that close)."""
        for decided, quantity in list(self.buys.values()):
            self._buy(broker, decided, quantity, decided.bar.close)
        self.buys.clear()

    def on_bars(self, broker: PaperBroker, events: list[BarEvent]) -> None:
        """Orders for the bars with a target: the difference to what is held."""
        wanted: list[tuple[BarEvent, float]] = []
        for event in events:
            target = self.targets[event.symbol][event.bar_index]
            if not math.isnan(target):
                wanted.append((event, 0.0 if self.long_only and target < 0 else target))
        if not wanted:
            return
        portfolio = broker.portfolio
        equity = portfolio.equity()
        buys: list[tuple[BarEvent, float]] = []
        for event, target in wanted:
            symbol = event.symbol
            self.buys.pop(symbol, None)
            for working in broker.open_orders_for(symbol):
                if working.parent_id is None:  # a new target replaces what still works
                    broker.cancel(working.order_id)
            close = event.bar.close
            goal = target if self.unit == QUANTITY else target * equity / close
            lot = broker.execution.lot(symbol)
            goal = math.copysign(lot.round_down(abs(goal)), goal)
            change = goal - portfolio.position(symbol)
            change = math.copysign(lot.round_down(abs(change)), change)
            if change < 0:
                self._submit(broker, event, Side.SELL, -change)
            elif change > 0:
                buys.append((event, change))
        for event, quantity in buys:
            if broker.execution.trade_on_close:
                self._buy(broker, event, quantity, event.bar.close)
            else:
                self.buys[event.symbol] = (event, quantity)

    def _buy(self, broker: PaperBroker, decided: BarEvent, quantity: float, price: float) -> None:
        """A buy decided on ``decided``'s bar, cut to what the cash pays at ``price``
        (covering a short: as decided)."""
        if broker.portfolio.position(decided.symbol) >= 0:
            execution = broker.execution
            cash = broker.portfolio.account.cash
            lot = execution.lot(decided.symbol)
            price = execution.slipped(price, Side.BUY)
            quantity = min(quantity, affordable_quantity(execution, 1.0, cash, price, lot))
        if quantity > 0:
            self._submit(broker, decided, Side.BUY, quantity)

    def _submit(self, broker: PaperBroker, event: BarEvent, side: Side, quantity: float) -> None:
        flat = not broker.portfolio.position(event.symbol)
        broker.submit(
            event.symbol,
            side,
            event.bar,
            event.number,
            quantity=quantity,
            order_type=OrderType.MARKET,
            exits=self.config.exits if flat else None,  # an entry carries the run's exits
        )
