"""Backtest: one batch of a sweep's work items (the Distributed Map's child).

Event ``{"Items": [...], "BatchInput": {"sweep_id", "request", "data", "results_bucket"}}``;
output ``{"results": [...]}`` with each item's metrics. The batch's best result is offered to
the sweep's record (the API's best so far).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import BACKTESTS
from handlers.task import begin, entrypoint, record
from trading.service.research import backtest_batch


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Backtest the batch's items."""
    batch = event.get("BatchInput") or {}
    platform = begin(str(batch.get("sweep_id")))
    output = backtest_batch(event, objects=platform.objects, best=platform.sweeps)
    record({BACKTESTS: len(output["results"])})
    return output
