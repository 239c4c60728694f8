"""The API benchmarks of `make bench` still run against the API as it is now (they call it as a
client does, with the API key and a trader's token), on a handful of requests."""

from __future__ import annotations

import pytest

from benchmarks import bench_api, bench_api_memory, bench_live

pytestmark = pytest.mark.slow


def test_the_api_latency_benchmark_times_both_routes(capsys: pytest.CaptureFixture[str]) -> None:
    bench_api.main(["--requests", "3"])
    out = capsys.readouterr().out
    assert "3 HTTP requests each" in out
    for route in ("POST /orders", "GET /portfolio"):
        [line] = [line for line in out.splitlines() if line.startswith(route)]
        assert "DynamoDB/request" in line


def test_the_api_memory_benchmark_drives_stp_api(capsys: pytest.CaptureFixture[str]) -> None:
    bench_api_memory.measure(rounds=1, orders=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["requests", "RSS", "MB", "seconds"]
    assert [int(line.split()[0]) for line in lines[1:3]] == [1, 8]  # 1 bar, then 3 x 2 + 1
    assert lines[-1].startswith("growth over the second half:")


def test_the_live_account_benchmark_runs_both_phases(capsys: pytest.CaptureFixture[str]) -> None:
    bench_live.main(["--runs", "1", "--open", "2", "--quiet-orders", "2", "--rate", "5"])
    out = capsys.readouterr().out
    assert out.count("succeeded 1 of 1") == 2  # without and with order flow
    assert "a run filling 2 orders" in out
