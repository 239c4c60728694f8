"""Stop, stop-limit, attached exits (one-cancels-other), trailing stops, amend: hand-computed."""

from __future__ import annotations

import json

import pytest

from tests.builders import make_bar
from trading.core.execution import (
    AttachedExits,
    ExecutionConfig,
    OrderNotFoundError,
    OrderValidationError,
    PaperBroker,
    validate_order,
)
from trading.core.model import Bar, ExitKind, Order, OrderStatus, OrderType, Side, TimeInForce
from trading.core.portfolio import Portfolio
from trading.core.risk import RejectCode, RiskLimits


def broker(cash: float = 100_000.0, **execution: float) -> PaperBroker:
    return PaperBroker(Portfolio.with_cash(cash), ExecutionConfig(**execution))  # type: ignore[arg-type]


def bar(i: int, open_: float, high: float, low: float, close: float, volume: float = 1e6) -> Bar:
    return make_bar(i, open_, high=high, low=low, close=close, volume=volume)


SIGNAL_BAR = bar(0, 100.0, 100.0, 100.0, 100.0)


def stop_order(b: PaperBroker, side: Side, stop: float, limit: float | None = None) -> Order:
    kind = OrderType.STOP if limit is None else OrderType.STOP_LIMIT
    return b.submit(
        "TEST",
        side,
        SIGNAL_BAR,
        0,
        quantity=10,
        order_type=kind,
        stop_price=stop,
        limit_price=limit,
    )


def long_position(b: PaperBroker, quantity: int = 10) -> None:
    b.submit("TEST", Side.BUY, SIGNAL_BAR, 0, quantity=quantity)
    b.on_bar(bar(1, 100.0, 100.0, 100.0, 100.0), 1)


# -- stop (stop-market) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "next_bar", "expected"),
    [
        (Side.BUY, bar(1, 101.0, 106.0, 100.0, 104.0), 105.0),  # trades through: at the stop
        (Side.BUY, bar(1, 107.0, 108.0, 106.0, 107.0), 107.0),  # gaps above: at the open
        (Side.BUY, bar(1, 101.0, 104.9, 100.0, 104.0), None),  # never reaches 105
        (Side.SELL, bar(1, 99.0, 100.0, 94.0, 96.0), 95.0),
        (Side.SELL, bar(1, 93.0, 94.0, 92.0, 93.0), 93.0),
        (Side.SELL, bar(1, 99.0, 100.0, 95.1, 96.0), None),
    ],
    ids=["buy-through", "buy-gap", "buy-not-reached", "sell-through", "sell-gap", "sell-none"],
)
def test_stop_fills_at_the_stop_or_at_a_gapped_open(
    side: Side, next_bar: Bar, expected: float | None
) -> None:
    b = broker()
    if side is Side.SELL:
        long_position(b)
        next_bar = next_bar._replace(ts=make_bar(2, 1.0).ts)
    order = stop_order(b, side, 105.0 if side is Side.BUY else 95.0)
    fills = b.on_bar(next_bar, 2)
    assert [f.price for f in fills] == ([] if expected is None else [expected])
    assert order.is_open is (expected is None)


def test_stop_never_fills_on_the_bar_it_was_created() -> None:
    b = broker()
    order = stop_order(b, Side.BUY, 99.0)
    assert b.on_bar(SIGNAL_BAR._replace(high=120.0), 0) == []
    assert order.status is OrderStatus.NEW


def test_stop_fill_takes_slippage_like_a_market_order() -> None:
    b = broker(slippage_bps=100.0)
    stop_order(b, Side.BUY, 105.0)
    (fill,) = b.on_bar(bar(1, 101.0, 106.0, 100.0, 104.0), 1)
    assert fill.price == pytest.approx(105.0 * 1.01)


# -- stop-limit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "limit", "next_bar", "expected", "triggered"),
    [
        # limit at or above the stop: filled at the stop when triggered inside the bar
        (105.0, 106.0, bar(1, 101.0, 107.0, 100.0, 104.0), 105.0, True),
        # gap over the stop, open within the limit: at the open
        (105.0, 108.0, bar(1, 107.0, 109.0, 106.0, 108.0), 107.0, True),
        # gap over stop and limit, later back through the limit: at the limit
        (105.0, 106.0, bar(1, 107.0, 109.0, 105.5, 108.0), 106.0, True),
        # gap over stop and limit, never back to it: triggered, not filled
        (105.0, 106.0, bar(1, 107.0, 109.0, 106.5, 108.0), None, True),
        # limit below the stop, both inside the bar: the dip to 103 may have come before the
        # stop was reached, so it does not count (pessimistic): triggered, waits
        (105.0, 103.0, bar(1, 101.0, 106.0, 102.0, 104.0), None, True),
        # stop not reached: nothing
        (105.0, 106.0, bar(1, 101.0, 104.0, 100.0, 103.0), None, False),
    ],
)
def test_buy_stop_limit(
    stop: float, limit: float, next_bar: Bar, expected: float | None, triggered: bool
) -> None:
    b = broker()
    order = stop_order(b, Side.BUY, stop, limit)
    fills = b.on_bar(next_bar, 1)
    assert [f.price for f in fills] == ([] if expected is None else [expected])
    assert order.triggered is triggered


