"""``stp sweep``: bad input is one line and exit 2 before anything is deployed; --estimate
plans and prices a sweep without running it; the cost model's arithmetic."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from stp.cfn_yaml import load_template
from stp.cli import main
from stp.cost import estimate_run, estimate_sweep, function_memory, prices
from stp.sweep import show_progress

ROOT = Path(__file__).resolve().parents[2]
DATA = str(ROOT / "data" / "stocks.csv")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "no/such.csv", "--strategy", "sma_cross"], "--data no/such.csv: no such file"),
        (["--data", DATA, "--strategy", "nope"], "strategy: unknown strategy 'nope'"),
        (["--data", DATA, "--strategy", "sma_cross", "--grid", "fast"], "--grid 'fast': write"),
        (
            ["--data", DATA, "--strategy", "sma_cross", "--grid", "fast=0:10:5"],
            "grid fast: parameter 'fast' must be between 1 and 10000, got 0",
        ),
        (
            [
                "--data",
                DATA,
                "--strategy",
                "sma_cross",
                "--grid",
                "fast=1:400:1",
                "--grid",
                "slow=401:700:1",
            ],
            "more than the cap of 100,000",
        ),
        (["--data", DATA, "--strategy", "sma_cross", "--symbols", "ZZZ"], "--symbols: ZZZ not in"),
        (
            ["--data", DATA, "--strategy", "sma_cross", "--universe", "--walk-forward", "3"],
            "--universe cannot be combined",
        ),
        (["--data", DATA, "--strategy", "sma_cross", "--batch-size", "0"], "batch_size: must be"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--project", str(ROOT), "sweep", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "\n" not in err


def test_estimate_prices_the_sweep_without_running_it(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "sweep",
        "--data",
        DATA,
        "--strategy",
        "sma_cross",
        "--grid",
        "fast=5:20:5",
        "--grid",
        "slow=30,60",
        "--batch-size",
        "4",
        "--estimate",
    ]
    assert main(["--project", str(ROOT), *argv]) == 0
    out = capsys.readouterr().out
    assert "8 backtests planned" in out
    assert "for 8 backtests in 2 batches" in out
    assert "deployed" not in out  # nothing ran


def test_the_sweep_estimate_adds_up() -> None:
    table = prices()
    memory = function_memory(load_template(ROOT / "template.yaml"))
    assert memory["Backtest"] == 1769 and memory["PlanSweep"] == 1024
    estimate = estimate_sweep(
        items=1000,
        batch_size=10,
        max_concurrency=50,
        seconds_per_backtest=0.1,
        memory_mb=memory,
        table=table,
    )
    assert estimate.batches == 100
    gb_s = 1000 * 0.1 * 1769 / 1024 + (1024 + 2048) / 1024
    assert estimate.lambda_usd == pytest.approx(
        102 * table["lambda_request"] + gb_s * table["lambda_gb_second_arm64"]
    )
    # 100 Express children of 1.05 s, billed by 100 ms at 64 MB, and 4 Standard transitions.
    express = 100 * (table["express_request"] + 1.1 * 64 / 1024 * table["express_gb_second"])
    assert estimate.stepfunctions_usd == pytest.approx(4 * table["standard_transition"] + express)
    assert estimate.wall_seconds == pytest.approx(2 * 1.05 + 2.0)  # 100 batches, 50 at a time
    # Plan's record, one offer of its best result per batch, Aggregate's update.
    assert estimate.dynamodb_usd == pytest.approx(102 * table["dynamodb_write_unit"])
    unbatched = estimate_sweep(
        items=1000,
        batch_size=1,
        max_concurrency=50,
        seconds_per_backtest=0.1,
        memory_mb=memory,
        table=table,
    )
    assert unbatched.total_usd > estimate.total_usd


def test_a_run_estimate_prices_what_the_runtime_counted() -> None:
    table = prices()
    cost = estimate_run(
        transitions=6,
        invocations=[("ProcessMarketData", 0.5), ("ExecuteTrades", 1.0)],
        memory_mb={"ProcessMarketData": 1024, "ExecuteTrades": 2048},
        requests={("s3", "PutObject"): 3, ("s3", "GetObject"): 2, ("dynamodb", "Query"): 4},
        table=table,
    )
    assert cost["stepfunctions_usd"] == pytest.approx(6 * table["standard_transition"])
    assert cost["lambda_usd"] == pytest.approx(
        2 * table["lambda_request"] + (0.5 + 2.0) * table["lambda_gb_second_arm64"]
    )
    assert cost["s3_usd"] == pytest.approx(3 * table["s3_put"] + 2 * table["s3_get"])
    assert cost["dynamodb_usd"] == pytest.approx(4 * table["dynamodb_read_unit"])


class _MapRun:
    """A research execution whose map run reports ``counts`` one poll after another."""

    def __init__(self, counts: list[tuple[int, int]]) -> None:
        self.counts = counts
        self.polls = 0

    def describe_execution(self, executionArn: str) -> dict[str, str]:  # noqa: N803
        self.polls += 1
        return {"status": "RUNNING" if self.polls < len(self.counts) else "SUCCEEDED"}

    def list_map_runs(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        return {"mapRuns": [{"mapRunArn": "arn:map"}]}

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:  # noqa: N803
        succeeded, failed = self.counts[self.polls - 1]
        return {"itemCounts": {"succeeded": succeeded, "failed": failed}}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_line_per_change_in_a_log_and_one_rewritten_line_on_a_terminal() -> None:
    counts = [(0, 0), (0, 0), (4, 1), (4, 1), (9, 1)]
    log = io.StringIO()
    show_progress(_MapRun(counts), "arn:execution", 10, log, sleep=lambda _: None)
    lines = log.getvalue().splitlines()
    assert [line.split(", ETA")[0] for line in lines] == [
        "  0/10 items done, 0 failed",
        "  5/10 items done, 1 failed",
        "  10/10 items done, 1 failed",
    ]
    assert "\r" not in log.getvalue()
    terminal = _Terminal()
    show_progress(_MapRun(counts), "arn:execution", 10, terminal, sleep=lambda _: None)
    assert terminal.getvalue().count("\r") == 3
    assert terminal.getvalue().endswith("\n")
