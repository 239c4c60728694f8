"""PlanSweep: check a sweep request and write its work items as JSON Lines.

Event ``{"sweep_id", "request": {...}, "data": {"bucket", "key"}}``; output the items' object,
the Distributed Map's batch size, concurrency and tolerance, and the batches' shared input.
"""

from __future__ import annotations

import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import SWEEP_ITEMS
from handlers.task import begin, entrypoint, record
from trading.service.research import plan_sweep


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Plan the sweep ``event["sweep_id"]``."""
    platform = begin(str(event.get("sweep_id")))
    output = plan_sweep(
        event,
        objects=platform.objects,
        sweeps=platform.sweeps,
        results_bucket=platform.environment.reports_bucket,
        now=datetime.datetime.now(datetime.UTC).isoformat(),
    )
    record({SWEEP_ITEMS: output["item_count"]})
    return output
