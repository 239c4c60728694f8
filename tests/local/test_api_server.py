"""`stp api`: the project's API served over HTTP on loopback, from the deployed template, with
the real API function behind it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stp.local import LocalCloud
from stp.local.api_server import ApiServer

ROOT = Path(__file__).resolve().parents[2]
KEY = "local-test-key-0123456789"

pytestmark = pytest.mark.slow


def call(
    url: str, method: str = "GET", body: Any = None, key: str | None = KEY
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if key:
        request.add_header("x-api-key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalCloud, str]]:
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        gateway = cloud.api_gateway(deployment, api_keys=[KEY], throttle=False)
        with ApiServer(gateway) as server:
            yield cloud, server.url


def test_health_answers_without_a_key(served: tuple[LocalCloud, str]) -> None:
    status, headers, body = call(f"{served[1]}/health", key=None)
    assert status == 200 and body["status"] == "ok"
    assert headers["x-amzn-RequestId"]


def test_keyed_routes_refuse_requests_without_the_key(served: tuple[LocalCloud, str]) -> None:
    cloud, url = served
    before = len(cloud.invocations())
    status, _, _ = call(f"{url}/runs", "POST", {}, key=None)
    assert status == 403
    status, _, _ = call(f"{url}/runs/r1", key="not-the-key-not-the-key")
    assert status == 403
    assert len(cloud.invocations()) == before  # refused before the function


def test_gateway_errors_are_the_templates_gateway_responses(
    served: tuple[LocalCloud, str],
) -> None:
    # API Gateway's MISSING_AUTHENTICATION_TOKEN (unknown path or method, TRACE included) and
    # INVALID_API_KEY, customised in stacks/api.yaml to the API's error shape.
    for method in ("GET", "TRACE"):
        status, _, body = call(f"{served[1]}/no/such/route", method)
        assert (status, body["code"]) == (404, "NOT_FOUND")
    status, _, body = call(f"{served[1]}/orders", key=None)
    assert (status, body["code"]) == (403, "FORBIDDEN")
    assert set(body) == {"code", "message", "details"}


def test_a_known_path_with_another_method_is_405_with_allow(
    served: tuple[LocalCloud, str],
) -> None:
    # As the README's error table says: the path exists, the method does not.
    status, headers, body = call(f"{served[1]}/portfolio", "DELETE")
    assert (status, body["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == "GET"
    status, headers, body = call(f"{served[1]}/orders/abc", "PUT", {})
    assert (status, body["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == "DELETE, GET, PATCH"
    status, _, _ = call(f"{served[1]}/portfolio", "DELETE", key=None)
    assert status == 403  # the key is checked first, as on every keyed route
    status, _, body = call(f"{served[1]}/orders/abc")  # the explicit method still wins
    assert (status, body["code"]) == (404, "ORDER_NOT_FOUND")


def test_requests_reach_the_deployed_function_with_path_parameters(
    served: tuple[LocalCloud, str],
) -> None:
    cloud, url = served
    before = len(cloud.invocations())
    status, _, body = call(f"{url}/runs/run-that-does-not-exist")
    assert status == 404 and "run-that-does-not-exist" in body["message"]
    assert {"code", "message", "details"} <= set(body)
    (name, _, error) = cloud.invocations()[before]
    assert name.endswith("-Api") and error is None
