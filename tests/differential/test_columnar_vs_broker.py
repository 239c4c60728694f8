"""The columnar fast path against the broker path, the reference: same orders, fills, trades,
equity, cash and state on random runs.

Prices sit on a coarse tick so exits, opens and levels tie exactly; opens gap through the
exits' levels; symbols trade on different calendars; costs include commission minimums and
slippage; quantities come in lots; runs are split in two chunks with the state in between.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import DAY, T0
from trading.core.backtest import EngineResult, EngineState, run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig, columnar
from trading.core.execution.margin import MarginRules
from trading.core.lots import LotSize
from trading.core.model import ExitKind, OrderStatus
from trading.core.risk import RiskLimits

TICK = 0.25


def tick_series(symbol: str, seed: int, n: int, calendar_seed: int) -> BarSeries:
    """A random walk on a 0.25 tick (ties between levels and prices are common), opening
    away from the previous close now and then (gaps through exits), on a calendar that skips
    some days (symbols interleave on the timeline)."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-2, -1, 0, 1, 2], size=n) * TICK
    close = np.maximum(40.0 + np.cumsum(steps), 5.0)
    gaps = rng.choice([0.0, 0.0, 0.0, -3 * TICK, 3 * TICK], size=n)
    open_ = np.maximum(np.concatenate([[40.0], close[:-1]]) + gaps, 5.0)
    high = np.maximum(open_, close) + rng.choice([0.0, TICK, 2 * TICK], size=n)
    low = np.maximum(np.minimum(open_, close) - rng.choice([0.0, TICK, 2 * TICK], size=n), 1.0)
    days = np.flatnonzero(np.random.default_rng(calendar_seed).random(n * 2) < 0.6)[:n]
    days = np.concatenate([days, np.arange(n * 2, n * 2 + n - days.shape[0])])
    return BarSeries(
        symbol,
        T0 + days.astype(np.int64) * DAY,
        open_,
        high,
        low,
        close,
        np.full(n, 10_000.0),
    )


exit_sets = st.one_of(
    st.none(),
    st.builds(
        AttachedExits,
        stop_loss_pct=st.sampled_from([None, 0.01, 0.02, 0.05]),
        take_profit_pct=st.sampled_from([None, 0.01, 0.03, 0.1]),
        trailing_pct=st.sampled_from([None, 0.01, 0.04]),
    ),
)

executions = st.builds(
    ExecutionConfig,
    commission_rate=st.sampled_from([0.0, 0.001, 0.01]),
    commission_minimum=st.sampled_from([0.0, 1.0, 25.0]),
    slippage_bps=st.sampled_from([0.0, 5.0]),
    trade_on_close=st.booleans(),
    default_lot=st.sampled_from([LotSize(), LotSize(0.01), LotSize(0.5, 2.0)]),
)

limits = st.builds(
    RiskLimits,
    max_position=st.sampled_from([None, 150]),
    max_order_notional=st.sampled_from([None, 4_000.0]),
    allowed_symbols=st.sampled_from([None, frozenset({"AAA", "BBB"})]),
)


def random_signals(rng: np.random.Generator, n: int, density: float) -> npt.NDArray[np.int8]:
    """``n`` signals, each bar a buy or a sell with probability ``density``, else none."""
    return np.where(
        rng.random(n) < density, rng.choice(np.array([-1, 1], dtype=np.int8), n), 0
    ).astype(np.int8)


@st.composite
def configs(draw: st.DrawFn) -> RunConfig:
    sized_by_quantity = draw(st.booleans())
    return RunConfig(
        initial_cash=draw(st.sampled_from([1_000.0, 10_000.0])),
        mode=draw(st.sampled_from(list(Mode))),
        cash_fraction=draw(st.sampled_from([1.0, 0.5])),
        quantity=draw(st.sampled_from([3, 7.5, 40])) if sized_by_quantity else None,
        execution=draw(executions),
        limits=draw(limits),
        exits=draw(exit_sets),
        trailing_atr=draw(st.sampled_from([None, None, 1.5])),
        atr_period=3,
        reopen_on_repeat=draw(st.booleans()),
        margin=draw(
            st.sampled_from(
                [
                    MarginRules(),
                    MarginRules(leverage=3.0, maintenance_margin=1.2),
                    MarginRules(leverage=0.5),
                ]
            )
        ),
    )