def test_triggered_stop_limit_is_a_limit_order_on_later_bars_and_survives_state() -> None:
    b = broker()
    order = stop_order(b, Side.BUY, 105.0, 103.0)
    b.on_bar(bar(1, 101.0, 106.0, 102.0, 104.0), 1)  # triggered, limit not provable
    restored = PaperBroker.from_state(json.loads(json.dumps(b.to_state())), b.execution)
    (carried,) = restored.restored
    assert carried.triggered
    # Next bar never reaches the stop again but dips to the limit: a limit fill at 103.
    fills = restored.on_bar(bar(2, 104.0, 104.5, 102.5, 103.0), 2)
    assert [f.price for f in fills] == [103.0]
    assert order.order_id == carried.order_id


def test_sell_stop_limit_mirrors_the_buy() -> None:
    b = broker()
    long_position(b)
    order = stop_order(b, Side.SELL, 95.0, 97.0)  # limit above the stop: not provable
    assert b.on_bar(bar(2, 99.0, 98.0 + 1.0, 94.0, 96.0), 2) == []
    assert order.triggered
    fills = b.on_bar(bar(3, 96.0, 97.5, 95.5, 97.0), 3)
    assert [f.price for f in fills] == [97.0]


# -- attached exits ----------------------------------------------------------------------------


def entry_with_exits(b: PaperBroker, exits: AttachedExits, quantity: int = 10) -> Order:
    return b.submit("TEST", Side.BUY, SIGNAL_BAR, 0, quantity=quantity, exits=exits)


def exit_orders(b: PaperBroker) -> dict[ExitKind, Order]:
    return {o.exit_kind: o for o in b.orders if o.exit_kind is not None}


def test_exits_are_armed_at_the_fill_from_its_price_and_one_cancels_the_other() -> None:
    b = broker()
    entry = entry_with_exits(b, AttachedExits(stop_loss_pct=0.05, take_profit_pct=0.10))
    assert exit_orders(b) == {}  # nothing before the entry fills
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    exits = exit_orders(b)
    stop, target = exits[ExitKind.STOP_LOSS], exits[ExitKind.TAKE_PROFIT]
    assert (stop.side, stop.order_type, stop.stop_price) == (Side.SELL, OrderType.STOP, 95.0)
    assert (target.order_type, target.limit_price) == (OrderType.LIMIT, pytest.approx(110.0))
    assert stop.parent_id == target.parent_id == entry.order_id
    assert stop.quantity == target.quantity == 10
    (fill,) = b.on_bar(bar(2, 105.0, 111.0, 104.0, 110.0), 2)
    assert (fill.order_id, fill.price, fill.exit_kind) == (
        target.order_id,
        target.limit_price,
        "take_profit",
    )
    assert target.status is OrderStatus.FILLED and stop.status is OrderStatus.CANCELLED
    assert not b.has_open_orders("TEST")
    (trade,) = b.portfolio.trades
    assert (trade.exit_kind, trade.stop_first) == ("take_profit", False)
    assert trade.pnl == pytest.approx(100.0)


def test_absolute_exit_prices() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss=90.0, take_profit=120.0))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    (fill,) = b.on_bar(bar(2, 95.0, 96.0, 89.0, 90.0), 2)
    assert (fill.price, fill.exit_kind) == (90.0, ExitKind.STOP_LOSS)


def test_exits_of_an_entry_filled_at_the_open_are_worked_on_the_same_bar() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.02))
    fills = b.on_bar(bar(1, 100.0, 100.5, 97.0, 98.0), 1)
    assert [(f.side, f.price) for f in fills] == [(Side.BUY, 100.0), (Side.SELL, 98.0)]


