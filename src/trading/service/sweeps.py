"""The API's sweeps of one account: start one on the research workflow, report its status,
progress (from the Distributed Map's run) and best result so far, page through its
leaderboard.

Plain Python over ports (no AWS imports)::

    command = StartSweepCommand.checked(key="raw/desk-a/bars.csv", bucket=None,
                                        request={"strategy": "sma_cross", "grid": {...}},
                                        sweep_id=None, market_data_bucket="market-data")
    started = start_sweep(command, account="desk-a", objects=catalog, workflow=research,
                          sweeps=records)
    describe_sweep(started.sweep_id, account="desk-a", sweeps=records, progress=counts)

A sweep is its account's: its data is under ``raw/<account>/`` and its record names the
account; another account's sweep is answered exactly as a missing one (404).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from trading.core.research.request import SweepRequestError, parse_sweep_request
from trading.service import keys
from trading.service.errors import ConflictError, InvalidRequestError, NotFoundError
from trading.service.ports import (
    ExecutionExistsError,
    ObjectCatalog,
    ObjectNotFoundError,
    ObjectStore,
    WorkflowStarter,
)
from trading.service.runs import (
    RUN_ID_PATTERN,
    SourceObjectNotFoundError,
    check_source,
)
from trading.service.steps import Clock, iso, utc_now


class SweepNotFoundError(NotFoundError):
    """No sweep with the requested id is the caller's account's (or its leaderboard is not
    written yet)."""

    code = "SWEEP_NOT_FOUND"


class SweepExistsError(ConflictError):
    """A sweep with this id was already started with another request (or by another
    account)."""

    code: ClassVar[str] = "SWEEP_EXISTS"


class SweepRecords(Protocol):
    """The sweep records (:class:`trading.adapters.sweeps.DynamoSweepRepository`)."""

    def create(
        self, sweep_id: str, account: str, request: Mapping[str, Any], now: str
    ) -> str | None:
        """Record a new sweep of ``account``; the account of the record that stands."""
        ...

    def forget(self, sweep_id: str, account: str) -> None:
        """Delete ``account``'s record of a sweep that never started."""
        ...

    def get(self, sweep_id: str) -> dict[str, Any] | None:
        """The record, or None."""
        ...


MapRunProgress = Callable[[str], "Mapping[str, int] | None"]
"""How far a sweep's Distributed Map is: DescribeMapRun's ``itemCounts``, or None before the
map starts."""


@dataclass(frozen=True, slots=True)
class StartSweepCommand:
    """A checked ``POST /sweeps``: the data object, the raw sweep request (checked as
    PlanSweep checks it) and the client's sweep id, if any."""

    bucket: str
    key: str
    request: Mapping[str, Any]
    normalised: Mapping[str, Any]
    sweep_id: str | None = None

    @classmethod
    def checked(
        cls,
        *,
        key: str,
        bucket: str | None,
        request: Mapping[str, Any],
        sweep_id: str | None,
        market_data_bucket: str,
    ) -> StartSweepCommand:
        """The command, or :class:`InvalidRequestError` naming the bad field: a bad request
        is a 400 at once, never a failed execution."""
        check_source(key, bucket, market_data_bucket)
        try:
            parsed = parse_sweep_request(request)
        except SweepRequestError as error:
            raise InvalidRequestError(str(error), "request") from None
        return cls(
            bucket=market_data_bucket,
            key=key,
            request=dict(request),
            normalised=parsed.to_dict(),
            sweep_id=sweep_id,
        )


@dataclass(frozen=True, slots=True)
class StartedSweep:
    """A started sweep: its id (the execution name), its execution and its status."""

    sweep_id: str
    execution_arn: str
    status: str

    def to_dict(self) -> dict[str, str]:
        """The ``POST /sweeps`` response body."""
        return {
            "sweep_id": self.sweep_id,
            "execution_arn": self.execution_arn,
            "status": self.status,
        }


def new_sweep_id() -> str:
    """A fresh sweep id (a valid execution name)."""
    return f"sweep-{uuid.uuid4().hex[:16]}"


