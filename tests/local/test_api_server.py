"""`stp api`: the project's API served over HTTP on loopback, from the deployed template, with
the real API function behind it: routing, gateway errors, the Cognito authorizer (forged,
expired, wrong-audience and under-scoped tokens refused), and two traders, each isolated from
the other on every route and upload path."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from stp.local import Deployment, LocalCloud
from stp.local.api_server import ApiServer
from stp.local.token_endpoint import TokenEndpoint
from stp.local.traders import Trader, add_bot, add_trader, admin_token

ROOT = Path(__file__).resolve().parents[2]
KEY = "local-test-key-0123456789"

pytestmark = pytest.mark.slow


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    key: str | None = KEY,
    token: str | None = None,
    account: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """Status, headers and decoded body of one request (``token``: the Authorization header,
    ``account``: the X-Account-Id header)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if key:
        request.add_header("x-api-key", key)
    if token:
        request.add_header("Authorization", token)
    if account:
        request.add_header("X-Account-Id", account)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


@dataclass(frozen=True)
class Served:
    """The served API, two traders each with an account, and an admin token."""

    cloud: LocalCloud
    deployment: Deployment
    url: str
    alice: Trader
    bob: Trader
    admin: str

    def __getitem__(self, index: int) -> Any:  # the (cloud, url) pair older tests unpack
        return (self.cloud, self.url)[index]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cloud, self.url))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        gateway = cloud.api_gateway(deployment, api_keys=[KEY], throttle=False)
        alice = add_trader(cloud, deployment, "desk-a", "alice")
        bob = add_trader(cloud, deployment, "desk-b", "bob")
        pool = cloud.user_pool(deployment)
        assert pool is not None
        with ApiServer(gateway, token_endpoint=TokenEndpoint(pool)) as server:
            yield Served(cloud, deployment, server.url, alice, bob, admin_token(cloud, deployment))


def test_health_answers_without_a_key(served: Served) -> None:
    status, headers, body = call(f"{served[1]}/health", key=None)
    assert status == 200 and body["status"] == "ok"
    assert headers["x-amzn-RequestId"]


def test_keyed_routes_refuse_requests_without_the_key(served: Served) -> None:
    cloud, url = served
    before = len(cloud.invocations())
    status, _, _ = call(f"{url}/runs", "POST", {}, key=None, token=served.alice.token)
    assert status == 403
    status, _, _ = call(f"{url}/runs/r1", key="not-the-key-not-the-key", token=served.alice.token)
    assert status == 403
    assert len(cloud.invocations()) == before  # refused before the function


def test_gateway_errors_are_the_templates_gateway_responses(
    served: Served,
) -> None:
    # API Gateway's MISSING_AUTHENTICATION_TOKEN (unknown path or method, TRACE included) and
    # INVALID_API_KEY, customised in stacks/api.yaml to the API's error shape.
    for method in ("GET", "TRACE"):
        status, _, body = call(f"{served[1]}/no/such/route", method)
        assert (status, body["code"]) == (404, "NOT_FOUND")
    status, _, body = call(f"{served[1]}/orders", key=None, token=served.alice.token)
    assert (status, body["code"]) == (403, "FORBIDDEN")
    assert set(body) == {"code", "message", "details"}


