"""Core pipeline throughput: bars in memory → indicators → signals → execution → metrics.

Prints bars/s for our pipeline (first call, i.e. a cold Lambda, and best of several) and the
ratio to backtesting.py on the same bars and the same SMA-cross strategy, measured in this run.
Goals (issue 2): >= 2,000,000 bars/s and >= 40x backtesting.py; first call as fast as the tenth.
Each case also runs on the broker path (an object per order): the factor the columnar path gains
there is issue 14's measure for these two cases (the same factor as ``bench_engines``' case).
The variant with a stop-loss and a take-profit on every entry (issue 7) prints its bars/s and
its slowdown against the plain run of the same strategy measured just before (goal <= 2x).
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass

from benchmarks.synthetic import synthetic_series
from trading.core.backtest import run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig
from trading.core.metrics import compute_metrics
from trading.core.strategies import create_strategy

# No commission: with a trade every ~26 bars, any realistic commission ruins the account on a
# driftless random walk within the first 10% of the bars, and both engines then idle.
COMMISSION = 0.0
# The exits of the stop-loss/take-profit variant, fractions of each entry's fill price.
EXITS = AttachedExits(stop_loss_pct=0.002, take_profit_pct=0.004)


@dataclass(frozen=True)
class Timing:
    """Seconds of one pipeline run, split by stage."""

    signals: float
    engine: float
    metrics: float
    trades: int
    cpu: float  # CPU seconds of the whole (a shared machine inflates wall time, not this)

    @property
    def total(self) -> float:
        """Whole pipeline."""
        return self.signals + self.engine + self.metrics


def our_pipeline(
    series: BarSeries,
    fast: int,
    slow: int,
    exits: AttachedExits | None = None,
    path: str = "auto",
) -> Timing:
    """One full run of our pipeline over ``series`` (every entry carrying ``exits``; on the
    execution path ``path``: ``"auto"``, the one the run takes by itself)."""
    cpu = time.process_time()
    start = time.perf_counter()
    strategy = create_strategy("sma_cross", {"fast": fast, "slow": slow})
    signals = strategy.signals(series)
    after_signals = time.perf_counter()
    config = RunConfig(
        mode=Mode.LONG_SHORT,
        execution=ExecutionConfig(commission_rate=COMMISSION),
        exits=exits,
    )
    result = run_engine({series.symbol: series}, {series.symbol: signals}, config, path=path)
    after_engine = time.perf_counter()
    compute_metrics(result.equity, result.ts, result.trade_columns(), in_market=result.in_market)
    end = time.perf_counter()
    return Timing(
        after_signals - start,
        after_engine - after_signals,
        end - after_engine,
        len(result.trades),
        time.process_time() - cpu,
    )


def backtesting_py(series: BarSeries, fast: int, slow: int) -> tuple[float, int]:
    """Seconds backtesting.py takes for the same strategy, written as its docs show it."""
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    frame = pd.DataFrame(
        {
            "Open": series.open,
            "High": series.high,
            "Low": series.low,
            "Close": series.close,
            "Volume": series.volume,
        },
        index=pd.to_datetime(series.ts, utc=True).tz_localize(None),
    )

    def sma(values: pd.Series, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.sell()

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Some trades remain open": as ours, on purpose
        stats = Backtest(
            frame, SmaCross, cash=100_000, commission=COMMISSION, exclusive_orders=True
        ).run()
    return time.perf_counter() - start, int(stats["# Trades"])


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--skip-reference", action="store_true", help="skip backtesting.py")
    args = parser.parse_args()
    series = synthetic_series(args.bars)
    print(
        f"== core pipeline, {args.bars:,} synthetic 1-minute bars, long/short, "
        f"commission {COMMISSION:.1%}, full-cash sizing =="
    )
    for fast, slow in ((10, 30), (50, 200)):
        first = our_pipeline(series, fast, slow)
        runs = [first, *(our_pipeline(series, fast, slow) for _ in range(args.repeat - 1))]
        best = min(runs, key=lambda t: t.total)
        rate = args.bars / best.total / 1e6
        print(
            f"sma_cross({fast},{slow}) trades={best.trades:,}"
            f"  first call {first.total * 1e3:7.1f} ms  best {best.total * 1e3:7.1f} ms"
            f" (signals {best.signals * 1e3:.1f} + engine {best.engine * 1e3:.1f}"
            f" + metrics {best.metrics * 1e3:.1f}; CPU {min(r.cpu for r in runs) * 1e3:.1f})"
            f"  -> {rate:5.2f} M bars/s"
            f" (first/best {first.total / best.total:.2f}x)"
        )
        # The broker path (an object per order: the engine before the columnar path of
        # issue 14) on the same case: the factor the columnar path gains here, to set beside
        # bench_engines' main case (issue 14 asks for the same factor on these two).
        broker = min(
            (our_pipeline(series, fast, slow, path="broker") for _ in range(2)),
            key=lambda t: t.cpu,
        )
        print(
            f"  broker path: CPU {broker.cpu * 1e3:7.1f} ms (engine {broker.engine * 1e3:.1f})"
            f" -> the columnar path is {broker.cpu / min(r.cpu for r in runs):4.1f}x faster"
            f" (engine {broker.engine / best.engine:4.1f}x)"
        )
        with_exits = min(
            (our_pipeline(series, fast, slow, EXITS) for _ in range(args.repeat)),
            key=lambda t: t.total,
        )
        print(
            f"  + stop-loss {EXITS.stop_loss_pct:.1%} / take-profit {EXITS.take_profit_pct:.1%}"
            f" on every entry: trades={with_exits.trades:,}  best {with_exits.total * 1e3:7.1f} ms"
            f" (engine {with_exits.engine * 1e3:.1f})"
            f"  -> {args.bars / with_exits.total / 1e6:5.2f} M bars/s,"
            f" {with_exits.total / best.total:4.2f}x the plain run (goal <= 2x)"
        )
        if not args.skip_reference:
            seconds, trades = backtesting_py(series, fast, slow)
            print(
                f"  backtesting.py: {seconds:7.2f} s, trades={trades:,}  -> ours is "
                f"{seconds / best.total:6.1f}x faster (issue 2's goal >= 40x)"
            )


if __name__ == "__main__":
    main()
