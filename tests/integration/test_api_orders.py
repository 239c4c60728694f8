"""The API's trading endpoints on emulated AWS (moto): orders, positions, portfolio, quotes,
market data, runs list and reports, through the handler's entry point with REST proxy events.

The fill test runs the workflow's own steps (ProcessMarketData, ExecuteTrades handlers) on the
batch ``POST /market-data`` stored, exactly as the state machine would."""

from __future__ import annotations

import base64
import copy
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

# Read when the handler modules are imported, as the template sets them.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "trading-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ServerlessTradingPlatform")

from handlers import api, execute_trades, process_market_data
from stp.local.moto_patches import isolate_dynamodb_requests
from tests.integration.test_api import ACCOUNT, KEY, cloud  # noqa: F401  (the fixture)
from tests.integration.test_handlers import MARKET_BUCKET, REGION, REPORTS_BUCKET, Context
from tests.integration.test_handlers import sample_event as load_event
from trading.adapters.accounts import DynamoAccountRepository
from trading.adapters.orders import DynamoOrderReader
from trading.bootstrap import get_api_platform, get_platform
from trading.core.model import Bar
from trading.service.orders import OrderRequest, place_order
from trading.service.pages import encode_token
from trading.service.ports import NewRun, Quote

CALLER = load_event("api.place_order.json")["requestContext"]["authorizer"]
"""The sample events' caller (the account ``paper`` is registered for it by the fixture)."""
DAY = 86_400 * 10**9
START = 1_704_153_600 * 10**9  # 2024-01-02T00:00:00Z
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def request(
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    *,
    raw: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """Call the handler like API Gateway: status, decoded JSON body, headers."""
    event = copy.deepcopy(load_event("api.health.json"))
    event.update(httpMethod=method, path=path, resource=path)
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["authorizer"] = CALLER  # what the Cognito authorizer verified
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    if body is not None or raw is not None:
        event["body"] = raw if raw is not None else json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    response = api.lambda_handler(event, Context(function_name="Api"))
    headers = {name: values[-1] for name, values in response["multiValueHeaders"].items()}
    decoded = json.loads(response["body"]) if response["body"] else None
    return response["statusCode"], decoded, headers


def bar(symbol: str, day: int, price: float) -> dict[str, Any]:
    """A daily bar ``day`` days after START: opens at ``price``, closes 1 higher."""
    ts = START + day * DAY
    return {
        "symbol": symbol,
        "timestamp": f"2024-01-{2 + day:02d}T00:00:00Z" if ts else "",
        "open": price,
        "high": price + 2,
        "low": price - 1,
        "close": price + 1,
        "volume": 1000,
    }


def seed_quote(symbol: str = "AAPL", close: float = 100.0, day: int = 0) -> None:
    """The latest bar of ``symbol``, as ProcessMarketData stores it."""
    stored = Bar(symbol, START + day * DAY, close, close + 1, close - 1, close, 1000.0)
    get_platform().quotes.put_latest([Quote(stored, "seed")], ACCOUNT)


def order(**fields: Any) -> dict[str, Any]:
    return {"symbol": "AAPL", "side": "buy", "quantity": 10, **fields}


@pytest.fixture
def market(cloud: dict[str, Any]) -> Iterator[dict[str, Any]]:  # noqa: F811
    seed_quote()
    yield cloud


def run_steps(run_id: str, aws: dict[str, Any]) -> dict[str, Any]:
    """Run ProcessMarketData and ExecuteTrades on the input the API started ``run_id`` with."""
    (execution,) = [
        e
        for e in aws["stepfunctions"].list_executions(stateMachineArn=aws["arn"])["executions"]
        if e["name"] == run_id
    ]
    described = aws["stepfunctions"].describe_execution(executionArn=execution["executionArn"])
    start = {"run_id": run_id, "input": json.loads(described["input"])}
    market_data = process_market_data.handler(start, Context(function_name="ProcessMarketData"))
    summary: dict[str, Any] = execute_trades.handler(
        {"run_id": run_id, "market_data": market_data}, Context()
    )
    return summary


# --- POST /orders ---------------------------------------------------------------------------


def test_a_placed_order_is_pending_until_the_next_bar_fills_it(market: dict[str, Any]) -> None:
    status, placed, _ = request("POST", "/orders", order(client_order_id="first"))
    assert status == 201
    assert (placed["status"], placed["type"], placed["quantity"]) == ("new", "market", 10)
    assert placed["created_at"] == "2024-01-02T00:00:00Z"  # the bar it was created on
    assert request("GET", f"/orders/{placed['order_id']}")[1] == placed
    _, before, _ = request("GET", "/portfolio")
    assert (before["cash"], before["open_orders"], before["positions"]) == (100_000.0, 1, 0)

    status, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    assert status == 202 and started["status"] == "RUNNING"
    summary = run_steps(started["run_id"], market)

    assert summary["account"] == "paper" and summary["fills"] == 1
    _, filled, _ = request("GET", f"/orders/{placed['order_id']}")
    assert (filled["status"], filled["filled_quantity"]) == ("filled", 10)
    assert filled["average_fill_price"] == 101.0  # the next bar's open
    _, portfolio, _ = request("GET", "/portfolio")
    assert portfolio["cash"] == 100_000.0 - 10 * 101.0
    assert portfolio["open_orders"] == 0 and portfolio["positions"] == 1
    assert portfolio["equity"] == pytest.approx(portfolio["cash"] + 10 * 102.0)  # the close
    assert portfolio["unrealized_pnl"] == pytest.approx(10.0)
    _, positions, _ = request("GET", "/positions")
    assert positions["positions"] == [
        {
            "symbol": "AAPL",
            "quantity": 10,
            "average_cost": 101.0,
            "last_price": 102.0,
            "market_value": 1020.0,
            "unrealized_pnl": 10.0,
            "exits": [],
        }
    ]
    assert positions["next_token"] is None
    _, quote, _ = request("GET", "/quotes/AAPL")
    assert (quote["timestamp"], quote["close"], quote["run_id"]) == (
        "2024-01-03T00:00:00Z",
        102.0,
        started["run_id"],
    )
    # A filled order cannot be cancelled.
    status, body, _ = request("DELETE", f"/orders/{placed['order_id']}")
    assert (status, body["code"]) == (409, "ORDER_NOT_CANCELLABLE")


def test_attached_exits_are_listed_on_the_position_and_one_cancels_the_other(
    market: dict[str, Any],
) -> None:
    status, placed, _ = request(
        "POST", "/orders", order(stop_loss=95.0, take_profit_pct=0.05, client_order_id="oco")
    )
    assert (status, placed["stop_loss"], placed["take_profit_pct"]) == (201, 95.0, 0.05)
    # Day 1 opens at 101: the entry fills there; the exits are armed for the next bars.
    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    run_steps(started["run_id"], market)
    (position,) = request("GET", "/positions")[1]["positions"]
    exits = {item["exit_kind"]: item for item in position["exits"]}
    assert set(exits) == {"stop_loss", "take_profit"}
    assert exits["stop_loss"]["stop_price"] == 95.0
    assert exits["take_profit"]["limit_price"] == pytest.approx(101.0 * 1.05)
    assert {item["parent_id"] for item in exits.values()} == {placed["order_id"]}
    assert all(item["side"] == "sell" and item["quantity"] == 10 for item in exits.values())

    # Day 2 trades from 105 to 108 (bar(): low = open - 1, high = open + 2): the take-profit
    # at 106.05 fills, the stop-loss is cancelled, the position is flat.
    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 2, 106.0)]})
    run_steps(started["run_id"], market)
    assert request("GET", "/positions")[1]["positions"] == []
    taken = request("GET", f"/orders/{exits['take_profit']['order_id']}")[1]
    stopped = request("GET", f"/orders/{exits['stop_loss']['order_id']}")[1]
    assert (taken["status"], stopped["status"]) == ("filled", "cancelled")
    assert taken["average_fill_price"] == pytest.approx(106.05)


