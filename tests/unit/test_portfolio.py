"""Accounting: cash, average cost, realised P&L, round-trip trades and the equity identity."""

from __future__ import annotations

import pytest

from tests.builders import DAY, T0
from trading.core.model import Fill, Side
from trading.core.portfolio import Portfolio


def fill(side: Side, quantity: int, price: float, commission: float = 0.0, day: int = 0) -> Fill:
    return Fill(f"F{day}", f"O{day}", "TEST", side, quantity, price, commission, T0 + day * DAY)


def test_long_round_trip_books_pnl_net_of_both_commissions() -> None:
    p = Portfolio.with_cash(10_000.0)
    p.apply(fill(Side.BUY, 10, 100.0, 1.0, day=1), 1)
    p.apply(fill(Side.SELL, 10, 110.0, 1.1, day=4), 4)
    (trade,) = p.trades
    assert (trade.direction, trade.quantity, trade.entry_price, trade.exit_price) == (
        "long",
        10,
        100.0,
        110.0,
    )
    assert trade.pnl == pytest.approx(100.0 - 2.1)
    assert trade.commission == pytest.approx(2.1)
    assert trade.bars_held == 3
    assert trade.return_pct == pytest.approx(97.9 / 1_000.0)
    assert p.account.cash == pytest.approx(10_000.0 + 97.9)
    assert p.account.realized_pnl == pytest.approx(100.0)
    assert p.position("TEST") == 0


def test_short_round_trip() -> None:
    p = Portfolio.with_cash(1_000.0)
    p.apply(fill(Side.SELL, 5, 100.0, day=0), 0)
    assert p.account.cash == 1_500.0
    p.apply(fill(Side.BUY, 5, 90.0, day=2), 2)
    (trade,) = p.trades
    assert (trade.direction, trade.pnl) == ("short", pytest.approx(50.0))
    assert p.account.cash == pytest.approx(1_050.0)


def test_adding_averages_cost_and_a_partial_close_prorates_commission() -> None:
    p = Portfolio.with_cash(100_000.0)
    p.apply(fill(Side.BUY, 10, 100.0, 2.0, day=0), 0)
    p.apply(fill(Side.BUY, 30, 120.0, 6.0, day=1), 1)
    assert p.account.positions["TEST"].average_cost == pytest.approx(115.0)
    p.apply(fill(Side.SELL, 20, 130.0, 4.0, day=2), 2)
    (trade,) = p.trades
    # Half the position closes: half the 8.0 entry commission plus this fill's 4.0.
    assert trade.commission == pytest.approx(8.0)
    assert trade.pnl == pytest.approx(20 * 15.0 - 8.0)
    assert p.position("TEST") == 20
    assert p.account.positions["TEST"].entry_commission == pytest.approx(4.0)


def test_a_fill_through_zero_closes_then_opens_the_other_side() -> None:
    p = Portfolio.with_cash(10_000.0)
    p.apply(fill(Side.BUY, 10, 100.0, day=0), 0)
    p.apply(fill(Side.SELL, 25, 105.0, 2.5, day=3), 3)
    (trade,) = p.trades
    assert trade.quantity == 10 and trade.pnl == pytest.approx(50.0 - 1.0)
    held = p.account.positions["TEST"]
    assert (held.quantity, held.average_cost, held.entry_bar) == (-15, 105.0, 3)
    assert held.entry_commission == pytest.approx(1.5)


def test_equity_identity_holds_after_every_fill() -> None:
    p = Portfolio.with_cash(5_000.0)
    steps = [(Side.BUY, 10, 50.0), (Side.BUY, 5, 60.0), (Side.SELL, 20, 55.0), (Side.BUY, 5, 40.0)]
    for day, (side, qty, price) in enumerate(steps):
        p.apply(fill(side, qty, price, commission=1.0, day=day), day)
        p.mark("TEST", price * 1.1)
        account = p.account
        unrealized = sum(h.unrealized_pnl for h in account.positions.values())
        assert p.equity() == pytest.approx(
            account.initial_cash + account.realized_pnl + unrealized - account.total_commission
        )


def test_open_positions_are_reported_marked_to_the_last_price() -> None:
    p = Portfolio.with_cash(10_000.0)
    p.apply(fill(Side.BUY, 10, 100.0, 1.0, day=0), 0)
    p.mark("TEST", 120.0)
    (open_trade,) = p.open_trades({"TEST": T0 + 9 * DAY}, {"TEST": 9})
    assert open_trade.is_open and open_trade.exit_price == 120.0 and open_trade.exit_bar == 9
    assert open_trade.pnl == pytest.approx(200.0 - 1.0)
    assert p.trades == []