def dump(result: EngineResult) -> dict[str, Any]:
    """Everything a run leaves, as JSON-comparable data."""
    return json.loads(
        json.dumps(
            {
                "orders": [o.to_dict() for o in result.orders],
                "fills": [f.to_dict() for f in result.fills],
                "trades": [t.to_dict() for t in result.trades],
                "open_trades": [t.to_dict() for t in result.open_trades],
                "equity": result.equity.tolist(),
                "cash": result.cash.tolist(),
                "positions": {s: q.tolist() for s, q in result.positions.items()},
                "in_market": result.in_market.tolist(),
                "state": result.state.to_dict(),
            },
            default=str,
        )
    )


def run_both(
    series: dict[str, BarSeries],
    signals: dict[str, np.ndarray[Any, Any]],
    config: RunConfig,
    state: EngineState | None = None,
) -> tuple[EngineResult, EngineResult]:
    reference = run_engine(series, signals, config, state, path="broker")
    fast = run_engine(series, signals, config, state)
    assert reference.path == "broker"
    assert dump(fast) == dump(reference)
    return reference, fast


@settings(max_examples=70, deadline=None)
@given(
    config=configs(),
    seeds=st.lists(st.integers(0, 10_000), min_size=1, max_size=3),
    n=st.integers(20, 90),
    density=st.sampled_from([0.05, 0.2, 0.5]),
    split=st.floats(0.2, 0.8),
)
def test_the_columnar_path_matches_the_broker_path(
    config: RunConfig, seeds: list[int], n: int, density: float, split: float
) -> None:
    if config.trailing_atr is not None and config.exits is not None:
        # One trailing rule at a time: a trailing fraction and an ATR distance exclude each other.
        config = replace(config, exits=replace(config.exits, trailing_pct=None))
    names = ["AAA", "BBB", "CCC"][: len(seeds)]
    series = {s: tick_series(s, seed, n, seed + 1) for s, seed in zip(names, seeds, strict=True)}
    rng = np.random.default_rng(seeds[0])
    signals = {s: random_signals(rng, n, density) for s in names}
    _, fast = run_both(series, signals, config)
    assert fast.path == "columnar" and fast.path_reason is None

    # In two chunks: the state after the first (open orders or not) carries into the second.
    cut = {s: int(len(b) * split) for s, b in series.items()}
    first = {s: b.slice(0, cut[s]) for s, b in series.items()}
    head = {s: signals[s][: cut[s]] for s in names}
    _, fast_first = run_both(first, head, config)
    state = EngineState.from_dict(json.loads(json.dumps(fast_first.state.to_dict())))
    _, fast_second = run_both(series, signals, config, state)
    if state.broker["open_orders"]:
        assert fast_second.path == "broker"
        assert fast_second.path_reason == "orders left open by an earlier run"
    else:
        assert fast_second.path == "columnar"


pass_exits = st.one_of(
    st.none(),
    st.builds(
        AttachedExits,
        stop_loss_pct=st.sampled_from([None, 0.005, 0.01, 0.02]),
        take_profit_pct=st.sampled_from([None, 0.005, 0.01, 0.03]),
    ),
    st.builds(
        lambda stop, take, trailing: AttachedExits(
            stop_loss_pct=stop,
            take_profit_pct=take,
            trailing_pct=trailing[0],
            trailing_distance=trailing[1],
        ),
        st.sampled_from([None, 0.02]),
        st.sampled_from([None, 0.03]),
        # A trailing stop as a fraction of the best price or as a price distance.
        st.sampled_from([(0.005, None), (0.01, None), (0.04, None), (None, 0.25), (None, 1.0)]),
    ),
)