def test_a_stop_order_waits_for_the_price_to_trade_through_its_stop(
    market: dict[str, Any],
) -> None:
    _, placed, _ = request("POST", "/orders", order(type="stop", stop_price=104.0))
    assert (placed["type"], placed["stop_price"], placed["limit_price"]) == ("stop", 104.0, None)
    # Day 1: 100..103, below the stop; day 2 opens at 105, gapping through it: fills at the open.
    for day, price in ((1, 101.0), (2, 105.0)):
        _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", day, price)]})
        run_steps(started["run_id"], market)
        status = request("GET", f"/orders/{placed['order_id']}")[1]["status"]
        assert status == ("new" if day == 1 else "filled")
    assert request("GET", f"/orders/{placed['order_id']}")[1]["average_fill_price"] == 105.0


def test_a_limit_order_rests_until_the_price_touches_it(market: dict[str, Any]) -> None:
    _, placed, _ = request("POST", "/orders", order(type="limit", limit_price=95.0))
    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    run_steps(started["run_id"], market)
    assert request("GET", f"/orders/{placed['order_id']}")[1]["status"] == "new"

    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 2, 96.0)]})
    run_steps(started["run_id"], market)  # low 95 touches the limit
    _, filled, _ = request("GET", f"/orders/{placed['order_id']}")
    assert (filled["status"], filled["average_fill_price"]) == ("filled", 95.0)


