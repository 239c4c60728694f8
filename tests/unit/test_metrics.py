"""Performance metrics: hand-computed values, degenerate cases and invariants a user relies on."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.builders import random_series
from trading.core.backtest import run_engine
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig
from trading.core.metrics import PerformanceReport, SymbolPnl, compute_metrics, periods_per_year
from trading.core.model import Trade
from trading.core.strategies import create_strategy

DAY = 86_400 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000
MINUTE = 60 * 1_000_000_000
MONDAY = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z, a Monday


def days(n: int, start: int = MONDAY) -> np.ndarray:
    """``n`` consecutive calendar days from ``start``."""
    return start + np.arange(n, dtype=np.int64) * DAY


def at(*moments: str) -> np.ndarray:
    """Epoch ns of ISO UTC moments."""
    return np.array(
        [int(datetime.fromisoformat(m).replace(tzinfo=UTC).timestamp()) * 10**9 for m in moments],
        dtype=np.int64,
    )


def trade(symbol: str, pnl: float, *, price: float = 100.0, is_open: bool = False) -> Trade:
    """A 10-share round trip entered at ``price`` (notional 1,000 at the default price)."""
    return Trade(symbol, "long", 10, MONDAY, price, MONDAY + DAY, price, 0, 1, pnl, 1.0, is_open)


def report_of(equity: list[float], **options: object) -> PerformanceReport:
    """Metrics of a daily curve without trades (periods given, so the calendar does not matter)."""
    options.setdefault("periods", 252.0)
    return compute_metrics(np.array(equity, dtype=float), days(len(equity)), [], **options)  # type: ignore[arg-type]


def json_safe(report: PerformanceReport) -> dict[str, object]:
    """``to_dict`` round-tripped through strict JSON (fails on NaN or infinity)."""
    return json.loads(json.dumps(report.to_dict(), allow_nan=False))  # type: ignore[no-any-return]


# -- returns, ratios and drawdown, computed by hand -------------------------------------------


def test_return_metrics_of_a_small_curve_match_the_hand_computation() -> None:
    # 100 -> 110 -> 99 -> 108.9: returns +10 %, -10 %, +10 %; mean 1/30.
    # Sample variance: ((1/15)^2 + (2/15)^2 + (1/15)^2) / 2 = 0.04/3, std = 0.2/sqrt(3).
    # With 4 periods a year: volatility = std * 2; Sharpe = mean/std * 2 = 1/sqrt(3);
    # downside deviation = sqrt(0.1^2 / 3) = 0.1/sqrt(3), Sortino = mean * 2 / that = 2/sqrt(3).
    report = report_of([100.0, 110.0, 99.0, 108.9], periods=4.0)
    assert report.total_return == pytest.approx(0.089)
    assert report.cagr == pytest.approx(1.089 ** (4 / 3) - 1)  # 3 returns = 3/4 of a year
    assert report.annual_volatility == pytest.approx(0.4 / math.sqrt(3))
    assert report.sharpe == pytest.approx(1 / math.sqrt(3))
    assert report.sortino == pytest.approx(2 / math.sqrt(3))
    # Peak 110, trough 99: -10 %. Calmar = CAGR / 0.10.
    assert report.max_drawdown == pytest.approx(-0.1)
    assert report.calmar == pytest.approx((1.089 ** (4 / 3) - 1) / 0.1)
    assert report.periods_per_year == 4.0


def test_risk_free_rate_is_annual_and_compounds_to_a_per_period_rate() -> None:
    # 46.41 % a year over 4 periods is exactly 10 % a period: excess returns 0, -20 %, 0.
    # Excess mean -1/15, std unchanged 0.2/sqrt(3): Sharpe = -(1/15) / (0.2/sqrt(3)) * 2.
    # Downside of the excess: sqrt(0.2^2 / 3), Sortino = -(1/15) * 2 / (0.2/sqrt(3)).
    report = report_of([100.0, 110.0, 99.0, 108.9], periods=4.0, risk_free_rate=1.1**4 - 1)
    assert report.sharpe == pytest.approx(-2 / math.sqrt(3))
    assert report.sortino == pytest.approx(-2 / math.sqrt(3))
    assert report.annual_volatility == pytest.approx(0.4 / math.sqrt(3))  # rf does not move it
    assert report.risk_free_rate == pytest.approx(0.4641)


def test_longest_drawdown_runs_from_the_peak_to_the_bar_back_at_the_peak() -> None:
    # Bars:    0    1    2    3    4    5    6
    # Equity: 100  120  90   100  120  110  130
    # Drawdowns: bar 1 -> bar 4 (3 bars, recovered), bar 4 -> bar 6 (2 bars). Worst: 90/120 - 1.
    report = report_of([100.0, 120.0, 90.0, 100.0, 120.0, 110.0, 130.0])
    assert report.max_drawdown == pytest.approx(-0.25)
    assert report.longest_drawdown_bars == 3
    assert report.longest_drawdown_seconds == 3 * 86_400
    assert report.longest_drawdown_recovered is True


def test_a_drawdown_still_open_at_the_end_lasts_until_the_last_bar() -> None:
    # Peak at bar 1 (110), never regained: 2 bars (bar 1 -> bar 3), not recovered.
    report = report_of([100.0, 110.0, 99.0, 108.9])
    assert report.longest_drawdown_bars == 2
    assert report.longest_drawdown_seconds == 2 * 86_400
    assert report.longest_drawdown_recovered is False


def test_a_drawdown_of_one_bar_at_the_end_is_still_a_drawdown() -> None:
    # 100 -> 101 (new peak) -> 90: one bar under water, not recovered.
    report = report_of([100.0, 101.0, 90.0])
    assert report.longest_drawdown_bars == 1
    assert report.longest_drawdown_recovered is False


def test_drawdown_duration_in_time_follows_the_timestamps() -> None:
    # Peak on Friday, back on Monday: 1 bar but 3 days.
    equity = np.array([100.0, 90.0, 100.0])
    ts = at("2024-01-05T00:00:00", "2024-01-08T00:00:00", "2024-01-09T00:00:00")
    report = compute_metrics(equity, ts, [], periods=252.0)
    assert report.longest_drawdown_bars == 2
    assert report.longest_drawdown_seconds == 4 * 86_400


def test_exposure_is_the_fraction_of_bars_in_the_market() -> None:
    in_market = np.array([False, True, True, False])
    report = compute_metrics(np.full(4, 100.0), days(4), [], in_market=in_market)
    assert report.exposure == 0.5
    assert report_of([100.0, 101.0]).exposure is None  # not given: unknown, not zero


def test_start_and_end_are_reported_with_iso_times() -> None:
    report = report_of([100.0, 105.0, 103.0])
    assert (report.start_equity, report.final_equity) == (100.0, 103.0)
    assert (report.start_ts, report.end_ts) == (MONDAY, MONDAY + 2 * DAY)
    data = report.to_dict()
    assert data["start_time"] == "2024-01-01T00:00:00Z"
    assert data["end_time"] == "2024-01-03T00:00:00Z"
    assert data["bars"] == 3


# -- trade statistics, computed by hand ---------------------------------------------------------


def test_trade_statistics_match_the_hand_computation() -> None:
    # P&L 50, -20, 30, -10, 0 on notional 1,000 each; a zero P&L is neither a win nor a loss.
    trades = [
        trade("AAA", 50.0),
        trade("AAA", -20.0),
        trade("BBB", 30.0),
        trade("BBB", -10.0),
        trade("BBB", 0.0, is_open=True),
    ]
    report = compute_metrics(np.full(3, 100.0), days(3), trades)
    assert report.trades == 5
    assert report.open_trades == 1
    assert report.win_rate == pytest.approx(2 / 5)
    assert report.gross_profit == pytest.approx(80.0)
    assert report.gross_loss == pytest.approx(-30.0)
    assert report.profit_factor == pytest.approx(80 / 30)
    assert report.expectancy == pytest.approx(10.0)  # 50 / 5
    assert report.average_win == pytest.approx(40.0)
    assert report.average_loss == pytest.approx(-15.0)
    assert report.best_trade == pytest.approx(0.05)  # 50 / 1,000
    assert report.worst_trade == pytest.approx(-0.02)
    # Deviations from 10: 40, -30, 20, -20, -10 -> squares sum 3,400, sample variance 850.
    assert report.sqn == pytest.approx(math.sqrt(5) * 10 / math.sqrt(850))
    assert report.per_symbol == {"AAA": SymbolPnl(30.0, 2), "BBB": SymbolPnl(20.0, 3)}
    assert report.to_dict()["per_symbol"] == {
        "AAA": {"pnl": 30.0, "trades": 2},
        "BBB": {"pnl": 20.0, "trades": 3},
    }


def test_best_and_worst_trade_are_returns_not_money() -> None:
    # 40 on 10 x 50 = 8 %; 100 on 10 x 1,000 = 1 %: the smaller profit is the better trade.
    trades = [trade("A", 40.0, price=50.0), trade("B", 100.0, price=1_000.0)]
    report = compute_metrics(np.full(2, 100.0), days(2), trades)
    assert report.best_trade == pytest.approx(0.08)
    assert report.worst_trade == pytest.approx(0.01)


# -- degenerate cases: documented values, never a crash, never NaN ----------------------------


def test_no_bars_gives_an_empty_report() -> None:
    report = compute_metrics(np.array([]), np.array([], dtype=np.int64), [])
    data = json_safe(report)
    assert data["bars"] == 0
    for key in ("start_equity", "final_equity", "total_return", "cagr", "sharpe", "max_drawdown"):
        assert data[key] is None
    assert data["start_time"] is None
    assert report.periods_per_year == 252.0


def test_one_bar_has_no_returns() -> None:
    data = json_safe(report_of([100.0]))
    assert data["total_return"] == 0.0
    assert data["max_drawdown"] == 0.0
    for key in ("cagr", "annual_volatility", "sharpe", "sortino", "calmar"):
        assert data[key] is None, key
    assert data["longest_drawdown_bars"] == 0


def test_two_bars_have_a_cagr_but_no_dispersion() -> None:
    report = report_of([100.0, 101.0], periods=1.0)
    assert report.cagr == pytest.approx(0.01)
    assert report.annual_volatility is None
    assert report.sharpe is None
    assert report.sortino is None


def test_flat_equity_has_zero_volatility_and_no_ratios() -> None:
    data = json_safe(report_of([100.0] * 10))
    assert data["total_return"] == 0.0
    assert data["cagr"] == 0.0
    assert data["annual_volatility"] == 0.0
    assert data["max_drawdown"] == 0.0
    assert data["sharpe"] is None  # 0 / 0
    assert data["sortino"] is None
    assert data["calmar"] is None  # no drawdown to divide by


def test_constant_growth_has_no_sharpe_rather_than_a_huge_one() -> None:
    # Equal returns: the std is 0 in exact arithmetic; a float residue must not make 1e15.
    report = report_of([100.0, 110.0, 121.0, 133.1])
    assert report.sharpe is None
    assert report.sortino is None  # never below zero


def test_a_curve_that_only_rises_has_no_sortino_and_no_calmar() -> None:
    report = report_of([100.0, 101.0, 103.0, 104.0])
    assert report.sharpe is not None and report.sharpe > 0
    assert report.sortino is None
    assert report.max_drawdown == 0.0
    assert report.calmar is None


def test_no_trades_gives_no_trade_statistics() -> None:
    data = json_safe(report_of([100.0, 101.0]))
    assert data["trades"] == 0
    for key in ("win_rate", "profit_factor", "expectancy", "average_win", "sqn", "best_trade"):
        assert data[key] is None, key
    assert data["per_symbol"] == {}
    assert data["gross_profit"] == 0.0


def test_only_losing_trades_have_a_profit_factor_of_zero() -> None:
    report = compute_metrics(np.full(2, 1.0), days(2), [trade("A", -5.0), trade("A", -15.0)])
    assert report.profit_factor == 0.0
    assert report.win_rate == 0.0
    assert report.average_win is None
    assert report.average_loss == pytest.approx(-10.0)


def test_only_winning_trades_have_no_profit_factor() -> None:
    report = compute_metrics(np.full(2, 1.0), days(2), [trade("A", 5.0), trade("A", 15.0)])
    assert report.profit_factor is None  # infinite: nothing lost
    assert report.win_rate == 1.0
    assert report.average_loss is None


def test_sqn_needs_two_trades_with_different_pnl() -> None:
    one = compute_metrics(np.full(2, 1.0), days(2), [trade("A", 5.0)])
    same = compute_metrics(np.full(2, 1.0), days(2), [trade("A", 5.0), trade("A", 5.0)])
    assert one.sqn is None
    assert same.sqn is None


def test_equity_at_or_below_zero_is_ruin() -> None:
    # 100 -> 50 -> -10 -> 20: ruin at bar 2; from there the account holds nothing.
    # Returns -50 %, -100 %, 0; mean -1/2, sample std 1/2: Sharpe = -sqrt(P).
    report = report_of([100.0, 50.0, -10.0, 20.0], periods=4.0)
    assert report.ruined is True
    assert report.total_return == -1.0
    assert report.cagr == -1.0
    assert report.max_drawdown == -1.0
    assert report.calmar == -1.0
    assert report.sharpe == pytest.approx(-2.0)
    assert report.longest_drawdown_bars == 3
    assert report.longest_drawdown_recovered is False
    assert report.final_equity == 20.0  # the raw value is still reported
    json_safe(report)


def test_no_starting_capital_gives_no_return_metrics() -> None:
    data = json_safe(report_of([0.0, 10.0, 20.0]))
    assert data["ruined"] is True
    for key in ("total_return", "cagr", "sharpe", "max_drawdown", "calmar"):
        assert data[key] is None, key


def test_a_cagr_too_large_for_a_float_is_null() -> None:
    # Two one-minute bars annualised over 98,280 periods: 2^98280 overflows.
    report = report_of([100.0, 200.0], periods=98_280.0)
    assert report.cagr is None
    assert report.total_return == 1.0
    json_safe(report)


@pytest.mark.parametrize(
    ("equity", "ts", "options", "message"),
    [
        ([1.0, 2.0], [0], {}, "one length"),
        ([1.0, math.nan], [0, 1], {}, "finite"),
        ([1.0, math.inf], [0, 1], {}, "finite"),
        ([1.0, 2.0], [0, 1], {"periods": 0.0}, "periods"),
        ([1.0, 2.0], [0, 1], {"in_market": np.array([True])}, "in_market"),
        ([1.0, 2.0], [0, 1], {"risk_free_rate": -1.0}, "risk_free_rate"),
    ],
)
def test_inconsistent_inputs_are_rejected_with_a_clear_error(
    equity: list[float], ts: list[int], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(np.array(equity), np.array(ts, dtype=np.int64), [], **options)  # type: ignore[arg-type]


# -- periods per year -----------------------------------------------------------------------


def business_days(n: int) -> np.ndarray:
    """``n`` weekdays from Monday 2024-01-01, skipping weekends."""
    stamps = [MONDAY + d * DAY for d in range(n * 2) if d % 7 < 5]
    return np.array(stamps[:n], dtype=np.int64)


def sessions(first_day: int, n_days: int, bars: int, step: int, open_at: int) -> np.ndarray:
    """``bars`` bars ``step`` apart from ``open_at`` on ``n_days`` consecutive days."""
    day_starts = first_day + np.arange(n_days, dtype=np.int64) * DAY + open_at
    return (day_starts[:, None] + np.arange(bars, dtype=np.int64) * step).ravel()


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (business_days(30), 252.0),  # daily stock bars, weekends missing
        (days(30), 365.0),  # daily crypto bars, weekends present
        (days(5), 252.0),  # Mon..Fri of 24/7 data cannot show it yet
        (days(20, start=MONDAY + 6 * DAY)[::7], 52.0),  # weekly
        (at(*(f"2024-{m:02d}-01T00:00:00" for m in range(1, 13))), 12.0),  # monthly
        (at("2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01", "2021-01-01"), 4.0),
        (at("2019-12-31", "2020-12-31", "2021-12-31"), 1.0),
        # US session 14:30-21:00 UTC: 390 one-minute bars a day, or 7 hourly bars (14:30..20:30).
        (sessions(MONDAY, 5, 390, MINUTE, 14 * HOUR + 30 * MINUTE), 252.0 * 390),
        (sessions(MONDAY, 5, 7, HOUR, 14 * HOUR + 30 * MINUTE), 252.0 * 7),
        (sessions(MONDAY, 14, 24, HOUR, 0), 365.0 * 24),  # hourly crypto over two weekends
        # The same before 1970 (negative stamps), 3,000 weeks earlier: the same weekdays.
        (business_days(30) - 3_000 * 7 * DAY, 252.0),
        (sessions(MONDAY - 3_000 * 7 * DAY, 5, 7, HOUR, 14 * HOUR + 30 * MINUTE), 252.0 * 7),
        (sessions(MONDAY - 3_000 * 7 * DAY, 14, 24, HOUR, 0), 365.0 * 24),
        (np.array([MONDAY]), 252.0),
        (np.array([], dtype=np.int64), 252.0),
    ],
)
def test_periods_per_year_follow_the_bar_spacing(ts: np.ndarray, expected: float) -> None:
    assert periods_per_year(ts) == expected


def test_a_bar_at_midnight_counts_on_the_day_it_opens() -> None:
    # Monday 00:00 and 01:00, Tuesday 00:00 and 01:00, Wednesday 00:00: 2, 2 and 1 bars.
    ts = np.array([0, HOUR, DAY, DAY + HOUR, 2 * DAY], dtype=np.int64) + MONDAY
    assert periods_per_year(ts) == 252.0 * 2


def test_a_far_time_zone_week_is_not_mistaken_for_24_7_trading() -> None:
    # Tokyo daily bars stamped 23:00 UTC the day before: Sunday..Thursday in UTC.
    ts = business_days(20) - HOUR
    assert periods_per_year(ts) == 252.0


def test_futures_sessions_across_midnight_count_their_bars() -> None:
    # 23 hourly bars a day from Sunday 23:00 UTC to Friday 21:00 UTC: Sunday has one bar, the
    # other days 23 or 24 hours' worth spread over two UTC days; the median day has 23 or 24.
    starts = MONDAY - HOUR + np.arange(5, dtype=np.int64) * DAY  # Sun..Thu 23:00
    ts = (starts[:, None] + np.arange(23, dtype=np.int64) * HOUR).ravel()
    assert 252.0 * 22 <= periods_per_year(ts) <= 252.0 * 24


def test_the_report_uses_the_inferred_periods_unless_told_otherwise() -> None:
    equity = np.linspace(100.0, 110.0, 30)
    assert compute_metrics(equity, business_days(30), []).periods_per_year == 252.0
    assert compute_metrics(equity, business_days(30), [], periods=12.0).periods_per_year == 12.0


# -- properties -----------------------------------------------------------------------------

RATIO_FIELDS = ("total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar")
SHAPE_FIELDS = ("max_drawdown", "longest_drawdown_bars", "longest_drawdown_seconds", "ruined")

returns_lists = st.lists(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False), min_size=0, max_size=60
)


def curve(start: float, returns: list[float]) -> np.ndarray:
    """An equity curve from a start value and per-bar returns."""
    return start * np.cumprod(np.concatenate(([1.0], 1.0 + np.array(returns))))


@settings(max_examples=200, deadline=None)
@given(returns=returns_lists, start=st.floats(1e-3, 1e9), power=st.integers(-20, 20))
def test_scaling_initial_cash_by_a_power_of_two_changes_no_ratio(
    returns: list[float], start: float, power: int
) -> None:
    # A power of two scales every equity value exactly, so every ratio must be bit-identical.
    equity = curve(start, returns)
    base = report_of(list(equity))
    scaled = report_of(list(equity * 2.0**power))
    for name in RATIO_FIELDS + SHAPE_FIELDS:
        assert getattr(scaled, name) == getattr(base, name), name


@settings(max_examples=200, deadline=None)
@given(returns=returns_lists, factor=st.floats(1e-3, 1e6))
def test_scaling_initial_cash_by_any_factor_changes_no_ratio(
    returns: list[float], factor: float
) -> None:
    # Returns only change in the last bits; keep away from a near-zero std or drawdown, whose
    # ratios would amplify those bits.
    assume(len(returns) >= 2 and np.std(returns) > 1e-3)
    assume(min(returns) < -1e-3)
    equity = curve(100.0, returns)
    base = report_of(list(equity))
    scaled = report_of(list(equity * factor))
    for name in (*RATIO_FIELDS, "max_drawdown"):
        expected = getattr(base, name)
        if expected is None:
            assert getattr(scaled, name) is None, name
        else:
            assert getattr(scaled, name) == pytest.approx(expected, rel=1e-9, abs=1e-12), name


@settings(max_examples=300, deadline=None)
@given(
    equity=st.lists(st.floats(min_value=1e-6, max_value=1e12), min_size=0, max_size=50),
    periods=st.sampled_from([None, 1.0, 12.0, 252.0, 98_280.0]),
    risk_free=st.floats(min_value=0.0, max_value=0.2),
)
def test_any_finite_positive_curve_gives_strict_json_and_a_drawdown_in_range(
    equity: list[float], periods: float | None, risk_free: float
) -> None:
    report = compute_metrics(
        np.array(equity, dtype=float),
        days(len(equity)),
        [trade("A", 1.0), trade("B", -2.0)],
        periods=periods,
        risk_free_rate=risk_free,
    )
    json_safe(report)  # raises on NaN or infinity
    if equity:
        assert report.max_drawdown is not None and -1.0 <= report.max_drawdown <= 0.0
        assert 0 <= report.longest_drawdown_bars < len(equity)


def drawdown_by_walking(equity: np.ndarray) -> tuple[float, int, bool]:
    """Max drawdown, longest drawdown (bars) and whether it recovered, walking the bars in
    Python: the definitions of docs/metrics.md, with ruin absorbing."""
    values = [float(v) for v in equity]
    for k, value in enumerate(values):
        if value <= 0:
            values[k:] = [0.0] * (len(values) - k)
            break
    peak, worst = -math.inf, 0.0
    peaks = []
    for k, value in enumerate(values):
        if value >= peak:
            peak = value
            peaks.append(k)
        worst = min(worst, value / peak - 1.0)
    lengths = [b - a if b - a > 1 else 0 for a, b in pairwise(peaks)]
    lengths.append(len(values) - 1 - peaks[-1])
    longest = lengths.index(max(lengths))
    return worst, lengths[longest], lengths[longest] == 0 or longest < len(peaks) - 1


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    stretches=st.lists(
        st.tuples(
            st.integers(1, 3_000),  # bars
            st.sampled_from([-0.01, -0.001, 0.0, 0.001, 0.05]),  # drift a bar
            st.sampled_from([0.0, 0.5, 0.99, 1.0]),  # share of bars that do not move
        ),
        min_size=1,
        max_size=8,
    ),
    ruin=st.booleans(),
)
def test_drawdown_of_a_long_curve_follows_its_running_peak_bar_by_bar(
    seed: int, stretches: list[tuple[int, float, float]], ruin: bool
) -> None:
    # Long curves in stretches: new highs rare or on every bar, equity standing still at its
    # peak across many bars (a tie is back at the peak), ruin part way.
    rng = np.random.default_rng(seed)
    moves = np.concatenate(
        [
            np.where(rng.random(bars) < still, 0.0, rng.normal(drift, 0.01, bars))
            for bars, drift, still in stretches
        ]
    )
    equity = 100.0 * np.exp(np.cumsum(moves))
    if ruin:
        equity[rng.integers(0, equity.shape[0]) :] -= 1e40
    report = report_of(list(equity))
    if equity[0] <= 0:
        assert report.max_drawdown is None
        return
    worst, longest, recovered = drawdown_by_walking(equity)
    assert report.max_drawdown == worst  # bit for bit: the same divisions
    assert report.longest_drawdown_bars == longest
    assert report.longest_drawdown_recovered is recovered


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bars=st.integers(3, 140_000),
    risk_free=st.sampled_from([0.0, 0.05]),
)
def test_volatility_and_downside_of_a_long_curve_sum_every_return(
    seed: int, bars: int, risk_free: float
) -> None:
    # Against sums of every squared return in exact arithmetic (math.fsum): a return left
    # out or counted twice would be far outside the 1e-12 of rounding.
    rng = np.random.default_rng(seed)
    equity = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, bars)))
    report = report_of(list(equity), risk_free_rate=risk_free)
    returns = (equity[1:] / equity[:-1] - 1.0).tolist()
    mean = math.fsum(returns) / len(returns)
    per_bar = (1.0 + risk_free) ** (1.0 / 252.0) - 1.0
    std = math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    downside = math.sqrt(math.fsum(min(r - per_bar, 0.0) ** 2 for r in returns) / len(returns))
    assert report.annual_volatility == pytest.approx(std * math.sqrt(252.0), rel=1e-12)
    if downside == 0:
        assert report.sortino is None
    else:
        expected = (mean - per_bar) * math.sqrt(252.0) / downside
        assert report.sortino == pytest.approx(expected, rel=1e-9)


# -- on a real engine run -------------------------------------------------------------------


def test_metrics_of_an_engine_run_agree_with_its_fills_and_equity() -> None:
    series = random_series(5, 400)
    signals = create_strategy("sma_cross", {"fast": 5, "slow": 20}).signals(series)
    config = RunConfig(
        initial_cash=10_000.0,
        mode=Mode.LONG_SHORT,
        execution=ExecutionConfig(commission_rate=0.001),
    )
    result = run_engine({"TEST": series}, {"TEST": signals}, config)
    trades = result.trades + result.open_trades
    report = compute_metrics(result.equity, result.ts, trades, in_market=result.in_market)

    assert report.final_equity == pytest.approx(float(result.equity[-1]))
    assert report.total_return == pytest.approx(result.equity[-1] / result.equity[0] - 1)
    assert report.trades == len(trades) > 0
    assert report.open_trades == len(result.open_trades)
    # Closed and marked-open trades together account for every change in equity.
    net = sum(t.pnl for t in trades)
    assert net == pytest.approx(result.equity[-1] - result.equity[0], rel=1e-9, abs=1e-6)
    assert sum(s.pnl for s in report.per_symbol.values()) == pytest.approx(net)
    assert report.exposure == pytest.approx(float(np.mean(result.in_market)))
    assert report.periods_per_year == 365.0  # the builders' daily bars run through weekends
    json_safe(report)


def test_an_engine_runs_trade_columns_are_those_of_its_closed_then_open_trades() -> None:
    # One symbol (its closed trades' symbol is known), several, and one symbol run on an
    # account that still holds another symbol from an earlier run (marked open in that one).
    config = RunConfig(initial_cash=10_000.0, mode=Mode.LONG_SHORT)
    strategy = create_strategy("sma_cross", {"fast": 3, "slow": 8})
    a, b = random_series(1, 300, "AAA"), random_series(2, 300, "BBB")
    both = {"AAA": a.slice(0, 150), "BBB": b.slice(0, 150)}
    earlier = run_engine(both, {s: strategy.signals(v) for s, v in both.items()}, config)
    # Tight exits on every entry: some bars reach both, decided stop-loss first.
    exits = replace(config, exits=AttachedExits(stop_loss_pct=0.01, take_profit_pct=0.01))
    runs = [
        run_engine({"AAA": a}, {"AAA": strategy.signals(a)}, config),
        earlier,
        run_engine({"AAA": a}, {"AAA": strategy.signals(a)}, config, earlier.state),
        run_engine({"AAA": a}, {"AAA": strategy.signals(a)}, exits),
    ]
    assert {t.symbol for t in runs[2].open_trades} == {"AAA", "BBB"}
    assert runs[3].path == "columnar" and any(t.stop_first for t in runs[3].trades)
    assert all(result.open_trades for result in runs[:3])
    for result in runs:
        assert result.trades
        trades = [*result.trades, *result.open_trades]
        columns = result.trade_columns()
        assert columns.symbol == [t.symbol for t in trades]
        assert columns.pnl.tolist() == [t.pnl for t in trades]
        assert columns.notional.tolist() == [t.quantity * t.entry_price for t in trades]
        assert columns.open_trades == len(result.open_trades)
        assert columns.stop_first_trades == sum(t.stop_first for t in trades)
