"""What every step shares: its step record (timing and summary) and the run settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from trading.core.settings import RunSettings, RunSettingsError, resolve_settings
from trading.errors import InvalidRunConfigError
from trading.service.metadata import settings_from_metadata
from trading.service.ports import StepRecord

Clock = Callable[[], datetime]
"""Returns the current time (UTC); injected so tests can fix it."""

# The workflow's steps, numbered in the order they run (the step items sort by number).
PROCESS_MARKET_DATA = (1, "ProcessMarketData")
EXECUTE_TRADES = (2, "ExecuteTrades")
ANALYZE_PERFORMANCE = (3, "AnalyzePerformance")

# Run record statuses written by the steps; the state machine writes FAILED itself.
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"


def utc_now() -> datetime:
    """The current time, UTC (the default clock)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2024-01-02T21:30:00.123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StepTimer:
    """Measures one step: started when created, turned into a :class:`StepRecord` at the end."""

    def __init__(self, step: tuple[int, str], clock: Clock) -> None:
        self._number, self._name = step
        self._clock = clock
        self._started = clock()
        self._perf = time.perf_counter()

    @property
    def started(self) -> datetime:
        """When the step started."""
        return self._started

    @property
    def started_at(self) -> str:
        """When the step started (ISO 8601 UTC)."""
        return iso(self._started)

    def record(self, summary: Mapping[str, Any]) -> StepRecord:
        """The step's record, ended now."""
        return StepRecord(
            number=self._number,
            name=self._name,
            started_at=iso(self._started),
            ended_at=iso(self._clock()),
            duration_ms=round((time.perf_counter() - self._perf) * 1000),
            summary=dict(summary),
        )


def run_settings(
    metadata: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None = None,
) -> RunSettings:
    """Resolve the run settings of an object's ``metadata`` (``stp-*`` keys) overridden by
    ``overrides``, over ``defaults`` (an account's own costs); a bad setting raises
    ``InvalidRunConfigError`` naming it."""
    try:
        return resolve_settings(defaults, settings_from_metadata(metadata), overrides)
    except RunSettingsError as error:
        raise InvalidRunConfigError(str(error)) from None


def account_of(settings: RunSettings, run_id: str) -> str:
    """The account a run trades in: its named live paper account, else a fresh backtest one."""
    return settings.account or f"run-{run_id}"