def test_an_open_order_is_amended_in_place_and_fills_as_amended(market: dict[str, Any]) -> None:
    _, placed, _ = request("POST", "/orders", order(type="limit", limit_price=90.0))
    path = f"/orders/{placed['order_id']}"
    status, amended, _ = request("PATCH", path, {"limit_price": 99.5, "quantity": 4})
    assert status == 200
    assert (amended["order_id"], amended["limit_price"], amended["quantity"]) == (
        placed["order_id"],
        99.5,
        4,
    )
    # Day 1 opens at 101 and trades down to 100: the amended limit (99.5) is not reached.
    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    run_steps(started["run_id"], market)
    assert request("GET", path)[1]["status"] == "new"
    # Day 2 opens at 100 and trades down to 99: filled at the amended limit and quantity.
    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 2, 100.0)]})
    run_steps(started["run_id"], market)
    _, filled, _ = request("GET", path)
    assert (filled["status"], filled["filled_quantity"], filled["average_fill_price"]) == (
        "filled",
        4,
        99.5,
    )
    status, body, _ = request("PATCH", path, {"limit_price": 98.0})
    assert (status, body["code"]) == (409, "ORDER_NOT_AMENDABLE")


@pytest.mark.parametrize(
    ("amendment", "field"),
    [
        ({}, "body"),
        ({"quantity": 2.5}, "quantity"),  # whole shares
        ({"quantity": 0}, "quantity"),
        ({"stop_price": 80.0}, "stop_price"),  # a limit order has no stop
        ({"limit_price": -1}, "limit_price"),
        ({"price": 90.0}, "price"),
    ],
)
def test_a_bad_amendment_is_400_naming_the_field_and_leaves_the_order(
    market: dict[str, Any], amendment: dict[str, Any], field: str
) -> None:
    _, placed, _ = request("POST", "/orders", order(type="limit", limit_price=90.0))
    path = f"/orders/{placed['order_id']}"
    status, body, _ = request("PATCH", path, amendment)
    assert (status, body["details"].get("field")) == (400, field), body
    assert request("GET", path)[1] == placed


def test_amending_an_unknown_order_is_404(market: dict[str, Any]) -> None:
    status, body, _ = request("PATCH", "/orders/nope", {"quantity": 1})
    assert (status, body["code"]) == (404, "ORDER_NOT_FOUND")


def test_the_same_client_order_id_and_body_returns_the_original_order(
    market: dict[str, Any],
) -> None:
    body = order(client_order_id="abc-1", type="limit", limit_price=99.5)
    first = request("POST", "/orders", body)
    again = request("POST", "/orders", None, raw=json.dumps(dict(reversed(body.items()))))

    assert (first[0], again[0]) == (201, 200)
    assert again[1] == first[1]
    assert len(request("GET", "/orders")[1]["orders"]) == 1


def test_the_same_client_order_id_with_another_body_is_409(market: dict[str, Any]) -> None:
    request("POST", "/orders", order(client_order_id="abc-2"))
    status, body, _ = request("POST", "/orders", order(client_order_id="abc-2", quantity=11))
    assert status == 409
    assert body["code"] == "CLIENT_ORDER_ID_CONFLICT" and "abc-2" in body["message"]
    assert len(request("GET", "/orders")[1]["orders"]) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "limit"}, "limit_price"),
        ({"limit_price": 10.0}, "limit_price"),
        ({"type": "limit", "limit_price": -1}, "limit_price"),
        ({"type": "limit", "limit_price": 1e-300}, "limit_price"),
        ({"quantity": True}, "quantity"),
        ({"quantity": "5"}, "quantity"),
        ({"type": "trailing"}, "type"),
        ({"type": "stop"}, "stop_price"),
        ({"type": "stop_limit", "stop_price": 101.0}, "limit_price"),
        ({"stop_loss": 105.0}, "stop_loss"),  # above a long's entry (the quote, 100)
        ({"take_profit": 95.0}, "take_profit"),
        ({"side": "sell", "stop_loss": 95.0}, "stop_loss"),
        ({"stop_loss": 95.0, "stop_loss_pct": 0.05}, "stop_loss"),
        ({"stop_loss_pct": 1.5}, "stop_loss_pct"),
        ({"trailing_pct": 0}, "trailing_pct"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 2.5}, "quantity"),
        ({"side": "short"}, "side"),
        ({"symbol": "AA PL"}, "symbol"),
        ({"time_in_force": "ioc"}, "time_in_force"),
        ({"client_order_id": "x" * 65}, "client_order_id"),
        ({"stop_price": 3}, "stop_price"),
    ],
)
def test_a_bad_order_is_400_naming_the_field(
    market: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    status, body, _ = request("POST", "/orders", order(**fields))
    assert status == 400
    assert body["code"] == "INVALID_REQUEST" and body["details"]["field"] == field
    assert set(body) == {"code", "message", "details"}
    assert request("GET", "/orders")[1]["orders"] == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"symbol": "AAPL", "side": "buy", "quantity": 1, "type": "limit", "limit_price": NaN}',
        "[]",
        "null",
        "{bad",
    ],
)
def test_a_malformed_order_body_is_400(market: dict[str, Any], raw: str) -> None:
    status, body, _ = request("POST", "/orders", None, raw=raw)
    assert status == 400 and body["code"] in {"INVALID_REQUEST", "INVALID_JSON"}


