"""What every workflow function's handler shares: the Powertools stack around it, the run or
sweep its logs and trace are tagged with, the platform it works on and the metrics it adds.

A workflow handler reads its request, calls one service function and counts what happened::

    @entrypoint
    def handler(event, context):
        request = IngestRequest.from_event(event)
        platform = begin(request.run_id)
        outcome = process_market_data(request, objects=platform.objects, ...)
        record({BARS_ACCEPTED: outcome.bars_accepted})
        return outcome.to_payload()
"""

from __future__ import annotations

from collections.abc import Mapping

from handlers.observability import MetricUnit, entrypoint, metrics, start_request
from trading.bootstrap import Platform, get_platform, service_name


def begin(correlation_id: str) -> Platform:
    """Tag this invocation's logs, trace and metrics with ``correlation_id`` (its run or
    sweep) and return the process's platform (built once per process, at the first use)."""
    start_request(correlation_id, service_name())
    return get_platform()


def record(figures: Mapping[str, float | None], unit: MetricUnit = MetricUnit.Count) -> None:
    """Add each figure as a metric in ``unit``; a figure of None (not measured) is left out."""
    for name, value in figures.items():
        if value is not None:
            metrics.add_metric(name=name, unit=unit, value=value)


__all__ = ["begin", "entrypoint", "record"]
