"""What every route of the API shares: the verified caller of a request, the account it acts
on, the typed path and query parameters, and the OpenAPI description of a route's answers."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.request import Request

from handlers import api_models as models
from trading.bootstrap import get_api_platform
from trading.service.access import (
    ACCOUNT_HEADER,
    AccountProfile,
    AccountRegistry,
    Caller,
    UnauthenticatedError,
    account_of_caller,
    route_scope,
)
from trading.service.pages import MAX_PAGE_SIZE, MAX_TOKEN_CHARS

MAX_ID_CHARS = 128
"""Longest order id or run id in a path (keys stay far below DynamoDB's key size)."""
BAD, MISSING, CONFLICT = HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT
UNAVAILABLE = HTTPStatus.SERVICE_UNAVAILABLE
DENIED = (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN)
"""What any route but /health may answer: no or a refused token (401), no scope (403)."""

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")]
NextToken = Annotated[
    str | None, Query(min_length=1, max_length=MAX_TOKEN_CHARS, description="From a page.")
]
OrderId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS)]
RunId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS)]


def current_caller(event: Mapping[str, Any]) -> Caller:
    """The caller API Gateway's Cognito authorizer verified (``requestContext.authorizer.
    claims``); :class:`UnauthenticatedError` when the event carries none (a route the gateway
    let through without its authorizer: refused, never served as anybody)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    if not isinstance(claims, Mapping):
        raise UnauthenticatedError("the request carries no verified caller")
    return Caller.from_claims(claims)


def requested_account(event: Mapping[str, Any]) -> str | None:
    """The ``X-Account-Id`` header's value (any case of its name), or None."""
    headers = event.get("headers") or {}
    wanted = ACCOUNT_HEADER.lower()
    return next(
        (str(value) for name, value in headers.items() if str(name).lower() == wanted), None
    )


def authorized_caller(event: Mapping[str, Any]) -> Caller:
    """The caller, once its token carries the scope of the route the event is for."""
    caller = current_caller(event)
    route = str(event.get("resource") or event.get("path") or "")
    caller.require(route_scope(route, str(event.get("httpMethod") or "")))
    return caller


def caller_account(event: Mapping[str, Any], registry: AccountRegistry) -> AccountProfile:
    """The account the request acts on, once the caller's token carries the route's scope."""
    caller = authorized_caller(event)
    return account_of_caller(caller, requested_account(event), registry)


def openapi_errors(*statuses: HTTPStatus) -> dict[int, Any]:
    """The OpenAPI responses of a route's errors: all share :class:`ErrorResponse`."""
    content = {content_types.APPLICATION_JSON: {"model": models.ErrorResponse}}
    return {status.value: {"description": status.phrase, "content": content} for status in statuses}


def openapi_responses(model: type[Any], status: HTTPStatus, *errors: HTTPStatus) -> dict[int, Any]:
    """The OpenAPI responses of a route: its success ``status`` with ``model``, its errors."""
    content = {content_types.APPLICATION_JSON: {"model": model}}
    return {
        status.value: {"description": status.phrase, "content": content},
        **openapi_errors(*errors),
    }


def route_responses(model: type[Any], status: HTTPStatus, *errors: HTTPStatus) -> dict[int, Any]:
    """A route's OpenAPI responses; every route but /health may also be 401 or 403."""
    return openapi_responses(model, status, *errors, *DENIED)


def json_response(status: HTTPStatus, body: Any) -> Response[Any]:
    """A JSON answer with ``status`` (for the routes that do not answer 200)."""
    return Response(
        status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body
    )


def request_account(event: Mapping[str, Any]) -> AccountProfile:
    """The account the request ``event`` acts on, once its token carries the route's scope."""
    return caller_account(event, get_api_platform().registry)


def _request_account(request: Request) -> AccountProfile:
    return request_account(request.resolved_event.raw_event)


def _admin_caller(request: Request) -> Caller:
    return authorized_caller(request.resolved_event.raw_event)


CallerAccount = Annotated[AccountProfile, Depends(_request_account)]
"""A route's parameter of this type receives the account the request acts on, once the
caller's token carries the route's scope (404 for an account the caller may not use). Every
route of an account declares it: ``def list_runs(account: CallerAccount, ...)``."""
AdminCaller = Annotated[Caller, Depends(_admin_caller)]
"""A route's parameter of this type receives the caller once its token carries the admin
scope (API Gateway checks it first; the function checks again)."""