@settings(max_examples=80, deadline=None)
@given(
    config=configs(),
    exits=pass_exits,
    seed=st.integers(0, 10_000),
    n=st.integers(5, 90),
    density=st.sampled_from([0.05, 0.2, 0.5, 1.0]),
    split=st.floats(0.2, 0.8),
)
def test_one_symbol_pass_matches_the_broker_path(
    config: RunConfig, exits: AttachedExits | None, seed: int, n: int, density: float, split: float
) -> None:
    """One symbol, market orders with no exits or a stop-loss/take-profit/trailing stop: the
    columnar path's single pass over the signal bars (ties on the tick, gaps through the exits,
    lots, commission minimums, limits, signals on the last bar)."""
    config = replace(config, exits=exits, trailing_atr=None)
    series = {"AAA": tick_series("AAA", seed, n, seed + 1)}
    rng = np.random.default_rng(seed)
    signals = {"AAA": random_signals(rng, n, density)}
    _, fast = run_both(series, signals, config)
    assert fast.path == "columnar"
    cut = int(n * split)
    _, fast_first = run_both(
        {"AAA": series["AAA"].slice(0, cut)}, {"AAA": signals["AAA"][:cut]}, config
    )
    state = EngineState.from_dict(json.loads(json.dumps(fast_first.state.to_dict())))
    run_both(series, signals, config, state)


