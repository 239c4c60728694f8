"""Run every benchmark (``make bench``), each in its own interpreter so none warms another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "benchmarks.bench_engines",
    "benchmarks.bench_core",
    "benchmarks.bench_strategies",
    "benchmarks.bench_metrics",
    "benchmarks.bench_parse",
    "benchmarks.bench_imports",
    "benchmarks.bench_workflow",
    "benchmarks.bench_api",
    "benchmarks.bench_live",
    "benchmarks.bench_api_memory",
    "benchmarks.bench_up",
    "benchmarks.bench_sweep",
)


def main() -> int:
    """Run each benchmark module; non-zero if any failed."""
    failed = []
    for module in BENCHMARKS:
        if not (ROOT / (module.replace(".", "/") + ".py")).exists():
            print(f"== {module}: missing ==")
            failed.append(module)
            continue
        print(flush=True)
        done = subprocess.run([sys.executable, "-m", module], cwd=ROOT)
        if done.returncode:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