def test_an_order_without_a_body_is_400(market: dict[str, Any]) -> None:
    status, body, _ = request("POST", "/orders")
    assert (status, body["code"], body["details"]["field"]) == (400, "INVALID_REQUEST", "body")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quantity": 2000}, "INSUFFICIENT_BUYING_POWER"),  # 2000 x 100 > 100,000 cash
        ({"side": "sell"}, "INSUFFICIENT_POSITION"),  # long-only, nothing held
    ],
)
def test_an_order_the_risk_checks_refuse_is_422_with_the_reason(
    market: dict[str, Any], fields: dict[str, Any], reason: str
) -> None:
    status, body, _ = request("POST", "/orders", order(**fields))
    assert status == 422
    assert body["code"] == "ORDER_REJECTED" and body["details"] == {"reason": reason}
    assert request("GET", "/orders")[1]["orders"] == []


def test_an_order_in_a_symbol_without_market_data_is_409(market: dict[str, Any]) -> None:
    status, body, _ = request("POST", "/orders", order(symbol="MSFT"))
    assert (status, body["code"]) == (409, "NO_MARKET_DATA")


# --- GET /orders, GET/DELETE /orders/{id} ---------------------------------------------------


def test_an_unknown_order_is_404(market: dict[str, Any]) -> None:
    for method in ("GET", "DELETE"):
        status, body, _ = request(method, "/orders/paper-999999")
        assert (status, body["code"]) == (404, "ORDER_NOT_FOUND")


def test_cancelling_an_open_order_frees_it_and_is_idempotent(market: dict[str, Any]) -> None:
    _, placed, _ = request("POST", "/orders", order())
    status, cancelled, _ = request("DELETE", f"/orders/{placed['order_id']}")
    assert (status, cancelled["status"]) == (200, "cancelled")
    assert request("DELETE", f"/orders/{placed['order_id']}")[1] == cancelled
    assert request("GET", "/portfolio")[1]["open_orders"] == 0

    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    assert run_steps(started["run_id"], market)["fills"] == 0


def test_orders_are_listed_in_pages_and_filtered_by_status_and_symbol(
    market: dict[str, Any],
) -> None:
    seed_quote("MSFT", 50.0)
    ids = [request("POST", "/orders", order(quantity=n))[1]["order_id"] for n in range(1, 5)]
    ids.append(request("POST", "/orders", order(symbol="MSFT"))[1]["order_id"])
    request("DELETE", f"/orders/{ids[1]}")

    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    pages = 0
    while True:
        status, page, _ = request("GET", "/orders", query=query)
        assert status == 200 and len(page["orders"]) <= 2
        seen += [o["order_id"] for o in page["orders"]]
        pages += 1
        if not page["next_token"]:
            break
        query = {"limit": "2", "next_token": page["next_token"]}
    assert seen == ids and pages >= 3

    def listed(**query: str) -> list[str]:
        return [o["order_id"] for o in request("GET", "/orders", query=query)[1]["orders"]]

    assert listed(status="cancelled") == [ids[1]]
    assert listed(status="new") == [ids[0], *ids[2:]]
    assert listed(symbol="MSFT") == [ids[4]]
    assert listed(status="new", symbol="AAPL") == [ids[0], ids[2], ids[3]]
    assert listed(status="filled") == []


@pytest.mark.parametrize(
    "query",
    [
        {"next_token": "garbage!"},
        {
            "next_token": base64.urlsafe_b64encode(
                b'{"k": {"PK": "ACCOUNT#other", "SK": "ORDER#x"}}'
            ).decode()
        },
        {"next_token": base64.urlsafe_b64encode(b"[1, 2]").decode()},
        {"next_token": encode_token({"PK": "ACCOUNT#paper", "SK": "ORDER#" + "x" * 1100})},
        {
            "next_token": encode_token(
                {
                    "PK": "ACCOUNT#paper",
                    "SK": "ORDER#a",
                    "OrderStatusKey": "ORDERS#paper#new",
                    "order_id": "b",
                }
            ),
            "status": "new",
        },
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"status": "done"},
        {"symbol": "A B"},
    ],
)
def test_a_bad_list_query_is_400_naming_the_parameter(
    market: dict[str, Any], query: dict[str, str]
) -> None:
    status, body, _ = request("GET", "/orders", query=query)
    assert status == 400
    assert body["details"]["field"] == next(iter(query))


def test_a_page_token_of_another_filter_is_400(market: dict[str, Any]) -> None:
    for n in range(1, 4):
        request("POST", "/orders", order(quantity=n))
    token = request("GET", "/orders", query={"limit": "1", "status": "new"})[1]["next_token"]
    status, body, _ = request("GET", "/orders", query={"limit": "1", "next_token": token})
    assert (status, body["code"]) == (400, "INVALID_PAGE_TOKEN")