def test_gap_through_the_stop_loss_fills_at_the_open() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.05, take_profit_pct=0.10))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    (fill,) = b.on_bar(bar(2, 90.0, 92.0, 88.0, 91.0), 2)
    assert (fill.price, fill.stop_first) == (90.0, False)


def test_both_exits_inside_one_bar_stop_loss_first_and_counted() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.05, take_profit_pct=0.10))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    (fill,) = b.on_bar(bar(2, 100.0, 112.0, 94.0, 105.0), 2)
    assert (fill.price, fill.exit_kind, fill.stop_first) == (95.0, "stop_loss", True)
    (trade,) = b.portfolio.trades
    assert trade.stop_first and trade.pnl == pytest.approx(-50.0)


def test_take_profit_the_bar_opens_beyond_beats_an_intrabar_stop() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.05, take_profit_pct=0.10))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    (fill,) = b.on_bar(bar(2, 111.0, 112.0, 94.0, 100.0), 2)
    assert (fill.price, fill.exit_kind, fill.stop_first) == (111.0, "take_profit", False)


def armed_long(exits: AttachedExits) -> PaperBroker:
    """A long of 10 at 100 whose exits are armed after a quiet bar (high 101, low 99)."""
    b = broker()
    entry_with_exits(b, exits)
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    return b


def test_of_two_stops_inside_one_bar_the_tighter_fills() -> None:
    # Stop-loss at 90, trailing stop at 101 × 0.95 = 95.95: falling from 100 to 85 passes
    # the trailing stop first, whichever was placed first.
    b = armed_long(AttachedExits(stop_loss_pct=0.10, trailing_pct=0.05))
    (fill,) = b.on_bar(bar(2, 100.0, 100.0, 85.0, 86.0), 2)
    assert (fill.exit_kind, fill.stop_first) == ("trailing_stop", False)
    assert fill.price == pytest.approx(95.95)


def test_a_stop_gapped_at_the_open_beats_an_intrabar_target() -> None:
    b = armed_long(AttachedExits(stop_loss_pct=0.10, take_profit_pct=0.05, trailing_pct=0.03))
    # Trailing stop 101 × 0.97 = 97.97; the bar opens at 97 (below it) and rallies to 106.
    (fill,) = b.on_bar(bar(2, 97.0, 106.0, 96.0, 105.0), 2)
    assert (fill.exit_kind, fill.price, fill.stop_first) == ("trailing_stop", 97.0, False)


def test_a_trailing_stop_and_a_target_inside_one_bar_follow_the_stop_first_rule() -> None:
    b = armed_long(AttachedExits(take_profit_pct=0.05, trailing_pct=0.03))
    (fill,) = b.on_bar(bar(2, 100.0, 106.0, 97.0, 105.0), 2)
    assert (fill.exit_kind, fill.stop_first) == ("trailing_stop", True)
    assert fill.price == pytest.approx(101.0 * 0.97)


def test_partial_fills_grow_the_exits_and_prices_follow_the_average() -> None:
    b = broker(volume_limit=0.01)  # 10 shares per bar of volume 1000
    entry = entry_with_exits(b, AttachedExits(stop_loss_pct=0.10), quantity=25)
    b.on_bar(bar(1, 100.0, 100.0, 100.0, 100.0, volume=1_000), 1)
    stop = exit_orders(b)[ExitKind.STOP_LOSS]
    assert (entry.filled_quantity, stop.quantity, stop.stop_price) == (10, 10, 90.0)
    b.on_bar(bar(2, 110.0, 110.0, 110.0, 110.0, volume=1_000), 2)
    assert (entry.filled_quantity, stop.quantity) == (20, 20)
    assert stop.stop_price == pytest.approx(105.0 * 0.9)  # average 105
    assert len(exit_orders(b)) == 1  # grown, not duplicated
    # Bar 3: the entry's last 5 fill at the open (average 104), the stop grows to 25 at
    # 104 × 0.9 and the dip to 90 then takes it: the whole position, not a share more.
    fills = b.on_bar(bar(3, 100.0, 100.0, 90.0, 92.0, volume=10_000), 3)
    assert [(f.side, f.quantity) for f in fills] == [(Side.BUY, 5), (Side.SELL, 25)]
    assert fills[1].price == pytest.approx(104.0 * 0.9)
    assert b.portfolio.position("TEST") == 0 and not b.has_open_orders("TEST")


