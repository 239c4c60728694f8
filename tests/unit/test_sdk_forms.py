"""The SDK's bar-by-bar forms on the one engine and fill model: event-driven strategies place
every order type, targets and portfolio weights become netted orders, and a strategy that
raises is named with its line."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

from tests.builders import random_series, series_from_closes
from trading.core.backtest import run_engine
from trading.core.bars import BarSeries, FloatArray
from trading.core.config import Mode, RunConfig
from trading.core.execution import ExecutionConfig
from trading.core.model import OrderStatus, OrderType, Side
from trading.core.pipeline import run_backtest
from trading.sdk import (
    BUY,
    SELL,
    EventStrategy,
    Param,
    PortfolioStrategy,
    StrategyRuntimeError,
    TargetStrategy,
    create_strategy,
)
from trading.sdk.context import BarContext
from trading.sdk.drive import run_strategy


class SignalsAsEvents(EventStrategy):
    """sma_cross's signals acted on bar by bar, as the signal path acts on them (long-only)."""

    name = "signals_as_events"
    params = (Param("fast", int, 5, 1, 100, "fast"), Param("slow", int, 20, 2, 100, "slow"))

    def on_bar(self, ctx: BarContext) -> None:
        signals = ctx.state.get("signals")
        if signals is None:  # the whole column, computed once: test-only shortcut
            signals = ctx.state["signals"] = create_strategy(
                "sma_cross", {"fast": self["fast"], "slow": self["slow"]}
            ).signals(self.series[ctx.symbol])  # type: ignore[attr-defined]
        signal = signals[ctx.bar_index]
        if signal == BUY and ctx.position == 0:
            ctx.buy(fraction=1.0)
        elif signal == SELL and ctx.position > 0:
            ctx.sell(ctx.position)


def test_an_event_strategy_acting_on_signals_matches_the_signal_path() -> None:
    series = {"AAA": random_series(5, 400, "AAA"), "BBB": random_series(6, 400, "BBB")}
    config = RunConfig(cash_fraction=1.0, execution=ExecutionConfig(commission_rate=0.001))
    strategy = SignalsAsEvents()
    strategy.series = series  # type: ignore[attr-defined]
    events = run_strategy(series, strategy, config)
    sma = create_strategy("sma_cross", {"fast": 5, "slow": 20})
    signals = run_engine(series, {s: sma.signals(b) for s, b in series.items()}, config)
    assert len(events.trades) == len(signals.trades) > 5
    assert [t.to_dict() for t in events.trades] == [t.to_dict() for t in signals.trades]
    assert events.equity.tolist() == pytest.approx(signals.equity.tolist(), rel=1e-12)
    assert events.path == "broker" and "bar by bar: events" in (events.path_reason or "")


class ScaleOut(EventStrategy):
    """Buy 100 on bar 1; take profit on half with a limit 5 % up; stop the rest at the entry."""

    name = "scale_out_hand"

    def on_bar(self, ctx: BarContext) -> None:
        seen = ctx.state.setdefault("seen", [])
        seen.append((ctx.bar_index, ctx.position, round(ctx.cash, 6), len(ctx.open_orders)))
        if ctx.bar_index == 1:
            ctx.buy(100)
        elif ctx.bar_index == 2:
            entry = ctx.bars.open[-1]  # the fill price: bar 2's open
            ctx.sell(50, limit=entry * 1.05)
            ctx.sell(50, stop=entry)


def test_an_event_strategy_scales_out_with_a_limit_and_a_stop_hand_computed() -> None:
    # Bar 2 opens at 100 (the buy fills); bar 3 reaches 105.5 (the limit at 105 fills);
    # bar 4 falls through 100 (the stop fills at its price, 100; it opens at 102).
    closes = [100.0, 100.0, 101.0, 104.0, 99.0, 99.0]
    opens = [100.0, 100.0, 100.0, 102.0, 102.0, 99.0]
    bars = series_from_closes(closes, "AAA", opens)
    bars = BarSeries(
        "AAA",
        bars.ts,
        bars.open,
        np.array([100.0, 100.0, 101.0, 105.5, 102.0, 99.0]),
        np.array([100.0, 100.0, 100.0, 102.0, 98.0, 99.0]),
        bars.close,
        bars.volume,
    )
    strategy = ScaleOut()
    result = run_strategy({"AAA": bars}, strategy, RunConfig(initial_cash=20_000.0))
    fills = [(f.side.value, f.quantity, f.price) for f in result.fills]
    assert fills == [("buy", 100, 100.0), ("sell", 50, 105.0), ("sell", 50, 100.0)]
    kinds = [o.order_type for o in result.orders]
    assert kinds == [OrderType.MARKET, OrderType.LIMIT, OrderType.STOP]
    assert [t.pnl for t in result.trades] == [250.0, 0.0]
    assert result.equity[-1] == 20_250.0
    assert result.positions["AAA"].tolist() == [0, 0, 100, 50, 0, 0]