# --- the size of a run ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "count",
    [
        # 5 fixed items (root, execution record, step, run record, turn) + 31 x (book
        # delete, order put, fill put) = 98: one transaction
        31,
        32,  # 101 items: journaled, committed by the root, applied after
        98,  # once dropped silently: orders listed "new" after they filled
    ],
)
def test_every_order_a_run_fills_is_booked_whatever_their_number(
    market: dict[str, Any], count: int
) -> None:
    placed = [request("POST", "/orders", order(quantity=1))[1]["order_id"] for _ in range(count)]
    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    assert run_steps(started["run_id"], market)["fills"] == count

    _, waiting, _ = request("GET", "/orders", query={"status": "new", "limit": "100"})
    assert waiting["orders"] == []
    _, filled, _ = request("GET", "/orders", query={"status": "filled", "limit": "100"})
    assert sorted(o["order_id"] for o in filled["orders"]) == sorted(placed)
    assert {o["run_id"] for o in filled["orders"]} == {started["run_id"]}
    _, portfolio, _ = request("GET", "/portfolio")
    assert (portfolio["open_orders"], portfolio["positions"]) == (0, 1)
    assert portfolio["cash"] == 100_000.0 - count * 101.0
    status, body, _ = request("DELETE", f"/orders/{placed[-1]}")
    assert (status, body["code"]) == (409, "ORDER_NOT_CANCELLABLE")


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.concurrency
def test_concurrent_orders_never_lose_an_update(market: dict[str, Any]) -> None:
    # DynamoDB orders conflicting writes and isolates reads; moto needs the local patch.
    isolate_dynamodb_requests()
    client = boto3.client("dynamodb", region_name=REGION)
    accounts = DynamoAccountRepository(
        client, "portfolio", quotes_table="quotes", runs_table="runs"
    )
    reader = DynamoOrderReader(client, "portfolio")
    results: list[Any] = []
    errors: list[BaseException] = []

    def place(n: int) -> None:
        try:
            placed = place_order(
                OrderRequest("AAPL", "buy", n, client_order_id=f"c-{n}"),
                account="paper",
                accounts=accounts,
                orders=reader,
            )
            results.append(placed)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=place, args=(n,)) for n in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(results) == 20
    account = accounts.get("paper")
    assert (account.sequence, account.open_order_count, len(account.open_orders)) == (20, 20, 20)
    assert len({r.order["order_id"] for r in results}) == 20

    _, started, _ = request("POST", "/market-data", {"bars": [bar("AAPL", 1, 101.0)]})
    summary = run_steps(started["run_id"], market)
    assert summary["fills"] == 20
    _, portfolio, _ = request("GET", "/portfolio")
    shares = sum(range(1, 21))
    assert portfolio["cash"] == pytest.approx(100_000.0 - shares * 101.0)
    assert request("GET", "/positions")[1]["positions"][0]["quantity"] == shares


