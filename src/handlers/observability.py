"""Powertools logger (JSON), tracer (X-Ray) and metrics (CloudWatch EMF) shared by the handlers.

Service name and metrics namespace come from the template (``POWERTOOLS_SERVICE_NAME``,
``POWERTOOLS_METRICS_NAMESPACE``). Metric names live here, once::

    metrics.add_metric(name=BARS_ACCEPTED, unit=MetricUnit.Count, value=120)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# Only boto3 calls go out of these functions: patching just botocore keeps the traced cold
# start short (the default patches every library the X-Ray SDK knows).
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

# The platform's custom metrics (namespace from POWERTOOLS_METRICS_NAMESPACE).
BARS_ACCEPTED = "BarsAccepted"
BARS_REJECTED = "BarsRejected"
ORDERS_PLACED = "OrdersPlaced"
ORDERS_REJECTED = "OrdersRejected"
FILLS = "Fills"
EQUITY = "Equity"
TOTAL_RETURN = "TotalReturn"  # the run's P&L as a fraction of its initial equity
RUN_DURATION = "RunDuration"
SWEEP_ITEMS = "SweepItems"  # work items a sweep's Plan wrote
BACKTESTS = "Backtests"  # backtests one batch ran
SWEEP_BACKTESTS_SUCCEEDED = "SweepBacktestsSucceeded"
SWEEP_BACKTESTS_FAILED = "SweepBacktestsFailed"


Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def entrypoint(handler: Handler) -> Handler:
    """Wrap a Lambda handler with the logger's context, the trace and the metrics flush.

    The same stack for every function: ``@entrypoint`` on ``handler(event, context)``.
    """
    wrapped: Handler = logger.inject_lambda_context(
        tracer.capture_lambda_handler(metrics.log_metrics(handler))
    )
    return wrapped


def start_request(run_id: str, service: str | None = None) -> None:
    """Tag this request's logs, trace and metrics with the run (correlation id, ``run_id``).

    ``service`` is the function's current service name: the Lambda runtime gives each function
    its own process, but the local runtime runs all of them in one, where the name read at
    import would be the first function's.
    """
    logger.set_correlation_id(run_id)
    logger.append_keys(run_id=run_id)
    if service:
        logger.append_keys(service=service)
        metrics.service = service  # the dimension each metric gets when it is flushed
    tracer.put_annotation(key="run_id", value=run_id)


__all__ = [
    "BACKTESTS",
    "BARS_ACCEPTED",
    "BARS_REJECTED",
    "EQUITY",
    "FILLS",
    "ORDERS_PLACED",
    "ORDERS_REJECTED",
    "RUN_DURATION",
    "SWEEP_BACKTESTS_FAILED",
    "SWEEP_BACKTESTS_SUCCEEDED",
    "SWEEP_ITEMS",
    "TOTAL_RETURN",
    "MetricUnit",
    "entrypoint",
    "logger",
    "metrics",
    "start_request",
    "tracer",
]