def test_a_known_path_with_another_method_is_405_with_allow(
    served: Served,
) -> None:
    # As the README's error table says: the path exists, the method does not.
    status, headers, body = call(f"{served[1]}/portfolio", "DELETE", token=served.alice.token)
    assert (status, body["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == "GET"
    status, headers, body = call(f"{served[1]}/orders/abc", "PUT", {}, token=served.alice.token)
    assert (status, body["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == "DELETE, GET, PATCH"
    status, _, _ = call(f"{served[1]}/portfolio", "DELETE", key=None, token=served.alice.token)
    assert status == 403  # the key is checked first, as on every keyed route
    status, _, body = call(
        f"{served[1]}/orders/abc", token=served.alice.token
    )  # the explicit method still wins
    assert (status, body["code"]) == (404, "ORDER_NOT_FOUND")


def test_requests_reach_the_deployed_function_with_path_parameters(
    served: Served,
) -> None:
    cloud, url = served
    before = len(cloud.invocations())
    status, _, body = call(f"{url}/runs/run-that-does-not-exist", token=served.alice.token)
    assert status == 404 and "run-that-does-not-exist" in body["message"]
    assert {"code", "message", "details"} <= set(body)
    (name, _, error) = cloud.invocations()[before]
    assert name.endswith("-Api") and error is None


# --- tokens: what the Cognito authorizer refuses ----------------------------------------------


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def test_forged_expired_foreign_and_under_scoped_tokens_are_401_before_the_function(
    served: Served,
) -> None:
    cloud, url = served
    pool = cloud.user_pool(served.deployment)
    assert pool is not None
    people = pool.client_for("code", "trading/read")
    now = int(time.time())
    stranger = replace(people, client_id="not-a-client-of-this-pool")
    other_pool = replace(pool, pool_id="us-east-1_OtherPool1")
    refused = {
        "no token": None,
        "not a JWT": "not-a-token",
        "forged signature": _tampered(served.alice.token),
        "expired": pool.sign(
            people,
            subject=served.alice.sub,
            username="alice",
            scopes=["trading/read"],
            expires_in=60,
            issued_at=now - 3600,
        ),
        "wrong audience": pool.sign(
            stranger, subject=served.alice.sub, username="alice", scopes=["trading/read"]
        ),
        "another pool's issuer": other_pool.sign(
            people, subject=served.alice.sub, username="alice", scopes=["trading/read"]
        ),
        "no scope of the route": pool.sign(
            people, subject=served.alice.sub, username="alice", scopes=["openid"]
        ),
    }
    before = len(cloud.invocations())
    for reason, token in refused.items():
        status, headers, body = call(f"{url}/account", token=token)
        assert (status, body["code"]) == (401, "UNAUTHORIZED"), reason
        assert set(body) == {"code", "message", "details"}
        assert headers["WWW-Authenticate"] == "Bearer"
    # A trading token is not an admin token; a read-only client may not trade.
    assert call(f"{url}/admin/accounts/desk-a", token=served.alice.token)[0] == 401
    reader = pool.sign(people, subject=served.alice.sub, username="alice", scopes=["trading/read"])
    assert call(f"{url}/orders", "POST", {"symbol": "AAPL"}, token=reader)[0] == 401
    assert len(cloud.invocations()) == before  # nothing unverified reached the function
    # The valid token, as "Bearer <token>" too.
    assert call(f"{url}/account", token=f"Bearer {served.alice.token}")[0] == 200


# --- two traders, each isolated -----------------------------------------------------------------


def _bars(day: int, close: float) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "AAPL",
            "timestamp": f"2024-01-{2 + day:02d}T00:00:00Z",
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 1000,
        }
    ]


def _ran(served: Served, started: dict[str, Any]) -> None:
    outcome = served.cloud.wait(started["execution_arn"], timeout=60)
    assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)


def test_another_account_s_order_run_report_and_quote_are_404_and_stay_unchanged(
    served: Served,
) -> None:
    url, alice, bob = served.url, served.alice.token, served.bob.token
    status, _, batch = call(f"{url}/market-data", "POST", {"bars": _bars(0, 100.0)}, token=alice)
    assert status == 202
    _ran(served, batch)
    status, _, placed = call(
        f"{url}/orders", "POST", {"symbol": "AAPL", "side": "buy", "quantity": 5}, token=alice
    )
    assert status == 201
    order_path = f"{url}/orders/{placed['order_id']}"
    # Alice's bars are in her account's feed only: bob has no quote, so he cannot even price.
    assert call(f"{url}/quotes/AAPL", token=alice)[0] == 200
    status, _, body = call(f"{url}/quotes/AAPL", token=bob)
    assert (status, body["code"]) == (404, "QUOTE_NOT_FOUND")

    for method, path, body in [
        ("GET", order_path, None),
        ("DELETE", order_path, None),
        ("PATCH", order_path, {"quantity": 1}),
        ("GET", f"{url}/runs/{batch['run_id']}", None),
        ("GET", f"{url}/reports/{batch['run_id']}", None),
    ]:
        status, _, answer = call(path, method, body, token=bob)
        assert status == 404, (method, path, answer)
    assert call(f"{url}/orders", token=bob)[2]["orders"] == []
    assert batch["run_id"] not in [r["run_id"] for r in call(f"{url}/runs", token=bob)[2]["runs"]]
    assert call(f"{url}/portfolio", token=bob)[2]["cash"] == 100_000.0
    # Untouched: still alice's, still open, still 5.
    status, _, mine = call(order_path, token=alice)
    assert (status, mine["status"], mine["quantity"]) == (200, "new", 5)
    assert call(f"{url}/runs/{batch['run_id']}", token=alice)[0] == 200
    assert call(f"{url}/reports/{batch['run_id']}", token=alice)[0] == 200


def test_a_run_s_account_is_the_caller_s_and_uploads_land_in_its_own_folder(
    served: Served,
) -> None:
    url, bob = served.url, served.bob.token
    bucket = served.deployment.outputs["MarketDataBucketName"]
    served.cloud.seed_object(bucket, "raw/desk-a/private.csv", b"timestamp,symbol,close\n")
    # Another account's object: the same 404 as a missing one (no existence leak).
    for key in ("raw/desk-a/private.csv", "raw/desk-a/missing.csv", "raw/private.csv"):
        status, _, body = call(f"{url}/runs", "POST", {"key": key}, token=bob)
        assert (status, body["code"]) == (404, "OBJECT_NOT_FOUND"), key
    status, _, body = call(
        f"{url}/runs",
        "POST",
        {"key": "raw/desk-b/x.csv", "config": {"account": "desk-a"}},
        token=bob,
    )
    assert (status, body["details"]["field"]) == (400, "config.account")
    for path, request in [
        ("/market-data", {"bars": _bars(0, 1.0), "config": {"account": "desk-a"}}),
        ("/market-data", {"bars": _bars(0, 1.0), "config": {"cash": 1e15}}),
        ("/market-data/uploads", {"file_name": "a.csv", "config": {"account": "desk-a"}}),
    ]:
        status, _, body = call(f"{url}{path}", "POST", request, token=bob)
        assert status == 400 and body["details"]["field"].startswith("config."), (path, body)
    status, _, target = call(
        f"{url}/market-data/uploads", "POST", {"file_name": "b.csv"}, token=bob
    )
    assert status == 201 and target["key"].startswith("raw/desk-b/uploads/")


def test_an_account_named_in_the_header_must_be_granted_and_unknown_ones_look_the_same(
    served: Served,
) -> None:
    url, bob = served.url, served.bob.token
    answers = [
        call(f"{url}/portfolio", token=bob, account=account)
        for account in ("desk-a", "no-such-desk")
    ]
    assert [(status, body["code"]) for status, _, body in answers] == [
        (404, "ACCOUNT_NOT_FOUND"),
        (404, "ACCOUNT_NOT_FOUND"),
    ]
    assert call(f"{url}/account", token=bob, account="desk-b")[2]["account_id"] == "desk-b"


def test_admin_creates_grants_and_halts_accounts_apart_from_trading(served: Served) -> None:
    url, admin = served.url, served.admin
    settings = {"cash": 5000.0, "allowed_symbols": ["AAPL"]}
    created = {"account_id": "desk-c", "owner": served.bob.sub, "settings": settings}
    status, _, account = call(f"{url}/admin/accounts", "POST", created, token=admin)
    assert (status, account["settings"]["cash"], account["halted"]) == (201, 5000.0, False)
    status, _, body = call(f"{url}/admin/accounts", "POST", created, token=admin)
    assert (status, body["code"]) == (409, "ACCOUNT_EXISTS")
    # Bob now uses two accounts: he must say which.
    status, _, body = call(f"{url}/portfolio", token=served.bob.token)
    assert (status, body["code"]) == (400, "ACCOUNT_REQUIRED")
    status, _, body = call(f"{url}/portfolio", token=served.bob.token, account="desk-c")
    assert (status, body["cash"]) == (200, 5000.0)
    grant = {"principal": served.alice.sub}
    assert call(f"{url}/admin/accounts/desk-z/grants", "POST", grant, token=admin)[0] == 404
    # The kill switch: alice's new orders and live runs are refused, cancels still pass.
    halted = call(f"{url}/admin/accounts/desk-a/kill-switch", "PUT", {"halted": True}, token=admin)
    assert (halted[0], halted[2]["halted"]) == (200, True)
    try:
        order = {"symbol": "AAPL", "side": "buy", "quantity": 1}
        status, _, body = call(f"{url}/orders", "POST", order, token=served.alice.token)
        assert (status, body["details"]["reason"]) == (422, "TRADING_HALTED")
        status, _, body = call(
            f"{url}/market-data", "POST", {"bars": _bars(5, 1.0)}, token=served.alice.token
        )
        assert (status, body["code"]) == (409, "TRADING_HALTED")
    finally:
        call(f"{url}/admin/accounts/desk-a/kill-switch", "PUT", {"halted": False}, token=admin)


def test_an_accounts_costs_and_leverage_apply_to_its_orders_and_runs(served: Served) -> None:
    # Commission 1 % (at least 20 per fill) and leverage 2 on 10,000 of cash.
    settings = {"cash": 10_000.0, "commission": 0.01, "commission_minimum": 20.0, "leverage": 2}
    carol = add_trader(served.cloud, served.deployment, "desk-fee", "carol", settings=settings)
    url, token = served.url, carol.token
    account = call(f"{url}/account", token=token)[2]
    assert account["settings"] | settings == account["settings"]
    status, _, batch = call(f"{url}/market-data", "POST", {"bars": _bars(0, 100.0)}, token=token)
    assert status == 202
    _ran(served, batch)
    # 150 shares at 100 is 15,000: more than the cash, within twice the equity.
    buy = {"symbol": "AAPL", "side": "buy", "quantity": 150}
    status, _, placed = call(f"{url}/orders", "POST", buy, token=token)
    assert status == 201, placed
    status, _, body = call(f"{url}/orders", "POST", {**buy, "quantity": 250}, token=token)
    assert (status, body["details"]["reason"]) == (422, "INSUFFICIENT_BUYING_POWER"), body
    # The next bar's run fills it at the open with the account's commission.
    status, _, batch = call(f"{url}/market-data", "POST", {"bars": _bars(1, 100.0)}, token=token)
    _ran(served, batch)
    order = call(f"{url}/orders/{placed['order_id']}", token=token)[2]
    assert (order["status"], order["average_fill_price"]) == ("filled", 100.0)
    portfolio = call(f"{url}/portfolio", token=token)[2]
    assert portfolio["total_commission"] == pytest.approx(150.0)  # 1 % of 15,000
    assert portfolio["cash"] == pytest.approx(10_000.0 - 15_000.0 - 150.0)
    run = call(f"{url}/runs/{batch['run_id']}", token=token)[2]
    assert {k: run["settings"][k] for k in settings} == settings
    # A client cannot lower the account's costs for a run; bad settings name the field.
    lower = {"bars": _bars(2, 100.0), "config": {"commission": 0}}
    status, _, body = call(f"{url}/market-data", "POST", lower, token=token)
    assert (status, body["details"]["field"]) == (400, "config.commission")
    for bad, field in [
        ({"commission": 0.5}, "settings.commission"),
        ({"leverage": "2"}, "settings.leverage"),
        ({"leverage": 0}, "settings.leverage"),
        ({"short_margin": 1.2}, "settings.short_margin"),
        ({"leverage": 4}, "settings.leverage"),  # 1.3 maintenance would call every entry
    ]:
        created = {"account_id": "desk-bad", "owner": carol.sub, "settings": bad}
        status, _, body = call(f"{url}/admin/accounts", "POST", created, token=served.admin)
        assert (status, body["code"], body["details"]["field"]) == (400, "INVALID_REQUEST", field)


def _token_request(
    url: str,
    form: dict[str, str],
    basic: tuple[str, str] | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    method: str = "POST",
) -> tuple[int, Any]:
    """POST ``form`` to the token endpoint as curl -u id:secret -d ... would."""
    request = urllib.request.Request(
        f"{url}/oauth2/token", data=urllib.parse.urlencode(form).encode(), method=method
    )
    request.add_header("Content-Type", content_type)
    if basic is not None:
        pair = f"{basic[0]}:{basic[1]}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_token_endpoint_issues_client_credentials_tokens_the_authorizer_accepts(
    served: Served,
) -> None:
    bot = add_bot(served.cloud, served.deployment, "desk-a")
    secret = bot.secret or ""
    grant = {"grant_type": "client_credentials", "scope": "trading/read trading/trade"}
    status, body = _token_request(served.url, grant, basic=(bot.client_id, secret))
    assert status == 200, body
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    status, _, account = call(f"{served.url}/account", token=body["access_token"])
    assert (status, account["account_id"]) == (200, "desk-a")  # the bot's grant, its token
    # client_secret_post, and no scope: every scope of the client, as Cognito answers.
    posted = {"grant_type": "client_credentials", "client_id": bot.client_id}
    status, body = _token_request(served.url, {**posted, "client_secret": secret})
    assert status == 200, body
    assert call(f"{served.url}/orders", token=body["access_token"])[0] == 200
    # Refusals are Cognito's negative responses: 400 and an OAuth error code.
    refused = [
        ({**grant}, (bot.client_id, secret + "x"), "invalid_client"),
        ({**grant}, ("no-such-client", secret), "invalid_client"),
        ({**posted, "client_secret": "wrong"}, None, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, "invalid_client"),
        ({**grant, "scope": "trading/admin"}, (bot.client_id, secret), "invalid_scope"),
        ({**grant, "grant_type": "password"}, (bot.client_id, secret), "unsupported_grant_type"),
        ({"scope": "trading/read"}, (bot.client_id, secret), "invalid_request"),
        ({**posted, "client_secret": secret}, (bot.client_id, secret), "invalid_request"),
    ]
    for form, basic, error in refused:
        status, body = _token_request(served.url, form, basic=basic)
        assert (status, body["error"]) == (400, error), (form, basic, body)
    status, body = _token_request(
        served.url, grant, basic=(bot.client_id, secret), content_type="application/json"
    )
    assert (status, body["error"]) == (400, "invalid_request")
    assert _token_request(served.url, grant, basic=(bot.client_id, secret), method="GET")[0] == 405