@settings(max_examples=40, deadline=None)
@given(
    exits=pass_exits,
    mode=st.sampled_from(list(Mode)),
    seed=st.integers(0, 10_000),
    density=st.sampled_from([0.05, 0.2, 0.5]),
    chunk=st.integers(1, 12),
)
def test_exit_look_ahead_in_small_pieces_matches_the_broker_path(
    exits: AttachedExits | None, mode: Mode, seed: int, density: float, chunk: int
) -> None:
    """The one-pass run finds where every entry's exits first wake in one vectorised pass,
    a few bars at a time on long runs: with pieces of a handful of bars (ranges split
    across them), the exits fill where the broker path fills them."""
    n = 120
    config = RunConfig(initial_cash=10_000.0, mode=mode, exits=exits)
    series = {"AAA": tick_series("AAA", seed, n, seed + 1)}
    rng = np.random.default_rng(seed)
    signals = {"AAA": random_signals(rng, n, density)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar, "_TOUCH_CHUNK", chunk)
        _, fast = run_both(series, signals, config)
    assert fast.path == "columnar"


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 200), chunk=st.integers(1, 50))
def test_the_exits_first_touches_at_once_are_the_look_ahead_s(
    seed: int, n: int, chunk: int
) -> None:
    """Where each range's levels first wake, found for all ranges at once (in pieces of
    ``chunk`` bars), is where the one-range look-ahead finds it: levels equal to a low or a
    high (ties), levels never reached, empty ranges."""
    series = tick_series("AAA", seed, n, seed + 1)
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, n + 1, size=2 * int(rng.integers(1, 12))))
    starts, ends = cuts[0::2], cuts[1::2]
    at = np.minimum(starts, n - 1)
    low_wakes = series.low[at] - rng.choice([-TICK, 0.0, TICK, np.inf], size=at.shape[0])
    high_wakes = series.high[at] + rng.choice([-TICK, 0.0, TICK, np.inf], size=at.shape[0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar, "_TOUCH_CHUNK", chunk)
        found = columnar._first_touches(
            series.low, series.high, starts, ends, low_wakes, high_wakes
        )
    assert found == [
        columnar._first_touch(series.low, series.high, int(b), int(e), lo, hi)
        for b, e, lo, hi in zip(starts, ends, low_wakes, high_wakes, strict=True)
    ]


def trending_series(symbol: str, seed: int, n: int, drift: int) -> BarSeries:
    """A walk on the tick drifting ``drift`` ticks a bar on average (up or down), with gaps:
    full-cash shorts against an uptrend (and leveraged longs against a downtrend) meet margin
    calls and ruin."""
    rng = np.random.default_rng(seed)
    steps = (rng.choice([-2, -1, 0, 1, 2], size=n) + drift) * TICK
    close = np.maximum(40.0 + np.cumsum(steps), 2.0)
    gaps = rng.choice([0.0, 0.0, -3 * TICK, 3 * TICK], size=n)
    open_ = np.maximum(np.concatenate([[40.0], close[:-1]]) + gaps, 2.0)
    high = np.maximum(open_, close) + rng.choice([0.0, TICK, 2 * TICK], size=n)
    low = np.maximum(np.minimum(open_, close) - rng.choice([0.0, TICK], size=n), 1.0)
    return BarSeries(
        symbol, T0 + np.arange(n, dtype=np.int64) * DAY, open_, high, low, close, np.full(n, 1e4)
    )


@settings(max_examples=60, deadline=None)
@given(
    exits=pass_exits,
    margin=st.sampled_from([MarginRules(), MarginRules(leverage=3.0, maintenance_margin=1.2)]),
    fraction=st.sampled_from([1.0, 0.5]),
    reopen=st.booleans(),
    seed=st.integers(0, 10_000),
    drift=st.sampled_from([-2, 2, 3]),
    density=st.sampled_from([0.05, 0.2]),
)
def test_one_symbol_pass_through_margin_calls_matches_the_broker_path(
    exits: AttachedExits | None,
    margin: MarginRules,
    fraction: float,
    reopen: bool,
    seed: int,
    drift: int,
    density: float,
) -> None:
    """Long/short on one trending symbol: the one-pass run follows the margin watch and hands
    the run to the queue at a margin call or ruin, as the broker path meets them."""
    n = 60
    config = RunConfig(
        initial_cash=10_000.0,
        mode=Mode.LONG_SHORT,
        cash_fraction=fraction,
        exits=exits,
        margin=margin,
        reopen_on_repeat=reopen,
    )
    series = {"AAA": trending_series("AAA", seed, n, drift)}
    rng = np.random.default_rng(seed)
    signals = {"AAA": random_signals(rng, n, density)}
    run_both(series, signals, config)


@settings(max_examples=15, deadline=None)
@given(
    margin=st.sampled_from([MarginRules(), MarginRules(leverage=3.0, maintenance_margin=1.2)]),
    seed=st.integers(0, 10_000),
    drift=st.sampled_from([-1, 1, 2]),
    density=st.sampled_from([0.003, 0.01, 0.05]),
)
def test_long_quiet_stretches_through_margin_calls_match_the_broker_path(
    margin: MarginRules, seed: int, drift: int, density: float
) -> None:
    """Hundreds of bars between signals: the margin watch clears whole stretches from their
    highest and lowest close and tests long ones with numpy; the breach it finds is the
    broker path's."""
    n = 700
    config = RunConfig(initial_cash=10_000.0, mode=Mode.LONG_SHORT, margin=margin)
    series = {"AAA": trending_series("AAA", seed, n, drift)}
    rng = np.random.default_rng(seed)
    signals = {"AAA": random_signals(rng, n, density)}
    run_both(series, signals, config)


def test_a_short_against_an_uptrend_is_called_on_the_one_pass_run() -> None:
    """A full-cash short at 3x leverage in a steady rise: the margin call closes it at the
    next open on both paths (the account's own order), and the run goes on."""
    n = 40
    series = {"AAA": trending_series("AAA", 1, n, 3)}
    signals = {"AAA": np.zeros(n, dtype=np.int8)}
    signals["AAA"][2] = -1
    signals["AAA"][30] = 1
    config = RunConfig(
        initial_cash=10_000.0,
        mode=Mode.LONG_SHORT,
        margin=MarginRules(leverage=3.0, maintenance_margin=1.2),
    )
    _, fast = run_both(series, signals, config)
    assert fast.path == "columnar"
    forced = [o for o in fast.orders if o.exit_kind is not None and o.parent_id is None]
    assert [o.exit_kind for o in forced] == [ExitKind.MARGIN_CALL]
    assert forced[0].status is OrderStatus.FILLED
    assert len(fast.trades) >= 1