class Bracket(EventStrategy):
    """A stop-limit entry with attached exits; an order cancelled before it fills."""

    name = "bracket_hand"

    def on_bar(self, ctx: BarContext) -> None:
        if ctx.bar_index == 0:
            ctx.buy(10, stop=101.0, limit=102.0, stop_loss=0.05, take_profit=0.03)
            doomed = ctx.buy(5, limit=50.0)
            assert [o.order_id for o in ctx.open_orders][-1] == doomed.order_id
            ctx.cancel(doomed)


def test_stop_limit_entries_carry_exits_and_cancel_works() -> None:
    closes = [100.0, 101.5, 103.0, 106.0]
    opens = [100.0, 100.0, 101.5, 103.0]
    bars = series_from_closes(closes, "AAA", opens)
    result = run_strategy({"AAA": bars}, Bracket(), RunConfig())
    entry, cancelled = result.orders[0], result.orders[1]
    assert entry.order_type is OrderType.STOP_LIMIT and entry.status is OrderStatus.FILLED
    assert cancelled.status is OrderStatus.CANCELLED
    exits = [o for o in result.orders if o.parent_id == entry.order_id]
    assert {o.exit_kind.value for o in exits if o.exit_kind} == {"stop_loss", "take_profit"}
    assert any(f.exit_kind is not None for f in result.fills)  # the take-profit filled


class HalfWhenAbove(TargetStrategy):
    """Half the equity when the close is above 100, nothing below; NaN elsewhere."""

    name = "half_when_above"

    def targets(self, series: BarSeries) -> FloatArray:
        out = np.where(series.close > 100.0, 0.5, 0.0)
        out[0] = np.nan
        return out


def test_target_weights_become_orders_for_the_difference_hand_computed() -> None:
    closes = [100.0, 102.0, 104.0, 104.0, 98.0, 98.0]
    opens = [100.0, 100.0, 102.0, 104.0, 104.0, 98.0]
    result = run_strategy(
        {"AAA": series_from_closes(closes, "AAA", opens)}, HalfWhenAbove(), RunConfig()
    )
    # Bar 1: 0.5 × 100,000 / 102 = 490.19 → 490, bought at bar 2's open (102).
    # Bar 2: equity 100,000 + 490 × 2 = 100,980 → 0.5 × 100,980 / 104 = 485.48 → 485: sell 5.
    # Bar 3: 0.5 × 100,980 / 104 → 485 held: no order. Bar 4: 0 → sell 485 at bar 5 (98).
    fills = [(f.side.value, f.quantity, f.price) for f in result.fills]
    assert fills == [("buy", 490, 102.0), ("sell", 5, 104.0), ("sell", 485, 98.0)]


class Rotate(PortfolioStrategy):
    """All in AAA first, then all in BBB (weights on bars 1 and 3)."""

    name = "rotate_hand"

    def weights(self, universe: dict[str, BarSeries]) -> dict[str, FloatArray]:
        n = len(universe["AAA"])
        aaa, bbb = np.full(n, np.nan), np.full(n, np.nan)
        aaa[1], bbb[1] = 1.0, 0.0
        aaa[3], bbb[3] = 0.0, 1.0
        return {"AAA": aaa, "BBB": bbb}


