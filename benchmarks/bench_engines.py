"""Our backtest pipeline against vectorbt and backtesting.py, measured in one run (issue 14).

The case: a 1,000,000-bar hourly random walk, ``sma_cross(10, 20)`` long/short, cash 10,000,
no commission, all cash in whole units, market orders at the next bar's open. Each engine runs
its whole pipeline: signals → simulation → metrics (ours: ``Strategy.signals``,
``run_engine``, ``compute_metrics``; vectorbt: ``vbt.MA``, ``Portfolio.from_signals``,
``Portfolio.stats``; backtesting.py: ``Backtest.run`` with its SMA and ``crossover``). The
table shows best-of-N seconds (ours: first call too; vectorbt: its numba JIT compile apart),
then checks that the three agree on every trade and on the final equity.

vectorbt runs in ``.venv/vectorbt`` (see ``vectorbt_reference.py``); without it, its row says
why. Goals: ours >= vectorbt warm (ratio >= 1.0), >= 100x backtesting.py, first call within
1.2x of the best; with a 0.2% stop-loss and a 0.4% take-profit on every entry <= 1.5x the
plain run; peak memory of one run reported (tracemalloc: every Python and numpy allocation).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.synthetic import HOUR_NS, synthetic_series
from trading.core.backtest import EngineResult, run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig
from trading.core.metrics import compute_metrics
from trading.core.strategies import create_strategy

ROOT = Path(__file__).resolve().parent.parent
VECTORBT_PYTHON = ROOT / ".venv" / "vectorbt" / "bin" / "python"
CASH = 10_000.0
FAST, SLOW = 10, 20
EXITS = AttachedExits(stop_loss_pct=0.002, take_profit_pct=0.004)
TRAILING = AttachedExits(trailing_pct=0.005)  # reported, no goal
# Equity and prices agree to this relative tolerance (they are computed in another order).
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Run:
    """Seconds of one run of our pipeline by stage, and its engine result."""

    signals: float
    engine: float
    metrics: float
    cpu: float  # CPU seconds of the whole: what another process on a busy machine cannot add
    result: EngineResult

    @property
    def total(self) -> float:
        """Whole pipeline."""
        return self.signals + self.engine + self.metrics


@dataclass(frozen=True)
class Trades:
    """Closed round trips of one engine, one array per field, in entry order."""

    entry_bar: np.ndarray[Any, Any]
    exit_bar: np.ndarray[Any, Any]
    size: np.ndarray[Any, Any]  # signed: negative for a short
    entry_price: np.ndarray[Any, Any]
    exit_price: np.ndarray[Any, Any]

    def differences(self, other: Trades) -> str | None:
        """None when ``other`` holds the same trades, else what differs first."""
        if self.size.shape != other.size.shape:
            return f"{self.size.shape[0]:,} trades against {other.size.shape[0]:,}"
        for name in ("entry_bar", "exit_bar", "size"):
            mine, theirs = getattr(self, name), getattr(other, name)
            wrong = np.flatnonzero(mine != theirs)
            if wrong.shape[0]:
                k = int(wrong[0])
                return f"trade {k}: {name} {mine[k]} against {theirs[k]}"
        for name in ("entry_price", "exit_price"):
            mine, theirs = getattr(self, name), getattr(other, name)
            wrong = np.flatnonzero(~np.isclose(mine, theirs, rtol=TOLERANCE, atol=0.0))
            if wrong.shape[0]:
                k = int(wrong[0])
                return f"trade {k}: {name} {mine[k]!r} against {theirs[k]!r}"
        return None


def ours(series: BarSeries, exits: AttachedExits | None = None, path: str = "auto") -> Run:
    """One run of our pipeline, as ``trading.core.pipeline.run_backtest`` composes it (on
    the execution path ``path``: ``"auto"``, the one the run takes by itself)."""
    cpu = time.process_time()
    start = time.perf_counter()
    signals = create_strategy("sma_cross", {"fast": FAST, "slow": SLOW}).signals(series)
    after_signals = time.perf_counter()
    config = RunConfig(
        initial_cash=CASH,
        mode=Mode.LONG_SHORT,
        execution=ExecutionConfig(commission_rate=0.0),
        exits=exits,
    )
    result = run_engine({series.symbol: series}, {series.symbol: signals}, config, path=path)
    after_engine = time.perf_counter()
    compute_metrics(result.equity, result.ts, result.trade_columns(), in_market=result.in_market)
    end = time.perf_counter()
    cpu = time.process_time() - cpu
    return Run(after_signals - start, after_engine - after_signals, end - after_engine, cpu, result)


def our_trades(result: EngineResult) -> Trades:
    """The closed trades of our run."""
    rows = [
        (
            t.entry_bar,
            t.exit_bar,
            t.quantity if t.direction == "long" else -t.quantity,
            t.entry_price,
            t.exit_price,
        )
        for t in result.trades
    ]
    return _trades(rows)


def _trades(rows: list[tuple[Any, ...]]) -> Trades:
    rows.sort(key=lambda row: row[0])
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    return Trades(
        np.array(columns[0], dtype=np.int64),
        np.array(columns[1], dtype=np.int64),
        np.array(columns[2], dtype=np.float64),
        np.array(columns[3], dtype=np.float64),
        np.array(columns[4], dtype=np.float64),
    )


def peak_memory(series: BarSeries) -> float:
    """Bytes allocated at the peak of one run of our pipeline, beyond the bars."""
    tracemalloc.start()
    try:
        ours(series)
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def vectorbt(series: BarSeries, repeat: int) -> tuple[dict[str, Any] | None, Trades | None, str]:
    """vectorbt's figures and closed trades from its own environment, or why there are none."""
    if not VECTORBT_PYTHON.exists():
        return None, None, f"not installed ({VECTORBT_PYTHON} is missing: `make bench` makes it)"
    with tempfile.TemporaryDirectory() as folder:
        bars = Path(folder) / "bars.npz"
        trades = Path(folder) / "trades.npz"
        np.savez(bars, ts=series.ts, open=series.open, close=series.close)
        done = subprocess.run(
            [
                str(VECTORBT_PYTHON),
                str(ROOT / "benchmarks" / "vectorbt_reference.py"),
                str(bars),
                str(trades),
                f"--fast={FAST}",
                f"--slow={SLOW}",
                f"--cash={CASH}",
                f"--repeat={repeat}",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            lines = done.stderr.strip().splitlines()
            return None, None, f"failed: {lines[-1] if lines else done.returncode}"
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        data = np.load(trades)
        closed = ~data["is_open"]
        sign = np.where(data["short"][closed], -1.0, 1.0)
        rows = list(
            zip(
                data["entry_bar"][closed].tolist(),
                data["exit_bar"][closed].tolist(),
                (sign * data["size"][closed]).tolist(),
                data["entry_price"][closed].tolist(),
                data["exit_price"][closed].tolist(),
                strict=True,
            )
        )
    return figures, _trades(rows), ""


def backtesting_py(series: BarSeries) -> tuple[float, float, float, Trades, str]:
    """backtesting.py's seconds (wall, CPU), final equity, closed trades and version, written
    as its docs show the SMA cross (``exclusive_orders``: an opposite signal closes, then
    reverses)."""
    import backtesting
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
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.sell()

    cpu = time.process_time()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Some trades remain open": left open on purpose
        stats = Backtest(
            frame, SmaCross, cash=CASH, commission=0.0, exclusive_orders=True, finalize_trades=False
        ).run()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    table = stats["_trades"]
    table = table[table["ExitBar"].notna()]
    rows = list(
        zip(
            table["EntryBar"].astype(int).tolist(),
            table["ExitBar"].astype(int).tolist(),
            table["Size"].astype(float).tolist(),
            table["EntryPrice"].tolist(),
            table["ExitPrice"].tolist(),
            strict=True,
        )
    )
    final = float(stats["_equity_curve"]["Equity"].iloc[-1])
    return seconds, cpu, final, _trades(rows), backtesting.__version__


def _agree(name: str, trades: Trades, final: float, mine: Trades, my_final: float) -> str:
    problem = mine.differences(trades)
    if problem is None and not np.isclose(final, my_final, rtol=TOLERANCE, atol=0.0):
        problem = f"final equity {final!r} against our {my_final!r}"
    return f"{name}: {'same trades and final equity' if problem is None else problem}"


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-references", action="store_true", help="ours only")
    args = parser.parse_args()
    series = synthetic_series(args.bars, step_ns=HOUR_NS)

    first = ours(series)
    plain, exits, trailing = [first], [], []
    for _ in range(args.repeat):  # alternated: all see the same load on a shared machine
        exits.append(ours(series, EXITS))
        trailing.append(ours(series, TRAILING))
        plain.append(ours(series))
    best = min(plain, key=lambda run: run.total)
    best_cpu = min(run.cpu for run in plain)
    with_exits = min(exits, key=lambda run: run.total)
    exits_cpu = min(run.cpu for run in exits)
    with_trailing = min(trailing, key=lambda run: run.total)
    # The broker path (an object per order: the engine before the columnar path) on the same
    # case: what the columnar path gains, comparable with bench_core's cases.
    broker = min((ours(series, path="broker") for _ in range(2)), key=lambda run: run.cpu)
    peak = peak_memory(series)
    mine = our_trades(best.result)
    my_final = float(best.result.equity[-1])
    rate = args.bars / best.total / 1e6

    print(
        f"== engines, {args.bars:,} hourly bars (random walk), sma_cross({FAST},{SLOW}) "
        f"long/short, cash {CASH:,.0f}, no commission: {len(mine.size):,} closed trades, "
        f"final equity {my_final:.6f} =="
    )
    print("best of the runs: wall seconds, and CPU seconds (what a busy machine cannot inflate)")
    print("| engine | time | vs ours (wall, CPU) |")
    print("|---|---|---|")
    print(
        f"| this project (signals → engine → metrics, {best.result.path} path) "
        f"| {best.total:.3f} s, CPU {best_cpu:.3f} s ({rate:.2f} M bars/s: signals "
        f"{best.signals:.3f} + engine {best.engine:.3f} + metrics {best.metrics:.3f}); "
        f"first call {first.total:.3f} s | 1× |"
    )
    checks = []
    if not args.skip_references:
        figures, vbt_trades, why = vectorbt(series, args.repeat)
        if figures is None or vbt_trades is None:
            print(f"| vectorbt | {why} | |")
        else:
            warm = sum(figures["best"])
            signals, simulation, stats = figures["best"]
            print(
                f"| vectorbt {figures['version']}, warm (its {figures['first'] - warm:.1f} s "
                f"numba JIT compile excluded) | {warm:.3f} s, CPU {figures['best_cpu']:.3f} s "
                f"(signals {signals:.3f} + simulation {simulation:.3f} + stats {stats:.3f}) "
                f"| ours {warm / best.total:.2f}×, {figures['best_cpu'] / best_cpu:.2f}× "
                f"its speed (goal >= 1.0) |"
            )
            checks.append(_agree("vectorbt", vbt_trades, figures["final_equity"], mine, my_final))
        seconds, cpu, final, bt_trades, version = backtesting_py(series)
        print(
            f"| backtesting.py {version} | {seconds:.2f} s, CPU {cpu:.2f} s "
            f"| ours {seconds / best.total:.0f}×, {cpu / best_cpu:.0f}× faster (goal >= 100) |"
        )
        checks.append(_agree("backtesting.py", bt_trades, final, mine, my_final))
    print(
        f"first call / best: {first.total / best.total:.2f}x (goal <= 1.2x); "
        f"+ stop-loss {EXITS.stop_loss_pct:.1%} / take-profit {EXITS.take_profit_pct:.1%} on "
        f"every entry: {with_exits.total:.3f} s, CPU {exits_cpu:.3f} s "
        f"({len(with_exits.result.trades):,} trades): {with_exits.total / best.total:.2f}x, "
        f"CPU {exits_cpu / best_cpu:.2f}x the plain run (goal <= 1.5x); "
        f"peak memory of one run: {peak / 1e6:.0f} MB (bars: {_bar_bytes(series) / 1e6:.0f} MB)"
    )
    print(
        f"+ trailing stop {TRAILING.trailing_pct:.1%} on every entry: "
        f"{with_trailing.total:.3f} s, CPU {min(run.cpu for run in trailing):.3f} s "
        f"({len(with_trailing.result.trades):,} trades, {with_trailing.result.path} path): "
        f"{with_trailing.total / best.total:.2f}x the plain run; the plain run on the broker "
        f"path: CPU {broker.cpu:.3f} s (engine {broker.engine:.3f}) -> the columnar path is "
        f"{broker.cpu / best_cpu:.1f}x faster (engine {broker.engine / best.engine:.1f}x)"
    )
    for line in checks:
        print(f"agreement with {line}")


def _bar_bytes(series: BarSeries) -> int:
    return sum(
        a.nbytes for a in (series.ts, series.open, series.high, series.low, series.close)
    ) + int(series.volume.nbytes)


if __name__ == "__main__":
    main()
