"""ExecuteTrades: signals → orders → fills, booked exactly once in one DynamoDB transaction.

Event ``{"run_id", "market_data": <ProcessMarketData's output>}``; output ``{"run_id",
"account", "orders_placed", "orders_rejected", "fills", "equity_key", "trades_key",
"orders_key", "fills_key", "final_equity"}``. A repeated delivery returns the stored output.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import EQUITY, FILLS, ORDERS_PLACED, ORDERS_REJECTED, MetricUnit, logger
from handlers.task import begin, entrypoint, record
from trading.service.execution import ExecutionRequest, execute_trades


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Execute the signals of the run ``event["run_id"]``."""
    request = ExecutionRequest.from_event(event)
    platform = begin(request.run_id)
    outcome = execute_trades(
        request, objects=platform.objects, accounts=platform.accounts, quotes=platform.quotes
    )
    summary = outcome.summary
    if outcome.duplicate:
        # Counted by the invocation that committed it; counting again would inflate them.
        logger.info("execution already recorded: returning its summary", extra=summary)
        return summary
    record(
        {
            ORDERS_PLACED: summary["orders_placed"],
            ORDERS_REJECTED: summary["orders_rejected"],
            FILLS: summary["fills"],
        }
    )
    record({EQUITY: summary["final_equity"]}, MetricUnit.NoUnit)
    logger.info("trades executed", extra=summary)
    return summary