@pytest.mark.concurrency
def test_runs_of_the_account_started_at_once_trade_their_bars_in_arrival_order(
    market: dict[str, Any],
) -> None:
    # Day 1's run arrives first, day 2's second; day 2's steps start first. Day 2 waits for
    # its turn, so the order fills on day 1's open and neither run skips a bar.
    isolate_dynamodb_requests()
    _, placed, _ = request("POST", "/orders", order())
    runs = [
        request("POST", "/market-data", {"bars": [bar("AAPL", day, price)]})[1]["run_id"]
        for day, price in ((1, 440.0), (2, 450.0))
    ]
    summaries: dict[str, Any] = {}
    errors: list[BaseException] = []

    def steps(run_id: str) -> None:
        try:
            summaries[run_id] = run_steps(run_id, market)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=steps, args=(run_id,)) for run_id in reversed(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [summaries[run_id]["fills"] for run_id in runs] == [1, 0]
    assert [summaries[run_id]["bars_skipped"] for run_id in runs] == [0, 0]
    _, filled, _ = request("GET", f"/orders/{placed['order_id']}")
    assert (filled["status"], filled["average_fill_price"]) == ("filled", 440.0)
    for run_id in runs:
        described = request("GET", f"/runs/{run_id}")[1]
        assert described["warnings"] == [] and described["committed"]["account"] == "paper"
    assert request("GET", "/quotes/AAPL")[1]["close"] == 451.0


def test_a_batch_with_a_bar_in_the_future_is_refused(market: dict[str, Any]) -> None:
    future = {**bar("AAPL", 1, 101.0), "timestamp": "2099-01-04T00:00:00Z"}
    status, body, _ = request("POST", "/market-data", {"bars": [future]})
    assert (status, body["code"]) == (400, "INVALID_MARKET_DATA")
    assert body["details"]["rows"][0]["code"] == "FUTURE_TIMESTAMP"


@pytest.mark.concurrency
def test_the_handler_serves_concurrent_threads_one_request_at_a_time(
    market: dict[str, Any],
) -> None:
    """A local server may call the entry point from many threads: each answer is its own."""
    answers: dict[int, tuple[int, Any, dict[str, str]]] = {}

    def place(n: int) -> None:
        answers[n] = request("POST", "/orders", order(quantity=n, client_order_id=f"t-{n}"))

    threads = [threading.Thread(target=place, args=(n,)) for n in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {n: (status, body["quantity"]) for n, (status, body, _) in answers.items()} == {
        n: (201, n) for n in range(1, 21)
    }
    _, portfolio, _ = request("GET", "/portfolio")
    assert (portfolio["open_orders"], portfolio["version"]) == (20, 0)  # placements only


# --- quotes, market data --------------------------------------------------------------------


def test_quotes_answer_the_latest_bar_or_404(market: dict[str, Any]) -> None:
    status, quote, _ = request("GET", "/quotes/AAPL")
    assert status == 200
    assert quote == {
        "symbol": "AAPL",
        "timestamp": "2024-01-02T00:00:00Z",
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.0,
        "volume": 1000.0,
        "run_id": "seed",
    }
    assert request("GET", "/quotes/NOPE")[:2] == (
        404,
        {"code": "QUOTE_NOT_FOUND", "message": "no bar of NOPE has been processed", "details": {}},
    )
    assert request("GET", "/quotes/A%20B")[0] == 400


def test_a_batch_with_bad_bars_is_400_naming_each_and_starts_nothing(
    market: dict[str, Any],
) -> None:
    bad_high = {**bar("AAPL", 1, 100.0), "high": 50.0}
    no_ts = {k: v for k, v in bar("AAPL", 2, 100.0).items() if k != "timestamp"}
    status, body, _ = request(
        "POST", "/market-data", {"bars": [bar("AAPL", 0, 1), bad_high, no_ts]}
    )
    assert status == 400 and body["code"] == "INVALID_MARKET_DATA"
    rows = body["details"]["rows"]
    assert {(row["index"], row["code"]) for row in rows} >= {
        (1, "HIGH_BELOW_OPEN_CLOSE"),
        (2, "MISSING_FIELD"),
    }
    executions = market["stepfunctions"].list_executions(stateMachineArn=market["arn"])
    assert executions["executions"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bars": []}, "bars"),
        ({"bars": [{}] * 1001}, "bars"),
        ({"bars": "x"}, "bars"),
        ({"bars": [bar("AAPL", 1, 1)], "config": {"account": "other"}}, "config.account"),
        ({"bars": [bar("AAPL", 1, 1)], "config": {"cash": -1}}, "config.cash"),
        ({"bars": [bar("AAPL", 1, 1)], "run_id": "a/b"}, "run_id"),
    ],
)
def test_a_bad_batch_request_is_400(market: dict[str, Any], body: Any, field: str) -> None:
    status, answer, _ = request("POST", "/market-data", body)
    assert status == 400 and answer["details"]["field"] == field


def test_a_batch_is_stored_and_its_run_trades_the_account(market: dict[str, Any]) -> None:
    batch = {"bars": [bar("AAPL", 1, 101.0)], "run_id": "batch-1", "config": {"cash_fraction": 0.5}}
    status, started, _ = request("POST", "/market-data", batch)
    assert (status, started["run_id"]) == (202, "batch-1")
    assert request("POST", "/market-data", batch)[1] == started  # the same batch: same run
    other = {**batch, "bars": [bar("AAPL", 1, 102.0)]}
    assert request("POST", "/market-data", other)[1]["code"] == "RUN_EXISTS"
    (execution,) = market["stepfunctions"].list_executions(stateMachineArn=market["arn"])[
        "executions"
    ]
    described = market["stepfunctions"].describe_execution(executionArn=execution["executionArn"])
    payload = json.loads(described["input"])
    # The account's own settings (costs and margin included), never the request's.
    assert payload["config"] == {
        "cash_fraction": 0.5,
        "account": "paper",
        "cash": 100000.0,
        "mode": "long-only",
        "commission": 0.0,
        "commission_minimum": 0.0,
        "slippage_bps": 0.0,
        "leverage": 1.0,
        "short_margin": 1.5,
        "maintenance_margin": 1.3,
    }
    costs = {**batch, "run_id": "batch-2", "config": {"commission": 0}}
    status, body, _ = request("POST", "/market-data", costs)
    assert (status, body["details"]["field"]) == (400, "config.commission")
    assert payload["key"].startswith("api/batches/paper/batch-1/")
    stored = market["s3"].get_object(Bucket=MARKET_BUCKET, Key=payload["key"])["Body"].read()
    assert [json.loads(line) for line in stored.splitlines()] == batch["bars"]
    assert request("GET", "/runs/batch-1")[1]["status"] == "RUNNING"


def test_an_upload_url_puts_the_file_under_raw_with_the_account_settings(
    market: dict[str, Any],
) -> None:
    status, target, _ = request(
        "POST", "/market-data/uploads", {"file_name": "bars.csv", "config": {"cash_fraction": 0.5}}
    )
    assert status == 201
    # One key under the account's own folder: the link writes nothing else.
    assert target["method"] == "PUT" and target["key"].startswith("raw/paper/uploads/")
    assert target["key"].endswith("/bars.csv") and target["key"] in target["upload_url"]
    assert target["headers"] == {
        "x-amz-meta-stp-cash-fraction": "0.5",
        "x-amz-meta-stp-account": "paper",
        "x-amz-meta-stp-cash": "100000.0",
        "x-amz-meta-stp-mode": "long-only",
        "x-amz-meta-stp-commission": "0.0",
        "x-amz-meta-stp-commission-minimum": "0.0",
        "x-amz-meta-stp-slippage-bps": "0.0",
        "x-amz-meta-stp-leverage": "1.0",
        "x-amz-meta-stp-short-margin": "1.5",
        "x-amz-meta-stp-maintenance-margin": "1.3",
    }
    fixed = request("POST", "/market-data/uploads", {"file_name": "b.csv", "config": {"cash": 9}})
    assert (fixed[0], fixed[1]["details"]["field"]) == (400, "config.cash")
    bad = request("POST", "/market-data/uploads", {"file_name": "../etc/passwd"})
    assert (bad[0], bad[1]["details"]["field"]) == (400, "file_name")


# --- runs, reports --------------------------------------------------------------------------


def test_runs_are_listed_newest_first_in_pages(market: dict[str, Any]) -> None:
    for n in range(3):
        request("POST", "/runs", {"key": KEY, "run_id": f"run-{n}"})
    _, first, _ = request("GET", "/runs", query={"limit": "2"})
    _, second, _ = request("GET", "/runs", query={"limit": "2", "next_token": first["next_token"]})
    names = [run["run_id"] for run in first["runs"] + second["runs"]]
    assert sorted(names) == ["run-0", "run-1", "run-2"] and len(first["runs"]) == 2
    created = [run["created_at"] for run in first["runs"] + second["runs"]]
    assert created == sorted(created, reverse=True)
    assert second["next_token"] is None
    assert request("GET", "/runs", query={"next_token": "e30"})[0] == 400  # "{}"


def test_a_report_is_answered_with_a_link_to_its_html(market: dict[str, Any]) -> None:
    document = {"run_id": "r-1", "metrics": {"sharpe": 1.2}}
    get_platform().runs.start(NewRun("r-1", MARKET_BUCKET, KEY, "api", None, "2024-01-02", ACCOUNT))
    market["s3"].put_object(
        Bucket=REPORTS_BUCKET, Key="reports/r-1/report.json", Body=json.dumps(document)
    )
    status, body, _ = request("GET", "/reports/r-1")
    assert status == 200
    assert body["report"] == document and body["expires_in"] == 300
    assert "reports/r-1/report.html" in body["html_url"]
    for run_id in ("r-2", "bad%20id"):
        status, body, _ = request("GET", f"/reports/{run_id}")
        assert (status, body["code"]) == (404, "REPORT_NOT_FOUND")


# --- round trips ----------------------------------------------------------------------------


def test_dynamodb_round_trips_of_placing_an_order_and_reading_the_portfolio(
    market: dict[str, Any],
) -> None:
    requests: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        requests[event_name.rsplit(".", 1)[1]] += 1

    request("GET", "/health")  # builds the platform
    get_api_platform().platform.dynamodb.meta.events.register_first("before-send.dynamodb", count)
    request("POST", "/orders", order())
    # The caller's accounts (Query) and its account's profile (GetItem), then the placement.
    access = Counter({"Query": 1, "GetItem": 1})
    assert requests == access + Counter({"BatchGetItem": 1, "TransactWriteItems": 1})
    requests.clear()
    request("GET", "/portfolio")
    assert requests == access + Counter({"GetItem": 1})


# --- end to end -----------------------------------------------------------------------------


@pytest.mark.slow
def test_an_order_placed_through_the_api_fills_in_the_deployed_workflow() -> None:
    """The whole path on the local runtime: the deployed template, state machine and handlers."""
    from pathlib import Path

    from stp.local import LocalCloud
    from stp.local.traders import registry_of
    from trading.bootstrap import reset_platform
    from trading.service.admin import create_account

    root = Path(__file__).resolve().parents[2]

    def invoke(local: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        event = copy.deepcopy(load_event("api.health.json"))
        event.update(httpMethod=method, path=path, resource=path)
        event["requestContext"]["authorizer"] = CALLER
        if body is not None:
            event["body"] = json.dumps(body)
        payload = local.invoke("ApiFunction", event).payload
        return payload["statusCode"], json.loads(payload["body"])

    reset_platform()
    with LocalCloud() as local:
        deployment = local.deploy(root / "template.yaml", code_root=root / "src")
        create_account(
            ACCOUNT,
            owner=CALLER["claims"]["sub"],
            settings=None,
            registry=registry_of(local, deployment),
        )
        status, first = invoke(local, "POST", "/market-data", {"bars": [bar("AAPL", 0, 100.0)]})
        assert status == 202
        assert local.wait(first["execution_arn"], timeout=60).succeeded

        status, placed = invoke(local, "POST", "/orders", order(client_order_id="e2e"))
        assert (status, placed["status"]) == (201, "new")
        _, second = invoke(local, "POST", "/market-data", {"bars": [bar("AAPL", 1, 103.0)]})
        outcome = local.wait(second["execution_arn"], timeout=60)
        assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)

        _, filled = invoke(local, "GET", f"/orders/{placed['order_id']}")
        _, portfolio = invoke(local, "GET", "/portfolio")
        _, run = invoke(local, "GET", f"/runs/{second['run_id']}")
    reset_platform()
    assert (filled["status"], filled["average_fill_price"]) == ("filled", 103.0)
    assert filled["run_id"] == second["run_id"]
    assert portfolio["cash"] == 100_000.0 - 10 * 103.0 and portfolio["positions"] == 1
    assert run["status"] == "SUCCEEDED"
    assert [step["name"] for step in run["steps"]][:2] == ["ProcessMarketData", "ExecuteTrades"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api.place_order.json", 201),
        ("api.list_orders.json", 200),
        ("api.cancel_order.json", 404),
        ("api.get_portfolio.json", 200),
        ("api.get_quote.json", 200),
        ("api.post_market_data.json", 202),
    ],
)
def test_the_sample_events_are_answered(market: dict[str, Any], name: str, expected: int) -> None:
    response = api.lambda_handler(load_event(name), Context(function_name="Api"))
    assert response["statusCode"] == expected, response["body"]


