"""Api: the REST API's function, a thin Powertools ``APIGatewayRestResolver`` with data
validation: it includes one ``Router`` per resource (``handlers.routes``: health, orders,
account, market data, runs and reports, sweeps, admin), answers errors through
``handlers.api_errors`` and refuses bodies nested too deeply before Powertools parses them.

Routes (API Gateway REST proxy events; models in ``handlers.api_models``; the contract in
``openapi.json``, generated from the routers by ``python -m scripts.make_openapi``)::

    GET    /health                    200 liveness (no API key, no token)
    GET    /account                   200 the caller's account: settings, kill switch
    POST   /orders                    201 placed (200: the same client_order_id and body again)
    GET    /orders                    200 a page (status, symbol, limit, next_token)
    GET    /orders/{order_id}         200 the order
    PATCH  /orders/{order_id}         200 the amended order
    DELETE /orders/{order_id}         200 the cancelled order (409 when filled or rejected)
    GET    /positions                 200 a page of open positions
    GET    /portfolio                 200 cash, equity, exposure, P&L
    GET    /quotes/{symbol}           200 the latest bar of the account's data
    POST   /market-data               202 a run on a batch of bars
    POST   /market-data/uploads       201 a presigned upload URL under raw/<account>/
    POST   /runs                      202 a run on an object under raw/<account>/
    GET    /runs                      200 a page of runs, newest first
    GET    /runs/{run_id}             200 status, settings, headline, steps
    GET    /reports/{run_id}          200 the JSON report and a link to the HTML one
    POST   /sweeps                    202 a parameter sweep on an object under raw/<account>/
    GET    /sweeps/{sweep_id}         200 status, progress (items), best result so far
    GET    /sweeps/{sweep_id}/results 200 a page of the leaderboard, best first
    POST   /admin/accounts            201 a new account (and the admin routes under it)

Every route but ``/health`` needs a Cognito access token (``Authorization``, verified by API
Gateway's authorizer) with the route's scope: ``trading/read`` for reads, ``trading/trade``
for changes, ``trading/admin`` for ``/admin``. A request acts on one of the caller's accounts
(the ``X-Account-Id`` header, or its only one); another account's orders, runs, reports and
sweeps are 404, exactly as if they did not exist.

Every error is JSON ``{"code", "message", "details"}``: 400 (``details.field`` names the bad
field; Powertools' 422 is answered 400), 401, 403 (``details.scope``), 404, 405, 409, 422 (an
order the risk checks reject: ``ORDER_REJECTED`` with ``details.reason``), 503 with
Retry-After; an unexpected failure is logged and answered 500 ``INTERNAL`` without its
traceback.
"""

from __future__ import annotations

import os
import threading
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    ResponseValidationError,
    ValidationException,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.api_body import MAX_JSON_DEPTH, json_only, nested_deeper_than
from handlers.api_errors import (
    InvalidJsonError,
    error_response,
    internal_error,
    platform_error,
    validation_error,
)
from handlers.observability import logger, tracer
from handlers.routes import ROUTERS
from trading.bootstrap import service_name
from trading.errors import PlatformError

PREFLIGHT_MAX_AGE_SECONDS = 600
"""How long a browser may cache a preflight answer."""


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
CORS = cors_config(os.environ.get("ALLOWED_ORIGINS", "*"))
app = APIGatewayRestResolver(cors=CORS, enable_validation=True)
for router in ROUTERS:
    app.include_router(router)


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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = service_name()
    if service:  # the local runtime shares one process between functions
        logger.append_keys(service=service)
    event = json_only(event)
    if nested_deeper_than(event.get("body"), MAX_JSON_DEPTH):
        # Refused before Powertools parses it: json.loads recurses once per level.
        return _refused(
            event,
            error_response(
                HTTPStatus.BAD_REQUEST,
                InvalidJsonError.code,
                f"the body is nested deeper than {MAX_JSON_DEPTH} levels",
                {"field": "body"},
            ),
        )
    return app.resolve(event, context)


def _refused(event: dict[str, Any], response: Response[Any]) -> dict[str, Any]:
    """``response`` as the proxy result of ``event``, with the CORS headers a route gets."""
    proxy_event = APIGatewayProxyEvent(event)
    origin = next(
        (value for name, value in (event.get("headers") or {}).items() if name.lower() == "origin"),
        None,
    )
    allowed = CORS.allowed_origin(origin) if origin else None
    if allowed is not None:
        response.headers.update(CORS.to_dict(allowed))
    built: dict[str, Any] = ResponseBuilder(response).build(proxy_event)  # type: ignore[arg-type]
    return built


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route one API Gateway REST proxy event (the function's entry point; thread-safe)."""
    with _ONE_REQUEST_AT_A_TIME:
        response: dict[str, Any] = _handle(event, context)
    return response
