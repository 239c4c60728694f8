"""The platform's error classes: their class names are the state machine's error names.

A Lambda handler that raises one of these lets it propagate; Step Functions sees the class
name as the ``Error`` of the failed task, and ``statemachine/trading_workflow.asl.json``
retries exactly the names in :data:`RETRYABLE_ERROR_NAMES` (a test keeps the two in step).

>>> from trading.errors import TransientStoreError, RETRYABLE_ERROR_NAMES
>>> TransientStoreError("Quotes table throttled").code
'TRANSIENT_STORE'
>>> "TransientStoreError" in RETRYABLE_ERROR_NAMES
True

This module imports nothing from AWS: the core and the adapters both raise these.
"""

from __future__ import annotations

from typing import ClassVar


class PlatformError(Exception):
    """Base of every error the platform raises on purpose.

    ``retryable`` says whether the workflow retries a task that failed with it; ``code`` is a
    stable machine-readable identifier for API responses and run records.
    """

    retryable: ClassVar[bool] = False
    code: ClassVar[str] = "PLATFORM_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The error as the run record and the API show it: name, code and message."""
        return {"error": type(self).__name__, "code": self.code, "message": self.message}


# --- Transient: the same call may succeed later; the workflow retries these. ---


class TransientStoreError(PlatformError):
    """DynamoDB or S3 throttled the request or timed out; retrying with backoff helps."""

    retryable = True
    code = "TRANSIENT_STORE"


class BrokerUnavailableError(PlatformError):
    """The broker could not be reached or refused service for now."""

    retryable = True
    code = "BROKER_UNAVAILABLE"


# --- Permanent: retrying cannot change the outcome; the run fails at once. ---


class InvalidEventError(PlatformError):
    """The event a handler received does not have the documented shape."""

    code = "INVALID_EVENT"


class MarketDataUnreadableError(PlatformError):
    """The raw market data object cannot be read at all (missing, empty, unknown format)."""

    code = "MARKET_DATA_UNREADABLE"


class StaleMarketDataError(PlatformError):
    """Every bar of a live account's file is at or before the last bar the account processed
    (a file uploaded again, or older than what its runs have seen): nothing is new."""

    code = "STALE_MARKET_DATA"


class TradingHaltedError(PlatformError):
    """The run's account has its kill switch on: its file is kept, nothing of it is applied
    (no curated bars, quotes, signals or orders) until an admin turns the switch off."""

    code = "TRADING_HALTED"


class InvalidRunConfigError(PlatformError):
    """The run configuration names an unknown strategy or an invalid parameter."""

    code = "INVALID_RUN_CONFIG"


class InvalidSweepError(PlatformError):
    """The sweep request is invalid (unknown strategy, a grid value out of its parameter's
    range, more work items than the cap...)."""

    code = "INVALID_SWEEP"


class StrategyFailedError(PlatformError):
    """The run's strategy raised or returned something malformed; the message names the
    strategy, the file and the line."""

    code = "STRATEGY_FAILED"


class RunNotFoundError(PlatformError):
    """No run with the requested id exists."""

    code = "RUN_NOT_FOUND"


def _leaf_classes(base: type[PlatformError]) -> list[type[PlatformError]]:
    """Every subclass of ``base``, depth first."""
    found: list[type[PlatformError]] = []
    for subclass in base.__subclasses__():
        found.append(subclass)
        found.extend(_leaf_classes(subclass))
    return found


PLATFORM_ERRORS: tuple[type[PlatformError], ...] = tuple(_leaf_classes(PlatformError))
"""Every concrete platform error class, in definition order."""

RETRYABLE_ERROR_NAMES: frozenset[str] = frozenset(
    error.__name__ for error in PLATFORM_ERRORS if error.retryable
)
"""The ASL error names the workflow retries."""

NON_RETRYABLE_ERROR_NAMES: frozenset[str] = frozenset(
    error.__name__ for error in PLATFORM_ERRORS if not error.retryable
)
"""The ASL error names that fail a run at once."""

__all__ = [
    "NON_RETRYABLE_ERROR_NAMES",
    "PLATFORM_ERRORS",
    "RETRYABLE_ERROR_NAMES",
    "BrokerUnavailableError",
    "InvalidEventError",
    "InvalidRunConfigError",
    "MarketDataUnreadableError",
    "PlatformError",
    "RunNotFoundError",
    "StrategyFailedError",
    "TradingHaltedError",
    "TransientStoreError",
]
