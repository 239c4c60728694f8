"""AggregateSweep: the Distributed Map's results into the leaderboard and the report.

Event ``{"plan": <PlanSweep's output>, "map": <the map's ResultWriter output>}``; output the
sweep's counts, its best result and the keys of ``leaderboard.json``/``.csv`` and the report.
"""

from __future__ import annotations

import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import SWEEP_BACKTESTS_FAILED, SWEEP_BACKTESTS_SUCCEEDED, logger
from handlers.task import begin, entrypoint, record
from trading.service.research import aggregate_sweep


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Aggregate the sweep of ``event["plan"]``."""
    platform = begin(str((event.get("plan") or {}).get("sweep_id")))
    outcome = aggregate_sweep(
        event,
        objects=platform.objects,
        sweeps=platform.sweeps,
        now=datetime.datetime.now(datetime.UTC).isoformat(),
    )
    summary = outcome.summary
    record(
        {SWEEP_BACKTESTS_SUCCEEDED: summary["succeeded"], SWEEP_BACKTESTS_FAILED: summary["failed"]}
    )
    logger.info("sweep aggregated", extra={"best": summary["best"]})
    return outcome.to_payload()
