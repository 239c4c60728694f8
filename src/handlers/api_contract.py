"""The API's OpenAPI document, generated from the resolver's routes and models.

``openapi.json`` at the repository root is this document, written by
``python -m scripts.make_openapi``; a test fails when the code and the file drift, and another
checks that ``stacks/api.yaml`` serves exactly these routes. Powertools documents its own 422
for validation failures; this API answers them 400 with :class:`ErrorResponse`, so the document
says so. Only tooling and tests import this module (never the function at run time).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from handlers.api import app
from handlers.api_models import ErrorResponse
from trading.service.access import SCOPE_ADMIN, SCOPE_READ, SCOPE_TRADE, route_scope

TITLE = "Serverless Trading Platform API"
VERSION = "1.0.0"
API_KEY_SCHEME = "apiKey"
API_KEY_HEADER = "x-api-key"
TOKEN_SCHEME = "cognito"
TOKEN_URL = "https://{domain}.auth.{region}.amazoncognito.com/oauth2/token"
AUTHORIZE_URL = "https://{domain}.auth.{region}.amazoncognito.com/oauth2/authorize"
SCOPE_DESCRIPTIONS = {
    SCOPE_READ: "Read the caller's accounts, orders, positions, quotes, runs and reports.",
    SCOPE_TRADE: "Place, amend and cancel orders; post market data; start runs.",
    SCOPE_ADMIN: "Create accounts, grant them and work their kill switch.",
}
PUBLIC_ROUTES = frozenset({("/health", "get")})
"""Routes API Gateway serves without an API key."""
_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
# Answered by API Gateway itself (gateway responses in stacks/api.yaml), in the same shape.
_GATEWAY_ERRORS = {
    401: "Missing, invalid or expired access token, or one without the route's scope",
    403: "Missing or invalid API key, or a token without the route's scope",
    429: "Throttled or over quota",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _declared_statuses() -> dict[tuple[str, str], set[int]]:
    """The statuses each route declares itself (its ``responses=``), by (path, method)."""
    declared: dict[tuple[str, str], set[int]] = {}
    for route in [*app._static_routes, *app._dynamic_routes]:
        path = route.openapi_path
        declared[(path, route.method.lower())] = set(route.responses or {})
    return declared


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (plain JSON-compatible data)."""
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description="Orders, positions, portfolio, quotes, market data, runs and reports "
            "of the trading platform. Every error is {code, message, details}.",
            security_schemes={
                API_KEY_SCHEME: APIKey(name=API_KEY_HEADER, in_=APIKeyIn.header)  # type: ignore[call-arg]
            },
            security=[{API_KEY_SCHEME: []}],
        )
    )
    document["components"]["securitySchemes"][TOKEN_SCHEME] = {
        "type": "oauth2",
        "description": "Cognito access tokens (Authorization: Bearer ...): client credentials "
        "for scripts and bots, authorization code with PKCE for people. The stack's outputs "
        "name the domain, the token URL and the app clients.",
        "flows": {
            "clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": SCOPE_DESCRIPTIONS},
            "authorizationCode": {
                "authorizationUrl": AUTHORIZE_URL,
                "tokenUrl": TOKEN_URL,
                "scopes": SCOPE_DESCRIPTIONS,
            },
        },
    }
    declared = _declared_statuses()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            has_input = bool(operation.get("parameters") or operation.get("requestBody"))
            # Validation failures: 400 here (Powertools documents its default 422).
            responses.pop("422", None)
            if 422 in declared.get((path, method), set()):
                responses["422"] = _error("Unprocessable Entity")
            if has_input and "400" not in responses:
                responses["400"] = _error("Bad Request")
            if (path, method) in PUBLIC_ROUTES:
                operation["security"] = []
            else:
                # Both: the key throttles, the token says who calls and with which scope.
                scope = route_scope(path, method)
                operation["security"] = [{API_KEY_SCHEME: [], TOKEN_SCHEME: [scope]}]
                for status, description in _GATEWAY_ERRORS.items():
                    responses.setdefault(str(status), _error(description))
            operation["responses"] = dict(sorted(responses.items()))
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas["ErrorResponse"] = ErrorResponse.model_json_schema()
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def openapi_text() -> str:
    """The document as ``openapi.json`` holds it (stable formatting, newline at the end)."""
    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"