def test_portfolio_weights_sell_first_and_buy_from_the_proceeds() -> None:
    aaa = series_from_closes([10.0, 10.0, 11.0, 12.0, 12.0], "AAA")
    bbb = series_from_closes([20.0, 20.0, 20.0, 20.0, 25.0], "BBB", [20.0, 20, 20, 20, 24])
    config = RunConfig(initial_cash=1_000.0, execution=ExecutionConfig(commission_rate=0.001))
    result = run_strategy({"AAA": aaa, "BBB": bbb}, Rotate(), config)
    fills = [(f.symbol, f.side.value, f.quantity, f.price) for f in result.fills]
    # Bar 1: 1.0 × 1,000 / 10 = 100 AAA decided; at bar 2's open (10) cash pays 99
    # (commission included). Bar 3: sell 99 AAA at bar 4's open (12 → 1,188 - 1.188 fee
    # + 1 left = 1,186.822...); 1.0 × equity / 20 = 59 BBB decided, cut to what the cash pays
    # at the higher of 24 (open) and 20 (close): 49.
    assert fills[0] == ("AAA", "buy", 99, 10.0)
    assert fills[1] == ("AAA", "sell", 99, 12.0)
    assert fills[2][:3] == ("BBB", "buy", 49) and fills[2][3] == 24.0
    assert not [o for o in result.orders if o.status is OrderStatus.REJECTED]
    assert result.equity.min() > 0


def test_momentum_rotation_holds_the_strongest_symbols_netted_per_symbol() -> None:
    up = series_from_closes([100.0 * 1.01**i for i in range(80)], "UP")
    flat = series_from_closes([100.0 + (i % 2) for i in range(80)], "FLAT")
    down = series_from_closes([100.0 * 0.99**i for i in range(80)], "DOWN")
    strategy = create_strategy("momentum_rotation", {"lookback": 10, "top_k": 2, "rebalance": 5})
    outcome = run_backtest({"UP": up, "FLAT": flat, "DOWN": down}, strategy, RunConfig())
    orders = outcome.engine.orders
    assert {o.symbol for o in orders} == {"UP", "FLAT"}  # never the falling one
    # Netted: after the first rebalance, later ones only trim back to half each.
    first_buys = [o for o in orders if o.side is Side.BUY][:2]
    assert {o.symbol for o in first_buys} == {"UP", "FLAT"}
    assert all(o.quantity < first_buys[0].quantity / 5 for o in orders[2:])
    weights = strategy.weights({"UP": up, "FLAT": flat, "DOWN": down})  # type: ignore[attr-defined]
    assert np.isnan(weights["UP"][:10]).all() and weights["UP"][10] == 0.5
    assert weights["DOWN"][10] == 0.0 and np.isnan(weights["DOWN"][11])


class Explodes(EventStrategy):
    name = "explodes_on_bar"
    fail_on: ClassVar[int] = 3

    def on_bar(self, ctx: BarContext) -> None:
        if ctx.bar_index == self.fail_on:
            {}["missing"]


def test_a_strategy_that_raises_is_named_with_the_bar_and_its_line() -> None:
    bars = series_from_closes([10.0] * 6, "AAA")
    with pytest.raises(StrategyRuntimeError) as caught:
        run_strategy({"AAA": bars}, Explodes(), RunConfig())
    message = str(caught.value)
    assert message.startswith("strategy explodes_on_bar raised in on_bar(AAA 2020-01-05T")
    line = Explodes.on_bar.__code__.co_firstlineno + 2
    assert f"test_sdk_forms.py line {line}: KeyError: 'missing'" in message


class WrongShape(PortfolioStrategy):
    name = "wrong_shape"

    def weights(self, universe: dict[str, BarSeries]) -> dict[str, FloatArray]:
        return {"AAA": np.zeros(2)}


def test_malformed_weights_are_named() -> None:
    bars = series_from_closes([10.0] * 6, "AAA")
    with pytest.raises(StrategyRuntimeError, match=r"wrong_shape returned targets of shape \(2,\)"):
        run_strategy({"AAA": bars}, WrongShape(), RunConfig())


def test_long_only_runs_treat_negative_weights_as_flat() -> None:
    class Short(TargetStrategy):
        name = "short_target"

        def targets(self, series: BarSeries) -> FloatArray:
            return np.full(len(series), -0.5)

    bars = series_from_closes([10.0] * 5, "AAA")
    assert not run_strategy({"AAA": bars}, Short(), RunConfig()).orders
    short = run_strategy({"AAA": bars}, Short(), RunConfig(mode=Mode.LONG_SHORT))
    assert short.orders[0].side is Side.SELL and math.isclose(short.orders[0].quantity, 5_000)
