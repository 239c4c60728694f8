"""ExecuteTrades: signals → orders → fills, booked exactly once in one DynamoDB transaction.

Event ``{"run_id", "market_data": <ProcessMarketData's output>}``; output ``{"run_id",
"account", "orders_placed", "orders_rejected", "fills", "equity_key", "trades_key",
"orders_key", "fills_key", "final_equity"}``. A repeated delivery returns the stored output.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import (
    EQUITY,
    FILLS,
    ORDERS_PLACED,
    ORDERS_REJECTED,
    MetricUnit,
    entrypoint,
    logger,
    metrics,
    start_request,
)
from trading.bootstrap import get_platform, service_name
from trading.service.execution import ExecutionRequest, execute_trades


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Execute the signals of the run ``event["run_id"]``."""
    request = ExecutionRequest.from_event(event)
    start_request(request.run_id, service_name())
    platform = get_platform()
    outcome = execute_trades(
        request, objects=platform.objects, accounts=platform.accounts, quotes=platform.quotes
    )
    summary = outcome.summary
    if outcome.duplicate:
        # Counted by the invocation that committed it; counting again would inflate them.
        logger.info("execution already recorded: returning its summary", extra=summary)
        return summary
    metrics.add_metric(name=ORDERS_PLACED, unit=MetricUnit.Count, value=summary["orders_placed"])
    metrics.add_metric(
        name=ORDERS_REJECTED, unit=MetricUnit.Count, value=summary["orders_rejected"]
    )
    metrics.add_metric(name=FILLS, unit=MetricUnit.Count, value=summary["fills"])
    metrics.add_metric(name=EQUITY, unit=MetricUnit.NoUnit, value=summary["final_equity"])
    logger.info("trades executed", extra=summary)
    return summary
