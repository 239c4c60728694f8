"""The research workflow's three steps over the object store and the sweep records:
Plan (check the request, write the work items), Backtest (one batch of items), Aggregate
(the ResultWriter's results into the leaderboard and the report).

Objects of a sweep live in the reports bucket under ``sweeps/<sweep_id>/``: ``items.jsonl``,
``results/`` (the Distributed Map's ResultWriter), ``curves/<item>.json`` (equity curves
Aggregate needs), ``leaderboard.json``, ``leaderboard.csv`` and ``report.html``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from trading.adapters.sweeps import DynamoSweepRepository
from trading.core.bars import BarSeries
from trading.core.marketdata.errors import MarketDataError
from trading.core.marketdata.reader import parse_market_data
from trading.core.marketdata.selection import SelectionError
from trading.core.research.aggregate import best_result, leaderboard, leaderboard_csv
from trading.core.research.evaluate import evaluate_batch
from trading.core.research.plan import PlanError, items_jsonl, plan_items
from trading.core.research.request import SweepRequestError, parse_sweep_request
from trading.errors import InvalidEventError, InvalidSweepError, MarketDataUnreadableError
from trading.reporting.sweep_report import sweep_html
from trading.service import keys
from trading.service.ports import ObjectNotFoundError, ObjectStore

LEADERBOARD_JSON = keys.SWEEP_LEADERBOARD_JSON
LEADERBOARD_CSV = keys.SWEEP_LEADERBOARD_CSV
REPORT_HTML = keys.SWEEP_REPORT_HTML
sweep_prefix = keys.sweep_prefix


@dataclass(frozen=True, slots=True)
class DataRef:
    """The market data object a sweep runs on."""

    bucket: str
    key: str

    @classmethod
    def from_event(cls, raw: Any) -> DataRef:
        if not isinstance(raw, Mapping) or not all(
            isinstance(raw.get(name), str) and raw.get(name) for name in ("bucket", "key")
        ):
            raise InvalidEventError("data: give {bucket, key} of the market data object")
        return cls(raw["bucket"], raw["key"])


# Parsed data files kept per process: every batch of a sweep reads the same object.
_DATA_CACHE: dict[tuple[str, str], dict[str, BarSeries]] = {}
_DATA_LOCK = threading.Lock()
_DATA_CACHE_SIZE = 4


def load_series(objects: ObjectStore, data: DataRef) -> dict[str, BarSeries]:
    """The validated bars of ``data`` (parsed once per process)."""
    key = (data.bucket, data.key)
    with _DATA_LOCK:
        cached = _DATA_CACHE.get(key)
    if cached is not None:
        return cached
    try:
        parsed = parse_market_data(objects.read(data.bucket, data.key), name=data.key)
    except ObjectNotFoundError:
        raise MarketDataUnreadableError(f"s3://{data.bucket}/{data.key}: no such object") from None
    except MarketDataError as error:
        raise MarketDataUnreadableError(f"s3://{data.bucket}/{data.key}: {error}") from None
    if not parsed.series:
        raise MarketDataUnreadableError(f"s3://{data.bucket}/{data.key}: no valid bar")
    with _DATA_LOCK:
        if len(_DATA_CACHE) >= _DATA_CACHE_SIZE:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = parsed.series
    return parsed.series


def plan_sweep(
    event: Mapping[str, Any],
    *,
    objects: ObjectStore,
    sweeps: DynamoSweepRepository,
    results_bucket: str,
    now: str,
) -> dict[str, Any]:
    """Check the request, expand it into work items written as JSON Lines, record the sweep.

    Event ``{"sweep_id", "request": {...}, "data": {"bucket", "key"}}``; output what the
    Distributed Map reads (the items' object, batch size, concurrency, tolerance) and the
    ``BatchInput`` every Backtest batch receives.
    """
    sweep_id = event.get("sweep_id")
    if not isinstance(sweep_id, str) or not sweep_id:
        raise InvalidEventError("sweep_id: missing")
    data = DataRef.from_event(event.get("data"))
    try:
        request = parse_sweep_request(event.get("request"))
    except SweepRequestError as error:
        raise InvalidSweepError(str(error)) from None
    timeline = None
    data_symbols: list[str] = []
    if request.mode in ("walk-forward", "universe") or request.symbols:
        series = load_series(objects, data)
        missing = [symbol for symbol in request.symbols if symbol not in series]
        if missing:
            raise InvalidSweepError(
                f"symbols: {', '.join(missing)} not in the data "
                f"(it has {', '.join(sorted(series))})"
            )
        chosen = [series[s] for s in (request.symbols or sorted(series))]
        timeline = np.unique(np.concatenate([bars.ts for bars in chosen]))
        data_symbols = sorted(series)
    try:
        items = plan_items(request, timeline=timeline, data_symbols=data_symbols)
    except PlanError as error:
        raise InvalidSweepError(str(error)) from None
    prefix = sweep_prefix(sweep_id)
    items_key = f"{prefix}items.jsonl"
    objects.write(results_bucket, items_key, items_jsonl(items), "application/jsonl")
    document = request.to_dict()
    sweeps.start(sweep_id, document, len(items), now)
    return {
        "sweep_id": sweep_id,
        "item_count": len(items),
        "items": {"bucket": results_bucket, "key": items_key},
        "results": {"bucket": results_bucket, "prefix": f"{prefix}results"},
        "batch_size": request.batch_size,
        "max_concurrency": request.max_concurrency,
        "tolerated_failure_percentage": request.tolerated_failure_percentage,
        "batch_input": {
            "sweep_id": sweep_id,
            "request": document,
            "data": {"bucket": data.bucket, "key": data.key},
            "results_bucket": results_bucket,
        },
    }


class BestSoFar(Protocol):
    """Where a batch offers its best result (the sweep's record: one conditional write)."""

    def offer_best(self, sweep_id: str, best: Mapping[str, Any], score: float) -> bool:
        """Keep ``best`` when ``score`` beats the sweep's best so far."""
        ...


def backtest_batch(
    event: Mapping[str, Any], *, objects: ObjectStore, best: BestSoFar | None = None
) -> dict[str, Any]:
    """Backtest every item of one batch (``{"Items": [...], "BatchInput": {...}}``).

    Output ``{"results": [...]}``: each item with its metrics and seconds; equity curves
    Aggregate needs go to ``curves/<item>.json`` (named by ``curve_key``), never the payload.
    With ``best``, the batch's best result by the sweep's objective is offered to it, so the
    API shows the best so far while the sweep runs.
    """
    items = event.get("Items")
    batch = event.get("BatchInput")
    if not isinstance(items, list) or not isinstance(batch, Mapping):
        raise InvalidEventError("a Backtest batch is {Items: [...], BatchInput: {...}}")
    data = DataRef.from_event(batch.get("data"))
    request = batch.get("request")
    if not isinstance(request, Mapping):
        raise InvalidEventError("BatchInput.request: missing")
    series = load_series(objects, data)
    try:
        results = evaluate_batch(series, request, items)
    except SelectionError as error:
        raise InvalidSweepError(str(error)) from None
    prefix = sweep_prefix(str(batch["sweep_id"]))
    for result in results:
        curve = result.pop("curve", None)
        if curve is not None:
            key = f"{prefix}curves/{result['item']}.json"
            objects.write(
                str(batch["results_bucket"]), key, json.dumps(curve).encode(), "application/json"
            )
            result["curve_key"] = key
    if best is not None:
        found = best_result(request, results)
        if found is not None:
            best.offer_best(str(batch["sweep_id"]), found, float(found["score"]))
    return {"results": results}


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    """What Aggregate wrote and the summary it recorded."""

    summary: dict[str, Any]
    keys: dict[str, str]

    def to_payload(self) -> dict[str, Any]:
        return {**self.summary, "keys": self.keys}


def aggregate_sweep(
    event: Mapping[str, Any],
    *,
    objects: ObjectStore,
    sweeps: DynamoSweepRepository,
    now: str,
) -> SweepOutcome:
    """Read the ResultWriter's manifest and result files, rank, write the leaderboard
    (JSON, CSV) and the HTML report, and mark the sweep SUCCEEDED with its best result.

    Event ``{"plan": <Plan's output>, "map": {"ResultWriterDetails": {"Bucket", "Key"}}}``.
    """
    plan, written = event.get("plan"), event.get("map")
    if not isinstance(plan, Mapping) or not isinstance(written, Mapping):
        raise InvalidEventError("Aggregate takes {plan, map}")
    details = written.get("ResultWriterDetails") or {}
    manifest = json.loads(objects.read(details["Bucket"], details["Key"]))
    results: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for status, files in manifest["ResultFiles"].items():
        for entry in files:
            for execution in json.loads(objects.read(manifest["DestinationBucket"], entry["Key"])):
                if status == "SUCCEEDED":
                    results.extend(_child_output(execution)["results"])
                else:
                    batch = json.loads(execution.get("Input") or "{}")
                    error = f"{execution.get('Error')}: {_cause(execution.get('Cause'))}"
                    failed.extend({**item, "error": error} for item in batch.get("Items", []))
    request = plan["batch_input"]["request"]
    bucket = plan["items"]["bucket"]

    def curve_of(result: Mapping[str, Any]) -> Any:
        key = result.get("curve_key")
        return json.loads(objects.read(bucket, key)) if key else None

    document = leaderboard(request, sorted(results, key=lambda r: r["item"]), failed, curve_of)
    document["sweep_id"] = plan["sweep_id"]
    prefix = sweep_prefix(plan["sweep_id"])
    keys = {
        "leaderboard_json": f"{prefix}{LEADERBOARD_JSON}",
        "leaderboard_csv": f"{prefix}{LEADERBOARD_CSV}",
        "report_html": f"{prefix}{REPORT_HTML}",
    }
    objects.write(
        bucket, keys["leaderboard_json"], json.dumps(document).encode(), "application/json"
    )
    objects.write(bucket, keys["leaderboard_csv"], leaderboard_csv(document), "text/csv")
    objects.write(bucket, keys["report_html"], sweep_html(document).encode(), "text/html")
    summary = {
        "sweep_id": plan["sweep_id"],
        "items": document["items"],
        "succeeded": document["succeeded"],
        "failed": document["failed"],
        "best": document["best"],
        "backtest_seconds": document["seconds"],
    }
    if document.get("walk_forward"):
        summary["walk_forward_efficiency"] = document["walk_forward"]["efficiency"]
    sweeps.finish(plan["sweep_id"], {**summary, "keys": keys}, now)
    return SweepOutcome(summary=summary, keys=keys)


def _child_output(execution: Mapping[str, Any]) -> dict[str, Any]:
    output = json.loads(execution["Output"])
    # The child's Task hands on the function's payload as its output.
    return output.get("Payload", output) if isinstance(output, dict) else {"results": []}


def _cause(cause: Any) -> str:
    """The handler's message out of a Lambda error document, else the cause as it is."""
    try:
        document = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    return str(document.get("errorMessage", cause)) if isinstance(document, dict) else str(cause)
