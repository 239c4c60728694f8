"""What a sweep or a run would cost on AWS, and how long a sweep would take there.

Prices live in ``aws_prices.json`` beside this module (with their source and the date they
were checked); memory sizes come from the template, so an estimate follows the deployed
configuration. ``docs/scale.md`` works two examples through.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("aws_prices.json")
# Time Step Functions adds to each child execution and Lambda invocation (start, hand-off):
# AWS's own figures are not published; 50 ms is what a warm Express child with one Lambda
# task commonly shows, and it is an assumption of the estimate.
CHILD_OVERHEAD_SECONDS = 0.05
# Parent states a sweep passes through: PlanSweep, RunBacktests, AggregateSweep, succeeded.
PARENT_TRANSITIONS = 4


def prices() -> dict[str, Any]:
    """The price table (USD)."""
    table: dict[str, Any] = json.loads(PRICES_FILE.read_text())
    return table


@dataclass(frozen=True, slots=True)
class SweepEstimate:
    """Cost (USD) and wall time (s) of a sweep on AWS, by component."""

    items: int
    batches: int
    lambda_usd: float
    stepfunctions_usd: float
    s3_usd: float
    dynamodb_usd: float
    wall_seconds: float
    backtest_seconds: float

    @property
    def total_usd(self) -> float:
        """Everything together."""
        return self.lambda_usd + self.stepfunctions_usd + self.s3_usd + self.dynamodb_usd

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "items": self.items,
            "batches": self.batches,
            "lambda_usd": self.lambda_usd,
            "stepfunctions_usd": self.stepfunctions_usd,
            "s3_usd": self.s3_usd,
            "dynamodb_usd": self.dynamodb_usd,
            "total_usd": self.total_usd,
            "wall_seconds": self.wall_seconds,
            "backtest_seconds": self.backtest_seconds,
        }

    def lines(self) -> list[str]:
        """The estimate as the CLI prints it."""
        return [
            f"on AWS (us-east-1, arm64): ${self.total_usd:,.4f} for {self.items:,} backtests in "
            f"{self.batches:,} batch{'' if self.batches == 1 else 'es'}, about "
            f"{_duration(self.wall_seconds)} wall time",
            f"  Lambda ${self.lambda_usd:,.4f}, Step Functions ${self.stepfunctions_usd:,.4f}, "
            f"S3 ${self.s3_usd:,.4f}, DynamoDB ${self.dynamodb_usd:,.4f}",
        ]


def estimate_sweep(
    *,
    items: int,
    batch_size: int,
    max_concurrency: int,
    seconds_per_backtest: float,
    memory_mb: Mapping[str, int],
    curves: int = 0,
    table: Mapping[str, Any] | None = None,
) -> SweepEstimate:
    """A sweep of ``items`` backtests of ``seconds_per_backtest`` each (measured locally on one
    core; the Backtest function's memory gives it about one vCPU), batched ``batch_size`` a
    child, ``max_concurrency`` children at a time; ``curves`` equity curves written.

    ``memory_mb``: the template's MemorySize of PlanSweep, Backtest and AggregateSweep.
    """
    price = table or prices()
    batches = math.ceil(items / batch_size) if items else 0
    batch_seconds = batch_size * seconds_per_backtest
    backtest_gb = memory_mb["Backtest"] / 1024
    # Plan and Aggregate: a second each is generous for their reads and writes.
    lambda_gb_s = (
        items * seconds_per_backtest * backtest_gb
        + (memory_mb["PlanSweep"] + memory_mb["AggregateSweep"]) / 1024
    )
    lambda_usd = (batches + 2) * price["lambda_request"] + lambda_gb_s * price[
        "lambda_gb_second_arm64"
    ]
    billed_ms = price["express_billing_ms"]
    child_seconds = batch_seconds + CHILD_OVERHEAD_SECONDS
    child_billed = math.ceil(child_seconds * 1000 / billed_ms) * billed_ms / 1000
    express_usd = batches * (
        price["express_request"]
        + child_billed * price["express_min_memory_mb"] / 1024 * price["express_gb_second"]
    )
    stepfunctions_usd = PARENT_TRANSITIONS * price["standard_transition"] + express_usd
    # Items read once; each batch reads the data (cold start at worst); results: a manifest
    # and two files; the leaderboard, CSV and report; curves.
    s3_usd = (1 + batches) * price["s3_get"] + (1 + 3 + 3 + curves) * price["s3_put"]
    # The sweep record: Plan's write, each batch's offer of its best, Aggregate's update.
    dynamodb_usd = (2 + batches) * price["dynamodb_write_unit"]
    waves = math.ceil(batches / max_concurrency) if batches else 0
    wall = waves * child_seconds + 2.0  # Plan and Aggregate
    return SweepEstimate(
        items=items,
        batches=batches,
        lambda_usd=lambda_usd,
        stepfunctions_usd=stepfunctions_usd,
        s3_usd=s3_usd,
        dynamodb_usd=dynamodb_usd,
        wall_seconds=wall,
        backtest_seconds=items * seconds_per_backtest,
    )


def estimate_run(
    *,
    transitions: int,
    invocations: list[tuple[str, float]],
    memory_mb: Mapping[str, int],
    requests: Mapping[tuple[str, str], int],
    table: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """What one workflow run cost on AWS, from what the local runtime counted: its state
    transitions, each invocation's (function name, seconds), and the handlers' AWS requests
    per (service, operation). Memory sizes by function name."""
    price = table or prices()
    lambda_usd = sum(
        price["lambda_request"]
        + seconds * memory_mb.get(name, 1024) / 1024 * price["lambda_gb_second_arm64"]
        for name, seconds in invocations
    )
    s3_usd = dynamodb_usd = 0.0
    for (service, operation), count in requests.items():
        if service == "s3":
            write = operation.startswith(("Put", "Copy", "Post", "List", "Create"))
            s3_usd += count * price["s3_put" if write else "s3_get"]
        elif service == "dynamodb":
            write = operation.startswith(("Put", "Update", "Delete", "BatchWrite", "Transact"))
            dynamodb_usd += count * price["dynamodb_write_unit" if write else "dynamodb_read_unit"]
    stepfunctions_usd = transitions * price["standard_transition"]
    return {
        "lambda_usd": lambda_usd,
        "stepfunctions_usd": stepfunctions_usd,
        "s3_usd": s3_usd,
        "dynamodb_usd": dynamodb_usd,
        "total_usd": lambda_usd + stepfunctions_usd + s3_usd + dynamodb_usd,
    }


def function_memory(template: Mapping[str, Any]) -> dict[str, int]:
    """MemorySize of each function of ``template`` by logical id without ``Function``
    (Globals' default where a function sets none)."""
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    sizes = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            memory = resource.get("Properties", {}).get("MemorySize", default)
            sizes[logical_id.removesuffix("Function")] = int(memory)
    return sizes


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
