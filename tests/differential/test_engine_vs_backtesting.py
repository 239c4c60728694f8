"""Our execution engine against backtesting.py 0.6.6, configured like for like.

Configuration (see ``reference_backtesting.py`` for the lines of backtesting.py behind each):
market orders at the next open (and, separately, at the signal bar's close), commission
``rate × notional`` on both legs, ``exclusive_orders=True`` (an opposite signal closes, then
reverses), full-cash sizing with backtesting.py's default fraction ``1 - eps`` (our
``cash_fraction`` set to the same), ``margin=1``, no spread, ``finalize_trades=False``.
The signals are ours (sma_cross 10/30), replayed by a backtesting.py Strategy, so the
execution is compared on its own; the signals are compared separately against
backtesting.py's ``crossover`` of pandas rolling means.

Data: ``data/stocks.csv`` (bokeh-sampledata's daily AAPL, MSFT, IBM, 2004-08-19..2013-03-01,
raw prices: AAPL's 2:1 split on 2005-02-28 is a -50% gap both engines see alike) and fixed-seed
random walks (``tests.builders.random_series``).

Compared: every closed trade (entry bar, exit bar, entry price, exit price, signed size exactly;
P&L and commission to 1e-9 relative), the trade still open at the end, and the equity curve bar
by bar to 1e-9 relative.

Differences on purpose, therefore not configured here:
- Commission minimum: ours is ``max(rate × notional, minimum)``; backtesting.py's tuple
  ``(fixed, relative)`` adds the fixed part (``_commission_func``: ``fixed + |size| × price ×
  relative``). Only the pure rate is configured.
- Slippage: ours moves both legs by ``slippage_bps``; backtesting.py's ``spread`` adjusts only
  the entry price (``_process_orders``: "Existing trades are closed at unadjusted price").
- Cash of a short: we credit the sale proceeds to cash (a margin account, cash may go below
  zero while covering); backtesting.py never moves notional through cash (``equity = _cash +
  unrealized P&L``) and charges ``margin_available = equity - Σ trade.value / leverage``.
  Both give the same equity; sizing agrees because with exclusive orders every entry is sized
  while flat (the close orders fill first), when both amount to ``equity`` (times the
  leverage: backtesting.py's ``margin`` < 1 is our ``leverage`` = 1 / margin, tested below).
- Maintenance margin: backtesting.py has none (it only stops at equity <= 0), so ours runs
  with ``maintenance_margin=1`` (margin calls off) here; with the default (Reg T's 130 %)
  AAPL's long/short run gets a margin call on 2005-01-10 that backtesting.py does not make.
- End of data: we mark open positions to the last close and do not book them. backtesting.py
  with ``finalize_trades=True`` would close them at the last bar's *open* ("Re-run broker one
  last time ... Use the same OHLC values as in the last broker iteration" in ``Backtest.run``),
  so it runs with ``finalize_trades=False`` and its open trades are compared with ours.
- ``trade_on_close``: both fill at the signal bar's close and book the trade on that bar, but
  backtesting.py executes the fill while processing the *next* bar (``price = prev_close``,
  ``time_index = self._i - 1`` in ``_process_orders``); its equity of the signal bar was
  already recorded, so it shows that bar's commission one bar later than ours, and an order
  from a signal on the last bar never fills there. Both are asserted exactly below.
- Sizing at exact ties: see ``test_sizing_tie_rounds_differently``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest

from tests.builders import T0, random_series
from trading.core.backtest import EngineResult, run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import ExecutionConfig
from trading.core.execution.margin import MarginRules
from trading.core.model import Trade
from trading.core.strategies import create_strategy

pytest.importorskip("backtesting")
from tests.differential.reference_backtesting import (
    FULL_EQUITY,
    RefResult,
    load_stocks,
    run_reference,
)

RELATIVE = 1e-9
# backtesting.py's rules in ours: no maintenance margin (it stops only at equity <= 0).
BACKTESTING_PY_MARGIN = MarginRules(maintenance_margin=1.0)
CASH = 100_000.0
SYMBOLS = ("AAPL", "MSFT", "IBM")
FAST, SLOW = 10, 30
MODES = {"long-short": Mode.LONG_SHORT, "long-only": Mode.LONG_ONLY}
RATES = (0.002, 0.0)

Signals = npt.NDArray[np.int8]


@pytest.fixture(scope="module")
def stocks() -> dict[str, BarSeries]:
    return load_stocks(SYMBOLS)


def sma_signals(series: BarSeries, fast: int = FAST, slow: int = SLOW) -> Signals:
    return create_strategy("sma_cross", {"fast": fast, "slow": slow}).signals(series)


def ours(
    series: BarSeries,
    signals: Signals,
    mode: Mode,
    rate: float,
    *,
    trade_on_close: bool = False,
    cash: float = CASH,
    reopen: bool = False,
    leverage: float = 1.0,
) -> EngineResult:
    config = RunConfig(
        initial_cash=cash,
        mode=mode,
        cash_fraction=FULL_EQUITY,  # backtesting.py's default size (Strategy._FULL_EQUITY)
        execution=ExecutionConfig(commission_rate=rate, trade_on_close=trade_on_close),
        reopen_on_repeat=reopen,
        margin=replace(BACKTESTING_PY_MARGIN, leverage=leverage),
    )
    return run_engine({series.symbol: series}, {series.symbol: signals}, config)


def theirs(
    series: BarSeries,
    signals: Signals,
    mode: Mode,
    rate: float,
    *,
    trade_on_close: bool = False,
    cash: float = CASH,
    margin: float = 1.0,
) -> RefResult:
    return run_reference(
        series,
        signals=signals,
        long_short=mode is Mode.LONG_SHORT,
        commission=rate,
        cash=cash,
        trade_on_close=trade_on_close,
        margin=margin,
    )


def signed(trade: Trade) -> int:
    return trade.quantity if trade.direction == "long" else -trade.quantity


def close_enough(a: float, b: float, scale: float) -> bool:
    """1e-9 relative; P&L near zero is compared relative to the trade's notional."""
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=RELATIVE * scale)


