"""backtesting.py 0.6.6 configured like for like with our engine, for differential tests.

backtesting.py is AGPL-3.0: it is a dev-only test dependency, imported here and never copied.
Its semantics under this configuration (source: ``backtesting/backtesting.py`` of 0.6.6):

- ``exclusive_orders=True``: a new order cancels pending orders and closes every open trade
  first (``_Broker.new_order``: ``for t in self.trades: t.close()``). The close orders are
  inserted at the head of the queue, so on the next bar they fill before the new order, which
  is then sized from the equity after the close — our reversal (close, then open from the cash
  after the close).
- Market orders fill at the next bar's open (``price = prev_close if self._trade_on_close ...
  else open``); with ``trade_on_close=True`` at the signal bar's close, booked on the signal
  bar (``time_index = (self._i - 1) if is_market_order and self._trade_on_close``).
- Sizing of a fractional order (``_process_orders``): ``int((margin_available * leverage *
  abs(size)) // adjusted_price_plus_commission)`` with ``adjusted_price_plus_commission =
  price + commission(size, price) / abs(size) = price × (1 + rate)`` (no spread), leverage 1
  (``margin=1``) and ``margin_available = equity`` once the old trades are closed: our
  ``floor(f × cash / (price × (1 + rate)))`` with the same ``f``.
- Commission ``rate × |size| × price`` on entry (``_open_trade``) and exit (``_close_trade``).
- Equity after each bar's close: ``cash + Σ size × (close − entry)``; bars before the first
  ``Strategy.next()`` call are back-filled (``pd.Series(broker._equity).bfill()`` in
  ``Backtest.run``).
- ``finalize_trades=False``: trades open at the end stay open (``strategy.trades``), as ours.
  With ``True`` it would close them at the *open* of the last bar (its "re-run broker one last
  time ... same OHLC values" hack), which is not our rule (we mark to the last close).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.backtesting import Order as BtOrder
from backtesting.lib import crossover
from backtesting.test import SMA

from trading.core.bars import BarSeries, FloatArray

ROOT = Path(__file__).resolve().parents[2]
STOCKS_CSV = ROOT / "data" / "stocks.csv"
# backtesting.py's default order size, 1 - sys.float_info.epsilon ("all available liquidity").
FULL_EQUITY = float(Strategy._FULL_EQUITY)


@dataclass(frozen=True, slots=True)
class RefTrade:
    """One backtesting.py trade in our terms (size is signed: negative = short)."""

    size: int
    entry_bar: int
    exit_bar: int | None
    entry_price: float
    exit_price: float | None
    pnl: float  # Trade.pl: for an open trade, gross of commission (see Trade.pl's docstring)
    commission: float


@dataclass(frozen=True, slots=True)
class RefResult:
    """What one backtesting.py run produced."""

    equity: FloatArray
    trades: list[RefTrade]  # closed, in closing order
    open_trades: list[RefTrade]
    first_next_bar: int  # the first bar Strategy.next() ran on (backtesting.py's warm-up)
    raw_equity: FloatArray  # broker._equity before back-filling: NaN where next() never ran
    signals: npt.NDArray[np.int8]  # the signal acted on at each bar (0 before first_next_bar)
    warnings: list[str]


def load_stocks(symbols: tuple[str, ...]) -> dict[str, BarSeries]:
    """Daily bars of ``symbols`` from ``data/stocks.csv`` or, until that file exists, from the
    ``stocks.csv.gz`` of bokeh-sampledata (raw, unadjusted prices)."""
    if STOCKS_CSV.exists():
        frame = pd.read_csv(STOCKS_CSV)
    else:
        import bokeh_sampledata

        source = Path(bokeh_sampledata.__file__).parent / "_data" / "stocks.csv.gz"
        frame = pd.read_csv(source).rename(columns={"Ticker": "symbol"})
        frame.columns = [c.lower() for c in frame.columns]
    frame["ts"] = pd.to_datetime(frame["date"], utc=True).dt.as_unit("ns").astype("int64")
    out: dict[str, BarSeries] = {}
    for symbol in symbols:
        rows = frame[frame["symbol"] == symbol].sort_values("ts")
        if rows.empty:
            raise KeyError(f"no bars of {symbol}")
        out[symbol] = BarSeries(
            symbol,
            rows["ts"].to_numpy(np.int64),
            *(rows[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")),
        )
    return out


def to_frame(series: BarSeries) -> pd.DataFrame:
    """The same float64 bars as backtesting.py's input frame (DatetimeIndex, OHLCV)."""
    return pd.DataFrame(
        {
            "Open": series.open,
            "High": series.high,
            "Low": series.low,
            "Close": series.close,
            "Volume": series.volume,
        },
        index=pd.DatetimeIndex(pd.to_datetime(series.ts, unit="ns")),
    )