def test_closing_the_position_cancels_both_exits() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.05, take_profit_pct=0.10))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    close = b.submit(
        "TEST", Side.SELL, bar(1, 100.0, 101.0, 99.0, 100.0), 1, quantity=10, reduce_only=True
    )
    b.on_bar(bar(2, 100.0, 101.0, 99.0, 100.0), 2)
    assert close.status is OrderStatus.FILLED
    assert {o.status for o in exit_orders(b).values()} == {OrderStatus.CANCELLED}
    assert not b.has_open_orders("TEST")


def test_a_market_close_fills_at_the_open_before_an_intrabar_stop_loss() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.05))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    b.submit("TEST", Side.SELL, bar(1, 100.0, 101.0, 99.0, 100.0), 1, quantity=10, reduce_only=True)
    fills = b.on_bar(bar(2, 98.0, 99.0, 90.0, 94.0), 2)  # opens at 98, reaches the stop 95
    assert [(f.price, f.exit_kind) for f in fills] == [(98.0, None)]
    assert exit_orders(b)[ExitKind.STOP_LOSS].status is OrderStatus.CANCELLED


def test_a_reduce_only_order_with_nothing_left_to_reduce_is_cancelled_not_a_short() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss_pct=0.05))
    b.on_bar(bar(1, 100.0, 101.0, 99.0, 100.0), 1)
    target = b.submit(
        "TEST",
        Side.SELL,
        bar(1, 100.0, 101.0, 99.0, 100.0),
        1,
        quantity=10,
        order_type=OrderType.LIMIT,
        limit_price=120.0,
        reduce_only=True,
    )
    fills = b.on_bar(bar(2, 94.0, 95.0, 93.0, 94.0), 2)  # the stop gapped: it fills
    assert [f.exit_kind for f in fills] == ["stop_loss"]
    assert target.status is OrderStatus.CANCELLED
    assert b.portfolio.position("TEST") == 0 and not b.has_open_orders("TEST")


# -- trailing stop -----------------------------------------------------------------------------


def test_trailing_stop_follows_the_highest_high_and_never_loosens() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(trailing_pct=0.10))
    b.on_bar(bar(1, 100.0, 110.0, 99.0, 108.0), 1)  # entry at 100, high 110 after it
    trail = exit_orders(b)[ExitKind.TRAILING_STOP]
    assert trail.stop_price == pytest.approx(99.0)
    b.on_bar(bar(2, 108.0, 120.0, 107.0, 118.0), 2)
    assert trail.stop_price == pytest.approx(108.0)
    b.on_bar(bar(3, 112.0, 115.0, 109.0, 110.0), 3)  # lower high: the stop stays
    assert trail.stop_price == pytest.approx(108.0)
    (fill,) = b.on_bar(bar(4, 110.0, 111.0, 100.0, 101.0), 4)
    assert (fill.price, fill.exit_kind) == (pytest.approx(108.0), "trailing_stop")


def test_trailing_stop_of_a_short_follows_the_lowest_low() -> None:
    b = PaperBroker(Portfolio.with_cash(100_000.0), limits=RiskLimits(allow_short=True))
    b.submit("TEST", Side.SELL, SIGNAL_BAR, 0, quantity=10, exits=AttachedExits(trailing_pct=0.1))
    b.on_bar(bar(1, 100.0, 101.0, 90.0, 92.0), 1)
    trail = exit_orders(b)[ExitKind.TRAILING_STOP]
    assert (trail.side, trail.stop_price) == (Side.BUY, pytest.approx(99.0))
    (fill,) = b.on_bar(bar(2, 95.0, 100.0, 94.0, 99.5), 2)
    assert fill.price == pytest.approx(99.0)


# -- amend, validation, risk -------------------------------------------------------------------


def test_replace_amends_price_and_quantity_in_place() -> None:
    b = broker()
    order = stop_order(b, Side.BUY, 105.0)
    b.replace(order.order_id, stop_price=103.0, quantity=20)
    (fill,) = b.on_bar(bar(1, 101.0, 104.0, 100.0, 103.0), 1)
    assert (fill.price, fill.quantity) == (103.0, 20)
    with pytest.raises(OrderNotFoundError):
        b.replace(order.order_id, quantity=5)


def test_replace_with_an_invalid_value_names_the_field_and_changes_nothing() -> None:
    b = broker()
    order = stop_order(b, Side.BUY, 105.0)
    with pytest.raises(OrderValidationError) as error:
        b.replace(order.order_id, stop_price=-1.0)
    assert error.value.field == "stop_price" and order.stop_price == 105.0
    with pytest.raises(OrderValidationError) as error:
        b.replace(order.order_id, quantity=0)
    assert error.value.field == "quantity" and order.quantity == 10


