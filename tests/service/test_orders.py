"""The API's order use cases over in-memory fakes: placement through the core's risk checks,
idempotency by client order id, retries on a concurrent change, cancellation, the views."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.fakes import FakeAccountRepository, FakeOrderReader
from trading.core.model import Account, Bar, Position
from trading.errors import TransientStoreError
from trading.service import orders
from trading.service.account import TradingAccount
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
from trading.service.orders import OrderRequest, amend_order, cancel_order, place_order
from trading.service.portfolio import portfolio_view, positions_page
from trading.service.ports import Quote

TS = 1_704_153_600 * 10**9


def no_sleep(_: float) -> None:
    """Backoff without waiting."""


@pytest.fixture
def book() -> FakeAccountRepository:
    fake = FakeAccountRepository()
    fake.quotes.put_latest([quote(TS)], "paper")
    return fake


def quote(ts: int, close: float = 100.0) -> Quote:
    return Quote(Bar("AAPL", ts, close, close + 1, close - 1, close, 1e6), "seed")


def place(book: FakeAccountRepository, **fields: Any) -> orders.PlacedOrder:
    request = OrderRequest(**{"symbol": "AAPL", "side": "buy", "quantity": 10, **fields})
    return place_order(
        request, account="paper", accounts=book, orders=FakeOrderReader(book), sleep=no_sleep
    )


def cancel(book: FakeAccountRepository, order_id: str) -> dict[str, Any]:
    return cancel_order(
        order_id, account="paper", accounts=book, orders=FakeOrderReader(book), sleep=no_sleep
    )


def test_an_order_becomes_an_open_order_of_the_account(book: FakeAccountRepository) -> None:
    placed = place(book)
    assert placed.created and placed.order["order_id"] == "paper-000001"
    account = book.get("paper")
    assert (account.version, account.sequence, account.open_order_count) == (0, 1, 1)
    (pending,) = account.open_orders.values()
    assert (pending.order_id, pending.created_ts, pending.status) == ("paper-000001", TS, "new")
    assert account.ledger.cash == 100_000.0


def test_a_concurrent_placement_is_retried_on_the_new_numbering(
    book: FakeAccountRepository,
) -> None:
    book.before_save = lambda fake: place(fake, quantity=1)  # another request wins the race
    placed = place(book, quantity=2)
    account = book.get("paper")
    assert account.sequence == 2 and placed.order["order_id"] == "paper-000002"
    assert [o.quantity for o in account.open_orders.values()] == [1, 2]


def test_an_order_priced_on_a_bar_that_moved_on_is_priced_again(
    book: FakeAccountRepository,
) -> None:
    # A new bar is published between the read and the commit: the order belongs to it.
    later = TS + 86_400 * 10**9
    book.before_save = lambda fake: fake.quotes.put_latest([quote(later, 105.0)], "paper")
    placed = place(book)
    assert placed.order["created_at"] == "2024-01-03T00:00:00Z"


def test_an_account_that_never_settles_is_a_transient_error(book: FakeAccountRepository) -> None:
    place(book)

    def always_busy(fake: FakeAccountRepository) -> None:
        fake.accounts["paper"].sequence += 1  # someone else numbered an order
        fake.before_save = always_busy

    book.before_save = always_busy
    with pytest.raises(TransientStoreError, match="kept changing"):
        place(book)


def test_a_repeated_client_order_id_returns_the_order_or_conflicts(
    book: FakeAccountRepository,
) -> None:
    first = place(book, client_order_id="c1")
    again = place(book, client_order_id="c1")
    assert (first.created, again.created) == (True, False) and again.order == first.order
    with pytest.raises(ClientOrderIdConflictError, match="c1"):
        place(book, client_order_id="c1", quantity=11)
    assert book.saves == 1


def test_the_risk_checks_of_the_core_reject_with_their_code(book: FakeAccountRepository) -> None:
    with pytest.raises(OrderRejectedError) as rejected:
        place(book, quantity=10_000)
    assert rejected.value.reason == "INSUFFICIENT_BUYING_POWER"
    with pytest.raises(NoMarketDataError):
        place(book, symbol="MSFT")
    assert book.saves == 0


def test_cancel_frees_an_open_order_and_refuses_a_filled_one(book: FakeAccountRepository) -> None:
    placed = place(book)
    order_id = placed.order["order_id"]
    cancelled = cancel(book, order_id)
    assert cancelled["status"] == "cancelled"
    assert cancel(book, order_id) == cancelled
    account = book.get("paper")
    assert account.open_orders == {} and (account.open_order_count, account.version) == (0, 1)
    book.orders[("paper", "done")] = {
        **placed.order,
        "order_id": "done",
        "order_type": "market",
        "status": "filled",
    }
    with pytest.raises(OrderNotCancellableError):
        cancel(book, "done")
    with pytest.raises(OrderNotFoundError):
        cancel(book, "nope")


def test_an_amendment_raced_by_a_cancel_answers_that_it_is_closed(
    book: FakeAccountRepository,
) -> None:
    order_id = place(book, order_type="limit", limit_price=90.0).order["order_id"]
    book.before_save = lambda fake: cancel(fake, order_id)
    with pytest.raises(orders.OrderNotAmendableError, match="cancelled"):
        amend_order(
            order_id,
            limit_price=95.0,
            account="paper",
            accounts=book,
            orders=FakeOrderReader(book),
            sleep=no_sleep,
        )


def test_a_status_outside_the_life_cycle_is_a_bad_request(book: FakeAccountRepository) -> None:
    with pytest.raises(InvalidRequestError) as error:
        orders.list_orders(
            account="paper",
            orders=FakeOrderReader(book),
            status="done",
            symbol=None,
            limit=5,
            next_token=None,
        )
    assert error.value.field == "status"


def test_positions_and_portfolio_read_the_account() -> None:
    held = {
        s: Position(s, q, average_cost=10.0, last_price=12.0)
        for s, q in [("AAA", 5), ("BBB", -2), ("CCC", 0), ("DDD", 1)]
    }
    ledger = Account(1000.0, 1000.0, held, realized_pnl=3.0, total_commission=1.0)
    account = TradingAccount("paper", ledger, "paper-", version=4, exists=True)

    first = positions_page(account, limit=2, next_token=None)
    assert [p["symbol"] for p in first.items] == ["AAA", "BBB"] and first.next_token
    rest = positions_page(account, limit=2, next_token=first.next_token)
    assert [p["symbol"] for p in rest.items] == ["DDD"] and rest.next_token is None
    with pytest.raises(InvalidPageTokenError):
        positions_page(account, limit=2, next_token="bm9wZQ")

    view = portfolio_view(account)
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
    assert portfolio_view(TradingAccount("new", Account(0.0, 0.0), "new-"))["cash"] == 100_000.0


@pytest.mark.parametrize("limit", [1, 3])
def test_an_account_keeps_a_bounded_number_of_open_orders(
    book: FakeAccountRepository, limit: int
) -> None:
    def bounded(**fields: Any) -> orders.PlacedOrder:
        request = OrderRequest(**{"symbol": "AAPL", "side": "buy", "quantity": 1, **fields})
        reader = FakeOrderReader(book)
        return place_order(
            request, account="paper", accounts=book, orders=reader, max_open_orders=limit
        )

    first = bounded()
    for _ in range(limit - 1):
        bounded()
    with pytest.raises(TooManyOpenOrdersError, match=f"has {limit} open orders"):
        bounded()
    cancel(book, first.order["order_id"])
    assert bounded().created
    assert book.get("paper").open_order_count == limit
