"""run_backtest: the composition the workflow runs, in one call."""

from __future__ import annotations

import pytest

from tests.builders import random_series
from trading.core.backtest import run_engine
from trading.core.config import Mode, RunConfig
from trading.core.pipeline import run_backtest
from trading.core.strategies import create_strategy


def test_run_backtest_scores_closed_and_marked_open_trades() -> None:
    series = {"AAA": random_series(11, 300, "AAA"), "BBB": random_series(12, 300, "BBB")}
    strategy = create_strategy("sma_cross", {"fast": 5, "slow": 20})
    config = RunConfig(mode=Mode.LONG_SHORT)
    outcome = run_backtest(series, strategy, config)
    direct = run_engine(series, {s: strategy.signals(b) for s, b in series.items()}, config)
    assert outcome.engine.equity.tolist() == direct.equity.tolist()
    report = outcome.metrics
    assert report.trades == len(direct.trades) + len(direct.open_trades)
    assert report.open_trades == len(direct.open_trades) > 0
    assert report.final_equity == pytest.approx(direct.equity[-1])
    pnl = sum(t.pnl for t in direct.trades + direct.open_trades)
    assert report.final_equity == pytest.approx(config.initial_cash + pnl)