def test_no_request_path_scans_a_table(market: dict[str, Any]) -> None:
    operations: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        operations[event_name.rsplit(".", 1)[1]] += 1

    request("GET", "/health")
    get_api_platform().platform.dynamodb.meta.events.register_first("before-send.dynamodb", count)
    _, placed, _ = request("POST", "/orders", order(client_order_id="s1"))
    request("POST", "/orders", order(client_order_id="s1"))
    for query in ({}, {"status": "new"}, {"symbol": "AAPL"}, {"status": "new", "symbol": "AAPL"}):
        request("GET", "/orders", query=query or None)
    for path in (
        "/positions",
        "/portfolio",
        "/quotes/AAPL",
        "/runs",
        f"/orders/{placed['order_id']}",
    ):
        request("GET", path)
    request("DELETE", f"/orders/{placed['order_id']}")
    assert operations and "Scan" not in operations
    assert set(operations) <= {"BatchGetItem", "GetItem", "Query", "TransactWriteItems"}


# --- one input rule everywhere, the depth cap, the caller ---------------------------------------

BAD_SYMBOLS = ["ÄAPL", "A,B", " AAPL ", "A" * 1000, '=HYPERLINK("http://x")']


@pytest.mark.parametrize("symbol", BAD_SYMBOLS)
def test_a_symbol_is_refused_alike_by_every_route(market: dict[str, Any], symbol: str) -> None:
    batch = {"bars": [{**bar("AAPL", 1, 100.0), "symbol": symbol}]}
    status, body, _ = request("POST", "/market-data", batch)
    assert (status, body["details"]["field"]) == (400, "bars"), body
    status, body, _ = request("POST", "/orders", order(symbol=symbol))
    assert (status, body["details"]["field"]) == (400, "symbol"), body
    status, body, _ = request("GET", "/orders", query={"symbol": symbol})
    assert status == 400, body
    assert (
        market["stepfunctions"].list_executions(stateMachineArn=market["arn"])["executions"] == []
    )


