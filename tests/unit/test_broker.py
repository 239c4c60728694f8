"""Paper broker: fill timing and prices, costs, sizing, partial fills, risk checks, state."""

from __future__ import annotations

import pytest

from tests.builders import make_bar
from trading.core.execution import ExecutionConfig, OrderNotFoundError, PaperBroker
from trading.core.model import OrderStatus, OrderType, Side, TimeInForce
from trading.core.portfolio import Portfolio
from trading.core.risk import RiskLimits


def broker(
    cash: float = 10_000.0,
    execution: ExecutionConfig | None = None,
    limits: RiskLimits | None = None,
) -> PaperBroker:
    return PaperBroker(Portfolio.with_cash(cash), execution, limits)


def test_market_order_fills_at_next_bar_open_not_on_its_own_bar() -> None:
    b = broker()
    signal_bar = make_bar(0, 100.0, close=101.0)
    order = b.submit("TEST", Side.BUY, signal_bar, 0, quantity=10)
    assert b.on_bar(signal_bar, 0) == []  # same bar: too early
    fills = b.on_bar(make_bar(1, 102.0, close=105.0), 1)
    assert [(f.quantity, f.price) for f in fills] == [(10, 102.0)]
    assert order.status is OrderStatus.FILLED
    assert b.portfolio.account.cash == pytest.approx(10_000.0 - 1_020.0)


def test_trade_on_close_fills_at_the_signal_bar_close() -> None:
    b = broker(execution=ExecutionConfig(trade_on_close=True))
    order = b.submit("TEST", Side.BUY, make_bar(0, 100.0, close=101.0), 0, quantity=10)
    assert order.status is OrderStatus.FILLED
    assert order.average_fill_price == 101.0
    assert b.fills[0].ts == make_bar(0, 100.0).ts


def test_slippage_moves_market_fills_against_the_trader() -> None:
    b = broker(execution=ExecutionConfig(slippage_bps=50))  # 0.5 %
    b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, quantity=10)
    b.on_bar(make_bar(1, 200.0), 1)
    b.submit("TEST", Side.SELL, make_bar(1, 200.0), 1, quantity=10)
    b.on_bar(make_bar(2, 100.0), 2)
    assert [f.price for f in b.fills] == [pytest.approx(201.0), pytest.approx(99.5)]


def test_commission_is_a_rate_of_notional_with_a_minimum_on_every_fill() -> None:
    b = broker(execution=ExecutionConfig(commission_rate=0.001, commission_minimum=5.0))
    b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, quantity=10)  # 1000 notional -> min 5
    b.on_bar(make_bar(1, 100.0), 1)
    b.submit("TEST", Side.SELL, make_bar(1, 100.0), 1, quantity=10)
    b.on_bar(make_bar(2, 1_000.0), 2)  # 10000 notional -> 10
    assert [f.commission for f in b.fills] == [5.0, pytest.approx(10.0)]
    assert b.portfolio.account.cash == pytest.approx(10_000 - 1_000 - 5 + 10_000 - 10)


@pytest.mark.parametrize(
    ("open_", "low", "expected"),
    [(95.0, 94.0, 95.0), (101.0, 98.0, 99.0), (101.0, 99.5, None)],
    ids=["opens-below-limit-fills-at-open", "trades-through-fills-at-limit", "not-reached"],
)
def test_buy_limit(open_: float, low: float, expected: float | None) -> None:
    b = broker()
    order = b.submit(
        "TEST",
        Side.BUY,
        make_bar(0, 100.0),
        0,
        quantity=1,
        order_type=OrderType.LIMIT,
        limit_price=99.0,
    )
    fills = b.on_bar(make_bar(1, open_, high=max(open_, 102.0), low=low, close=100.0), 1)
    assert [f.price for f in fills] == ([] if expected is None else [expected])
    assert order.is_open is (expected is None)


@pytest.mark.parametrize(
    ("open_", "high", "expected"),
    [(105.0, 106.0, 105.0), (99.0, 101.5, 101.0), (99.0, 100.5, None)],
)
def test_sell_limit(open_: float, high: float, expected: float | None) -> None:
    b = broker()
    b.portfolio.account.positions.clear()
    b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, quantity=1)
    b.on_bar(make_bar(1, 100.0), 1)
    b.submit(
        "TEST",
        Side.SELL,
        make_bar(1, 100.0),
        1,
        quantity=1,
        order_type=OrderType.LIMIT,
        limit_price=101.0,
    )
    fills = b.on_bar(make_bar(2, open_, high=high, low=min(open_, 98.0), close=100.0), 2)
    assert [f.price for f in fills] == ([] if expected is None else [expected])


def test_day_order_expires_after_its_first_eligible_bar_gtc_stays() -> None:
    b = broker()
    day = b.submit(
        "TEST",
        Side.BUY,
        make_bar(0, 100.0),
        0,
        quantity=1,
        order_type=OrderType.LIMIT,
        limit_price=90.0,
        time_in_force=TimeInForce.DAY,
    )
    gtc = b.submit(
        "TEST",
        Side.BUY,
        make_bar(0, 100.0),
        0,
        quantity=1,
        order_type=OrderType.LIMIT,
        limit_price=90.0,
    )
    b.on_bar(make_bar(1, 100.0), 1)
    assert day.status is OrderStatus.CANCELLED
    assert gtc.status is OrderStatus.NEW
    b.on_bar(make_bar(2, 95.0, low=89.0), 2)
    assert gtc.status is OrderStatus.FILLED and gtc.average_fill_price == 90.0


