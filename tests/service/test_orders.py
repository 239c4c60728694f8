"""The API's order use cases over in-memory fakes: placement through the core's risk checks,
idempotency by client order id, retries on a concurrent change, cancellation, the views."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.fakes import FakeOrderBook
from trading.core.model import Bar
from trading.errors import TransientStoreError
from trading.service import orders
from trading.service.errors import (
    ClientOrderIdConflictError,
    InvalidPageTokenError,
    InvalidRequestError,
    NoMarketDataError,
    OrderNotCancellableError,
    OrderNotFoundError,
    OrderRejectedError,
    TooManyOpenOrdersError,
)
from trading.service.orders import OrderRequest, cancel_order, place_order
from trading.service.portfolio import portfolio_view, positions_page
from trading.service.ports import Quote

TS = 1_704_153_600 * 10**9


def no_sleep(_: float) -> None:
    """Backoff without waiting."""


@pytest.fixture
def book() -> FakeOrderBook:
    fake = FakeOrderBook()
    fake.quotes.put_latest([Quote(Bar("AAPL", TS, 100.0, 101.0, 99.0, 100.0, 1e6), "seed")])
    return fake


def place(book: FakeOrderBook, **fields: Any) -> orders.PlacedOrder:
    request = OrderRequest(**{"symbol": "AAPL", "side": "buy", "quantity": 10, **fields})
    return place_order(request, account="paper", book=book, sleep=no_sleep)


def test_an_order_becomes_a_pending_order_of_the_account_state(book: FakeOrderBook) -> None:
    placed = place(book)
    assert placed.created and placed.order["order_id"] == "paper-000001"
    state = book.load_state("paper")
    assert state.version == 1
    (pending,) = state.state["broker"]["open_orders"]  # type: ignore[index]
    assert (pending["order_id"], pending["created_ts"], pending["status"]) == (
        "paper-000001",
        TS,
        "new",
    )
    assert state.state["broker"]["account"]["cash"] == 100_000.0  # type: ignore[index]


def test_a_concurrent_change_is_retried_on_the_new_state(book: FakeOrderBook) -> None:
    book.before_commit = lambda fake: place(fake, quantity=1)  # another request wins the race
    placed = place(book, quantity=2)
    state = book.load_state("paper")
    assert state.version == 2 and placed.order["order_id"] == "paper-000002"
    assert [o["quantity"] for o in state.state["broker"]["open_orders"]] == [1, 2]  # type: ignore[index]


def test_an_account_that_never_settles_is_a_transient_error(book: FakeOrderBook) -> None:
    def always_busy(fake: FakeOrderBook) -> None:
        state, version = fake.accounts.states.get("paper", (None, 0))  # type: ignore[arg-type]
        fake.accounts.states["paper"] = (state, version + 1)  # someone else committed
        fake.before_commit = always_busy

    book.before_commit = always_busy
    with pytest.raises(TransientStoreError, match="kept changing"):
        place(book)


def test_a_repeated_client_order_id_returns_the_order_or_conflicts(book: FakeOrderBook) -> None:
    first = place(book, client_order_id="c1")
    again = place(book, client_order_id="c1")
    assert (first.created, again.created) == (True, False) and again.order == first.order
    with pytest.raises(ClientOrderIdConflictError, match="c1"):
        place(book, client_order_id="c1", quantity=11)
    assert book.commits == 1


def test_the_risk_checks_of_the_core_reject_with_their_code(book: FakeOrderBook) -> None:
    with pytest.raises(OrderRejectedError) as rejected:
        place(book, quantity=10_000)
    assert rejected.value.reason == "INSUFFICIENT_CASH"
    with pytest.raises(NoMarketDataError):
        place(book, symbol="MSFT")
    assert book.commits == 0


def test_cancel_frees_an_open_order_and_refuses_a_filled_one(book: FakeOrderBook) -> None:
    placed = place(book)
    order_id = placed.order["order_id"]
    cancelled = cancel_order(order_id, account="paper", book=book, sleep=no_sleep)
    assert cancelled["status"] == "cancelled"
    assert cancel_order(order_id, account="paper", book=book) == cancelled
    assert book.load_state("paper").state["broker"]["open_orders"] == []  # type: ignore[index]
    book.accounts.items[("paper", "ORDER#done")] = {
        **placed.order,
        "order_id": "done",
        "order_type": "market",
        "status": "filled",
    }
    with pytest.raises(OrderNotCancellableError):
        cancel_order("done", account="paper", book=book)
    with pytest.raises(OrderNotFoundError):
        cancel_order("nope", account="paper", book=book)


def test_a_status_outside_the_life_cycle_is_a_bad_request(book: FakeOrderBook) -> None:
    with pytest.raises(InvalidRequestError) as error:
        orders.list_orders(
            account="paper", book=book, status="done", symbol=None, limit=5, next_token=None
        )
    assert error.value.field == "status"


def test_positions_and_portfolio_read_the_account_state(book: FakeOrderBook) -> None:
    held = {
        s: {"symbol": s, "quantity": q, "average_cost": 10.0, "last_price": 12.0}
        for s, q in [("AAA", 5), ("BBB", -2), ("CCC", 0), ("DDD", 1)]
    }
    account = {
        "cash": 1000.0,
        "initial_cash": 1000.0,
        "positions": held,
        "realized_pnl": 3.0,
        "total_commission": 1.0,
    }
    book.accounts.states["paper"] = ({"broker": {"account": account, "open_orders": []}}, 4)
    state = book.load_state("paper")

    first = positions_page(state, limit=2, next_token=None)
    assert [p["symbol"] for p in first.items] == ["AAA", "BBB"] and first.next_token
    rest = positions_page(state, limit=2, next_token=first.next_token)
    assert [p["symbol"] for p in rest.items] == ["DDD"] and rest.next_token is None
    with pytest.raises(InvalidPageTokenError):
        positions_page(state, limit=2, next_token="bm9wZQ")

    view = portfolio_view(state)
    assert view["equity"] == 1000.0 + 6 * 12.0 - 2 * 12.0
    assert view["exposure"] == {
        "long": 72.0,
        "short": 24.0,
        "gross": 96.0,
        "net": 48.0,
        "gross_fraction": 96.0 / view["equity"],
    }
    assert view["unrealized_pnl"] == 5 * 2.0 - 2 * 2.0 + 1 * 2.0
    assert (view["positions"], view["version"]) == (3, 4)


def test_an_account_keeps_a_bounded_number_of_open_orders(
    book: FakeOrderBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders, "MAX_OPEN_ORDERS", 2)
    first = place(book, quantity=1)
    place(book, quantity=1)
    with pytest.raises(TooManyOpenOrdersError):
        place(book, quantity=1)
    cancel_order(first.order["order_id"], account="paper", book=book)
    assert place(book, quantity=1).created
