"""The local API gateway's rules, with a recording invoker in place of Lambda: routing as API
Gateway routes, API keys, the usage plan's throttle, proxy events and gateway responses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from stp.local.api_gateway import (
    HttpRequest,
    LocalApiGateway,
    Route,
    TokenBucket,
    routes_of,
)
from stp.local.gateway_config import GatewayConfig, GatewayResponse, gateway_config

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 24
FN = "arn:aws:lambda:us-east-1:123456789012:function:api"


class Recorder:
    """Stands in for Lambda: records events, answers with ``reply``."""

    def __init__(self, reply: Any = None, error: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.reply = reply if reply is not None else {"statusCode": 200, "body": "{}"}
        self.error = error

    def __call__(self, arn: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        assert arn == FN
        self.events.append(event)
        return (None, self.error) if self.error else (self.reply, None)


def gateway(recorder: Recorder, config: GatewayConfig | None = None) -> LocalApiGateway:
    routes = [
        Route("/health", "GET", False, FN),
        Route("/orders", "POST", True, FN),
        Route("/orders/{id}", "GET", True, FN),
        Route("/orders/open", "GET", True, FN),
        Route("/files/{path+}", "ANY", True, FN),
    ]
    return LocalApiGateway("api1", "dev", routes, recorder, {KEY}, config or GatewayConfig())


def get(path: str, key: str | None = KEY, method: str = "GET", **kw: Any) -> HttpRequest:
    headers = (("x-api-key", key),) if key else ()
    return HttpRequest(method, path, headers=headers + tuple(kw.pop("headers", ())), **kw)


def test_literal_paths_win_over_parameters_and_greedy_paths_come_last() -> None:
    recorder = Recorder()
    api = gateway(recorder)
    api.handle(get("/orders/open"))
    api.handle(get("/orders/o%2F1"))
    api.handle(get("/files/a/b.csv", method="DELETE"))
    resources = [(e["resource"], e["pathParameters"]) for e in recorder.events]
    assert resources == [
        ("/orders/open", None),
        ("/orders/{id}", {"id": "o/1"}),
        ("/files/{path+}", {"path": "a/b.csv"}),
    ]


@pytest.mark.parametrize(
    ("request_", "status", "message"),
    [
        (get("/nowhere"), 403, "Missing Authentication Token"),
        (get("/orders", method="GET"), 403, "Missing Authentication Token"),  # no such method
        (get("/orders/1", key=None), 403, "Forbidden"),
        (get("/orders/1", key="wrong-key-wrong-key-wrong"), 403, "Forbidden"),
        (get("/orders", method="POST", body=b"x" * (10 * 1024 * 1024 + 1)), 413, None),
    ],
)
def test_what_api_gateway_refuses_never_reaches_the_function(
    request_: HttpRequest, status: int, message: str | None
) -> None:
    recorder = Recorder()
    response = gateway(recorder).handle(request_)
    assert response.status == status
    if message:
        assert json.loads(response.body) == {"message": message}
    assert recorder.events == []


def test_routes_without_a_key_requirement_need_no_key() -> None:
    assert gateway(Recorder()).handle(get("/health", key=None)).status == 200


def test_the_proxy_event_carries_query_headers_body_and_request_context() -> None:
    recorder = Recorder()
    request = get(
        "/orders",
        method="POST",
        query="status=open&symbol=AAPL&symbol=MSFT",
        headers=(("Content-Type", "application/json"),),
        body=b'{"symbol": "AAPL"}',
    )
    gateway(recorder).handle(request)
    (event,) = recorder.events
    assert event["httpMethod"] == "POST" and event["path"] == "/orders"
    assert event["queryStringParameters"] == {"status": "open", "symbol": "MSFT"}
    assert event["multiValueQueryStringParameters"]["symbol"] == ["AAPL", "MSFT"]
    assert event["headers"]["Content-Type"] == "application/json"
    assert json.loads(event["body"]) == {"symbol": "AAPL"} and not event["isBase64Encoded"]
    context = event["requestContext"]
    assert context["path"] == "/dev/orders" and context["resourcePath"] == "/orders"
    assert context["identity"]["apiKey"] == KEY and context["stage"] == "dev"


def test_binary_bodies_are_base64_encoded() -> None:
    recorder = Recorder()
    gateway(recorder).handle(get("/orders", method="POST", body=b"\xff\x00"))
    event = recorder.events[0]
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\xff\x00"


def test_the_functions_response_becomes_the_http_response() -> None:
    reply = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"{}").decode(),
        "isBase64Encoded": True,
    }
    response = gateway(Recorder(reply)).handle(get("/orders", method="POST"))
    assert response.status == 201 and response.body == b"{}"
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]


@pytest.mark.parametrize(
    "recorder",
    [
        Recorder(error={"errorType": "KeyError", "errorMessage": "secret internals"}),
        Recorder(reply={"body": "no status code"}),
    ],
)
def test_a_failing_or_malformed_function_is_a_502_without_internals(recorder: Recorder) -> None:
    response = gateway(recorder).handle(get("/orders/1"))
    assert response.status == 502
    assert json.loads(response.body) == {"message": "Internal server error"}
    assert b"secret" not in response.body


def test_customised_gateway_responses_shape_the_errors() -> None:
    template = (
        '{"code":"$context.error.responseType","message":$context.error.messageString,'
        '"details":{"request_id":"$context.requestId"}}'
    )
    config = GatewayConfig(
        responses={
            "DEFAULT_4XX": GatewayResponse(None, template, {"Access-Control-Allow-Origin": "*"}),
            "THROTTLED": GatewayResponse(429, template),
        }
    )
    response = gateway(Recorder(), config).handle(get("/orders/1", key=None))
    assert response.status == 403
    body = json.loads(response.body)
    assert body["code"] == "INVALID_API_KEY" and body["message"] == "Forbidden"
    assert body["details"]["request_id"] == response.header("x-amzn-RequestId")
    assert response.header("Access-Control-Allow-Origin") == "*"


def test_the_usage_plan_throttles_each_key_past_its_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back at 2 per second
    assert [bucket.take(), bucket.take()] == [True, False]

    config = GatewayConfig(rate_limit=0.001, burst_limit=2)
    api = gateway(Recorder(), config)
    statuses = [api.handle(get("/orders/1")).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    api.throttle = False
    assert api.handle(get("/orders/1")).status == 200


def test_routes_are_read_from_get_resources_items() -> None:
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"
    items = [
        {"path": "/", "resourceMethods": {}},
        {
            "path": "/runs/{id}",
            "resourceMethods": {
                "GET": {"apiKeyRequired": True, "methodIntegration": {"uri": uri}},
                "OPTIONS": {"apiKeyRequired": False, "methodIntegration": {"type": "MOCK"}},
            },
        },
    ]
    assert routes_of(items) == [
        Route("/runs/{id}", "GET", True, FN),
        Route("/runs/{id}", "OPTIONS", False, None),
    ]


def test_the_projects_template_gives_the_stage_and_the_usage_plan_throttle() -> None:
    config = gateway_config(ROOT / "template.yaml")
    assert config.stage == "dev"
    assert config.rate_limit is not None and config.burst_limit is not None
    assert config.burst_limit >= config.rate_limit
    assert gateway_config(ROOT / "template.yaml", {"Environment": "prod"}).stage == "prod"
