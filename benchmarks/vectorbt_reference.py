"""vectorbt's side of the engine benchmark (``bench_engines``), run in its own environment.

vectorbt 1.2.0 needs numpy >= 2.4.6, above what the project pins for Lambda, so ``make bench``
installs it into ``.venv/vectorbt`` (benchmarks/vectorbt-requirements.txt) and runs this
script there: it imports nothing of the project. It reads the bars from an ``.npz``, runs the
same SMA cross (signal on bar t, market fill at bar t+1's open: entries shifted one bar,
``price=open``; long/short with reversal; all cash in whole units) through vectorbt's own
pipeline (``vbt.MA``, ``crossed_above``, ``Portfolio.from_signals``, ``Portfolio.stats``),
prints one JSON line with its timings, and writes its trades to an ``.npz`` for the
comparison. The first call is reported on its own: it is numba's JIT compile.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt


def pipeline(
    close: pd.Series, opening: pd.Series, fast: int, slow: int, cash: float
) -> tuple[list[float], float, Any]:
    """Signals → simulation → statistics; the seconds of each stage, the CPU seconds of the
    whole, and the portfolio."""
    cpu = time.process_time()
    start = time.perf_counter()
    fast_ma = vbt.MA.run(close, fast).ma
    slow_ma = vbt.MA.run(close, slow).ma
    # Acted on at the next bar's open, as ours (and backtesting.py) do.
    buys = fast_ma.vbt.crossed_above(slow_ma).shift(1, fill_value=False)
    sells = fast_ma.vbt.crossed_below(slow_ma).shift(1, fill_value=False)
    signals = time.perf_counter()
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries=buys,
        short_entries=sells,
        price=opening,
        size=np.inf,
        size_granularity=1,
        init_cash=cash,
        fees=0.0,
        freq="1h",
    )
    simulated = time.perf_counter()
    portfolio.stats()
    end = time.perf_counter()
    cpu = time.process_time() - cpu
    return [signals - start, simulated - signals, end - simulated], cpu, portfolio


def main() -> None:
    """Run vectorbt on the given bars; print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bars", help=".npz with ts, open and close arrays")
    parser.add_argument("trades", help=".npz written with vectorbt's trades")
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--cash", type=float, default=10_000.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = np.load(args.bars)
    index = pd.to_datetime(data["ts"])
    close = pd.Series(data["close"], index=index)
    opening = pd.Series(data["open"], index=index)
    first, _, _ = pipeline(close, opening, args.fast, args.slow, args.cash)
    runs = [pipeline(close, opening, args.fast, args.slow, args.cash) for _ in range(args.repeat)]
    best, _, portfolio = min(runs, key=lambda run: sum(run[0]))
    trades = portfolio.trades.values
    np.savez(
        args.trades,
        entry_bar=trades["entry_idx"],
        exit_bar=trades["exit_idx"],
        size=trades["size"],
        entry_price=trades["entry_price"],
        exit_price=trades["exit_price"],
        short=trades["direction"] == 1,
        is_open=trades["status"] == 0,
    )
    print(
        json.dumps(
            {
                "version": vbt.__version__,
                "first": sum(first),
                "best": best,
                "best_cpu": min(run[1] for run in runs),
                "final_equity": float(portfolio.final_value()),
            }
        )
    )


if __name__ == "__main__":
    main()
