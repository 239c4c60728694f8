"""Our return metrics against empyrical-reloaded 0.7.1 on the same equity curves (to 1e-9).

empyrical takes a pandas Series of simple returns; we take the equity curve. Both are given the
same periods per year (and the same per-period risk-free return), so any difference is a
difference of convention, not of input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from trading.core.metrics import PerformanceReport, compute_metrics

ep = pytest.importorskip("empyrical")
pd = pytest.importorskip("pandas")

DAY = 86_400 * 1_000_000_000
START = 1_262_304_000_000_000_000  # 2010-01-01T00:00:00Z
RELATIVE = 1e-9


def random_walk(seed: int, n: int, drift: float, vol: float) -> np.ndarray:
    """Equity from 100,000 with normal per-bar returns (a fixed seed: reproducible)."""
    rng = np.random.default_rng(seed)
    return 100_000.0 * np.cumprod(np.concatenate(([1.0], 1.0 + rng.normal(drift, vol, n))))


def real_looking(seed: int = 11) -> np.ndarray:
    """Ten years of a stock-like curve: fat-tailed returns, a calm bull market, a crash with
    clustered volatility, a slow recovery, and flat days while out of the market."""
    rng = np.random.default_rng(seed)
    calm = 0.0005 + 0.008 * rng.standard_t(4, 1_200)
    crash = -0.004 + 0.03 * rng.standard_t(3, 120)
    recovery = 0.0007 + 0.015 * rng.standard_t(4, 900)
    flat = np.zeros(130)
    later = 0.0003 + 0.01 * rng.standard_t(5, 170)
    returns = np.clip(np.concatenate([calm, crash, flat, recovery, later]), -0.5, 0.5)
    return 250_000.0 * np.cumprod(np.concatenate(([1.0], 1.0 + returns)))


CURVES = {
    "walk-up": random_walk(1, 2_000, 0.0004, 0.01),
    "walk-down": random_walk(2, 1_000, -0.0006, 0.02),
    "walk-long": random_walk(3, 100_000, 0.00002, 0.001),
    "real-looking": real_looking(),
    "flat": np.full(300, 50_000.0),
    "ruin": np.array([100.0, 120.0, 60.0, 30.0, -5.0, 10.0, 12.0]),
}

# Each of our fields and how empyrical computes it from returns, periods and per-period rf.
Reference = Callable[[object, float, float], float]
REFERENCES: dict[str, Reference] = {
    "sharpe": lambda r, p, rf: ep.sharpe_ratio(r, risk_free=rf, annualization=p),
    "sortino": lambda r, p, rf: ep.sortino_ratio(r, required_return=rf, annualization=p),
    "max_drawdown": lambda r, p, rf: ep.max_drawdown(r),
    "cagr": lambda r, p, rf: ep.cagr(r, annualization=p),
    "annual_volatility": lambda r, p, rf: ep.annual_volatility(r, annualization=p),
    "calmar": lambda r, p, rf: ep.calmar_ratio(r, annualization=p),
}


def empyrical_returns(equity: np.ndarray) -> object:
    """Simple returns as empyrical expects them; after ruin the account holds nothing (our
    documented convention), which is what a user would feed empyrical too."""
    held = equity.copy()
    ruined = np.flatnonzero(held <= 0)
    if ruined.size:
        held[ruined[0] :] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = held[1:] / held[:-1] - 1.0
    returns[np.isnan(returns)] = 0.0  # 0 / 0 after ruin: no change of nothing
    index = pd.date_range("2010-01-01", periods=len(returns), freq="D")
    return pd.Series(returns, index=index)


def ours(equity: np.ndarray, periods: float, risk_free_rate: float) -> PerformanceReport:
    """Our report on ``equity`` with daily timestamps."""
    ts = START + np.arange(len(equity), dtype=np.int64) * DAY
    return compute_metrics(equity, ts, [], periods=periods, risk_free_rate=risk_free_rate)


def assert_same(field: str, mine: float | None, theirs: float) -> None:
    """Equal to 1e-9 relative; our None is empyrical's NaN or infinity (undefined)."""
    if not math.isfinite(theirs):
        assert mine is None, f"{field}: ours {mine}, empyrical {theirs}"
        return
    assert mine is not None, f"{field}: ours None, empyrical {theirs}"
    assert mine == pytest.approx(theirs, rel=RELATIVE, abs=1e-15), field


@pytest.mark.parametrize("periods", [252.0, 52.0, 365.0])
@pytest.mark.parametrize("name", sorted(CURVES))
@pytest.mark.parametrize("field", sorted(REFERENCES))
def test_matches_empyrical(field: str, name: str, periods: float) -> None:
    equity = CURVES[name]
    report = ours(equity, periods, 0.0)
    theirs = float(REFERENCES[field](empyrical_returns(equity), periods, 0.0))
    assert_same(field, getattr(report, field), theirs)


@pytest.mark.parametrize("name", ["walk-up", "walk-down", "real-looking"])
@pytest.mark.parametrize("field", ["sharpe", "sortino"])
def test_matches_empyrical_with_a_risk_free_rate(field: str, name: str) -> None:
    # Our annual rate becomes the per-period rate empyrical takes: (1 + 4 %)^(1/252) - 1.
    equity = CURVES[name]
    report = ours(equity, 252.0, 0.04)
    per_period = 1.04 ** (1 / 252) - 1
    theirs = float(REFERENCES[field](empyrical_returns(equity), 252.0, per_period))
    assert_same(field, getattr(report, field), theirs)


def test_the_curves_cover_what_the_comparison_is_for() -> None:
    # Guard against a fixture change hollowing out the comparison: the flat curve must be
    # undefined for the ratios, the others defined, and the ruin curve ruined.
    flat = ours(CURVES["flat"], 252.0, 0.0)
    assert flat.sharpe is None and flat.calmar is None and flat.max_drawdown == 0.0
    for name in ("walk-up", "walk-down", "walk-long", "real-looking"):
        report = ours(CURVES[name], 252.0, 0.0)
        assert report.sharpe is not None and report.calmar is not None, name
    assert ours(CURVES["ruin"], 252.0, 0.0).ruined
