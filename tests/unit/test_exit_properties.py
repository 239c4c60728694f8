"""Properties of attached exits over random data: never before their entry, one-cancels-other,
trailing stops only tighten, and the engine's look-ahead skips no bar where an order can act."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import random_series, series_from_closes
from trading.core import backtest
from trading.core.backtest import EngineResult, EngineState, run_engine
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig, PaperBroker
from trading.core.indicators import atr
from trading.core.model import ExitKind, OrderStatus, OrderType, Side
from trading.core.portfolio import Portfolio
from trading.core.risk import RiskLimits
from trading.core.strategies import create_strategy

exit_sets = st.builds(
    AttachedExits,
    stop_loss_pct=st.sampled_from([None, 0.005, 0.02, 0.05]),
    take_profit_pct=st.sampled_from([None, 0.005, 0.03, 0.1]),
    trailing_pct=st.sampled_from([None, 0.01, 0.04]),
)


def run(seed: int, exits: AttachedExits, mode: Mode, fast: int, vol: float = 0.02) -> EngineResult:
    series = {
        "AAA": random_series(seed, 300, "AAA", vol),
        "BBB": random_series(seed + 3, 250, "BBB"),
    }
    strategy = create_strategy("sma_cross", {"fast": fast, "slow": fast * 3})
    config = RunConfig(mode=mode, cash_fraction=0.5, exits=exits)
    return run_engine(series, {s: strategy.signals(b) for s, b in series.items()}, config)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    exits=exit_sets,
    mode=st.sampled_from(list(Mode)),
    fast=st.integers(2, 6),
)
def test_exits_never_fill_before_their_entry_and_never_two_of_one_position(
    seed: int, exits: AttachedExits, mode: Mode, fast: int
) -> None:
    result = run(seed, exits, mode, fast)
    orders = {o.order_id: o for o in result.orders}
    first_fill: dict[str, int] = {}
    for fill in result.fills:
        first_fill.setdefault(fill.order_id, fill.ts)
    filled_children: dict[str, list[str]] = {}
    for fill in result.fills:
        order = orders[fill.order_id]
        if order.exit_kind is None:
            continue
        assert order.parent_id is not None and fill.exit_kind is order.exit_kind
        assert first_fill[order.parent_id] <= fill.ts  # never before its entry
        children = filled_children.setdefault(order.parent_id, [])
        if order.order_id not in children:
            children.append(order.order_id)
    # Entries fill whole here (no volume cap), so each position has one set of exits: at
    # most one of them ever fills, and the others end cancelled.
    assert all(len(children) == 1 for children in filled_children.values())
    for parent_id, (winner,) in filled_children.items():
        siblings = [o for o in result.orders if o.parent_id == parent_id and o.order_id != winner]
        assert all(o.status is OrderStatus.CANCELLED for o in siblings)
    # The stop-loss-first flag is only ever set on a stop exit with a take-profit sibling.
    for trade in result.trades:
        if trade.stop_first:
            assert trade.exit_kind in (ExitKind.STOP_LOSS, ExitKind.TRAILING_STOP)
            assert exits.take_profit_pct is not None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), pct=st.sampled_from([0.01, 0.03, 0.1]), short=st.booleans())
def test_a_trailing_stop_only_ever_tightens(seed: int, pct: float, short: bool) -> None:
    bars = random_series(seed, 200, "X", vol=0.03)
    broker = PaperBroker(Portfolio.with_cash(1e9), limits=RiskLimits(allow_short=True))
    first = bars.bar(0)
    side = Side.SELL if short else Side.BUY
    broker.submit("X", side, first, 0, quantity=10, exits=AttachedExits(trailing_pct=pct))
    stops: list[float] = []
    for index, bar in enumerate(bars.bars()):
        if index == 0:
            continue
        broker.on_bar(bar, index)
        (trailing,) = [o for o in broker.orders if o.exit_kind is ExitKind.TRAILING_STOP]
        assert trailing.order_type is OrderType.STOP and trailing.stop_price is not None
        stops.append(trailing.stop_price)
        if not trailing.is_open:
            break
    pairs = list(itertools.pairwise(stops))
    assert all(b <= a for a, b in pairs) if short else all(b >= a for a, b in pairs)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    exits=exit_sets,
    mode=st.sampled_from(list(Mode)),
    volume_limit=st.sampled_from([None, 0.2]),
)
def test_look_ahead_gives_the_result_of_visiting_every_bar(
    seed: int, exits: AttachedExits, mode: Mode, volume_limit: float | None
) -> None:
    series = {"AAA": random_series(seed, 300, "AAA"), "BBB": random_series(seed + 1, 280, "BBB")}
    strategy = create_strategy("sma_cross", {"fast": 3, "slow": 9})
    signals = {s: strategy.signals(b) for s, b in series.items()}
    config = RunConfig(
        mode=mode,
        cash_fraction=0.5,
        exits=exits,
        execution=ExecutionConfig(volume_limit=volume_limit),
    )
    fast = run_engine(series, signals, config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backtest._Feed, "first_touch", lambda self, begin, end, low, high: begin)
        slow = run_engine(series, signals, config)
    assert [f.to_dict() for f in fast.fills] == [f.to_dict() for f in slow.fills]
    assert [asdict(t) for t in fast.trades] == [asdict(t) for t in slow.trades]
    assert fast.equity.tolist() == slow.equity.tolist()
    assert fast.state.to_dict() == slow.state.to_dict()


def test_atr_is_the_mean_true_range() -> None:
    high = np.array([10.0, 12.0, 11.0, 15.0])
    low = np.array([9.0, 10.0, 8.0, 12.0])
    close = np.array([9.5, 11.0, 9.0, 14.0])
    # true ranges: 1 (first bar: high - low), max(2, 2.5, 0.5) = 2.5, max(3, 0, 3) = 3,
    # max(3, 6, 3) = 6
    out = atr(high, low, close, 2)
    assert np.isnan(out[0])
    assert out[1:].tolist() == [1.75, 2.75, 4.5]


def test_a_trailing_stop_at_a_multiple_of_atr_from_the_signal_bar() -> None:
    series = series_from_closes([100.0, 100.0, 100.0, 104.0, 108.0, 103.0, 101.0])
    signals = np.array([0, 0, 1, 0, 0, 0, 0], dtype=np.int8)
    config = RunConfig(trailing_atr=2.0, atr_period=2)
    result = run_engine({"TEST": series}, {"TEST": signals}, config)
    ranges = atr(series.high, series.low, series.close, 2)
    distance = 2.0 * float(ranges[2])
    (entry, exit_) = result.fills
    trail = next(o for o in result.orders if o.exit_kind is ExitKind.TRAILING_STOP)
    assert trail.trailing_distance == distance
    # ATR(2) of bar 2 is 2, so the distance is 4. Entry at bar 3's open (100): stop 96, after
    # bar 3 105.04 - 4, after bar 4 109.08 - 4 = 105.08, which bar 5 (low 101.97) trades.
    assert distance == pytest.approx(4.0)
    best = float(series.high[4])
    assert exit_.ts == series.ts[5] and exit_.exit_kind is ExitKind.TRAILING_STOP
    assert exit_.price == pytest.approx(best - distance) == pytest.approx(105.08)
    assert entry.price == series.open[3]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), cuts=st.lists(st.integers(20, 199), min_size=1, max_size=3))
def test_chunked_replay_with_atr_trailing_stops_equals_one_run(seed: int, cuts: list[int]) -> None:
    series = {"AAA": random_series(seed, 200, "AAA", vol=0.03)}
    strategy = create_strategy("sma_cross", {"fast": 3, "slow": 8})
    config = RunConfig(trailing_atr=1.5, atr_period=5, mode=Mode.LONG_SHORT)
    whole = run_engine(series, {"AAA": strategy.signals(series["AAA"])}, config)
    assert any(t.exit_kind is ExitKind.TRAILING_STOP for t in whole.trades)
    state = None
    fills = []
    for end in [*sorted(set(cuts)), 200]:
        part = series["AAA"].slice(0, end)
        if state is not None:
            state = EngineState.from_dict(json.loads(json.dumps(state.to_dict())))
        result = run_engine({"AAA": part}, {"AAA": strategy.signals(part)}, config, state)
        state = result.state
        fills += [f.to_dict() for f in result.fills]
    assert fills == [f.to_dict() for f in whole.fills]
    assert state is not None and state.to_dict() == whole.state.to_dict()