def _act(strategy: Strategy, signal: int, long_short: bool, size: float) -> None:
    """Our signal rule (docs/execution.md, "Signals to orders") in backtesting.py calls."""
    position = strategy.position
    if long_short:
        # exclusive_orders: buy()/sell() first close the opposite trade, then reverse.
        if signal > 0 and not position.is_long:
            strategy.buy(size=size)
        elif signal < 0 and not position.is_short:
            strategy.sell(size=size)
    elif signal > 0 and not position:
        strategy.buy(size=size)
    elif signal < 0 and position.is_long:
        position.close()


class _Recorder(Strategy):  # type: ignore[misc]  # backtesting.py ships no type hints
    long_short = True
    size = FULL_EQUITY

    def init(self) -> None:
        self.acted = np.zeros(len(self.data.df), dtype=np.int8)
        self.first_bar = -1

    def _signal(self, i: int) -> int:
        raise NotImplementedError

    def _act(self, i: int, signal: int) -> None:
        """Trade on ``signal`` at bar ``i`` (after it is recorded)."""
        _act(self, signal, self.long_short, self.size)

    def next(self) -> None:
        i = len(self.data) - 1
        if self.first_bar < 0:
            self.first_bar = i
        signal = self._signal(i)
        self.acted[i] = signal
        self._act(i, signal)


class ReplaySignals(_Recorder):
    """Acts on a given signal array (ours): the execution is compared, not the signals.

    It declares no ``self.I`` indicator, so backtesting.py's warm-up is 0 and ``next()`` first
    runs on bar 1 (``start = 1 + _indicator_warmup_nbars(strategy)`` in ``Backtest.run``).
    """

    signals: npt.NDArray[np.int8] | None = None

    def _signal(self, i: int) -> int:
        assert self.signals is not None
        return int(self.signals[i])


class ReplayReopen(ReplaySignals):
    """Our signals with backtesting.py's own reaction to a repeat: ``buy()`` while long (and
    ``sell()`` while short) goes through ``exclusive_orders`` too, which closes the trade and
    opens a new one: our ``repeat_signal=reopen``."""

    def _act(self, i: int, signal: int) -> None:
        if signal > 0:
            self.buy(size=self.size)
        elif signal < 0 and self.long_short:
            self.sell(size=self.size)
        elif signal < 0 and self.position.is_long:
            self.position.close()


class NativeSmaCross(_Recorder):
    """backtesting.py's own SMA cross: ``backtesting.test.SMA`` (pandas rolling mean) and
    ``backtesting.lib.crossover``. Its warm-up is the slow SMA's NaN prefix: ``next()`` first
    runs on bar ``slow`` (``1 + (slow - 1)``), the first bar where a strict cross is defined."""

    fast = 10
    slow = 30

    def init(self) -> None:
        super().init()
        self.sma_fast = self.I(SMA, self.data.Close, self.fast)
        self.sma_slow = self.I(SMA, self.data.Close, self.slow)

    def _signal(self, i: int) -> int:
        if crossover(self.sma_fast, self.sma_slow):
            return 1
        if crossover(self.sma_slow, self.sma_fast):
            return -1
        return 0


def _trade(trade: object) -> RefTrade:
    return RefTrade(
        size=int(trade.size),  # type: ignore[attr-defined]
        entry_bar=int(trade.entry_bar),  # type: ignore[attr-defined]
        exit_bar=trade.exit_bar,  # type: ignore[attr-defined]
        entry_price=float(trade.entry_price),  # type: ignore[attr-defined]
        exit_price=trade.exit_price,  # type: ignore[attr-defined]
        pnl=float(trade.pl),  # type: ignore[attr-defined]
        commission=float(trade._commissions),  # type: ignore[attr-defined]
    )


