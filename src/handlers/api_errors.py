"""The API's errors in one place: the HTTP status of each platform error, the one JSON shape
``{"code", "message", "details"}`` every failure is answered with, and the handlers the
resolver calls for platform errors, request validation failures and anything unexpected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import (
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    ValidationException,
)

from handlers.observability import logger
from trading.errors import (
    InvalidRunConfigError,
    PlatformError,
    RunNotFoundError,
    TransientStoreError,
)
from trading.service.access import (
    ForbiddenError,
    UnauthenticatedError,
)
from trading.service.errors import (
    ConflictError,
    InvalidMarketDataError,
    InvalidRequestError,
    OrderRejectedError,
    RequestError,
)
from trading.service.errors import (
    NotFoundError as ResourceNotFoundError,
)
from trading.service.runs import (
    InvalidRunRequestError,
    RunExistsError,
    SourceObjectNotFoundError,
)

RETRY_AFTER_SECONDS = 2
"""What a 503 tells the client to wait (botocore has already retried inside the request)."""


class InvalidJsonError(PlatformError):
    """The request body is not valid JSON."""

    code = "INVALID_JSON"


# HTTP status of each platform error the API answers with; a subclass takes its base's.
ERROR_STATUS: dict[type[PlatformError], HTTPStatus] = {
    InvalidJsonError: HTTPStatus.BAD_REQUEST,
    InvalidRunRequestError: HTTPStatus.BAD_REQUEST,
    InvalidRunConfigError: HTTPStatus.BAD_REQUEST,
    InvalidRequestError: HTTPStatus.BAD_REQUEST,
    InvalidMarketDataError: HTTPStatus.BAD_REQUEST,
    UnauthenticatedError: HTTPStatus.UNAUTHORIZED,
    ForbiddenError: HTTPStatus.FORBIDDEN,
    SourceObjectNotFoundError: HTTPStatus.NOT_FOUND,
    RunNotFoundError: HTTPStatus.NOT_FOUND,
    ResourceNotFoundError: HTTPStatus.NOT_FOUND,
    RunExistsError: HTTPStatus.CONFLICT,
    ConflictError: HTTPStatus.CONFLICT,
    OrderRejectedError: HTTPStatus.UNPROCESSABLE_ENTITY,
    TransientStoreError: HTTPStatus.SERVICE_UNAVAILABLE,
}


def error_response(
    status: HTTPStatus,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """The JSON error every failure is answered with."""
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body={"code": code, "message": message, "details": dict(details or {})},
        headers=dict(headers or {}),
    )


def platform_error(error: PlatformError) -> Response[Any]:
    """Answer a platform error with its code and the status of its class."""
    status = next((code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)), None)
    if status is None:  # e.g. a misdeployed function: the client cannot fix it
        return internal_error(error)
    details: dict[str, Any] = error.details() if isinstance(error, RequestError) else {}
    field = getattr(error, "field", None)
    if field:
        details["field"] = field
    headers: dict[str, str] = {}
    if status is HTTPStatus.SERVICE_UNAVAILABLE:
        logger.warning("transient AWS failure", extra={"error": error.message})
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        # The client gets a stable message; the AWS details stay in the logs.
        return error_response(status, "UNAVAILABLE", "try again shortly", details, headers)
    return error_response(status, error.code, error.message, details)


_LOCATIONS = frozenset({"body", "query", "path", "header", "headers"})


def _field_of(location: Sequence[Any]) -> str:
    """``("body", "limit_price")`` → ``limit_price``; the body itself → ``body``."""
    parts = [str(part) for part in location if str(part) not in _LOCATIONS]
    return ".".join(parts) if parts else "body"


def validation_error(error: ValidationException) -> Response[Any]:
    """Powertools' request validation failure (its 422), answered 400 naming the field."""
    problems = [problem for problem in error.errors() if isinstance(problem, Mapping)]
    if not problems:
        return error_response(HTTPStatus.BAD_REQUEST, "INVALID_REQUEST", "invalid request")
    first = problems[0]
    if first.get("type") == "unsupported_content_type":
        return error_response(
            HTTPStatus.BAD_REQUEST,
            InvalidRequestError.code,
            "the body must be JSON (Content-Type: application/json)",
            {"field": "Content-Type"},
        )
    if first.get("type") == "json_invalid":
        return error_response(
            HTTPStatus.BAD_REQUEST,
            InvalidJsonError.code,
            "the body is not valid JSON",
            {"field": "body"},
        )
    field = _field_of(first.get("loc", ()))
    fields = [
        {"field": _field_of(problem.get("loc", ())), "message": str(problem.get("msg", ""))}
        for problem in problems
    ]
    # Pydantic prefixes a custom check's message with "Value error, ".
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return error_response(
        HTTPStatus.BAD_REQUEST,
        InvalidRequestError.code,
        f"{field}: {message}",
        {"field": field, "errors": fields},
    )


def internal_error(error: Exception) -> Response[Any]:
    """Anything unexpected: logged with its traceback, answered without it."""
    logger.exception("request failed", extra={"error_type": type(error).__name__})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL", "the request could not be completed"
    )
