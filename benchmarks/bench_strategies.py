"""The built-in strategies on the strategy SDK against the code they replaced, same run.

For each built-in: signals + engine through the SDK (``trading.sdk.compute.compute_signals``,
checked, then ``run_engine``) and through the pre-SDK strategy module, loaded from git at
``--baseline`` (the commit before the SDK) and called as the pipeline called it. Prints the
best of ``--repeat`` interleaved runs of each and the ratio SDK/old (goal: <= 1.05, i.e. no
slower within noise), and checks that the columnar fast path ran. Then the bar-by-bar
forms (built-in momentum_rotation; an event-driven strategy that only reads its context):
bars per second, for the cost of visiting every bar in Python.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from benchmarks.synthetic import synthetic_series
from trading.core.backtest import run_engine
from trading.core.bars import SignalArray
from trading.core.config import Mode, RunConfig
from trading.sdk import BarContext, EventStrategy, create_signal_strategy, create_strategy
from trading.sdk.compute import compute_signals
from trading.sdk.drive import run_strategy

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "d47bcad"  # main just before trading.sdk: src/trading/core/strategies.py held them
CASES: tuple[tuple[str, dict[str, int]], ...] = (
    ("sma_cross", {"fast": 10, "slow": 30}),
    ("rsi_reversion", {"period": 14}),
    ("buy_and_hold", {}),
)


def old_strategies(commit: str) -> ModuleType:
    """The pre-SDK ``trading.core.strategies`` module, as committed at ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:src/trading/core/strategies.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = ModuleType("old_strategies")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:strategies.py", "exec"), module.__dict__)
    return module


def timed(run: Callable[[], str]) -> tuple[float, str]:
    """Seconds of one call and what it returned (the engine's path)."""
    start = time.perf_counter()
    path = run()
    return time.perf_counter() - start, path


def main() -> None:
    """Run the comparison and print one line per strategy."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the old path")
    args = parser.parse_args()
    series = synthetic_series(args.bars)
    universe = {series.symbol: series}
    config = RunConfig(mode=Mode.LONG_SHORT)
    old = old_strategies(args.baseline)
    print(
        f"== built-in strategies on the SDK vs the pre-SDK code ({args.baseline}), "
        f"{args.bars:,} bars, signals + engine, best of {args.repeat} =="
    )
    for name, params in CASES:

        def through_sdk(name: str = name, params: dict[str, int] = params) -> str:
            strategy = create_signal_strategy(name, params)
            return run_engine(universe, compute_signals(strategy, universe), config).path

        def through_old(name: str = name, params: dict[str, int] = params) -> str:
            strategy = old.create_strategy(name, params)
            signals: dict[str, SignalArray] = {s: strategy.signals(b) for s, b in universe.items()}
            return run_engine(universe, signals, config).path

        sdk_times: list[float] = []
        old_times: list[float] = []
        paths: set[str] = set()
        for _ in range(args.repeat):
            seconds, path = timed(through_old)
            old_times.append(seconds)
            seconds, path_sdk = timed(through_sdk)
            sdk_times.append(seconds)
            paths.update((path, path_sdk))
        ratio = min(sdk_times) / min(old_times)
        print(
            f"{name:<14} SDK {min(sdk_times) * 1e3:7.1f} ms  old {min(old_times) * 1e3:7.1f} ms"
            f"  -> SDK/old {ratio:4.2f}x (goal <= 1.05)  path: {', '.join(sorted(paths))}"
        )
        assert paths == {"columnar"}, f"{name}: the columnar fast path was not taken: {paths}"
    bar_by_bar(min(args.bars, 200_000))


class Idle(EventStrategy):
    """Reads the position and the close on every bar; never trades."""

    name = "idle"

    def on_bar(self, ctx: BarContext) -> None:
        if ctx.position and ctx.close < 0:
            raise AssertionError


def bar_by_bar(bars: int) -> None:
    """Bars per second of the forms that visit every bar."""
    universe = {s: synthetic_series(bars // 4, seed=k, symbol=s) for k, s in enumerate("ABCD")}
    rotation = create_strategy("momentum_rotation", {"lookback": 63, "top_k": 2})
    start = time.perf_counter()
    result = run_strategy(universe, rotation, RunConfig())
    seconds = time.perf_counter() - start
    print(
        f"momentum_rotation(63, 2, 21) over 4 x {bars // 4:,} bars: {seconds * 1e3:7.1f} ms, "
        f"{len(result.orders):,} orders -> {bars / seconds / 1e3:6.0f} k bars/s ({result.path})"
    )
    one = {"SYN": synthetic_series(bars)}
    start = time.perf_counter()
    run_strategy(one, Idle(), RunConfig())
    seconds = time.perf_counter() - start
    print(
        f"event-driven on_bar (reads position and close) over {bars:,} bars: "
        f"{seconds * 1e3:7.1f} ms -> {bars / seconds / 1e3:6.0f} k bars/s "
        f"({seconds / bars * 1e6:.1f} us per bar)"
    )


if __name__ == "__main__":
    main()