def start_sweep(
    command: StartSweepCommand,
    *,
    account: str,
    objects: ObjectCatalog,
    workflow: WorkflowStarter,
    sweeps: SweepRecords,
    new_id: Callable[[], str] = new_sweep_id,
    clock: Clock = utc_now,
) -> StartedSweep:
    """Record the sweep as ``account``'s, then start the research workflow named by its id.

    The data must be in the account's folder (``raw/<account>/``): any other key is answered
    as a missing object (404), whether it exists or not. The record comes first, so
    ``GET /sweeps/{id}`` finds the sweep at once and PlanSweep keeps its account. Starting the
    same id with the same request again returns the same sweep; with another request, or an
    id another account holds, it is :class:`SweepExistsError` (409).
    """
    if keys.account_of(command.key) != account or not objects.exists(command.bucket, command.key):
        raise SourceObjectNotFoundError(
            f"s3://{command.bucket}/{command.key} does not exist "
            f"(a sweep reads objects under {keys.RAW_PREFIX}{account}/)"
        )
    sweep_id = command.sweep_id or new_id()
    owner = sweeps.create(sweep_id, account, command.normalised, iso(clock()))
    if owner != account:
        raise SweepExistsError(f"sweep id {sweep_id} is taken: choose another")
    payload = {
        "request": dict(command.request),
        "data": {"bucket": command.bucket, "key": command.key},
    }
    try:
        execution = workflow.start(sweep_id, payload)
    except ExecutionExistsError:
        raise SweepExistsError(
            f"sweep {sweep_id} was already started with another request"
        ) from None
    except Exception:
        sweeps.forget(sweep_id, account)  # never started: leave no record behind
        raise
    return StartedSweep(sweep_id, execution.execution_arn, execution.status)


def owned_sweep(sweep_id: str, *, account: str, sweeps: SweepRecords) -> dict[str, Any]:
    """The record of sweep ``sweep_id`` when it is ``account``'s; else
    :class:`SweepNotFoundError` (the same answer for another account's: nothing leaks)."""
    record = sweeps.get(sweep_id) if RUN_ID_PATTERN.fullmatch(sweep_id) else None
    if record is None or record.get("account") != account:
        raise SweepNotFoundError(f"no sweep {sweep_id}")
    return record


def describe_sweep(
    sweep_id: str, *, account: str, sweeps: SweepRecords, progress: MapRunProgress
) -> dict[str, Any]:
    """The sweep's status, request, progress (items total, succeeded, failed: the map run's
    counts while it runs, the leaderboard's after) and best result (so far, while running)."""
    record = owned_sweep(sweep_id, account=account, sweeps=sweeps)
    summary = record.get("summary") or {}
    counts = progress(sweep_id)
    if counts is not None:
        done = {
            "total": int(counts.get("total", 0)),
            "succeeded": int(counts.get("succeeded", 0)),
            "failed": sum(int(counts.get(name, 0)) for name in ("failed", "timedOut", "aborted")),
        }
    else:
        done = {
            "total": int(summary.get("items") or record.get("items") or 0),
            "succeeded": int(summary.get("succeeded", 0)),
            "failed": int(summary.get("failed", 0)),
        }
    return {
        "sweep_id": sweep_id,
        "status": record.get("status"),
        "request": record.get("request"),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "error": record.get("error"),
        "cause": record.get("cause"),
        "progress": done,
        "best": summary.get("best") or record.get("best_so_far"),
        "walk_forward_efficiency": summary.get("walk_forward_efficiency"),
    }


def sweep_results(
    sweep_id: str,
    *,
    account: str,
    sweeps: SweepRecords,
    objects: ObjectStore,
    bucket: str,
    limit: int,
    next_token: str | None,
) -> dict[str, Any]:
    """A page of the sweep's leaderboard (best first); ``next_token`` continues it."""
    owned_sweep(sweep_id, account=account, sweeps=sweeps)
    try:
        document = json.loads(
            objects.read(bucket, f"{keys.sweep_prefix(sweep_id)}{keys.SWEEP_LEADERBOARD_JSON}")
        )
    except ObjectNotFoundError:
        raise SweepNotFoundError(
            f"sweep {sweep_id} has no leaderboard yet (running or failed)"
        ) from None
    ranking = document["ranking"]
    start = 0
    if next_token is not None:
        if not next_token.isdigit() or not 0 < int(next_token) < len(ranking):
            raise InvalidRequestError("next_token is not a token of this list", "next_token")
        start = int(next_token)
    rows = ranking[start : start + limit]
    end = start + len(rows)
    return {
        "sweep_id": sweep_id,
        "objective": document["objective"],
        "total": len(ranking),
        "results": rows,
        "next_token": str(end) if end < len(ranking) else None,
    }
