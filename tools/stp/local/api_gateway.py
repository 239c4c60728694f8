"""API Gateway's REST API with Lambda proxy integrations, as the local runtime plays it.

Routes, their API-key requirement, authorization type and integration (the function's ARN)
are read back from the REST API the template created in the emulation. A request is matched
the way API Gateway matches it (literal path parts before ``{parameters}``, ``{proxy+}``
last), its access token checked by the Cognito authorizer (signature, expiry, issuer, app
client, the method's scopes; the verified claims go to the function as
``requestContext.authorizer.claims``), its API key (header ``x-api-key``) and the usage plan's
throttle checked, turned into the proxy event API Gateway sends, and the function's answer
into the HTTP response. API Gateway's own
errors are its gateway responses: the template's customised ones where it has them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from stp.local.gateway_config import COGNITO_USER_POOLS, GatewayConfig
from stp.local.user_pool import CognitoAuthorizer, TokenRejectedError

API_KEY_HEADER = "x-api-key"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
_PROXY_ARN = re.compile(r"/functions/(?P<arn>arn:[^/]+)/invocations$")

# API Gateway's default gateway responses (type -> status, message, x-amzn-ErrorType) for
# what the local gateway answers itself.
DEFAULT_RESPONSES: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLargeException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}

# Invoke(function ARN, event) -> (handler's result, error document or None).
Invoker = Callable[[str, dict[str, Any]], tuple[Any, dict[str, Any] | None]]


@dataclass(frozen=True)
class Route:
    """One method of one resource of the deployed API."""

    resource: str
    method: str
    api_key_required: bool
    function_arn: str | None
    authorization_type: str = "NONE"

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` is this resource's, else None."""
        wanted = [part for part in self.resource.split("/") if part]
        given = [part for part in path.split("/") if part]
        parameters: dict[str, str] = {}
        for index, part in enumerate(wanted):
            if part.startswith("{") and part.endswith("+}"):
                if index >= len(given):
                    return None
                parameters[part[1:-2]] = "/".join(unquote(p) for p in given[index:])
                return parameters
            if index >= len(given):
                return None
            if part.startswith("{") and part.endswith("}"):
                parameters[part[1:-1]] = unquote(given[index])
            elif part != given[index]:
                return None
        return parameters if len(given) == len(wanted) else None

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Sort key: literal parts first, greedy paths last, and on one resource its own
        methods before ``ANY`` (API Gateway's precedence)."""
        parts = [part for part in self.resource.split("/") if part]
        literal = sum(1 for part in parts if not part.startswith("{"))
        greedy = sum(1 for part in parts if part.endswith("+}"))
        return (-greedy, literal, self.method != "ANY")


@dataclass(frozen=True)
class HttpRequest:
    """A request as it reached the gateway."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class HttpResponse:
    """What the gateway answers."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive)."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


class TokenBucket:
    """The usage plan's throttle for one API key: ``rate`` per second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend one token; False when the key is over its limits."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


@dataclass
class LocalApiGateway:
    """One stage of a deployed REST API, served by invoking its Lambda integrations."""

    api_id: str
    stage: str
    routes: list[Route]
    invoke: Invoker
    api_keys: set[str]
    config: GatewayConfig = field(default_factory=GatewayConfig)
    throttle: bool = True
    account_id: str = "123456789012"
    authorizer: CognitoAuthorizer | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _buckets_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.routes = sorted(self.routes, key=lambda route: route.specificity, reverse=True)

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer ``request`` as the stage would."""
        request_id = str(uuid.uuid4())
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self._gateway_error("REQUEST_TOO_LARGE", request_id)
        found = self._route(request.method, request.path)
        if found is None:
            return self._gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id)
        route, path_parameters = found
        claims = None
        if route.authorization_type == COGNITO_USER_POOLS:
            if self.authorizer is None:  # an authorizer the emulation could not build
                return self._gateway_error("DEFAULT_5XX", request_id)
            scopes = self.config.method_scopes.get((route.resource, route.method), ())
            try:
                claims = self.authorizer.check(_header(request.headers, "authorization"), scopes)
            except TokenRejectedError:
                return self._gateway_error("UNAUTHORIZED", request_id)
        api_key = _header(request.headers, API_KEY_HEADER)
        if route.api_key_required:
            if api_key not in self.api_keys:
                return self._gateway_error("INVALID_API_KEY", request_id)
            if not self._take_token(api_key or ""):
                return self._gateway_error("THROTTLED", request_id)
        if route.function_arn is None:
            return self._gateway_error("DEFAULT_5XX", request_id)
        event = self.proxy_event(request, route, path_parameters, request_id, api_key)
        if claims is not None:
            event["requestContext"]["authorizer"] = {"claims": claims}
        payload, error = self.invoke(route.function_arn, event)
        if error is not None:
            return self._gateway_error("DEFAULT_5XX", request_id)
        return _proxy_response(payload, request_id) or self._gateway_error(
            "DEFAULT_5XX", request_id
        )

    def proxy_event(
        self,
        request: HttpRequest,
        route: Route,
        path_parameters: Mapping[str, str],
        request_id: str,
        api_key: str | None,
    ) -> dict[str, Any]:
        """The event API Gateway's Lambda proxy integration sends (payload format 1.0)."""
        headers = _multi(request.headers)
        query = _multi(parse_qsl(request.query, keep_blank_values=True))
        body: str | None = None
        is_base64 = False
        if request.body:
            try:
                body = request.body.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
        now = datetime.now(UTC)
        return {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": {name: values[-1] for name, values in headers.items()} or None,
            "multiValueHeaders": headers or None,
            "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": dict(path_parameters) or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": self.api_id,
                "resourcePath": route.resource,
                "httpMethod": request.method,
                "path": f"/{self.stage}{request.path}",
                "stage": self.stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "protocol": "HTTP/1.1",
                "domainName": _header(request.headers, "host") or "127.0.0.1",
                "identity": {
                    "sourceIp": request.source_ip,
                    "userAgent": _header(request.headers, "user-agent"),
                    "apiKey": api_key if route.api_key_required else None,
                },
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            parameters = route.match(path)
            if parameters is not None:
                return route, parameters
        return None

    def _take_token(self, api_key: str) -> bool:
        rate, burst = self.config.rate_limit, self.config.burst_limit
        if not self.throttle or rate is None or burst is None:
            return True
        with self._buckets_lock:
            bucket = self._buckets.setdefault(api_key, TokenBucket(rate, burst))
        return bucket.take()

    def _gateway_error(self, response_type: str, request_id: str) -> HttpResponse:
        """A gateway response: the template's customised one, else API Gateway's default."""
        status, message, error_type = DEFAULT_RESPONSES[response_type]
        # Without a customisation of its own, a type takes its class's default (4XX/5XX).
        custom = self.config.responses.get(response_type) or self.config.responses.get(
            "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        )
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        body = json.dumps({"message": message})
        if custom is not None:
            status = custom.status or status
            headers.extend(custom.headers.items())
            if custom.template is not None:
                body = render_error_template(custom.template, response_type, message, request_id)
        headers.append(("x-amzn-ErrorType", error_type))
        return HttpResponse(status, tuple(headers), body.encode())


def routes_of(resources: Iterable[Mapping[str, Any]]) -> list[Route]:
    """Routes from ``GetResources(embed=methods)`` items of the deployed REST API."""
    routes = []
    for resource in resources:
        for method, details in resource.get("resourceMethods", {}).items():
            uri = details.get("methodIntegration", {}).get("uri", "")
            match = _PROXY_ARN.search(uri)
            routes.append(
                Route(
                    resource=resource["path"],
                    method=method,
                    api_key_required=bool(details.get("apiKeyRequired")),
                    function_arn=match.group("arn") if match else None,
                    authorization_type=str(details.get("authorizationType") or "NONE"),
                )
            )
    return routes


def render_error_template(template: str, response_type: str, message: str, request_id: str) -> str:
    """The few ``$context`` variables gateway response templates use, substituted."""
    replacements = {
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.error.responseType": response_type,
        "$context.requestId": request_id,
    }
    # Longest names first: messageString must not be read as message + "String".
    for name in sorted(replacements, key=len, reverse=True):
        template = template.replace(name, replacements[name])
    return template


def _proxy_response(payload: Any, request_id: str) -> HttpResponse | None:
    """The HTTP response a proxy integration's result describes; None when malformed."""
    if not isinstance(payload, dict) or not isinstance(payload.get("statusCode"), int):
        return None
    headers: list[tuple[str, str]] = []
    for name, value in (payload.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.append(("x-amzn-RequestId", request_id))
    body = payload.get("body") or ""
    if not isinstance(body, str):
        return None
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    return HttpResponse(int(payload["statusCode"]), tuple(headers), raw)


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    return values[-1] if values else None
