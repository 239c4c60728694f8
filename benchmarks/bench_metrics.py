"""Performance metrics throughput: every metric over 1,000,000 returns, against empyrical.

Prints the time of :func:`compute_metrics` on the first call (a cold Lambda) and the best of
several, and the ratio to empyrical-reloaded computing only six of those metrics (Sharpe,
Sortino, max drawdown, CAGR, annual volatility, Calmar) on the same returns in this run.
Goal (metrics issue): all metrics over 1,000,000 returns in <= 50 ms.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from trading.core.bars import FloatArray, IntArray
from trading.core.metrics import compute_metrics
from trading.core.model import Trade

MINUTE_NS = 60 * 1_000_000_000
START_NS = 1_262_304_000_000_000_000  # 2010-01-01T00:00:00Z
GOAL_SECONDS = 0.050


def synthetic_run(
    n_returns: int, n_trades: int, seed: int = 7
) -> tuple[FloatArray, IntArray, list[Trade]]:
    """An equity curve of ``n_returns + 1`` one-minute bars and ``n_trades`` round trips."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(2e-6, 5e-4, n_returns + 1)
    equity = np.cumprod(1.0 + returns, dtype=np.float64) * 100_000.0
    ts = START_NS + np.arange(n_returns + 1, dtype=np.int64) * MINUTE_NS
    pnl = rng.normal(5.0, 100.0, n_trades)
    trades = [
        Trade(f"S{i % 10}", "long", 10, int(ts[i]), 100.0, int(ts[i + 1]), 101.0, i, i + 1, p, 0.2)
        for i, p in enumerate(pnl.tolist())
    ]
    return equity, ts, trades


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Seconds of the first call and the best of ``repeat`` further calls."""
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return first, best


def main() -> None:
    """Measure and print; exit status 1 when the best time misses the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=1_000_000)
    parser.add_argument("--trades", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    equity, ts, trades = synthetic_run(args.returns, args.trades)
    in_market = np.ones(equity.shape[0], dtype=bool)
    ours_first, ours_best = timed(
        lambda: compute_metrics(equity, ts, trades, in_market=in_market), args.repeat
    )
    report = compute_metrics(equity, ts, trades, in_market=in_market)

    import empyrical as ep  # dev-only reference
    import pandas as pd

    per_year = report.periods_per_year

    def reference() -> None:
        # empyrical takes a Series of returns: building it is part of using it.
        returns = pd.Series(equity).pct_change().iloc[1:]
        ep.sharpe_ratio(returns, annualization=per_year)
        ep.sortino_ratio(returns, annualization=per_year)
        ep.max_drawdown(returns)
        ep.cagr(returns, annualization=per_year)
        ep.annual_volatility(returns, annualization=per_year)
        ep.calmar_ratio(returns, annualization=per_year)

    ref_first, ref_best = timed(reference, args.repeat)
    print(f"metrics over {args.returns:,} returns and {args.trades:,} trades")
    print(f"  ours (all metrics): first {ours_first * 1e3:6.1f} ms, best {ours_best * 1e3:6.1f} ms")
    print(f"  empyrical (6):      first {ref_first * 1e3:6.1f} ms, best {ref_best * 1e3:6.1f} ms")
    print(f"  ratio empyrical/ours (best): {ref_best / ours_best:5.1f}x")
    verdict = "meets" if ours_best <= GOAL_SECONDS else "MISSES"
    print(f"  goal <= {GOAL_SECONDS * 1e3:.0f} ms: {verdict}")
    raise SystemExit(0 if ours_best <= GOAL_SECONDS else 1)


if __name__ == "__main__":
    main()