@pytest.mark.parametrize(
    ("order", "market", "field"),
    [
        (Order("1", "X", Side.BUY, 1, stop_loss=101.0), 100.0, "stop_loss"),
        (Order("1", "X", Side.BUY, 1, take_profit=99.0), 100.0, "take_profit"),
        (Order("1", "X", Side.SELL, 1, stop_loss=99.0), 100.0, "stop_loss"),
        (
            Order("1", "X", Side.BUY, 1, OrderType.LIMIT, limit_price=90.0, stop_loss=95.0),
            None,
            "stop_loss",
        ),
        (Order("1", "X", Side.BUY, 1, OrderType.STOP), None, "stop_price"),
        (Order("1", "X", Side.BUY, 1, OrderType.STOP_LIMIT, stop_price=5.0), None, "limit_price"),
        (Order("1", "X", Side.BUY, 1, stop_price=5.0), None, "stop_price"),
        (Order("1", "X", Side.BUY, 1, stop_loss=90.0, stop_loss_pct=0.1), 100.0, "stop_loss"),
        (Order("1", "X", Side.BUY, 1, stop_loss_pct=1.5), None, "stop_loss_pct"),
        (Order("1", "X", Side.BUY, 1, trailing_pct=0.0), None, "trailing_pct"),
    ],
)
def test_validation_names_the_field(order: Order, market: float | None, field: str) -> None:
    with pytest.raises(OrderValidationError) as error:
        validate_order(order, market)
    assert error.value.field == field and field in str(error.value)


def test_valid_orders_pass() -> None:
    validate_order(Order("1", "X", Side.BUY, 1, stop_loss=95.0, take_profit=110.0), 100.0)
    validate_order(Order("1", "X", Side.SELL, 1, OrderType.STOP, stop_price=90.0, stop_loss=95.0))


def test_new_types_go_through_the_same_risk_checks_and_codes() -> None:
    b = PaperBroker(Portfolio.with_cash(1_000.0), limits=RiskLimits(max_order_notional=500.0))
    too_big = stop_order(b, Side.BUY, 105.0)  # 10 × close 100 = 1000
    assert (too_big.status, too_big.reject_reason) == (OrderStatus.REJECTED, "MAX_ORDER_NOTIONAL")
    halted = PaperBroker(Portfolio.with_cash(1e6), limits=RiskLimits(halted=True))
    assert stop_order(halted, Side.BUY, 105.0).reject_reason == RejectCode.TRADING_HALTED
    naked = stop_order(broker(), Side.SELL, 95.0)  # long-only: nothing to sell
    assert naked.reject_reason == RejectCode.INSUFFICIENT_POSITION
    bad = b.submit(
        "TEST", Side.BUY, SIGNAL_BAR, 0, quantity=1, exits=AttachedExits(stop_loss=100.5)
    )
    assert bad.reject_reason == RejectCode.INVALID_ORDER and "stop_loss" in str(bad.reject_message)
    # A stop that gapped beyond the cash is refused when it fills, as any order.
    poor = PaperBroker(Portfolio.with_cash(1_000.0))
    order = poor.submit(
        "TEST", Side.BUY, SIGNAL_BAR, 0, quantity=9, order_type=OrderType.STOP, stop_price=105.0
    )
    assert poor.on_bar(bar(1, 120.0, 121.0, 119.0, 120.0), 1) == []
    assert order.reject_reason == RejectCode.INSUFFICIENT_BUYING_POWER


def test_day_stop_expires_after_its_first_eligible_bar() -> None:
    b = broker()
    order = b.submit(
        "TEST",
        Side.BUY,
        SIGNAL_BAR,
        0,
        quantity=1,
        order_type=OrderType.STOP,
        stop_price=110.0,
        time_in_force=TimeInForce.DAY,
    )
    b.on_bar(bar(1, 101.0, 104.0, 100.0, 103.0), 1)
    assert order.status is OrderStatus.CANCELLED


def test_every_new_field_survives_the_json_state() -> None:
    b = broker()
    entry_with_exits(b, AttachedExits(stop_loss=90.0, take_profit_pct=0.1, trailing_pct=0.05))
    stop_order(b, Side.BUY, 105.0, 106.0)
    b.on_bar(bar(1, 100.0, 103.0, 99.0, 102.0), 1)
    state = b.to_state()
    restored = PaperBroker.from_state(json.loads(json.dumps(state)), b.execution)
    assert restored.to_state() == state
    for order in b.open_orders.values():
        assert Order.from_dict(json.loads(json.dumps(order.to_dict()))) == order
