"""Properties of attached exits over random data: never before their entry, one-cancels-other,
trailing stops only tighten, and the engine's look-ahead skips no bar where an order can act."""

from __future__ import annotations

import itertools
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import random_series
from trading.core import backtest
from trading.core.backtest import EngineResult, run_engine
from trading.core.broker import AttachedExits, ExecutionConfig, PaperBroker
from trading.core.config import Mode, RunConfig
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
