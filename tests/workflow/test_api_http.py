"""The trading API over HTTP on the local server, as a user's script drives it: concurrent
order placement, fills by the deployed workflow, and the account read back exactly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stp.local import LocalCloud
from stp.local.api_server import ApiServer
from stp.local.traders import add_trader
from tests.local.test_api_server import call

ROOT = Path(__file__).resolve().parents[2]
KEY = "workflow-http-key-0123456789"
CASH = 100_000.0

pytestmark = pytest.mark.slow


def bars(day: int, prices: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {
            "symbol": symbol,
            "timestamp": f"2024-03-{day:02d}T21:00:00Z",
            "open": price,
            "high": price + 2,
            "low": price - 1,
            "close": price + 1,
            "volume": 1_000_000,
        }
        for symbol, price in prices.items()
    ]


TOKEN: dict[str, str] = {}
"""The trader's access token, set by the fixture."""


@pytest.fixture
def served() -> Iterator[tuple[LocalCloud, str]]:
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        # The usage plan's burst (20) admits the 20 concurrent orders; the throttle stays on.
        gateway = cloud.api_gateway(deployment, api_keys=[KEY])
        TOKEN["value"] = add_trader(cloud, deployment, "desk-a", "trader").token
        with ApiServer(gateway) as server:
            yield cloud, server.url


def post_bars(served: tuple[LocalCloud, str], day: int, prices: dict[str, float]) -> str:
    cloud, url = served
    status, _, started = call(
        f"{url}/market-data", "POST", {"bars": bars(day, prices)}, KEY, TOKEN["value"]
    )
    assert status == 202, started
    outcome = cloud.wait(started["execution_arn"], timeout=120)
    assert outcome.succeeded, (outcome.failed_state, outcome.error, outcome.cause)
    return str(started["run_id"])


@pytest.mark.concurrency
def test_twenty_concurrent_orders_fill_and_the_account_equals_the_sum_of_the_fills(
    served: tuple[LocalCloud, str],
) -> None:
    _, url = served
    post_bars(served, 1, {"AAPL": 100.0, "MSFT": 200.0})
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def place(n: int) -> None:
        symbol = "AAPL" if n % 2 else "MSFT"
        body = {"symbol": symbol, "side": "buy", "quantity": n, "client_order_id": f"http-{n}"}
        status, _, placed = call(f"{url}/orders", "POST", body, KEY, TOKEN["value"])
        with lock:
            answers.append((status, placed))

    threads = [threading.Thread(target=place, args=(n,)) for n in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [201] * 20, answers
    assert len({placed["order_id"] for _, placed in answers}) == 20

    run_id = post_bars(served, 2, {"AAPL": 101.0, "MSFT": 203.0})

    status, _, page = call(f"{url}/orders?status=filled&limit=50", key=KEY, token=TOKEN["value"])
    assert status == 200
    filled = [order for order in page["orders"] if order["client_order_id"].startswith("http-")]
    assert len(filled) == 20 and {order["run_id"] for order in filled} == {run_id}
    spent = sum(order["filled_quantity"] * order["average_fill_price"] for order in filled)
    expected = {
        "AAPL": sum(n for n in range(1, 21) if n % 2),
        "MSFT": sum(n for n in range(1, 21) if not n % 2),
    }
    # Market orders fill at the next bar's open.
    assert spent == 101.0 * expected["AAPL"] + 203.0 * expected["MSFT"]

    _, _, positions = call(f"{url}/positions", key=KEY, token=TOKEN["value"])
    held = {position["symbol"]: position["quantity"] for position in positions["positions"]}
    assert held == expected
    _, _, portfolio = call(f"{url}/portfolio", key=KEY, token=TOKEN["value"])
    assert portfolio["cash"] == pytest.approx(CASH - spent, abs=1e-9)
