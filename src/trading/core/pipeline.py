"""One backtest from bars to metrics: signals → engine → performance report.

The same composition the workflow runs step by step (ProcessMarketData computes the signals,
ExecuteTrades runs the engine, AnalyzePerformance the metrics), in one call for the CLI's
checks, the benchmarks and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trading.core.backtest import EngineResult, EngineState, run_engine
from trading.core.bars import BarSeries, SignalArray
from trading.core.config import RunConfig
from trading.core.metrics import PerformanceReport, compute_metrics
from trading.core.model import Trade
from trading.sdk.base import SignalStrategy, Strategy
from trading.sdk.compute import compute_signals


@dataclass(slots=True)
class BacktestOutcome:
    """Signals (empty for a strategy of another form), the engine's result and the metrics
    of one run."""

    signals: dict[str, SignalArray]
    engine: EngineResult
    metrics: PerformanceReport


def scored_trades(engine: EngineResult) -> list[Trade]:
    """The trades metrics are computed over: closed ones and marked-open ones (flagged)."""
    return [*engine.trades, *engine.open_trades]


def run_backtest(
    series: Mapping[str, BarSeries],
    strategy: Strategy,
    config: RunConfig,
    *,
    state: EngineState | None = None,
    risk_free_rate: float = 0.0,
) -> BacktestOutcome:
    """Run ``strategy`` (any form) over ``series`` with ``config`` and score the result.

    Signal strategies take the engine's signal paths (columnar when it covers the run); the
    other forms run bar by bar on the broker (:func:`trading.sdk.drive.run_strategy`). A
    strategy that raises gives ``StrategyRuntimeError`` naming it and the line."""
    signals: dict[str, SignalArray] = {}
    if isinstance(strategy, SignalStrategy):
        signals = compute_signals(strategy, series)
        engine = run_engine(series, signals, config, state)
    else:
        from trading.sdk.drive import run_strategy

        engine = run_strategy(series, strategy, config, state)
    metrics = compute_metrics(
        engine.equity,
        engine.ts,
        engine.trade_columns(),
        in_market=engine.in_market,
        risk_free_rate=risk_free_rate,
    )
    return BacktestOutcome(signals, engine, metrics)
