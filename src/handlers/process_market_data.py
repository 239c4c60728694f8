"""ProcessMarketData: validate the uploaded bars, store curated/rejected rows, quotes, signals.

Event ``{"run_id", "input": {"bucket", "key", "source"?, "config"?}}``; output: see
:meth:`trading.service.requests.MarketDataRef.to_payload` (keys and counts, never bars).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import BARS_ACCEPTED, BARS_REJECTED, logger
from handlers.task import begin, entrypoint, record
from trading.service.ingest import process_market_data
from trading.service.requests import IngestRequest


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process one market data object for the run ``event["run_id"]``."""
    request = IngestRequest.from_event(event)
    platform = begin(request.run_id)
    outcome = process_market_data(
        request,
        objects=platform.objects,
        runs=platform.runs,
        quotes=platform.quotes,
        accounts=platform.accounts,
        profiles=platform.registry,
        output_bucket=platform.environment.market_data_bucket,
    )
    record({BARS_ACCEPTED: outcome.bars_accepted, BARS_REJECTED: outcome.bars_rejected})
    logger.info(
        "market data processed",
        extra={
            "source": f"s3://{request.bucket}/{request.key}",
            "bars_accepted": outcome.bars_accepted,
            "bars_rejected": outcome.bars_rejected,
            "symbols": list(outcome.symbols),
            "signal_count": outcome.signal_count,
        },
    )
    return outcome.to_payload()