def assert_same_trades(mine: EngineResult, ref: RefResult, rate: float) -> None:
    assert len(mine.trades) == len(ref.trades)
    for k, (a, b) in enumerate(zip(mine.trades, ref.trades, strict=True)):
        where = f"trade {k}: ours {a}, theirs {b}"
        assert (a.entry_bar, a.exit_bar) == (b.entry_bar, b.exit_bar), where
        # Both are bar prices (open, or close with trade_on_close): exactly equal.
        assert (a.entry_price, a.exit_price) == (b.entry_price, b.exit_price), where
        assert signed(a) == b.size, where
        notional = a.quantity * a.entry_price
        assert close_enough(a.pnl, b.pnl, notional), where
        assert close_enough(a.commission, b.commission, notional), where
    assert len(mine.open_trades) == len(ref.open_trades)
    for a, b in zip(mine.open_trades, ref.open_trades, strict=True):
        assert b.exit_bar is None and a.is_open
        assert (a.entry_bar, a.entry_price, signed(a)) == (b.entry_bar, b.entry_price, b.size)
        # backtesting.py's Trade.pl of an open trade leaves out commission ("Commissions are
        # reflected only after the Trade is closed": _commissions is set in _close_trade);
        # ours is net of the entry commission already paid. Its equity has paid it too.
        entry_commission = rate * abs(b.size) * b.entry_price
        assert close_enough(a.pnl, b.pnl - entry_commission, a.quantity * a.entry_price)


def assert_replay_warmup(signals: Signals, ref: RefResult) -> None:
    """backtesting.py never calls next() on bar 0 (``start = 1 + warm-up`` in Backtest.run,
    warm-up 0 without indicators): nothing is lost because our signal there is 0 (a strict
    cross needs a previous bar). Its equity of bar 0 is back-filled from bar 1 (``bfill``),
    which is the initial cash as no order can exist before bar 1's close."""
    assert ref.first_next_bar == 1
    assert signals[0] == 0
    assert np.isnan(ref.raw_equity[0]) and not np.isnan(ref.raw_equity[1:]).any()
    assert ref.equity[0] == CASH
    assert not [w for w in ref.warnings if "canceled" in w]  # no order refused for cash


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_real_data_same_trades_and_equity(
    stocks: dict[str, BarSeries], symbol: str, mode: Mode, rate: float
) -> None:
    series = stocks[symbol]
    signals = sma_signals(series)
    mine = ours(series, signals, mode, rate)
    ref = theirs(series, signals, mode, rate)
    assert_replay_warmup(signals, ref)
    assert len(mine.trades) >= 25  # enough round trips to mean something
    assert_same_trades(mine, ref, rate)
    np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("symbol", ["MSFT", "IBM"])
def test_leverage_is_backtesting_py_margin_below_one(
    stocks: dict[str, BarSeries], symbol: str, mode: Mode, rate: float
) -> None:
    """backtesting.py's ``margin=0.5`` is our ``leverage=2``: entries sized from twice the
    equity, the same trades and equity bar by bar."""
    series = stocks[symbol]
    signals = sma_signals(series)
    mine = ours(series, signals, mode, rate, leverage=2.0)
    ref = theirs(series, signals, mode, rate, margin=0.5)
    assert mine.ruin is None and float(ref.equity.min()) > 0
    assert mine.trades[0].quantity * mine.trades[0].entry_price > 1.9 * CASH  # levered
    assert_same_trades(mine, ref, rate)
    np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)


