"""AWS failures in the platform's terms: throttling, timeouts and 5xx become retryable.

botocore already retries these a few times (standard retry mode); what still fails is raised
as :class:`~trading.errors.TransientStoreError`, which the workflow retries with backoff. Every
other client error is permanent and propagates unchanged.

>>> from botocore.exceptions import ClientError
>>> error = ClientError({"Error": {"Code": "ThrottlingException"}}, "GetItem")
>>> is_transient(error)
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from trading.errors import TransientStoreError

TRANSIENT_ERROR_CODES = frozenset(
    {
        # DynamoDB
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "TransactionInProgressException",
        "InternalServerError",
        # S3
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        # shared spellings
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestTimeoutException",
        "ServiceUnavailableException",
    }
)
"""Error codes that mean "not now": retrying later can succeed."""


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error`` (``""`` when the response has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    """True for throttling, timeouts and server-side (5xx) errors."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(error) in TRANSIENT_ERROR_CODES or int(status) >= 500


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Raise ``TransientStoreError`` (naming ``action``) for a transient AWS failure inside."""
    try:
        yield
    except ClientError as error:
        if is_transient(error):
            raise TransientStoreError(f"{action}: {error_code(error)}: {error}") from error
        raise
    except (HTTPClientError, BotocoreConnectionError) as error:
        # Timeouts, resets and unreachable endpoints: the request may not even have arrived.
        raise TransientStoreError(f"{action}: {error}") from error