def test_a_quantity_just_off_the_step_is_400(market: dict[str, Any]) -> None:
    status, body, _ = request("POST", "/orders", order(quantity=1.0000000001))
    assert (status, body["details"]["field"]) == (400, "quantity")
    assert "1.0000000001" in body["message"]


def test_json_nested_too_deep_is_400_not_a_500(market: dict[str, Any]) -> None:
    for depth in (65, 960, 5000):
        raw = '{"bars": ' + "[" * depth + "]" * depth + "}"
        status, body, _ = request("POST", "/market-data", raw=raw)
        assert (status, body["code"], body["details"]["field"]) == (400, "INVALID_JSON", "body")
    shallow = '{"bars": [[[["x"]]]]}'  # nested, but within the cap: the model answers
    assert request("POST", "/market-data", raw=shallow)[1]["code"] == "INVALID_REQUEST"


def test_the_function_itself_refuses_a_missing_caller_or_scope(market: dict[str, Any]) -> None:
    event = copy.deepcopy(load_event("api.place_order.json"))
    del event["requestContext"]["authorizer"]
    response = api.lambda_handler(event, Context(function_name="Api"))
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (
        401,
        "UNAUTHENTICATED",
    )
    event = copy.deepcopy(load_event("api.place_order.json"))
    event["requestContext"]["authorizer"]["claims"]["scope"] = "trading/read"
    response = api.lambda_handler(event, Context(function_name="Api"))
    body = json.loads(response["body"])
    assert (response["statusCode"], body["code"], body["details"]["scope"]) == (
        403,
        "FORBIDDEN",
        "trading/trade",
    )
