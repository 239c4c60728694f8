"""AggregateSweep: the Distributed Map's results into the leaderboard and the report.

Event ``{"plan": <PlanSweep's output>, "map": <the map's ResultWriter output>}``; output the
sweep's counts, its best result and the keys of ``leaderboard.json``/``.csv`` and the report.
"""

from __future__ import annotations

import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import (
    SWEEP_BACKTESTS_FAILED,
    SWEEP_BACKTESTS_SUCCEEDED,
    MetricUnit,
    entrypoint,
    logger,
    metrics,
    start_request,
)
from trading.bootstrap import get_platform, service_name
from trading.service.research import aggregate_sweep


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Aggregate the sweep of ``event["plan"]``."""
    start_request(str((event.get("plan") or {}).get("sweep_id")), service_name())
    platform = get_platform()
    outcome = aggregate_sweep(
        event,
        objects=platform.objects,
        sweeps=platform.sweeps,
        now=datetime.datetime.now(datetime.UTC).isoformat(),
    )
    summary = outcome.summary
    metrics.add_metric(
        name=SWEEP_BACKTESTS_SUCCEEDED, unit=MetricUnit.Count, value=summary["succeeded"]
    )
    metrics.add_metric(name=SWEEP_BACKTESTS_FAILED, unit=MetricUnit.Count, value=summary["failed"])
    logger.info("sweep aggregated", extra={"best": summary["best"]})
    return outcome.to_payload()
