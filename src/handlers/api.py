"""Api: the REST API's function — orders, positions, portfolio, quotes, market data, runs,
reports and health, routed by Powertools' ``APIGatewayRestResolver`` with data validation.

Routes (API Gateway REST proxy events; models in ``handlers.api_models``; the contract in
``openapi.json``, generated from this module by ``python -m scripts.make_openapi``)::

    GET    /health                    200 liveness (no API key)
    POST   /orders                    201 placed (200: the same client_order_id and body again)
    GET    /orders                    200 a page (status, symbol, limit, next_token)
    GET    /orders/{order_id}         200 the order
    DELETE /orders/{order_id}         200 the cancelled order (409 when filled or rejected)
    GET    /positions                 200 a page of open positions
    GET    /portfolio                 200 cash, equity, exposure, P&L
    GET    /quotes/{symbol}           200 the latest bar
    POST   /market-data               202 a run on a batch of bars
    POST   /market-data/uploads       201 a presigned upload URL under raw/
    POST   /runs                      202 a run on an object under raw/
    GET    /runs                      200 a page of runs, newest first
    GET    /runs/{run_id}             200 status, settings, headline, steps
    GET    /reports/{run_id}          200 the JSON report and a link to the HTML one

Every error is JSON ``{"code", "message", "details"}``: 400 (``details.field`` names the bad
field; Powertools' 422 is answered 400), 404, 405, 409, 422 (an order the risk checks
reject: ``ORDER_REJECTED`` with ``details.reason``), 503 with Retry-After; an unexpected
failure is logged and answered 500 ``INTERNAL`` without its traceback.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    ResponseValidationError,
    ValidationException,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import api_models as models
from handlers.observability import logger, tracer
from trading.bootstrap import get_api_platform, get_platform, service_name
from trading.errors import (
    InvalidRunConfigError,
    PlatformError,
    RunNotFoundError,
    TransientStoreError,
)
from trading.service import market_data, orders, portfolio, reports
from trading.service.errors import (
    ConflictError,
    InvalidMarketDataError,
    InvalidRequestError,
    OrderRejectedError,
    QuoteNotFoundError,
    RequestError,
)
from trading.service.errors import (
    NotFoundError as ResourceNotFoundError,
)
from trading.service.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_TOKEN_CHARS
from trading.service.runs import (
    InvalidRunRequestError,
    RunExistsError,
    SourceObjectNotFoundError,
    StartRunRequest,
    describe_run,
    run_summary,
    start_run,
)

RETRY_AFTER_SECONDS = 2
"""What a 503 tells the client to wait (botocore has already retried inside the request)."""
PREFLIGHT_MAX_AGE_SECONDS = 600
"""How long a browser may cache a preflight answer."""
DEFAULT_SERVICE = "api"
MAX_ID_CHARS = 128
"""Longest order id or run id in a path (keys stay far below DynamoDB's key size)."""


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
    SourceObjectNotFoundError: HTTPStatus.NOT_FOUND,
    RunNotFoundError: HTTPStatus.NOT_FOUND,
    ResourceNotFoundError: HTTPStatus.NOT_FOUND,
    RunExistsError: HTTPStatus.CONFLICT,
    ConflictError: HTTPStatus.CONFLICT,
    OrderRejectedError: HTTPStatus.UNPROCESSABLE_ENTITY,
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
app = APIGatewayRestResolver(
    cors=cors_config(os.environ.get("ALLOWED_ORIGINS", "*")), enable_validation=True
)


def _errors(*statuses: HTTPStatus) -> dict[int, Any]:
    """The OpenAPI responses of a route's errors: all share :class:`ErrorResponse`."""
    content = {content_types.APPLICATION_JSON: {"model": models.ErrorResponse}}
    return {status.value: {"description": status.phrase, "content": content} for status in statuses}


def _created(model: type[Any], status: HTTPStatus, *errors: HTTPStatus) -> dict[int, Any]:
    """The OpenAPI responses of a route: its success ``status`` with ``model``, its errors."""
    content = {content_types.APPLICATION_JSON: {"model": model}}
    return {status.value: {"description": status.phrase, "content": content}, **_errors(*errors)}


BAD, MISSING, CONFLICT = HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT
UNAVAILABLE = HTTPStatus.SERVICE_UNAVAILABLE

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")]
NextToken = Annotated[
    str | None, Query(min_length=1, max_length=MAX_TOKEN_CHARS, description="From a page.")
]
OrderId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS)]
RunId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS)]


def _json(status: HTTPStatus, body: Any) -> Response[Any]:
    return Response(
        status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body
    )


def _account() -> str:
    return get_platform().environment.trading_account_id


# --- health ---------------------------------------------------------------------------------


