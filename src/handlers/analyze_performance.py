"""AnalyzePerformance: metrics, JSON and HTML reports, and the run marked SUCCEEDED.

Event ``{"run_id", "market_data", "execution": {...} | null}`` (null: no signals, nothing was
traded); output ``{"run_id", "report_key", "html_key", "headline"}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import EQUITY, RUN_DURATION, TOTAL_RETURN, MetricUnit, logger
from handlers.task import begin, entrypoint, record
from trading.service.analysis import AnalysisRequest, analyze_performance


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Analyse the performance of the run ``event["run_id"]``."""
    request = AnalysisRequest.from_event(event)
    platform = begin(request.run_id)
    outcome = analyze_performance(
        request,
        objects=platform.objects,
        runs=platform.runs,
        accounts=platform.accounts,
        reports_bucket=platform.environment.reports_bucket,
    )
    headline = outcome.headline
    record(
        {EQUITY: headline.get("final_equity"), TOTAL_RETURN: headline.get("total_return")},
        MetricUnit.NoUnit,
    )
    record({RUN_DURATION: outcome.run_seconds}, MetricUnit.Seconds)
    logger.info("performance analysed", extra={"headline": outcome.headline})
    return outcome.to_payload()
