"""Sweep records on emulated DynamoDB (moto) under the sweeps service: the account a sweep
belongs to, its progress and best result while it runs (the map run's counts, each batch's
offered best), the answer to another account, and a sweep that never started."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.integration.test_adapters import create_tables
from tests.integration.test_handlers import REGION, TABLES
from tests.service.fakes import FakeObjectStore
from trading.adapters.sweeps import DynamoSweepRepository
from trading.service.ports import ExecutionExistsError, WorkflowExecution
from trading.service.sweeps import (
    StartSweepCommand,
    SweepExistsError,
    SweepNotFoundError,
    describe_sweep,
    start_sweep,
    sweep_results,
)

REQUEST = {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [40]}}
KEY_A = "raw/desk-a/bars.csv"


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoSweepRepository]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client, TABLES)
        yield DynamoSweepRepository(client, TABLES["RunsTable"])


class Catalog:
    def exists(self, bucket: str, key: str) -> bool:
        return key.startswith("raw/")


class Workflow:
    """Starts executions as Step Functions does: the same name and input is the same one."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.started: dict[str, Mapping[str, Any]] = {}
        self.fail = fail

    def start(self, name: str, payload: Mapping[str, Any]) -> WorkflowExecution:
        if self.fail is not None:
            raise self.fail
        arn = f"arn:aws:states:us-east-1:123456789012:execution:research:{name}"
        if self.started.setdefault(name, payload) != payload:
            raise ExecutionExistsError(name, arn)
        return WorkflowExecution(name=name, execution_arn=arn, status="RUNNING")


def command(sweep_id: str | None = "s-1", key: str = KEY_A) -> StartSweepCommand:
    return StartSweepCommand.checked(
        key=key, bucket=None, request=REQUEST, sweep_id=sweep_id, market_data_bucket="market"
    )


def started(records: DynamoSweepRepository, workflow: Workflow | None = None) -> str:
    return start_sweep(
        command(),
        account="desk-a",
        objects=Catalog(),
        workflow=workflow or Workflow(),
        sweeps=records,
    ).sweep_id


def test_progress_and_the_best_so_far_while_the_sweep_runs(
    records: DynamoSweepRepository,
) -> None:
    sweep_id = started(records)
    records.start(sweep_id, {"strategy": "sma_cross"}, 10, "2026-01-01T00:00:01Z")
    first = {"item": 3, "params": {"fast": 5}, "score": 0.5, "metrics": {"sharpe": 0.5}}
    better = {"item": 7, "params": {"fast": 10}, "score": 1.25, "metrics": {"sharpe": 1.25}}
    assert records.offer_best(sweep_id, first, 0.5)
    assert records.offer_best(sweep_id, better, 1.25)
    assert not records.offer_best(sweep_id, first, 0.5)  # a worse batch later changes nothing
    # Four items done and one failed, as the map run counts them mid-way.
    counts = {"total": 10, "succeeded": 4, "failed": 1, "running": 2, "pending": 3}
    sweep = describe_sweep(sweep_id, account="desk-a", sweeps=records, progress=lambda _: counts)
    assert sweep["status"] == "RUNNING"
    assert sweep["progress"] == {"total": 10, "succeeded": 4, "failed": 1}
    assert sweep["best"] == better
    # No leaderboard yet: the results are not there (404), the sweep is.
    with pytest.raises(SweepNotFoundError, match="no leaderboard yet"):
        sweep_results(
            sweep_id,
            account="desk-a",
            sweeps=records,
            objects=FakeObjectStore(),
            bucket="reports",
            limit=10,
            next_token=None,
        )
    # Before the map starts there is no map run: the record's counts answer.
    sweep = describe_sweep(sweep_id, account="desk-a", sweeps=records, progress=lambda _: None)
    assert sweep["progress"] == {"total": 10, "succeeded": 0, "failed": 0}


def test_another_account_s_sweep_is_not_found_like_a_missing_one(
    records: DynamoSweepRepository,
) -> None:
    sweep_id = started(records)
    for unknown in (sweep_id, "nobody", "bad id/.."):
        with pytest.raises(SweepNotFoundError, match=f"no sweep {unknown}"):
            describe_sweep(unknown, account="desk-b", sweeps=records, progress=lambda _: None)
    # Another account can take neither the data nor the id.
    with pytest.raises(Exception, match="does not exist") as missing:
        start_sweep(
            command(None),
            account="desk-b",
            objects=Catalog(),
            workflow=Workflow(),
            sweeps=records,
        )
    assert getattr(missing.value, "code", "") == "OBJECT_NOT_FOUND"
    workflow = Workflow()
    with pytest.raises(SweepExistsError):
        start_sweep(
            command(sweep_id, "raw/desk-b/bars.csv"),
            account="desk-b",
            objects=Catalog(),
            workflow=workflow,
            sweeps=records,
        )
    assert workflow.started == {}
    assert (records.get(sweep_id) or {})["account"] == "desk-a"


def test_a_sweep_that_never_started_leaves_no_record_and_a_retry_is_the_same_sweep(
    records: DynamoSweepRepository,
) -> None:
    with pytest.raises(RuntimeError):
        started(records, Workflow(fail=RuntimeError("throttled")))
    assert records.get("s-1") is None
    workflow = Workflow()
    assert started(records, workflow) == started(records, workflow) == "s-1"
    # Plan's record keeps the API's account.
    records.start("s-1", {"strategy": "sma_cross"}, 2, "2026-01-01T00:00:01Z")
    assert (records.get("s-1") or {})["account"] == "desk-a"