@pytest.mark.parametrize("rate", (0.002, 0.0))
@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize(("seed", "fast", "slow"), [(7, 10, 30), (11, 2, 5)])
def test_random_walk_same_trades_and_equity(
    seed: int, fast: int, slow: int, mode: Mode, rate: float
) -> None:
    series = random_series(seed, 3_000, vol=0.03)
    signals = sma_signals(series, fast, slow)
    if fast == 2:
        # Signals on adjacent bars: the order of bar t fills at t+1's open before the signal
        # of t+1 is acted on, in both engines (broker.next() then strategy.next()).
        assert ((signals[1:] != 0) & (signals[:-1] != 0)).any()
    mine = ours(series, signals, mode, rate)
    ref = theirs(series, signals, mode, rate)
    assert_replay_warmup(signals, ref)
    assert_same_trades(mine, ref, rate)
    np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)


def commission_by_bar(mine: EngineResult) -> npt.NDArray[np.float64]:
    charged = np.zeros(mine.ts.shape[0])
    for fill in mine.fills:
        charged[np.searchsorted(mine.ts, fill.ts)] += fill.commission
    return charged


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("symbol", ("AAPL", "IBM"))
def test_trade_on_close(stocks: dict[str, BarSeries], symbol: str, mode: Mode, rate: float) -> None:
    """Same trades at the signal bar's close. Equity: backtesting.py fills while processing the
    next bar, after it recorded the signal bar's equity (``broker.next()``: ``_process_orders``
    then ``self._equity[i] = equity``), so our equity of a signal bar is theirs minus the
    commission of that bar's fills (the position change itself is at the same close)."""
    series = stocks[symbol]
    signals = sma_signals(series)
    assert signals[-1] == 0  # a last-bar signal is the case of the next test
    mine = ours(series, signals, mode, rate, trade_on_close=True)
    ref = theirs(series, signals, mode, rate, trade_on_close=True)
    assert_replay_warmup(signals, ref)
    assert_same_trades(mine, ref, rate)
    charged = commission_by_bar(mine)
    assert (charged > 0).any() == (rate > 0)
    np.testing.assert_allclose(mine.equity, ref.equity - charged, rtol=RELATIVE, atol=0)
    if rate == 0:
        np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
def test_trade_on_close_signal_on_last_bar(mode: Mode) -> None:
    """A signal on the last bar: we fill at that close; backtesting.py only fills a
    trade-on-close order when it processes the following bar, which never comes."""
    series = random_series(4, 1_500, vol=0.03)
    signals = sma_signals(series, 2, 3)
    assert signals[-1] != 0
    last = len(series) - 1
    mine = ours(series, signals, mode, 0.0, trade_on_close=True)
    ref = theirs(series, signals, mode, 0.0, trade_on_close=True)
    closed_late = [t for t in mine.trades if t.exit_bar == last]
    opened_late = [t for t in mine.open_trades if t.entry_bar == last]
    assert closed_late or opened_late  # we filled at the last close
    assert opened_late == mine.open_trades  # (long-only: a buy there opens the only one)
    # backtesting.py filled nothing on the last bar: what it still holds open is what we
    # closed there, and it never opened what we opened there.
    assert [(t.entry_bar, signed(t)) for t in closed_late] == [
        (t.entry_bar, t.size) for t in ref.open_trades
    ]
    assert all(t.exit_bar != last for t in ref.trades)
    mine.trades = [t for t in mine.trades if t.exit_bar < last]
    assert len(mine.trades) == len(ref.trades) >= 100
    for a, b in zip(mine.trades, ref.trades, strict=True):
        assert (a.entry_bar, a.exit_bar, a.entry_price, a.exit_price, signed(a)) == (
            b.entry_bar,
            b.exit_bar,
            b.entry_price,
            b.exit_price,
            b.size,
        )
    # Without commission the fill at the last close leaves equity unchanged.
    np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_signals_agree_with_backtesting_crossover(
    stocks: dict[str, BarSeries], symbol: str
) -> None:
    """backtesting.py's own SMA cross (``backtesting.test.SMA``: pandas rolling mean;
    ``backtesting.lib.crossover``: ``s1[-2] < s2[-2] and s1[-1] > s2[-1]``) against our
    sma_cross (windowed sums, the same strict rule). On these three real series they agree
    on every bar: no near-tie of float rounding flips a cross. Its warm-up (``next()`` first
    on bar ``slow``, the slow SMA's NaN prefix + 1) skips only bars where ours is 0 too.
    The whole run on its own signals then matches ours."""
    series = stocks[symbol]
    signals = sma_signals(series)
    ref = run_reference(series, sma=(FAST, SLOW), long_short=True, commission=0.002, cash=CASH)
    assert ref.first_next_bar == SLOW
    assert not signals[:SLOW].any()
    assert np.count_nonzero(signals) >= 50
    mismatch = np.flatnonzero(ref.signals != signals)
    assert mismatch.size == 0, f"signals differ at bars {mismatch.tolist()}"
    mine = ours(series, signals, Mode.LONG_SHORT, 0.002)
    assert_same_trades(mine, ref, 0.002)
    np.testing.assert_allclose(mine.equity, ref.equity, rtol=RELATIVE, atol=0)


