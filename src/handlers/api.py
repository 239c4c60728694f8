"""Api: the REST API's function — health, starting runs, reading a run and its steps.

Routes (API Gateway REST proxy events, Powertools' ``APIGatewayRestResolver``)::

    GET  /health          200 {"status": "ok", "service", "version"}
    POST /runs            202 {"run_id", "execution_arn", "status"}
    GET  /runs/{id}       200 the run record with its steps
    OPTIONS (any route)   204 CORS preflight, for the origins in ALLOWED_ORIGINS

Every error is JSON ``{"code", "message", "details"}`` with the code of the platform error
class (``RUN_NOT_FOUND``, ``RUN_EXISTS``...); an unexpected failure is logged and answered
500 ``INTERNAL`` without its traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import logger, tracer
from trading.bootstrap import get_api_platform, get_platform, service_name
from trading.errors import (
    InvalidRunConfigError,
    PlatformError,
    RunNotFoundError,
    TransientStoreError,
)
from trading.service.runs import (
    InvalidRunRequestError,
    RunExistsError,
    SourceObjectNotFoundError,
    StartRunRequest,
    describe_run,
    start_run,
)

RETRY_AFTER_SECONDS = 2
"""What a 503 tells the client to wait (botocore has already retried inside the request)."""
PREFLIGHT_MAX_AGE_SECONDS = 600
"""How long a browser may cache a preflight answer."""
DEFAULT_SERVICE = "api"


class InvalidJsonError(PlatformError):
    """The request body is not valid JSON."""

    code = "INVALID_JSON"


# HTTP status of each platform error the API answers with; a subclass takes its base's.
ERROR_STATUS: dict[type[PlatformError], HTTPStatus] = {
    InvalidJsonError: HTTPStatus.BAD_REQUEST,
    InvalidRunRequestError: HTTPStatus.BAD_REQUEST,
    InvalidRunConfigError: HTTPStatus.BAD_REQUEST,
    SourceObjectNotFoundError: HTTPStatus.NOT_FOUND,
    RunNotFoundError: HTTPStatus.NOT_FOUND,
    RunExistsError: HTTPStatus.CONFLICT,
    TransientStoreError: HTTPStatus.SERVICE_UNAVAILABLE,
}


def cors_config(allowed_origins: str) -> CORSConfig:
    """CORS for the comma-separated ``allowed_origins`` (``*``: any origin).

    >>> cors_config("https://a.example, https://b.example").to_dict("https://b.example")[
    ...     "Access-Control-Allow-Origin"]
    'https://b.example'
    """
    origins = [origin.strip() for origin in allowed_origins.split(",") if origin.strip()]
    first, *others = origins or ["*"]
    return CORSConfig(allow_origin=first, extra_origins=others, max_age=PREFLIGHT_MAX_AGE_SECONDS)


# Built at import (a cold start), from the function's environment, as the template sets it.
app = APIGatewayRestResolver(cors=cors_config(os.environ.get("ALLOWED_ORIGINS", "*")))


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


def _json_body() -> Any:
    body = app.current_event.decoded_body
    if body is None or not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as error:
        raise InvalidJsonError(f"the body is not valid JSON: {error}") from None


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness: the function answers (no AWS call)."""
    return {
        "status": "ok",
        "service": service_name() or DEFAULT_SERVICE,
        # The deployed function's version ("$LATEST" unless a version is published).
        "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    }


@app.post("/runs")
def post_run() -> Response[Any]:
    """Start a run on an object under raw/ of the market data bucket."""
    api = get_api_platform()
    request = StartRunRequest.from_body(
        _json_body(), market_data_bucket=api.platform.environment.market_data_bucket
    )
    started = start_run(request, objects=api.sources, workflow=api.workflow, runs=api.platform.runs)
    logger.info("run started", extra={"run_id": started.run_id, "key": request.key})
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type=content_types.APPLICATION_JSON,
        body=started.to_dict(),
    )


@app.get("/runs/<run_id>")
def get_run(run_id: str) -> dict[str, Any]:
    """A run's status, settings, headline figures and step history."""
    return describe_run(run_id, runs=get_platform().runs).to_dict()


def platform_error(error: PlatformError) -> Response[Any]:
    """Answer a platform error with its code and the status of its class."""
    status = next((code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)), None)
    if status is None:  # e.g. a misdeployed function: the client cannot fix it
        return internal_error(error)
    details: dict[str, Any] = {}
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


@app.not_found
def route_not_found(_: NotFoundError) -> Response[Any]:
    """An unknown route or method."""
    event = app.current_event
    return error_response(
        HTTPStatus.NOT_FOUND,
        "NOT_FOUND",
        f"no route {event.http_method} {event.path}",
    )


def internal_error(error: Exception) -> Response[Any]:
    """Anything unexpected: logged with its traceback, answered without it."""
    logger.exception("request failed", extra={"error_type": type(error).__name__})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL", "the request could not be completed"
    )


# Registered by call, not as decorators: Powertools' exception_handler is untyped, and the
# handlers keep their types. The most specific class registered wins.
app.exception_handler(PlatformError)(platform_error)
app.exception_handler(Exception)(internal_error)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route one API Gateway REST proxy event."""
    service = service_name()
    if service:  # the local runtime shares one process between functions
        logger.append_keys(service=service)
    return app.resolve(event, context)