def test_volume_cap_leaves_the_rest_open_as_partial_fills() -> None:
    b = broker(cash=1e9, execution=ExecutionConfig(volume_limit=0.1))
    order = b.submit("TEST", Side.BUY, make_bar(0, 10.0), 0, quantity=250)
    b.on_bar(make_bar(1, 10.0, volume=1_000), 1)
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 100)
    b.on_bar(make_bar(2, 12.0, volume=1_000), 2)
    b.on_bar(make_bar(3, 14.0, volume=1_000), 3)
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, 250)
    assert [f.quantity for f in b.fills] == [100, 100, 50]
    assert order.average_fill_price == pytest.approx((1000 + 1200 + 700) / 250)
    assert [f.fill_id for f in b.fills] == [f"{order.order_id}-{k}" for k in (1, 2, 3)]


def test_cash_fraction_sizing_is_floor_of_f_cash_over_price_with_commission() -> None:
    b = broker(cash=10_000.0, execution=ExecutionConfig(commission_rate=0.01))
    order = b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, cash_fraction=0.5)
    b.on_bar(make_bar(1, 33.0), 1)
    # floor(0.5 * 10000 / (33 * 1.01)) = floor(150.015...) = 150
    assert order.filled_quantity == 150
    assert b.portfolio.account.cash == pytest.approx(10_000 - 150 * 33 * 1.01)


def test_full_cash_sizing_never_leaves_cash_negative_with_a_minimum_commission() -> None:
    b = broker(cash=1_000.0, execution=ExecutionConfig(commission_minimum=7.0))
    b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, cash_fraction=1.0)
    b.on_bar(make_bar(1, 99.9), 1)
    assert b.fills[0].quantity == 9  # 10 shares would cost 999 + 7
    assert b.portfolio.account.cash >= 0


@pytest.mark.parametrize(
    ("limits", "side", "quantity", "code"),
    [
        (RiskLimits(halted=True), Side.BUY, 1, "TRADING_HALTED"),
        (RiskLimits(allowed_symbols=frozenset({"AAPL"})), Side.BUY, 1, "SYMBOL_NOT_ALLOWED"),
        (RiskLimits(max_order_notional=500.0), Side.BUY, 6, "MAX_ORDER_NOTIONAL"),
        (RiskLimits(max_position=5), Side.BUY, 6, "MAX_POSITION"),
        (RiskLimits(), Side.BUY, 101, "INSUFFICIENT_BUYING_POWER"),
        (RiskLimits(), Side.SELL, 1, "INSUFFICIENT_POSITION"),
        (RiskLimits(), Side.BUY, 0, "INVALID_ORDER"),
    ],
)
def test_risk_checks_reject_with_a_reason_code(
    limits: RiskLimits, side: Side, quantity: int, code: str
) -> None:
    b = broker(cash=10_000.0, limits=limits)
    order = b.submit("TEST", side, make_bar(0, 100.0), 0, quantity=quantity)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == code
    assert order.reject_message
    assert not b.open_orders


def test_short_selling_allowed_only_when_the_limits_say_so() -> None:
    b = broker(limits=RiskLimits(allow_short=True))
    order = b.submit("TEST", Side.SELL, make_bar(0, 100.0), 0, quantity=10)
    b.on_bar(make_bar(1, 100.0), 1)
    assert order.status is OrderStatus.FILLED
    assert b.portfolio.position("TEST") == -10
    assert b.portfolio.account.cash == pytest.approx(11_000.0)


def test_buy_that_gapped_beyond_cash_is_rejected_at_fill_time() -> None:
    b = broker(cash=1_000.0)
    order = b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, quantity=10)  # ok at 100
    b.on_bar(make_bar(1, 120.0), 1)
    assert (
        order.status is OrderStatus.REJECTED and order.reject_reason == "INSUFFICIENT_BUYING_POWER"
    )
    assert b.portfolio.account.cash == 1_000.0


def test_cancel_open_order_and_unknown_order() -> None:
    b = broker()
    order = b.submit("TEST", Side.BUY, make_bar(0, 100.0), 0, quantity=1)
    assert b.cancel(order.order_id).status is OrderStatus.CANCELLED
    assert b.on_bar(make_bar(1, 100.0), 1) == []
    with pytest.raises(OrderNotFoundError):
        b.cancel(order.order_id)


def test_state_round_trip_preserves_account_open_orders_and_ids() -> None:
    b = broker(execution=ExecutionConfig(volume_limit=0.01))
    b.submit("TEST", Side.BUY, make_bar(0, 10.0), 0, quantity=50)
    b.on_bar(make_bar(1, 10.0, volume=1_000), 1)  # 10 of 50 filled
    restored = PaperBroker.from_state(b.to_state(), b.execution, b.limits)
    assert restored.to_state() == b.to_state()
    for each in (b, restored):
        each.on_bar(make_bar(2, 11.0, volume=1_000), 2)
        each.submit("TEST", Side.SELL, make_bar(2, 11.0), 2, quantity=5)
    assert restored.to_state() == b.to_state()
    assert [f.to_dict() for f in restored.fills] == [f.to_dict() for f in b.fills[1:]]
