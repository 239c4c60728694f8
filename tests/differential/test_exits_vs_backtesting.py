"""Stop-loss / take-profit exits and stop entries against backtesting.py 0.6.6, like for like.

1. sma_cross 10/30, long-only, every entry carrying a stop-loss and a take-profit at fractions
   of its fill price; our engine (``RunConfig.exits``) against ``ReplayWithExits``.
2. Breakout entries: a buy signal places a GTC buy stop at the signal bar's high, a sell
   signal cancels it or closes the position; our paper broker driven bar by bar against
   ``StopEntry``.

Real bundled data (``data/stocks.csv``: AAPL, MSFT, IBM daily, raw prices), commission 0.2 %
and 0, full-equity sizing. Compared: every trade (entry and exit bar, entry and exit price,
size exactly; P&L to 1e-9 relative), the trade left open, the equity of every bar and the final
equity to 1e-9 relative.

Rules shared with backtesting.py (its ``_Broker._process_orders``): a stop fills at the stop or
at a worse open (``price = max(price, stop_price)`` for a buy); a take-profit is a limit order
(at the limit or a better open); exits of a market entry are worked on the entry bar itself
(its "reprocess_orders" after a market fill); the stop-loss is processed before the
take-profit ("Ensure SL orders are processed first"), so when both are reached inside one bar
the stop-loss fills; a stop-loss also comes before a later market order to close.

Where our documented rule differs on purpose (each checked on a constructed case below):
- A bar that opens at or beyond the take-profit *and* trades down to the stop-loss: the open
  comes first, so we fill the take-profit at the open; backtesting.py fills the stop-loss at
  its stop because it checks the stop first whatever the open.
- A buy stop-limit triggered by a gap above the stop, its limit above the open: we fill at the
  open (the first price after the trigger); backtesting.py fills at the stop price
  (``min(stop_price or open, order.limit)``), a price the bar never traded.
- A stop-limit whose limit equals its stop, triggered inside the bar: we fill at the stop (the
  price at the trigger is within the limit); backtesting.py waits (``order.limit <=
  stop_price`` counts as "limit hit before the stop").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.builders import T0
from trading.core.backtest import EngineResult, run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig, PaperBroker
from trading.core.model import ExitKind, Fill, Order, OrderType, Side, Trade
from trading.core.portfolio import Portfolio
from trading.core.strategies import create_strategy

pytest.importorskip("backtesting")
from tests.differential.reference_backtesting import (
    FULL_EQUITY,
    RefResult,
    ReplayWithExits,
    StopEntry,
    load_stocks,
    run_reference_strategy,
)

RELATIVE = 1e-9
CASH = 100_000.0
SYMBOLS = ("AAPL", "MSFT", "IBM")
RATES = (0.002, 0.0)
EXITS = ((0.02, 0.04), (0.05, 0.10))


@pytest.fixture(scope="module")
def stocks() -> dict[str, BarSeries]:
    return load_stocks(SYMBOLS)


def sma_signals(series: BarSeries) -> np.ndarray:  # type: ignore[type-arg]
    return create_strategy("sma_cross", {"fast": 10, "slow": 30}).signals(series)


def close_enough(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=RELATIVE * scale)


def assert_same_trades(
    closed: list[Trade], still_open: list[Trade], ref: RefResult, exact_prices: bool = True
) -> None:
    assert len(closed) == len(ref.trades)
    for k, (a, b) in enumerate(zip(closed, ref.trades, strict=True)):
        where = f"trade {k}: ours {a}, theirs {b}"
        assert (a.entry_bar, a.exit_bar, a.quantity) == (b.entry_bar, b.exit_bar, b.size), where
        assert a.entry_price == b.entry_price, where
        assert b.exit_price is not None
        if exact_prices:
            assert a.exit_price == b.exit_price, where
        notional = a.quantity * a.entry_price
        assert close_enough(a.exit_price, b.exit_price, a.exit_price), where
        assert close_enough(a.pnl, b.pnl, notional), where
        assert close_enough(a.commission, b.commission, notional), where
    assert [(t.entry_bar, t.entry_price, t.quantity) for t in still_open] == [
        (t.entry_bar, t.entry_price, t.size) for t in ref.open_trades
    ]


def ours_with_exits(series: BarSeries, rate: float, sl: float, tp: float) -> EngineResult:
    config = RunConfig(
        initial_cash=CASH,
        mode=Mode.LONG_ONLY,
        cash_fraction=FULL_EQUITY,
        execution=ExecutionConfig(commission_rate=rate),
        exits=AttachedExits(stop_loss_pct=sl, take_profit_pct=tp),
    )
    return run_engine({series.symbol: series}, {series.symbol: sma_signals(series)}, config)


def open_beyond_target_and_down_to_stop(series: BarSeries, mine: EngineResult, sl: float) -> int:
    """Exits where our documented rule and backtesting.py's differ (see the module doc): a
    take-profit filled at the open of a bar that also went down to the stop-loss."""
    count = 0
    for trade in mine.trades:
        if trade.exit_kind is ExitKind.TAKE_PROFIT:
            k = trade.exit_bar
            stop = trade.entry_price * (1 - sl)
            count += bool(series.open[k] == trade.exit_price and series.low[k] <= stop)
    return count


@pytest.mark.parametrize(("sl", "tp"), EXITS)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_sma_cross_with_stop_loss_and_take_profit(
    stocks: dict[str, BarSeries], symbol: str, rate: float, sl: float, tp: float
) -> None:
    series = stocks[symbol]
    mine = ours_with_exits(series, rate, sl, tp)
    ref = run_reference_strategy(
        series,
        ReplayWithExits,
        commission=rate,
        cash=CASH,
        signals=sma_signals(series),
        opens=series.open,
        sl_pct=sl,
        tp_pct=tp,
    )
    kinds = {t.exit_kind for t in mine.trades}
    assert {ExitKind.STOP_LOSS, ExitKind.TAKE_PROFIT} <= kinds  # both exits taken
    if sl == 0.05:
        assert None in kinds  # wider exits: some trades end on the sell signal
    assert len(mine.trades) >= 25
    assert open_beyond_target_and_down_to_stop(series, mine, sl) == 0  # the differing case
    assert_same_trades(mine.trades, mine.open_trades, ref)
    np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)
    assert close_enough(float(mine.equity[-1]), float(ref.equity[-1]), CASH)


def stop_entry_ours(
    series: BarSeries, signals: np.ndarray, rate: float
) -> tuple[  # type: ignore[type-arg]
    list[Trade], list[Trade], np.ndarray  # type: ignore[type-arg]
]:
    """Our paper broker driven like ``StopEntry``: process the bar, then act on its signal."""
    broker = PaperBroker(Portfolio.with_cash(CASH), ExecutionConfig(commission_rate=rate))
    equity = np.empty(len(series))
    for i, bar in enumerate(series.bars()):
        broker.on_bar(bar, i)
        held = broker.portfolio.position(bar.symbol)
        if signals[i] > 0 and not held and not broker.has_open_orders(bar.symbol):
            broker.submit(
                bar.symbol,
                Side.BUY,
                bar,
                i,
                cash_fraction=FULL_EQUITY,
                order_type=OrderType.STOP,
                stop_price=bar.high,
            )
        elif signals[i] < 0:
            for order in broker.open_orders_for(bar.symbol):
                broker.cancel(order.order_id)
            if held > 0:
                broker.submit(bar.symbol, Side.SELL, bar, i, quantity=held, reduce_only=True)
        equity[i] = broker.portfolio.account.cash + held_after(broker, bar.symbol) * bar.close
    last = {series.symbol: int(series.ts[-1])}
    still_open = broker.portfolio.open_trades(last, {series.symbol: len(series) - 1})
    return broker.portfolio.trades, still_open, equity


def held_after(broker: PaperBroker, symbol: str) -> int:
    return broker.portfolio.position(symbol)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_stop_entries(stocks: dict[str, BarSeries], symbol: str, rate: float) -> None:
    series = stocks[symbol]
    signals = sma_signals(series)
    closed, still_open, equity = stop_entry_ours(series, signals, rate)
    ref = run_reference_strategy(series, StopEntry, commission=rate, cash=CASH, signals=signals)
    entries_at_open = sum(t.entry_price == series.open[t.entry_bar] for t in closed)
    assert 0 < entries_at_open < len(closed)  # both gaps over the stop and fills at the stop
    assert len(closed) >= 15
    assert_same_trades(closed, still_open, ref)
    np.testing.assert_allclose(equity, ref.equity, rtol=RELATIVE, atol=0)


# -- deliberate differences, on constructed bars -----------------------------------------------


def constructed(opens: list[float], highs: list[float], lows: list[float]) -> BarSeries:
    n = len(opens)
    closes = [(h + lo) / 2 for h, lo in zip(highs, lows, strict=True)]
    return BarSeries(
        "CASE",
        T0 + np.arange(n, dtype=np.int64) * 86_400 * 10**9,
        np.array(opens),
        np.array(highs),
        np.array(lows),
        np.array(closes),
        np.full(n, 1e6),
    )


def test_a_bar_opening_beyond_the_target_fills_the_target_here_the_stop_there() -> None:
    # Entry at bar 2's open 100 (stop 95, target 110); bar 3 opens at 111 and falls to 90.
    series = constructed(
        [100, 100, 100, 111, 100], [100, 100, 101, 112, 101], [100, 100, 99, 90, 99]
    )
    signals = np.array([0, 1, 0, 0, 0], dtype=np.int8)
    mine = run_engine(
        {"CASE": series},
        {"CASE": signals},
        RunConfig(
            initial_cash=CASH,
            cash_fraction=FULL_EQUITY,
            exits=AttachedExits(stop_loss_pct=0.05, take_profit_pct=0.10),
        ),
    )
    ref = run_reference_strategy(
        series,
        ReplayWithExits,
        commission=0.0,
        cash=CASH,
        signals=signals,
        opens=series.open,
        sl_pct=0.05,
        tp_pct=0.10,
    )
    (ours,) = mine.trades
    (theirs,) = ref.trades
    assert (ours.exit_bar, ours.exit_price, ours.exit_kind) == (3, 111.0, ExitKind.TAKE_PROFIT)
    assert (theirs.exit_bar, theirs.exit_price) == (3, 95.0)


def stop_limit_buy_both_ways(
    series: BarSeries, stop: float, limit: float
) -> tuple[Any, Order, list[Fill]]:
    """A buy of 10 stop-limit placed on bar 1 of ``series``: backtesting.py's trade, and our
    order and broker's fills on bar 2."""
    from backtesting import Backtest, Strategy

    from tests.differential.reference_backtesting import to_frame

    class Once(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            if len(self.data) == 2:
                self.buy(size=10, stop=stop, limit=limit)

    stats = Backtest(to_frame(series), Once, cash=CASH).run()
    (theirs,) = stats["_strategy"].trades

    broker = PaperBroker(Portfolio.with_cash(CASH))
    bars = list(series.bars())
    broker.on_bar(bars[0], 0)
    broker.on_bar(bars[1], 1)
    order = broker.submit(
        "CASE",
        Side.BUY,
        bars[1],
        1,
        quantity=10,
        order_type=OrderType.STOP_LIMIT,
        stop_price=stop,
        limit_price=limit,
    )
    return theirs, order, broker.on_bar(bars[2], 2)


def test_stop_limit_gap_fills_at_the_open_not_at_an_untraded_stop() -> None:
    series = constructed([100, 100, 107, 107], [100, 100, 109, 108], [100, 100, 106, 106])
    theirs, order, fills = stop_limit_buy_both_ways(series, stop=105.0, limit=108.0)
    assert theirs.entry_price == 105.0  # the bar opened at 107 and never traded 105
    (fill,) = fills
    assert fill.price == 107.0 and order.average_fill_price == 107.0


def test_stop_limit_with_limit_equal_to_stop_fills_at_the_trigger() -> None:
    series = constructed([100, 100, 101, 101], [100, 100, 106, 102], [100, 100, 100, 100])
    theirs, _, fills = stop_limit_buy_both_ways(series, stop=105.0, limit=105.0)
    assert (theirs.entry_bar, theirs.entry_price) == (3, 101.0)  # waited for the next bar
    (fill,) = fills
    assert fill.price == 105.0