@app.get("/health", tags=["health"], security=[], summary="Liveness (no API key)")
def health() -> models.Health:
    """Liveness: the function answers (no AWS call)."""
    return models.Health(
        status="ok",
        service=service_name() or DEFAULT_SERVICE,
        # The deployed function's version ("$LATEST" unless a version is published).
        version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    )


# --- orders ---------------------------------------------------------------------------------


@app.post(
    "/orders",
    tags=["orders"],
    summary="Place an order",
    responses={
        **_created(models.Order, HTTPStatus.CREATED, BAD, CONFLICT, UNAVAILABLE),
        **_created(models.Order, HTTPStatus.OK, HTTPStatus.UNPROCESSABLE_ENTITY),
    },
)
def post_order(order: models.PlaceOrder) -> Response[models.Order]:
    """Place an order: risk-checked now against the symbol's latest bar, filled by the next
    run on the symbol's next bar. 201 when placed; 200 when the same ``client_order_id`` and
    body come again (the original order); 409 when the id was used with another body; 422
    ``ORDER_REJECTED`` when a risk check refuses it (``details.reason`` is the core's code)."""
    request = orders.OrderRequest(
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        order_type=order.type,
        limit_price=order.limit_price,
        time_in_force=order.time_in_force,
        client_order_id=order.client_order_id,
        stop_price=order.stop_price,
        stop_loss=order.stop_loss,
        take_profit=order.take_profit,
        stop_loss_pct=order.stop_loss_pct,
        take_profit_pct=order.take_profit_pct,
        trailing_pct=order.trailing_pct,
    )
    api = get_api_platform()
    placed = orders.place_order(
        request, account=_account(), accounts=api.platform.accounts, orders=api.orders
    )
    if placed.created:
        logger.info("order placed", extra={"order_id": placed.order["order_id"]})
    return _json(HTTPStatus.CREATED if placed.created else HTTPStatus.OK, placed.order)


