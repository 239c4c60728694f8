"""The API benchmarks of `make bench` still run against the API as it is now (they call it as a
client does, with the API key and a trader's token), on a handful of requests. Each runs in its
own interpreter, as `make bench` runs it: the handlers they call keep process-wide state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def bench(module: str, *argv: str) -> str:
    """What ``python -m benchmarks.<module> argv`` prints; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_the_api_latency_benchmark_times_both_routes() -> None:
    out = bench("bench_api", "--requests", "3")
    assert "3 HTTP requests each" in out
    for route in ("POST /orders", "GET /portfolio"):
        [line] = [line for line in out.splitlines() if line.startswith(route)]
        assert "DynamoDB/request" in line


def test_the_api_memory_benchmark_drives_stp_api() -> None:
    lines = bench("bench_api_memory", "--rounds", "1", "--orders", "2").splitlines()
    assert lines[0].split() == ["requests", "RSS", "MB", "seconds"]
    assert [int(line.split()[0]) for line in lines[1:3]] == [1, 8]  # 1 bar, then 3 x 2 + 1
    assert lines[-1].startswith("growth over the second half:")


def test_the_live_account_benchmark_runs_both_phases() -> None:
    out = bench("bench_live", "--runs", "1", "--open", "2", "--quiet-orders", "2", "--rate", "5")
    assert out.count("succeeded 1 of 1") == 2  # without and with order flow
    assert "a run filling 2 orders" in out
