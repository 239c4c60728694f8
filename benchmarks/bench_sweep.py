"""Sweep benchmarks (issue 13): backtests per second per core on the bundled daily data for a
1,000-cell grid, against backtesting.py's ``Backtest.optimize`` on cells of the same grid in
the same run (goal >= 50x); the wall time of a local 1,000-cell sweep through the research
ASL; and the per-item overhead of the local fan-out with and without batching.

    .venv/bin/python -m benchmarks.bench_sweep [--reference-cells 100] [--skip-asl]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from trading.core.marketdata.reader import parse_market_data
from trading.core.research.evaluate import evaluate_batch
from trading.core.research.plan import plan_items
from trading.core.research.request import parse_sweep_request

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "stocks.csv"
SYMBOL = "AAPL"
# 20 x 50 = 1,000 cells, every one valid (fast < slow).
GRID = {"fast": "5:100:5", "slow": "120:1100:20"}


def grid_request(**extra: Any) -> dict[str, Any]:
    """The benchmark's sweep request on one symbol (backtesting.py runs one)."""
    return {"strategy": "sma_cross", "grid": GRID, "symbols": [SYMBOL], **extra}


def ours(series: dict[str, Any]) -> tuple[float, float, int]:
    """CPU seconds for the whole grid in one batch (indicators shared) and one item at a time
    (CPU time: the machine is shared, and both sides run on one core)."""
    request = parse_sweep_request(grid_request())
    items = plan_items(request, timeline=None, data_symbols=[SYMBOL])
    document = request.to_dict()
    evaluate_batch(series, document, items[:5])  # imports and first-call work
    started = time.process_time()
    evaluate_batch(series, document, items)
    batched = time.process_time() - started
    started = time.process_time()
    for item in items[:200]:
        evaluate_batch(series, document, [item])
    single = (time.process_time() - started) / 200 * len(items)
    return batched, single, len(items)


def backtesting_py(series: dict[str, Any], cells: int) -> float:
    """CPU seconds (all its processes) per backtest of backtesting.py's ``optimize`` on
    ``cells`` cells of the grid (a sample: all 1,000 would take minutes)."""
    import random

    from backtesting import Backtest

    from tests.differential.reference_backtesting import NativeSmaCross, to_frame

    request = parse_sweep_request(grid_request())
    chosen = random.Random(0).sample(request.parameter_sets(), cells)
    fasts = sorted({int(p["fast"]) for p in chosen})
    slows = sorted({int(p["slow"]) for p in chosen})
    wanted = {(int(p["fast"]), int(p["slow"])) for p in chosen}
    bt = Backtest(to_frame(series[SYMBOL]), NativeSmaCross, cash=100_000, commission=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = _cpu_with_children()
        bt.optimize(
            fast=fasts,
            slow=slows,
            maximize="Sharpe Ratio",
            constraint=lambda p: (p.fast, p.slow) in wanted,
            max_tries=None,
        )
        return (_cpu_with_children() - started) / len(wanted)


def _cpu_with_children() -> float:
    """CPU seconds of this process and its finished children: ``optimize`` runs its
    backtests in a process pool, whose work the parent's own CPU time would not show."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def local_sweep(
    batch_size: int, cells: dict[str, Any], max_concurrency: int = 4
) -> tuple[float, float, int]:
    """Wall seconds of a sweep through the research ASL on the emulation (deploy excluded),
    the backtests' own seconds, and its item count."""
    import boto3

    from stp.local import LocalCloud

    request = {
        "strategy": "sma_cross",
        "grid": cells,
        "batch_size": batch_size,
        "max_concurrency": max_concurrency,
    }
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        bucket = deployment.outputs["MarketDataBucketName"]
        key = f"research/{uuid.uuid4().hex}/stocks.csv"
        cloud.seed_object(bucket, key, DATA.read_bytes())
        sfn = boto3.client("stepfunctions", region_name=cloud.region)
        started = time.perf_counter()
        arn = sfn.start_execution(
            stateMachineArn=deployment.outputs["ResearchStateMachineArn"],
            input=json.dumps({"request": request, "data": {"bucket": bucket, "key": key}}),
        )["executionArn"]
        outcome = cloud.wait(arn, timeout=1800)
        wall = time.perf_counter() - started
        if outcome.status != "SUCCEEDED":
            raise RuntimeError(f"sweep {outcome.status}: {outcome.error}: {outcome.cause}")
        summary = outcome.output["leaderboard"]
        return wall, float(summary["backtest_seconds"]), int(summary["items"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference-cells", type=int, default=100)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-asl", action="store_true")
    args = parser.parse_args()
    series = {SYMBOL: parse_market_data(DATA).series[SYMBOL]}
    bars = len(series[SYMBOL])
    print(f"== sweep: sma_cross 1,000-cell grid on {SYMBOL} ({bars:,} daily bars), one core ==")
    batched, single, items = ours(series)
    rate = items / batched
    print(f"  ours, one batch (indicators shared): {rate:,.0f} backtests/s ({batched:.2f} CPU s)")
    print(
        f"  ours, one item at a time:            {items / single:,.0f} backtests/s "
        f"-> sharing within a batch {single / batched:.2f}x"
    )
    if not args.skip_reference:
        per = backtesting_py(series, args.reference_cells)
        print(
            f"  backtesting.py optimize ({args.reference_cells} cells): {1 / per:,.1f} "
            f"backtests/s -> ours {rate * per:.0f}x (goal >= 50x)"
        )
    if args.skip_asl:
        return
    print("== local fan-out through statemachine/research.asl.json (deploy excluded) ==")
    wall, backtests, count = local_sweep(50, {"fast": "5:100:5", "slow": "120:1100:20"})
    print(
        f"  1,000-cell sweep, batches of 50: {wall:.1f} s wall ({count / wall:,.0f} items/s; "
        f"backtests {backtests:.1f} s of it)"
    )
    small = {"fast": "5:100:5", "slow": "120:160:20"}  # 60 cells
    per_item = {}
    for batch in (1, 60):
        wall, backtests, count = local_sweep(batch, small)
        per_item[batch] = (wall - backtests) / count
        print(
            f"  60 cells, batch size {batch:>2}: {wall:.2f} s wall, overhead "
            f"{per_item[batch] * 1000:.1f} ms an item"
        )
    print(f"  batching cuts the per-item overhead {per_item[1] / per_item[60]:.1f}x")


if __name__ == "__main__":
    main()
