"""The research workflow's modes and failure tolerance end to end through the local runtime
(walk-forward, universe, failed batches under and over the tolerated percentage); the
helpers are test_research's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stp.local import Deployment, LocalCloud
from tests.builders import CHANNEL_STRATEGY
from tests.workflow.test_research import DATA, ROOT, sweep
from trading.core.marketdata import parse_market_data
from trading.sdk import STRATEGY_PATH_ENV
from trading.sdk.registry import forget_user_strategies

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[LocalCloud, Deployment]]:
    with LocalCloud() as local:
        yield local, local.deploy(ROOT / "template.yaml", code_root=ROOT / "src")


def test_walk_forward_optimises_in_sample_and_stitches_out_of_sample(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    outcome, document = sweep(
        cloud,
        {
            "strategy": "sma_cross",
            "grid": {"fast": [10, 20], "slow": [50, 100]},
            "walk_forward": {"folds": 3, "in_sample": 0.6, "anchored": False},
            "batch_size": 4,
        },
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert document is not None
    assert document["items"] == 4 * 2 * 3  # parameter sets x (in, out) x folds
    summary = document["walk_forward"]
    folds = summary["folds"]
    assert [fold["fold"] for fold in folds] == [0, 1, 2]
    ends = []
    for fold in folds:
        ins, outs = fold["in_sample"]["window"], fold["out_of_sample"]["window"]
        assert ins["end_ts"] < outs["start_ts"]  # never optimised on what it is judged on
        ends.append((outs["start_ts"], outs["end_ts"]))
        # The winner is the best in-sample cell of its fold.
        fold_in = [
            row
            for row in document["ranking"]
            if row["window"]["fold"] == fold["fold"] and row["score"] is not None
        ]
        assert fold["params"] == max(fold_in, key=lambda row: row["score"])["params"]
    assert all(ends[i][1] < ends[i + 1][0] for i in range(len(ends) - 1))
    stitched = summary["stitched"]
    assert stitched["ts"] == sorted(stitched["ts"])
    assert stitched["ts"][0] == ends[0][0] and stitched["ts"][-1] == ends[-1][1]
    assert isinstance(summary["efficiency"], float)


def test_universe_runs_each_symbol_and_the_equal_weight_portfolio(
    cloud: tuple[LocalCloud, Deployment],
) -> None:
    outcome, document = sweep(cloud, {"strategy": "rsi_reversion", "mode": "universe"})
    assert outcome.status == "SUCCEEDED", outcome
    assert document is not None
    symbols = sorted(parse_market_data(DATA).series)
    per_symbol = document["universe"]["per_symbol"]
    assert sorted(row["symbols"][0] for row in per_symbol) == symbols
    portfolio = document["universe"]["portfolio"]
    assert portfolio["equity"][0] == pytest.approx(100_000.0)
    finals = [row["metrics"]["final_equity"] for row in per_symbol]
    assert portfolio["equity"][-1] == pytest.approx(sum(finals) / len(finals))


@pytest.mark.parametrize(("tolerated", "status"), [(30, "SUCCEEDED"), (20, "FAILED")])
def test_failed_batches_are_tolerated_up_to_the_requested_percentage(
    cloud: tuple[LocalCloud, Deployment], tolerated: int, status: str
) -> None:
    local, deployment = cloud
    # One batch of four cannot read the data (denied, not retried): 25 % of the items fail.
    local.inject_fault("s3", "GetObject", "AccessDenied", times=1, status=403)
    outcome, document = sweep(
        cloud,
        {
            "strategy": "sma_cross",
            "grid": {"fast": [5, 10, 15, 20], "slow": [60]},
            "batch_size": 1,
            "max_concurrency": 1,
            "tolerated_failure_percentage": tolerated,
        },
    )
    assert outcome.status == status
    if status == "FAILED":
        assert outcome.error == "States.ExceedToleratedFailureThreshold"
        # The batches that ran are exported all the same (AWS's ResultWriter semantics).
        sweep_id = outcome.execution_arn.rsplit(":", 1)[1]
        reports = deployment.outputs["ReportsBucketName"]
        listed = boto3.client("s3", region_name=local.region).list_objects_v2(
            Bucket=reports, Prefix=f"sweeps/{sweep_id}/results/"
        )
        [manifest] = [o["Key"] for o in listed["Contents"] if o["Key"].endswith("manifest.json")]
        files = json.loads(local.read_object(reports, manifest))["ResultFiles"]
        ran = {
            status: len(json.loads(local.read_object(reports, entry["Key"])))
            for status, entries in files.items()
            for entry in entries
        }
        assert ran == {"FAILED": 1}  # one at a time: the first batch failed, none started after
        return
    assert document is not None
    assert (document["succeeded"], document["failed"]) == (3, 1)
    assert "AccessDenied" in document["failures"][0]["error"]


def test_a_user_strategy_sweeps_like_a_built_in(
    cloud: tuple[LocalCloud, Deployment], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "channel.py").write_text(CHANNEL_STRATEGY)
    monkeypatch.setenv(STRATEGY_PATH_ENV, str(tmp_path))
    forget_user_strategies()
    try:
        outcome, document = sweep(
            cloud, {"strategy": "channel", "grid": {"window": [10, 20, 40]}, "symbols": ["AAPL"]}
        )
        assert outcome.status == "SUCCEEDED", outcome
        assert document is not None
        assert sorted(row["params"]["window"] for row in document["ranking"]) == [10, 20, 40]
        assert all(row["metrics"]["trades"] > 0 for row in document["ranking"])
        refused, _ = sweep(cloud, {"strategy": "channel", "grid": {"window": [1]}})
        assert refused.error == "InvalidSweepError"
        assert "parameter 'window' must be between 2 and 100" in (refused.cause or "")
    finally:
        monkeypatch.delenv(STRATEGY_PATH_ENV)
        forget_user_strategies()
