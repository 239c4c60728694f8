"""run_backtest: the composition the workflow runs, in one call."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import DAY, T0, random_series
from trading.core.backtest import run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.metrics import compute_metrics
from trading.core.pipeline import run_backtest, scored_trades
from trading.core.settings import resolve_settings
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


def test_the_report_counts_trades_decided_by_the_stop_loss_first_assumption() -> None:
    # Bar 1: enter at the open (100); bar 2 reaches both the stop (95) and the target (110)
    # inside the bar: the stop-loss is assumed first. Bar 4: re-enter; bar 5 reaches only
    # the target.
    opens = [100.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    highs = [100.0, 100.5, 112.0, 100.0, 100.5, 111.0]
    lows = [100.0, 99.5, 94.0, 100.0, 99.5, 99.0]
    closes = [100.0, 100.0, 100.0, 100.0, 100.0, 105.0]
    series = BarSeries(
        "TEST",
        T0 + np.arange(6, dtype=np.int64) * DAY,
        *(np.array(v) for v in (opens, highs, lows, closes)),
        np.full(6, 1e6),
    )
    strategy = create_strategy("buy_and_hold", {"stop_loss": 0.05, "take_profit": 0.1})
    signals = np.array([1, 0, 0, 1, 0, 0], dtype=np.int8)
    config = resolve_settings(
        None, {"strategy": "buy_and_hold", "params": strategy.values}
    ).run_config()
    engine = run_engine({"TEST": series}, {"TEST": signals}, config)
    assert [(t.exit_kind, t.stop_first, t.exit_price) for t in engine.trades] == [
        ("stop_loss", True, 95.0),
        ("take_profit", False, pytest.approx(110.0)),
    ]
    metrics = compute_metrics(engine.equity, engine.ts, scored_trades(engine))
    assert metrics.stop_first_trades == 1 and metrics.to_dict()["stop_first_trades"] == 1