@app.get(
    "/orders",
    tags=["orders"],
    summary="List orders",
    responses=_created(models.OrderPage, HTTPStatus.OK, BAD, UNAVAILABLE),
)
def list_orders(
    status: Annotated[models.OrderStatusName | None, Query()] = None,
    symbol: Annotated[str | None, Query(pattern=models.SYMBOL_PATTERN)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> models.OrderPage:
    """The account's orders, oldest first, filtered by status and/or symbol; paginated."""
    page = orders.list_orders(
        account=_account(),
        orders=get_api_platform().orders,
        status=status,
        symbol=symbol,
        limit=limit,
        next_token=next_token,
    )
    return models.OrderPage.model_validate({"orders": page.items, "next_token": page.next_token})


@app.get(
    "/orders/<order_id>",
    tags=["orders"],
    summary="Get an order",
    responses=_created(models.Order, HTTPStatus.OK, BAD, MISSING),
)
def get_order(order_id: OrderId) -> models.Order:
    """One order of the account."""
    view = orders.get_order(order_id, account=_account(), orders=get_api_platform().orders)
    return models.Order.model_validate(view)


@app.delete(
    "/orders/<order_id>",
    tags=["orders"],
    summary="Cancel an order",
    responses=_created(models.Order, HTTPStatus.OK, BAD, MISSING, CONFLICT, UNAVAILABLE),
)
def cancel_order(order_id: OrderId) -> models.Order:
    """Cancel an open order (idempotent); 409 ``ORDER_NOT_CANCELLABLE`` when it is filled or
    rejected."""
    api = get_api_platform()
    view = orders.cancel_order(
        order_id, account=_account(), accounts=api.platform.accounts, orders=api.orders
    )
    logger.info("order cancelled", extra={"order_id": order_id})
    return models.Order.model_validate(view)


@app.patch(
    "/orders/<order_id>",
    tags=["orders"],
    summary="Amend an order",
    responses=_created(models.Order, HTTPStatus.OK, BAD, MISSING, CONFLICT, UNAVAILABLE),
)
def amend_order(order_id: OrderId, amendment: models.AmendOrder) -> models.Order:
    """Amend an open order's ``quantity``, ``limit_price`` or ``stop_price`` in place (it keeps
    its id and its place in the queue); 400 naming the field the amended order would break,
    409 ``ORDER_NOT_AMENDABLE`` once it is filled, cancelled or rejected."""
    if (
        amendment.quantity is None
        and amendment.limit_price is None
        and amendment.stop_price is None
    ):
        raise InvalidRequestError("give quantity, limit_price or stop_price to amend", "body")
    view = orders.amend_order(
        order_id,
        quantity=amendment.quantity,
        limit_price=amendment.limit_price,
        stop_price=amendment.stop_price,
        account=_account(),
        accounts=get_api_platform().platform.accounts,
        orders=get_api_platform().orders,
    )
    logger.info("order amended", extra={"order_id": order_id})
    return models.Order.model_validate(view)


# --- account --------------------------------------------------------------------------------


@app.get(
    "/positions",
    tags=["account"],
    summary="Open positions",
    responses=_created(models.PositionPage, HTTPStatus.OK, BAD),
)
def list_positions(
    limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> models.PositionPage:
    """The account's open positions by symbol, marked at the last price it saw; paginated."""
    account = get_platform().accounts.get(_account(), consistent=False)
    page = portfolio.positions_page(account, limit=limit, next_token=next_token)
    return models.PositionPage.model_validate(
        {"positions": page.items, "next_token": page.next_token}
    )


@app.get("/portfolio", tags=["account"], summary="Cash, equity, exposure and P&L")
def get_portfolio() -> models.Portfolio:
    """Cash, equity, exposure, realised and unrealised P&L of the account (one read)."""
    account = get_platform().accounts.get(_account(), orders=(), consistent=False)
    return models.Portfolio.model_validate(portfolio.portfolio_view(account))


# --- market data ----------------------------------------------------------------------------


@app.get(
    "/quotes/<symbol>",
    tags=["market data"],
    summary="Latest bar",
    responses=_created(models.Quote, HTTPStatus.OK, BAD, MISSING),
)
def get_quote(symbol: Annotated[str, Path(pattern=models.SYMBOL_PATTERN)]) -> models.Quote:
    """The latest bar processed for ``symbol`` (cached by the stage for a few seconds)."""
    quote = get_platform().quotes.get_latest(symbol)
    if quote is None:
        raise QuoteNotFoundError(f"no bar of {symbol} has been processed")
    return models.Quote.model_validate({**quote.bar.to_dict(), "run_id": quote.run_id})


@app.post(
    "/market-data",
    tags=["market data"],
    summary="Process a batch of bars",
    responses=_created(models.StartedRun, HTTPStatus.ACCEPTED, BAD, CONFLICT, UNAVAILABLE),
)
def post_market_data(batch: models.MarketDataBatch) -> Response[models.StartedRun]:
    """Validate the bars like an uploaded file and start the account's run on them: pending
    orders fill on their symbol's next bar. 400 ``INVALID_MARKET_DATA`` lists the bad bars."""
    api = get_api_platform()
    environment = api.platform.environment
    started = market_data.ingest_bars(
        batch.bars,
        account=environment.trading_account_id,
        bucket=environment.market_data_bucket,
        config=batch.config,
        run_id=batch.run_id,
        objects=api.platform.objects,
        workflow=api.workflow,
        runs=api.platform.runs,
        accounts=api.platform.accounts,
    )
    logger.info("market data batch", extra={"run_id": started.run_id, "bars": len(batch.bars)})
    return _json(HTTPStatus.ACCEPTED, started.to_dict())


@app.post(
    "/market-data/uploads",
    tags=["market data"],
    summary="Presigned upload URL for a large file",
    responses=_created(models.UploadTarget, HTTPStatus.CREATED, BAD),
)
def post_upload(upload: models.UploadRequest) -> Response[models.UploadTarget]:
    """A presigned PUT URL under ``raw/``: the upload starts the account's run on the file."""
    api = get_api_platform()
    environment = api.platform.environment
    target = market_data.upload_target(
        upload.file_name,
        account=environment.trading_account_id,
        bucket=environment.market_data_bucket,
        config=upload.config,
        links=api.links,
    )
    return _json(HTTPStatus.CREATED, target.to_dict())


# --- runs and reports -----------------------------------------------------------------------


@app.post(
    "/runs",
    tags=["runs"],
    summary="Start a run",
    responses=_created(models.StartedRun, HTTPStatus.ACCEPTED, BAD, MISSING, CONFLICT, UNAVAILABLE),
)
def post_run(run: models.StartRun) -> Response[models.StartedRun]:
    """Start a run on an object under raw/ of the market data bucket."""
    api = get_api_platform()
    request = StartRunRequest.from_body(
        run.model_dump(exclude_none=True),
        market_data_bucket=api.platform.environment.market_data_bucket,
    )
    started = start_run(
        request,
        objects=api.sources,
        workflow=api.workflow,
        runs=api.platform.runs,
        accounts=api.platform.accounts,
    )
    logger.info("run started", extra={"run_id": started.run_id, "key": request.key})
    return _json(HTTPStatus.ACCEPTED, started.to_dict())


@app.get(
    "/runs",
    tags=["runs"],
    summary="List runs",
    responses=_created(models.RunPage, HTTPStatus.OK, BAD),
)
def list_runs(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> models.RunPage:
    """Runs, newest first; paginated."""
    page = get_platform().runs.list_runs(limit=limit, next_token=next_token)
    return models.RunPage.model_validate(
        {"runs": [run_summary(item) for item in page.items], "next_token": page.next_token}
    )


@app.get(
    "/runs/<run_id>",
    tags=["runs"],
    summary="Get a run",
    responses=_created(models.Run, HTTPStatus.OK, BAD, MISSING),
)
def get_run(run_id: RunId) -> models.Run:
    """A run's status, settings, headline figures and step history."""
    return models.Run.model_validate(describe_run(run_id, runs=get_platform().runs).to_dict())


@app.get(
    "/reports/<run_id>",
    tags=["runs"],
    summary="A run's report",
    responses=_created(models.Report, HTTPStatus.OK, BAD, MISSING),
)
def get_report(run_id: RunId) -> models.Report:
    """The run's JSON report and a presigned link to its HTML report (cached briefly)."""
    api = get_api_platform()
    document = reports.get_report(
        run_id,
        objects=api.platform.objects,
        links=api.links,
        bucket=api.platform.environment.reports_bucket,
    )
    return models.Report.model_validate(document)


# --- errors ---------------------------------------------------------------------------------


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


def _allowed_methods(path: str) -> list[str]:
    """The methods of the routes whose pattern matches ``path`` (for a 405's Allow)."""
    routes = [*getattr(app, "_static_routes", []), *getattr(app, "_dynamic_routes", [])]
    return sorted({route.method for route in routes if route.rule.match(path)} - {"OPTIONS"})


@app.not_found
def route_not_found(_: NotFoundError) -> Response[Any]:
    """An unknown route (404) or a known route with another method (405)."""
    event = app.current_event
    allowed = _allowed_methods(event.path)
    if allowed:
        return error_response(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            f"{event.http_method} is not allowed on {event.path}",
            {"allowed": allowed},
            {"Allow": ", ".join(allowed)},
        )
    return error_response(
        HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no route {event.http_method} {event.path}"
    )


def internal_error(error: Exception) -> Response[Any]:
    """Anything unexpected: logged with its traceback, answered without it."""
    logger.exception("request failed", extra={"error_type": type(error).__name__})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL", "the request could not be completed"
    )


# Registered by call, not as decorators: Powertools' exception_handler is untyped, and the
# handlers keep their types. The most specific class registered wins.
app.exception_handler(ValidationException)(validation_error)
app.exception_handler(ResponseValidationError)(internal_error)  # our bug, not the client's
app.exception_handler(PlatformError)(platform_error)
app.exception_handler(Exception)(internal_error)


# Lambda gives an instance one request at a time, and Powertools relies on it: the resolver
# keeps the current event in a class attribute, the logger its keys in the process. A host that
# calls this function from several threads (a local server) gets the same guarantee here.
_ONE_REQUEST_AT_A_TIME = threading.Lock()


def json_only(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body made plain JSON text, or a media type Powertools refuses (400).

    Bodies are JSON, which is UTF-8 text: a base64 body is decoded here, its bytes that are not
    UTF-8 replaced, so they fail JSON parsing (400) instead of raising ``UnicodeDecodeError``
    (a 500). Powertools would parse forms and multipart bodies, and a multipart type without a
    boundary makes it raise a bare ``ValueError``: any media type but JSON is renamed to one it
    refuses as a validation error, answered 400 naming ``Content-Type``.
    """
    body = event.get("body")
    if not body:
        return event
    headers = event.get("headers") or {}
    name, value = next(
        ((key, str(val)) for key, val in headers.items() if key.lower() == "content-type"),
        ("", ""),
    )
    if not value or value.lower().startswith("application/json"):
        if not event.get("isBase64Encoded"):
            return event
        try:
            text = base64.b64decode(body, validate=True).decode("utf-8", errors="replace")
        except binascii.Error:
            text = body  # not base64 either: refused as invalid JSON
        return {**event, "body": text, "isBase64Encoded": False}
    refused = f"unsupported/{value}"
    multi = event.get("multiValueHeaders") or {}
    return {
        **event,
        "headers": {**headers, name: refused},
        "multiValueHeaders": {
            key: ([refused] if key.lower() == "content-type" else values)
            for key, values in multi.items()
        },
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = service_name()
    if service:  # the local runtime shares one process between functions
        logger.append_keys(service=service)
    return app.resolve(json_only(event), context)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route one API Gateway REST proxy event (the function's entry point; thread-safe)."""
    with _ONE_REQUEST_AT_A_TIME:
        response: dict[str, Any] = _handle(event, context)
    return response
