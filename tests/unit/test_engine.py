"""The engine: signals to fills on the next bar, reversals, equity per bar, chunked replay."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import random_series, series_from_closes
from trading.core.backtest import EngineResult, EngineState, run_engine
from trading.core.bars import BarSeries, SignalArray
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig
from trading.core.lots import LotSize
from trading.core.model import OrderStatus
from trading.core.strategies import create_strategy


def signals_of(*values: int) -> SignalArray:
    return np.array(values, dtype=np.int8)


def test_long_only_enters_at_next_open_and_exits_on_sell() -> None:
    series = series_from_closes([10, 11, 12, 13, 14], opens=[10, 10.5, 11.5, 12.5, 13.5])
    result = run_engine(
        {"TEST": series}, {"TEST": signals_of(1, 0, -1, 0, 0)}, RunConfig(initial_cash=1_000.0)
    )
    buy, sell = result.fills
    assert (buy.quantity, buy.price, buy.ts) == (95, 10.5, series.ts[1])  # floor(1000/10.5)
    assert (sell.quantity, sell.price, sell.ts) == (95, 12.5, series.ts[3])
    cash_after_buy = 1_000.0 - 95 * 10.5
    assert result.equity.tolist() == pytest.approx(
        [
            1_000.0,
            cash_after_buy + 95 * 11,
            cash_after_buy + 95 * 12,
            cash_after_buy + 95 * 12.5,
            cash_after_buy + 95 * 12.5,
        ]
    )
    (trade,) = result.trades
    assert (trade.entry_bar, trade.exit_bar, trade.pnl) == (1, 3, pytest.approx(95 * 2.0))
    assert result.in_market.tolist() == [False, True, True, False, False]


def test_long_only_ignores_a_sell_when_flat() -> None:
    series = series_from_closes([10, 11, 12])
    result = run_engine({"TEST": series}, {"TEST": signals_of(-1, 0, 0)}, RunConfig())
    assert result.orders == [] and result.fills == []


def test_long_short_reverses_close_then_open_sized_from_cash_after_close() -> None:
    series = series_from_closes([10, 10, 20, 20, 10], opens=[10, 10, 10, 20, 20])
    config = RunConfig(
        initial_cash=1_000.0,
        mode=Mode.LONG_SHORT,
        execution=ExecutionConfig(commission_rate=0.01),
    )
    result = run_engine({"TEST": series}, {"TEST": signals_of(1, 0, -1, 0, 0)}, config)
    entry, close, short = result.fills
    assert (entry.side, entry.quantity, entry.price) == ("buy", 99, 10.0)  # floor(1000/10.1)
    cash_after_entry = 1_000.0 - 99 * 10 * 1.01
    cash_after_close = cash_after_entry + 99 * 20 * 0.99
    assert (close.side, close.quantity, close.price) == ("sell", 99, 20.0)
    assert short.side == "sell" and short.quantity == int(cash_after_close // (20 * 1.01))
    assert result.trades[0].pnl == pytest.approx(99 * 10 - 99 * 10 * 0.01 - 99 * 20 * 0.01)
    assert result.state.broker["account"]["positions"]["TEST"]["quantity"] == -short.quantity


def test_an_open_position_at_the_end_is_marked_to_the_last_close() -> None:
    series = series_from_closes([10, 10, 12, 15])
    result = run_engine({"TEST": series}, {"TEST": signals_of(1, 0, 0, 0)}, RunConfig())
    (open_trade,) = result.open_trades
    assert open_trade.is_open and open_trade.exit_price == 15.0 and open_trade.exit_bar == 3
    assert result.trades == []


def test_symbols_share_cash_and_equity_covers_the_union_of_timestamps() -> None:
    a = series_from_closes([10, 10, 10, 10], symbol="A")
    b_full = series_from_closes([20, 20, 20, 20, 20], symbol="B")
    b = b_full.slice(1, 5)
    result = run_engine(
        {"A": a, "B": b},
        {"A": signals_of(1, 0, 0, 0), "B": signals_of(1, 0, 0, 0)},
        RunConfig(initial_cash=1_000.0, cash_fraction=0.5),
    )
    assert len(result.ts) == 5  # A has bars 0..3, B bars 1..4
    a_fill, b_fill = result.fills
    assert (a_fill.symbol, a_fill.quantity) == ("A", 50)
    assert (b_fill.symbol, b_fill.quantity) == ("B", 12)  # half of the 500 left, at 20
    assert result.equity[-1] == pytest.approx(1_000.0)


def _check_invariants(result: EngineResult, series: dict[str, BarSeries], mode: Mode) -> None:
    # equity = cash + Σ quantity × mark at every bar
    marks = np.zeros_like(result.equity)
    for symbol, bars in series.items():
        where = np.searchsorted(bars.ts, result.ts, side="right") - 1
        closes = np.where(where >= 0, bars.close[np.maximum(where, 0)], 0.0)
        marks += result.positions[symbol] * closes
    assert result.equity == pytest.approx(result.cash + marks, rel=1e-12, abs=1e-9)
    if mode is Mode.LONG_ONLY:
        assert (result.cash >= -1e-9).all()
        assert all((q >= 0).all() for q in result.positions.values())
    for order in result.orders:
        assert 0 <= order.filled_quantity <= order.quantity or order.status is OrderStatus.REJECTED
    by_order: dict[str, int] = {}
    for fill in result.fills:
        by_order[fill.order_id] = by_order.get(fill.order_id, 0) + fill.quantity
    quantities = {o.order_id: o.quantity for o in result.orders}
    assert all(by_order[o] <= quantities[o] + 1e-9 for o in by_order)  # fractional sums


configs = st.builds(
    RunConfig,
    initial_cash=st.sampled_from([1_000.0, 100_000.0]),
    mode=st.sampled_from(list(Mode)),
    cash_fraction=st.sampled_from([1.0, 0.5, 0.25]),
    execution=st.builds(
        ExecutionConfig,
        commission_rate=st.sampled_from([0.0, 0.001, 0.01]),
        commission_minimum=st.sampled_from([0.0, 1.0]),
        slippage_bps=st.sampled_from([0.0, 5.0]),
        trade_on_close=st.booleans(),
        volume_limit=st.sampled_from([None, 0.05, 0.5]),
        default_lot=st.sampled_from([LotSize(), LotSize(0.001, 0.01)]),
    ),
    exits=st.sampled_from(
        [
            None,
            AttachedExits(stop_loss_pct=0.02, take_profit_pct=0.04),
            AttachedExits(trailing_pct=0.03),
            AttachedExits(stop_loss_pct=0.01, take_profit_pct=0.01, trailing_pct=0.02),
        ]
    ),
)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), config=configs, fast=st.integers(2, 5))
def test_invariants_hold_at_every_bar(seed: int, config: RunConfig, fast: int) -> None:
    series = {
        "AAA": random_series(seed, 120, "AAA"),
        "BBB": random_series(seed + 7, 90, "BBB").slice(0, 90),
    }
    strategy = create_strategy("sma_cross", {"fast": fast, "slow": fast * 3})
    signals = {s: strategy.signals(b) for s, b in series.items()}
    result = run_engine(series, signals, config)
    _check_invariants(result, series, config.mode)


def _truncate(series: dict[str, BarSeries], end_ts: int) -> dict[str, BarSeries]:
    return {
        s: b.slice(0, int(np.searchsorted(b.ts, end_ts, side="right"))) for s, b in series.items()
    }


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    config=configs,
    cuts=st.lists(st.integers(1, 149), min_size=1, max_size=4, unique=True),
)
def test_chunked_replay_with_saved_state_equals_one_run(
    seed: int, config: RunConfig, cuts: list[int]
) -> None:
    series = {"AAA": random_series(seed, 150, "AAA"), "BBB": random_series(seed + 1, 150, "BBB")}
    strategy = create_strategy("sma_cross", {"fast": 3, "slow": 8})
    whole = run_engine(series, {s: strategy.signals(b) for s, b in series.items()}, config)

    state: EngineState | None = None
    fills, trades, orders, equity = [], [], [], []
    timestamps = series["AAA"].ts
    for end in [*sorted(cuts), 149]:
        part = _truncate(series, int(timestamps[end]))
        signals = {s: strategy.signals(b) for s, b in part.items()}
        if state is not None:  # what a live run would store and load between invocations
            state = EngineState.from_dict(json.loads(json.dumps(state.to_dict())))
        result = run_engine(part, signals, config, state)
        state = result.state
        fills += [f.to_dict() for f in result.fills]
        trades += [asdict(t) for t in result.trades]
        orders += [o.order_id for o in result.orders]
        equity += result.equity.tolist()
    assert fills == [f.to_dict() for f in whole.fills]
    assert trades == [asdict(t) for t in whole.trades]
    assert orders == [o.order_id for o in whole.orders]
    assert equity == whole.equity.tolist()
    assert state is not None and state.to_dict() == whole.state.to_dict()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), config=configs, cut=st.integers(20, 130))
def test_live_run_on_a_history_tail_continues_bar_numbers_and_equals_one_run(
    seed: int, config: RunConfig, cut: int
) -> None:
    # Live paper trading keeps only the last bars a strategy needs (sma_cross: slow + 1).
    series = {"AAA": random_series(seed, 150, "AAA")}
    strategy = create_strategy("sma_cross", {"fast": 3, "slow": 8})
    whole = run_engine(series, {"AAA": strategy.signals(series["AAA"])}, config)

    first = series["AAA"].slice(0, cut)
    part = run_engine({"AAA": first}, {"AAA": strategy.signals(first)}, config)
    tail = series["AAA"].slice(cut - (strategy.warmup + 1), 150)
    rest = run_engine({"AAA": tail}, {"AAA": strategy.signals(tail)}, config, part.state)
    assert [asdict(t) for t in part.trades + rest.trades] == [asdict(t) for t in whole.trades]
    assert part.equity.tolist() + rest.equity.tolist() == whole.equity.tolist()
    assert rest.state.bars_seen == {"AAA": 150}


def test_orders_carried_from_an_earlier_run_come_back_with_their_outcome() -> None:
    # Run 1 ends with a buy working (its signal was on the last bar); run 2 fills it.
    series = series_from_closes([10, 11, 12, 13])
    first_part = series.slice(0, 2)
    first = run_engine({"TEST": first_part}, {"TEST": signals_of(0, 1)}, RunConfig())
    (working,) = first.state.broker["open_orders"]
    second = run_engine(
        {"TEST": series}, {"TEST": signals_of(0, 1, 0, 0)}, RunConfig(), first.state
    )
    (carried,) = second.carried_orders
    assert carried.order_id == working["order_id"]
    assert carried.status is OrderStatus.FILLED and carried.filled_quantity > 0
    assert second.orders == []  # nothing new was submitted in run 2