def test_signals_agree_on_random_walk() -> None:
    series = random_series(7, 3_000, vol=0.03)
    for fast, slow in ((10, 30), (2, 5)):
        ref = run_reference(series, sma=(fast, slow), long_short=True, commission=0.0, cash=CASH)
        np.testing.assert_array_equal(ref.signals, sma_signals(series, fast, slow))


def test_sizing_tie_rounds_differently() -> None:
    """At an exact tie our size is one share larger, and ours is the exact floor.

    Both sizes are floor(f × cash / (price × (1 + rate))). backtesting.py first rounds the
    budget to a float and then floors the exact quotient (``int((self.margin_available *
    self._leverage * abs(size)) // adjusted_price_plus_commission)`` in ``_process_orders``);
    we floor the rounded quotient ``budget / (price × (1 + rate))`` and then check in floats
    that the shares plus commission fit the budget (``affordable_quantity``). Here
    ``(1 - eps) × 58726.10000000001`` rounds down to the float 58726.1, just below
    1130 × float(51.97), so backtesting.py buys 1129; the exact quotient is ≥ 1130 and
    1130 shares cost less than the cash, exactly. Such ties need cash within ~1e-16 relative
    of a whole number of shares: none occurs in the runs above.
    """
    cash, price = 58726.10000000001, 51.97
    closes = np.array([50.0, 50.0, 50.0, 50.0])
    opens = np.array([50.0, 50.0, price, 50.0])
    series = BarSeries(
        "TIE",
        T0 + np.arange(4, dtype=np.int64) * 86_400 * 10**9,
        opens,
        np.maximum(opens, closes),
        np.minimum(opens, closes),
        closes,
        np.full(4, 1e6),
    )
    signals = np.array([0, 1, 0, 0], dtype=np.int8)  # buy on bar 1, fill at bar 2's open
    mine = ours(series, signals, Mode.LONG_ONLY, 0.0, cash=cash)
    ref = theirs(series, signals, Mode.LONG_ONLY, 0.0, cash=cash)
    assert [(f.quantity, f.price) for f in mine.fills] == [(1130, price)]
    assert [(t.size, t.entry_price, t.entry_bar) for t in ref.open_trades] == [(1129, price, 2)]
    exact = Fraction(FULL_EQUITY) * Fraction(cash) / Fraction(price)
    assert math.floor(exact) == 1130
    assert Fraction(cash) - 1130 * Fraction(price) >= 0
    assert mine.cash[-1] >= 0
    assert sys.float_info.epsilon == 1 - FULL_EQUITY  # backtesting.py's default size


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_a_repeated_signal_keeps_the_position_or_reopens_it_like_backtesting_py(
    stocks: dict[str, BarSeries], symbol: str, mode: Mode
) -> None:
    """rsi_reversion on real data signals again in the direction held (RSI dips below 30
    twice before it reaches 70). We keep the position (docs/execution.md); with
    ``repeat_signal=reopen`` we close and reopen it, paying commission on both, which is what
    backtesting.py's ``exclusive_orders`` does with the same ``buy()``: same trades, same
    equity."""
    series = stocks[symbol]
    signals = create_strategy("rsi_reversion", {}).signals(series)
    direction = 0
    repeats = 0
    for signal in signals[signals != 0].tolist():
        repeats += signal == direction
        direction = signal
    assert repeats >= 3, "the data must exercise repeats"
    kept = ours(series, signals, mode, 0.002)
    reopened = ours(series, signals, mode, 0.002, reopen=True)
    assert len(reopened.trades) > len(kept.trades)
    ref = run_reference(
        series,
        signals=signals,
        long_short=mode is Mode.LONG_SHORT,
        commission=0.002,
        cash=CASH,
        reopen=True,
    )
    assert_same_trades(reopened, ref, 0.002)
    np.testing.assert_allclose(reopened.equity, ref.equity, rtol=RELATIVE, atol=0)
