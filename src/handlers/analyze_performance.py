"""AnalyzePerformance: metrics, JSON and HTML reports, and the run marked SUCCEEDED.

Event ``{"run_id", "market_data", "execution": {...} | null}`` (null: no signals, nothing was
traded); output ``{"run_id", "report_key", "html_key", "headline"}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import (
    EQUITY,
    RUN_DURATION,
    TOTAL_RETURN,
    MetricUnit,
    entrypoint,
    logger,
    metrics,
    start_request,
)
from trading.bootstrap import get_platform, service_name
from trading.service.analysis import AnalysisRequest, analyze_performance


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Analyse the performance of the run ``event["run_id"]``."""
    request = AnalysisRequest.from_event(event)
    start_request(request.run_id, service_name())
    platform = get_platform()
    outcome = analyze_performance(
        request,
        objects=platform.objects,
        runs=platform.runs,
        accounts=platform.accounts,
        reports_bucket=platform.environment.reports_bucket,
    )
    final_equity = outcome.headline.get("final_equity")
    if final_equity is not None:
        metrics.add_metric(name=EQUITY, unit=MetricUnit.NoUnit, value=final_equity)
    total_return = outcome.headline.get("total_return")
    if total_return is not None:
        metrics.add_metric(name=TOTAL_RETURN, unit=MetricUnit.NoUnit, value=total_return)
    if outcome.run_seconds is not None:
        metrics.add_metric(name=RUN_DURATION, unit=MetricUnit.Seconds, value=outcome.run_seconds)
    logger.info("performance analysed", extra={"headline": outcome.headline})
    return outcome.to_payload()