def run_reference(
    series: BarSeries,
    *,
    signals: npt.NDArray[np.int8] | None = None,
    sma: tuple[int, int] | None = None,
    long_short: bool,
    commission: float,
    cash: float,
    trade_on_close: bool = False,
    reopen: bool = False,
    margin: float = 1.0,
) -> RefResult:
    """Run backtesting.py on ``series``, replaying ``signals`` or computing its own SMA cross;
    ``reopen`` replays with backtesting.py's reaction to a repeated signal (:class:`ReplayReopen`);
    ``margin``: its margin ratio (1 / our leverage).

    Not configured, on purpose: ``spread`` (we model slippage in bps, tested elsewhere),
    ``hedging``, a fixed commission part (our minimum is a floor ``max(rate × notional,
    minimum)``, theirs an addend) and ``finalize_trades``.
    """
    if (signals is None) == (sma is None):
        raise ValueError("give exactly one of signals or sma")
    params: dict[str, object] = {"long_short": long_short, "size": FULL_EQUITY}
    if signals is not None:
        params["signals"] = signals
    else:
        assert sma is not None
        params["fast"], params["slow"] = sma
    replay = ReplayReopen if reopen else ReplaySignals
    return _run(
        series,
        replay if signals is not None else NativeSmaCross,
        commission=commission,
        cash=cash,
        trade_on_close=trade_on_close,
        exclusive_orders=True,
        margin=margin,
        params=params,
    )


class ReplayWithExits(ReplaySignals):
    """Long-only replay of our signals whose entries carry a stop-loss and a take-profit at
    fractions of the entry's fill price, like our ``AttachedExits(stop_loss_pct,
    take_profit_pct)``.

    backtesting.py takes only absolute ``sl``/``tp`` prices, fixed when the order is placed.
    A market entry fills at the next bar's open, so the replay reads that open (the data is
    known to the test) and computes ``open × (1 − sl_pct)`` and ``open × (1 + tp_pct)``: the
    expressions our broker evaluates at the fill. The order is put in the queue directly,
    because ``_Broker.new_order`` checks ``sl < last close < tp`` against the *signal* bar's
    close and refuses exits that are valid for the fill (a gap at the next open); long-only
    entries are placed only while flat with nothing pending, so its ``exclusive_orders``
    clean-up (cancel pending orders, close trades) has nothing to do anyway.
    """

    long_short = False
    opens: npt.NDArray[np.float64] | None = None
    sl_pct: float = 0.0
    tp_pct: float = 0.0

    def _act(self, i: int, signal: int) -> None:
        if signal > 0 and not self.position:
            assert self.opens is not None and not self.orders
            if i + 1 >= len(self.opens):
                return  # never fills: no next bar
            fill = float(self.opens[i + 1])
            sl = fill * (1 - self.sl_pct) if self.sl_pct else None
            tp = fill * (1 + self.tp_pct) if self.tp_pct else None
            self._broker.orders.append(BtOrder(self._broker, self.size, None, None, sl, tp))
        elif signal < 0 and self.position.is_long:
            self.position.close()


class StopEntry(ReplaySignals):
    """Long-only breakout entries: a buy signal on bar t places a GTC buy stop at bar t's high
    (sized with the full-equity fraction when it fills); a sell signal cancels a pending entry
    and closes the position at the next open."""

    long_short = False

    def _act(self, i: int, signal: int) -> None:
        if signal > 0 and not self.position and not self.orders:
            self.buy(size=self.size, stop=float(self.data.High[-1]))
        elif signal < 0:
            for order in self.orders:
                order.cancel()
            if self.position.is_long:
                self.position.close()


def run_reference_strategy(
    series: BarSeries,
    strategy: type[_Recorder],
    *,
    commission: float,
    cash: float,
    **params: object,
) -> RefResult:
    """Run one of the replay strategies above (long-only, exclusive orders off: the replays
    manage their own orders) and collect the result like :func:`run_reference`."""
    return _run(
        series,
        strategy,
        commission=commission,
        cash=cash,
        trade_on_close=False,
        exclusive_orders=False,
        params={"size": FULL_EQUITY, **params},
    )


def _run(
    series: BarSeries,
    strategy: type[_Recorder],
    *,
    commission: float,
    cash: float,
    trade_on_close: bool,
    exclusive_orders: bool,
    params: dict[str, object],
    margin: float = 1.0,
) -> RefResult:
    """backtesting.py with no spread, no hedging, the ``margin`` ratio (1: no leverage) and
    open trades left open; the recorder's trades, equity and acted signals, and the warnings
    it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bt = Backtest(
            to_frame(series),
            strategy,
            cash=cash,
            commission=commission,
            spread=0.0,
            margin=margin,
            trade_on_close=trade_on_close,
            hedging=False,
            exclusive_orders=exclusive_orders,
            finalize_trades=False,
        )
        stats = bt.run(**params)
    result = stats["_strategy"]
    return RefResult(
        equity=stats["_equity_curve"]["Equity"].to_numpy(np.float64),
        trades=[_trade(t) for t in result.closed_trades],
        open_trades=[_trade(t) for t in result.trades],
        first_next_bar=result.first_bar,
        raw_equity=np.asarray(result._broker._equity, dtype=np.float64),
        signals=result.acted,
        warnings=[str(w.message) for w in caught],
    )
