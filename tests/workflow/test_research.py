"""The research workflow end to end through the local runtime: the template deployed, the
research ASL's Distributed Map (JSONL items, ItemBatcher, Express children, ResultWriter)
running the real PlanSweep, Backtest and AggregateSweep handlers on the bundled data.
Small grids: each sweep is a few dozen backtests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stp.local import Deployment, ExecutionOutcome, LocalCloud
from trading.core.marketdata import parse_market_data
from trading.core.marketdata.selection import select_bars
from trading.core.pipeline import run_backtest
from trading.core.settings import resolve_settings
from trading.service.metadata import to_metadata

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "stocks.csv"
# Metrics a sweep's item and a single run must agree on.
SAME = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "trades", "final_equity")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[LocalCloud, Deployment]]:
    with LocalCloud() as local:
        yield local, local.deploy(ROOT / "template.yaml", code_root=ROOT / "src")


def sweep(
    cloud: tuple[LocalCloud, Deployment], request: dict[str, Any]
) -> tuple[ExecutionOutcome, dict[str, Any] | None]:
    local, deployment = cloud
    sweep_id = f"sweep-{uuid.uuid4().hex[:8]}"
    bucket = deployment.outputs["MarketDataBucketName"]
    key = f"research/{sweep_id}/stocks.csv"  # a key per sweep: the data cache is per key
    local.seed_object(bucket, key, DATA.read_bytes())
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.start_execution(
        stateMachineArn=deployment.outputs["ResearchStateMachineArn"],
        name=sweep_id,
        input=json.dumps({"request": request, "data": {"bucket": bucket, "key": key}}),
    )["executionArn"]
    outcome = local.wait(arn, timeout=120)
    if outcome.status != "SUCCEEDED":
        return outcome, None
    keys = outcome.output["leaderboard"]["keys"]
    body = local.read_object(deployment.outputs["ReportsBucketName"], keys["leaderboard_json"])
    return outcome, json.loads(body)


def sweep_record(deployment: Deployment, sweep_id: str) -> dict[str, Any]:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=deployment.outputs["RunsTableName"],
        Key={"PK": {"S": f"SWEEP#{sweep_id}"}, "SK": {"S": "META"}},
    )["Item"]
    return {name: next(iter(value.values())) for name, value in item.items()}


def test_a_grid_sweep_ranks_every_cell_and_each_equals_a_single_run(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    request = {
        "strategy": "sma_cross",
        "grid": {"fast": [10, 20], "slow": "40:60:20"},
        "batch_size": 3,
        "max_concurrency": 2,
        "settings": {"cash_fraction": 0.25},
    }
    outcome, document = sweep(cloud, request)
    assert outcome.status == "SUCCEEDED", outcome
    assert document is not None
    assert (document["items"], document["succeeded"], document["failed"]) == (4, 4, 0)
    ranking = document["ranking"]
    assert [row["rank"] for row in ranking] == [1, 2, 3, 4]
    scores = [row["score"] for row in ranking]
    assert scores == sorted(scores, reverse=True)
    assert document["best"] == ranking[0]
    # Each cell is what the same backtest gives on its own (the core's one composition).
    series = parse_market_data(DATA).series
    for row in ranking:
        settings = resolve_settings(request["settings"], {"params": row["params"]})
        alone = run_backtest(select_bars(series), settings.build_strategy(), settings.run_config())
        expected = alone.metrics.to_dict()
        for name in SAME:
            assert row["metrics"][name] == pytest.approx(expected[name], rel=1e-12), name
    # ... and what the trading workflow reports for one of them (stp run's path).
    local, deployment = cloud
    best = document["best"]["params"]
    settings = {"strategy": "sma_cross", "params": best, "cash_fraction": 0.25}
    (arn,) = local.upload(
        deployment.outputs["MarketDataBucketName"],
        "raw/stocks.csv",
        DATA.read_bytes(),
        to_metadata(settings),
    )
    run = local.wait(arn, timeout=120)
    assert run.status == "SUCCEEDED", run
    run_id = arn.rsplit(":", 1)[-1]
    report = json.loads(
        local.read_object(deployment.outputs["ReportsBucketName"], f"reports/{run_id}/report.json")
    )
    for name in SAME:
        assert document["best"]["metrics"][name] == pytest.approx(report["metrics"][name]), name
    record = sweep_record(deployment, outcome.execution_arn.rsplit(":", 1)[-1])
    assert record["status"] == "SUCCEEDED"
    assert json.loads(record["summary"])["best"]["params"] == best


def test_the_leaderboard_csv_and_report_are_written_beside_it(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    outcome, document = sweep(
        cloud, {"strategy": "rsi_reversion", "grid": {"period": [10, 14], "lower": [25, 30]}}
    )
    assert document is not None
    local, deployment = cloud
    keys = outcome.output["leaderboard"]["keys"]
    reports = deployment.outputs["ReportsBucketName"]
    rows = local.read_object(reports, keys["leaderboard_csv"]).decode().splitlines()
    assert rows[0].startswith("rank,item,lower,period,symbols")
    assert len(rows) == 1 + 4
    html = local.read_object(reports, keys["report_html"]).decode()
    assert "Objective over lower (columns) and period (rows)" in html
    assert "Stability of the best cell" in html


def test_an_invalid_request_fails_the_sweep_with_one_clear_error(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    outcome, _ = sweep(cloud, {"strategy": "sma_cross", "grid": {"fast": [0, 5]}})
    assert outcome.status == "FAILED"
    assert outcome.error == "InvalidSweepError"
    assert "grid fast: parameter 'fast' must be between 1 and 10000, got 0" in (outcome.cause or "")
    _, deployment = cloud
    record = sweep_record(deployment, outcome.execution_arn.rsplit(":", 1)[-1])
    assert (record["status"], record["error"]) == ("FAILED", "InvalidSweepError")
