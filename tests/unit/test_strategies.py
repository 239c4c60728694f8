"""Strategies: parameter validation, the strict-cross rule, RSI values and no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import random_series, series_from_closes
from trading.core.bars import BarSeries
from trading.core.indicators import crossed_above, crossings, rsi, sma
from trading.core.strategies import (
    STRATEGIES,
    StrategyConfigError,
    create_strategy,
    parse_param_pairs,
)


def test_sma_matches_hand_values_and_is_undefined_before_the_window() -> None:
    out = sma(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3)
    assert np.isnan(out[:2]).all()
    assert out[2:].tolist() == [2.0, 3.0, 4.0]


@pytest.mark.parametrize("bars", [0, 1, 3, 4, 5])
def test_sma_is_nan_until_the_window_is_full_even_on_few_bars(bars: int) -> None:
    values = np.arange(1.0, bars + 1.0)
    out = sma(values, 4)
    assert out.shape == (bars,)
    assert np.isnan(out[:3]).all()
    assert out[3:].tolist() == [(k - 3 + k - 2 + k - 1 + k) / 4 for k in range(4, bars + 1)]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    period=st.sampled_from([2, 11, 12, 13, 20, 31, 64, 100, 200, 255]),
    bars=st.integers(1, 70_000),
)
def test_sma_is_each_windows_own_mean_on_long_series(seed: int, period: int, bars: int) -> None:
    # Whole numbers add up exactly in any order: each average is exactly its window's sum
    # over the period, whether the bars are summed in one go or in chunks.
    values = np.random.default_rng(seed).integers(0, 10_000, bars).astype(float)
    sums = np.convolve(values, np.ones(period), mode="valid") if bars >= period else []
    out = sma(values, period)
    assert np.isnan(out[: period - 1]).all()
    assert out[period - 1 :].tolist() == (np.asarray(sums) / period).tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), period=st.integers(1, 300), cycle=st.integers(1, 500))
def test_windows_of_equal_prices_give_equal_averages(seed: int, period: int, cycle: int) -> None:
    # Prices repeating every ``cycle`` bars: windows a cycle apart hold the same prices, so
    # their averages are equal to the last bit (no drift over 70,000 bars, chunks included).
    prices = np.tile(np.random.default_rng(seed).uniform(10.0, 500.0, cycle), 70_000 // cycle + 1)
    out = sma(prices, period)[period - 1 :]
    assert out[cycle:].tolist() == out[:-cycle].tolist()


# Few distinct values, so ties and repeated levels are common; NaN as in an indicator's warm-up.
levels = st.sampled_from([1.0, 2.0, 3.0, math.nan])


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(levels, levels), max_size=40), level=levels)
def test_crossings_mark_each_strict_cross_of_either_direction(
    pairs: list[tuple[float, float]], level: float
) -> None:
    first = np.array([a for a, _ in pairs])
    second = np.array([b for _, b in pairs])
    for other in (second, np.full(first.shape[0], level)):
        expected = crossed_above(first, other).astype(np.int8) - crossed_above(other, first)
        assert crossings(first, other).tolist() == expected.tolist()
    assert crossings(first, level).tolist() == crossings(first, np.full(len(pairs), level)).tolist()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bars=st.integers(30_000, 140_000))
def test_crossings_on_long_series_mark_every_strict_cross(seed: int, bars: int) -> None:
    rng = np.random.default_rng(seed)
    first = rng.choice([1.0, 2.0, 3.0, math.nan], bars)
    second = rng.choice([1.0, 2.0, 3.0, math.nan], bars)
    expected = crossed_above(first, second).astype(np.int8) - crossed_above(second, first)
    assert crossings(first, second).tolist() == expected.tolist()
    level = np.full(bars, 2.0)
    expected = crossed_above(first, level).astype(np.int8) - crossed_above(level, first)
    assert crossings(first, 2.0).tolist() == expected.tolist()


def test_rsi_on_a_hand_computed_sequence() -> None:
    closes = np.array([10.0, 11.0, 10.5, 11.5, 12.0, 11.0])
    out = rsi(closes, 3)
    # changes: +1, -0.5, +1, +0.5, -1 ; first avg over 3: gain 2/3, loss 0.5/3
    first = 100 - 100 / (1 + (2 / 3) / (0.5 / 3))
    gain, loss = (2 / 3 * 2 + 0.5) / 3, (0.5 / 3 * 2 + 0) / 3
    second = 100 - 100 / (1 + gain / loss)
    gain, loss = (gain * 2 + 0) / 3, (loss * 2 + 1) / 3
    third = 100 - 100 / (1 + gain / loss)
    assert np.isnan(out[:3]).all()
    assert out[3:].tolist() == pytest.approx([first, second, third])
    assert rsi(np.full(10, 5.0), 3)[3:].tolist() == [50.0] * 7


def test_sma_cross_signals_on_a_strict_cross_only() -> None:
    # fast(1) vs slow(2): equal on the flat part, so touching does not count as crossing.
    series = series_from_closes([10, 10, 12, 11, 9, 9, 12])
    signals = create_strategy("sma_cross", {"fast": 1, "slow": 2}).signals(series)
    fast = series.close
    slow = sma(series.close, 2)
    expected = np.zeros(len(series), dtype=np.int8)
    for t in range(1, len(series)):
        if fast[t - 1] < slow[t - 1] and fast[t] > slow[t]:
            expected[t] = 1
        if fast[t - 1] > slow[t - 1] and fast[t] < slow[t]:
            expected[t] = -1
    assert signals.tolist() == expected.tolist()
    # fast - slow: nan, 0, +1, -0.5, -1, 0, +1.5: only bar 3 crosses; bars 2 and 6 start equal.
    assert signals.tolist() == [0, 0, 0, -1, 0, 0, 0]


def test_no_signal_while_an_average_is_undefined() -> None:
    series = random_series(3, 40)
    signals = create_strategy("sma_cross", {"fast": 5, "slow": 20}).signals(series)
    assert not signals[:20].any()


def test_rsi_reversion_buys_on_cross_into_oversold_and_sells_above_overbought() -> None:
    closes = [50, 49, 48, 47, 46, 45, 46, 47, 48, 49, 50, 51, 52]
    strategy = create_strategy("rsi_reversion", {"period": 2, "lower": 30, "upper": 70})
    signals = strategy.signals(series_from_closes(closes))
    level = rsi(np.array(closes, dtype=float), 2)
    buys = [t for t in range(1, len(closes)) if level[t - 1] >= 30 > level[t]]
    sells = [t for t in range(1, len(closes)) if level[t - 1] <= 70 < level[t]]
    assert np.flatnonzero(signals == 1).tolist() == buys
    assert np.flatnonzero(signals == -1).tolist() == sells
    assert sells  # the up-move does produce an exit


def test_buy_and_hold_buys_once_on_the_first_bar() -> None:
    signals = create_strategy("buy_and_hold").signals(random_series(1, 10))
    assert signals.tolist() == [1] + [0] * 9


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown strategy 'nope'"),
        ("sma_cross", {"speed": 3}, "unknown parameter(s) for sma_cross: speed"),
        ("sma_cross", {"fast": "ten"}, "parameter 'fast' must be an integer"),
        ("sma_cross", {"fast": 2.5}, "parameter 'fast' must be an integer"),
        ("sma_cross", {"fast": 0}, "parameter 'fast' must be between 1 and 10000"),
        ("sma_cross", {"fast": 30, "slow": 10}, "sma_cross needs fast < slow"),
        ("rsi_reversion", {"lower": 80}, "rsi_reversion needs lower < upper"),
        ("rsi_reversion", {"upper": "nan"}, "parameter 'upper' must be between"),
    ],
)
def test_bad_parameters_raise_a_clear_error(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(StrategyConfigError) as caught:
        create_strategy(name, params)
    assert message in str(caught.value)


def test_parameters_parse_from_text_and_defaults_apply() -> None:
    strategy = create_strategy("sma_cross", parse_param_pairs(["fast=5", " slow = 50 "]))
    assert strategy.describe() == {"name": "sma_cross", "params": {"fast": 5, "slow": 50}}
    assert create_strategy("rsi_reversion").values == {"period": 14, "lower": 30.0, "upper": 70.0}
    with pytest.raises(StrategyConfigError, match="key=value"):
        parse_param_pairs(["fast"])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000), cut=st.integers(30, 199), name=st.sampled_from(sorted(STRATEGIES))
)
def test_no_look_ahead_changing_later_bars_leaves_earlier_signals(
    seed: int, cut: int, name: str
) -> None:
    series = random_series(seed, 200)
    other = random_series(seed + 1, 200)
    changed = BarSeries(
        series.symbol,
        series.ts,
        np.concatenate([series.open[: cut + 1], other.open[cut + 1 :]]),
        np.concatenate([series.high[: cut + 1], other.high[cut + 1 :]]),
        np.concatenate([series.low[: cut + 1], other.low[cut + 1 :]]),
        np.concatenate([series.close[: cut + 1], other.close[cut + 1 :]]),
        series.volume,
    )
    params = {"fast": 3, "slow": 9} if name == "sma_cross" else {}
    strategy = create_strategy(name, params)
    before = strategy.signals(series)[: cut + 1]
    after = strategy.signals(changed)[: cut + 1]
    assert before.tolist() == after.tolist()
