"""The API's sweeps: start one on the research workflow, report its status and progress (from
the Distributed Map's run), page through its leaderboard.

>>> started = start_sweep(body, objects=catalog, workflow=research, ...)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from trading.adapters.sweeps import DynamoSweepRepository
from trading.core.research.request import SweepRequestError, parse_sweep_request
from trading.service.errors import InvalidRequestError, NotFoundError
from trading.service.keys import SWEEP_LEADERBOARD_JSON, sweep_prefix
from trading.service.pages import MAX_KEY_BYTES
from trading.service.ports import (
    ExecutionExistsError,
    ObjectCatalog,
    ObjectNotFoundError,
    ObjectStore,
    WorkflowStarter,
)
from trading.service.runs import RunExistsError, SourceObjectNotFoundError


class SweepNotFoundError(NotFoundError):
    """No sweep with the requested id exists (or its leaderboard is not written yet)."""

    code = "SWEEP_NOT_FOUND"


MapRunProgress = Callable[[str], "dict[str, int] | None"]
"""How far a sweep's Distributed Map is: DescribeMapRun's item counts, or None."""


def start_sweep(
    body: Mapping[str, Any],
    *,
    objects: ObjectCatalog,
    workflow: WorkflowStarter,
    market_data_bucket: str,
    new_id: Callable[[], str] = lambda: f"sweep-{uuid.uuid4().hex[:16]}",
) -> dict[str, Any]:
    """Check the request (as PlanSweep will: a bad one is a 400 at once, never a failed
    execution) and the data object, then start the research workflow named by the sweep id.
    ``body``: ``{"request": {...}, "key": "...", "bucket"?: "...", "sweep_id"?: "..."}``."""
    try:
        parse_sweep_request(body.get("request"))
    except SweepRequestError as error:
        raise InvalidRequestError(str(error), "request") from None
    bucket = str(body.get("bucket") or market_data_bucket)
    if bucket != market_data_bucket:  # the functions may read that bucket only
        raise InvalidRequestError(
            f"bucket must be the market data bucket ({market_data_bucket})", "bucket"
        )
    key = str(body["key"])
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidRequestError(f"key must be at most {MAX_KEY_BYTES} bytes", "key")
    if not objects.exists(bucket, key):
        raise SourceObjectNotFoundError(f"s3://{bucket}/{key} does not exist")
    sweep_id = str(body.get("sweep_id") or new_id())
    payload = {"request": dict(body["request"]), "data": {"bucket": bucket, "key": key}}
    try:
        execution = workflow.start(sweep_id, payload)
    except ExecutionExistsError:
        raise RunExistsError(f"sweep {sweep_id} was already started with another request") from None
    return {
        "sweep_id": sweep_id,
        "execution_arn": execution.execution_arn,
        "status": execution.status,
    }


def describe_sweep(
    sweep_id: str, *, sweeps: DynamoSweepRepository, progress: MapRunProgress
) -> dict[str, Any]:
    """The sweep's status, request, progress (items done, failed, total) and, once
    aggregated, its best result and counts."""
    record = sweeps.get(sweep_id)
    if record is None:
        raise SweepNotFoundError(f"no sweep {sweep_id}")
    summary = record.get("summary") or {}
    counts = progress(sweep_id)
    total = int(record.get("items") or 0)
    if counts is not None:
        done = {"succeeded": counts.get("succeeded", 0), "failed": counts.get("failed", 0)}
    else:
        done = {
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
        "progress": {"total": total, **done},
        "best": summary.get("best"),
        "walk_forward_efficiency": summary.get("walk_forward_efficiency"),
    }


def sweep_results(
    sweep_id: str,
    *,
    objects: ObjectStore,
    bucket: str,
    limit: int,
    next_token: str | None,
) -> dict[str, Any]:
    """A page of the sweep's leaderboard (best first); ``next_token`` continues it."""
    try:
        document = json.loads(
            objects.read(bucket, f"{sweep_prefix(sweep_id)}{SWEEP_LEADERBOARD_JSON}")
        )
    except ObjectNotFoundError:
        raise SweepNotFoundError(
            f"sweep {sweep_id} has no leaderboard (unknown, running or failed)"
        ) from None
    start = 0
    if next_token is not None:
        if not next_token.isdigit() or int(next_token) >= len(document["ranking"]):
            raise InvalidRequestError("next_token is not a token of this list", "next_token")
        start = int(next_token)
    rows = document["ranking"][start : start + limit]
    end = start + len(rows)
    return {
        "sweep_id": sweep_id,
        "objective": document["objective"],
        "total": len(document["ranking"]),
        "results": rows,
        "next_token": str(end) if end < len(document["ranking"]) else None,
    }
