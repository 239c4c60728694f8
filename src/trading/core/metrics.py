"""Performance metrics of a run: from the equity curve (one value per bar) and the trades.

Return-based metrics follow empyrical(-reloaded) 0.7.1 conventions so they can be checked
against it: simple returns between consecutive bars, sample standard deviation (ddof=1),
annualisation by the number of bars per year. ``docs/metrics.md`` gives every formula, unit,
sign and the value of each metric in degenerate cases (``None`` where it is undefined).

Example::

    report = compute_metrics(result.equity, result.ts, result.trades, in_market=result.in_market)
    json.dumps(report.to_dict())  # never NaN or infinity
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from trading.core.bars import BoolArray, FloatArray, IntArray
from trading.core.ledger import TradeColumns
from trading.core.model import NANOS_PER_SECOND, Trade, ts_to_iso

# Calendar conventions of the periods-per-year rule (docs/metrics.md, "Periods per year").
TRADING_DAYS_PER_YEAR = 252
CALENDAR_DAYS_PER_YEAR = 365
WEEKS_PER_YEAR = 52
MONTHS_PER_YEAR = 12
QUARTERS_PER_YEAR = 4

_DAY = 86_400.0
# Median bar spacing (seconds) at or above which bars are weekly, monthly, ... The bounds sit
# between the nominal spacings so that holidays and month lengths do not change the class.
WEEKLY_MIN_SPACING = 4 * _DAY
MONTHLY_MIN_SPACING = 20 * _DAY
QUARTERLY_MIN_SPACING = 60 * _DAY
YEARLY_MIN_SPACING = 250 * _DAY

# A standard deviation at or below this fraction of the largest |value| is rounding noise.
DISPERSION_FLOOR = 1e-12

# Peak bars are looked for in blocks of this many bars; when more than this share of the
# blocks reach a new high, in one pass over every bar instead (:func:`_peak_bars`).
_PEAK_BLOCK = 256
_PEAK_BLOCKS_SHARE = 0.25
# Returns squared and summed a chunk at a time (:func:`_squared_deviations`).
_CHUNK_RETURNS = 1 << 15

_NANOS_PER_DAY = 86_400 * NANOS_PER_SECOND
_SATURDAY, _SUNDAY = 5, 6  # Monday = 0
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday


@dataclass(frozen=True, slots=True)
class SymbolPnl:
    """Net P&L (after commission) and number of trades of one symbol."""

    pnl: float
    trades: int


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """Every metric of one run. ``None`` marks a metric that is undefined for this input.

    Fractions are plain fractions (0.05 = 5 %); money is in the account currency; timestamps are
    epoch nanoseconds (UTC). See ``docs/metrics.md`` for formulas and degenerate values.
    """

    bars: int
    start_ts: int | None
    end_ts: int | None
    start_equity: float | None
    final_equity: float | None
    periods_per_year: float
    risk_free_rate: float
    total_return: float | None
    cagr: float | None
    annual_volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float | None  # <= 0: the worst fall from a running peak
    longest_drawdown_bars: int
    longest_drawdown_seconds: float
    longest_drawdown_recovered: bool
    ruined: bool  # equity reached <= 0 at some bar
    trades: int
    open_trades: int
    # Trades closed by a stop-loss in a bar that also reached their take-profit: decided by the
    # pessimistic stop-loss-first assumption (docs/execution.md).
    stop_first_trades: int
    win_rate: float | None
    profit_factor: float | None
    gross_profit: float
    gross_loss: float  # <= 0
    expectancy: float | None
    average_win: float | None
    average_loss: float | None  # <= 0
    best_trade: float | None
    worst_trade: float | None
    sqn: float | None
    exposure: float | None
    per_symbol: Mapping[str, SymbolPnl]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: plain Python numbers, ``None`` for undefined, ISO start/end times."""
        values: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "per_symbol":
                value = {
                    symbol: {"pnl": _json_number(pnl.pnl), "trades": pnl.trades}
                    for symbol, pnl in value.items()
                }
            elif isinstance(value, float):
                value = _json_number(value)
            values[spec.name] = value
        values["start_time"] = None if self.start_ts is None else ts_to_iso(self.start_ts)
        values["end_time"] = None if self.end_ts is None else ts_to_iso(self.end_ts)
        return values


def periods_per_year(ts: IntArray) -> float:
    """Bars per year implied by the timestamps ``ts`` (epoch ns, increasing).

    A median bar spacing of at least 250/60/20/4 days gives 1/4/12/52 (yearly, quarterly,
    monthly, weekly bars). Shorter spacings (daily and intraday bars) give days per year times
    the median number of bars on a UTC day that has bars: 252 trading days, or 365 when the data
    trades around the clock, i.e. has bars on both a Saturday and a Sunday (UTC). Fewer than
    two bars give 252.

    >>> day = 86_400 * 10**9
    >>> periods_per_year(np.arange(5, dtype=np.int64) * day + 4 * day)  # Mon 5 Jan 1970 ..
    252.0
    """
    stamps = np.asarray(ts, dtype=np.int64)
    if stamps.shape[0] < 2:
        return float(TRADING_DAYS_PER_YEAR)
    spacing = float(np.median(np.diff(stamps), overwrite_input=True)) / NANOS_PER_SECOND
    if spacing >= YEARLY_MIN_SPACING:
        return 1.0
    if spacing >= QUARTERLY_MIN_SPACING:
        return float(QUARTERS_PER_YEAR)
    if spacing >= MONTHLY_MIN_SPACING:
        return float(MONTHS_PER_YEAR)
    if spacing >= WEEKLY_MIN_SPACING:
        return float(WEEKS_PER_YEAR)
    # Counting bars per day, rather than dividing a nominal session by the spacing, fits any
    # session: 390 one-minute bars in a US equity day, 23 hourly bars in a futures day.
    # The first bar of each UTC day with bars: where each midnight falls among the stamps (a
    # search per day, not a division per bar; a day without bars shares the next one's).
    first_day = int(stamps[0]) // _NANOS_PER_DAY
    later_days = np.arange(first_day + 1, int(stamps[-1]) // _NANOS_PER_DAY + 1, dtype=np.int64)
    starts = np.searchsorted(stamps, later_days * _NANOS_PER_DAY)
    with_bars = starts < np.append(starts[1:], stamps.shape[0])
    first_bars = np.concatenate(([0], starts[with_bars]))
    bars_per_day = float(np.median(np.diff(first_bars, append=stamps.shape[0])))
    days = TRADING_DAYS_PER_YEAR
    if _trades_around_the_clock(np.concatenate(([first_day], later_days[with_bars]))):
        days = CALENDAR_DAYS_PER_YEAR
    return days * bars_per_day


def compute_metrics(
    equity: FloatArray,
    ts: IntArray,
    trades: Sequence[Trade] | TradeColumns,
    *,
    in_market: BoolArray | None = None,
    risk_free_rate: float = 0.0,
    periods: float | None = None,
) -> PerformanceReport:
    """All performance metrics of one run.

    ``equity[i]`` is the account value after bar ``i``'s close, ``ts[i]`` that bar's time
    (epoch ns); ``trades`` are the round trips to score (closed and, if the caller includes
    them, marked-open ones), as objects or columns; ``in_market[i]`` says whether any
    position was held at bar ``i``.
    ``risk_free_rate`` is annual (0.03 = 3 %); ``periods`` overrides the bars per year that
    :func:`periods_per_year` infers from ``ts``.

    Raises ``ValueError`` when the arrays disagree in length, equity holds NaN or infinity, or
    ``periods`` is not positive.
    """
    values = np.asarray(equity, dtype=np.float64)
    stamps = np.asarray(ts, dtype=np.int64)
    if values.ndim != 1 or stamps.shape != values.shape:
        raise ValueError(
            f"equity and ts must be 1-D and of one length, got {values.shape} and {stamps.shape}"
        )
    # A sum is finite unless some value is not (or the sum overflows): check cheaply first.
    if not math.isfinite(float(values.sum())) and not np.isfinite(values).all():
        raise ValueError("equity must be finite at every bar")
    if in_market is not None and np.shape(in_market) != values.shape:
        raise ValueError(f"in_market must have one flag per bar, got {np.shape(in_market)}")
    if periods is not None and not (math.isfinite(periods) and periods > 0):
        raise ValueError(f"periods must be a positive number, got {periods}")
    if not math.isfinite(risk_free_rate) or risk_free_rate <= -1:
        raise ValueError(f"risk_free_rate must be above -1, got {risk_free_rate}")

    per_year = float(periods) if periods is not None else periods_per_year(stamps)
    curve = _curve_metrics(values, stamps, per_year, risk_free_rate)
    book = _trade_metrics(
        trades if isinstance(trades, TradeColumns) else TradeColumns.from_trades(trades)
    )
    exposure = None
    if in_market is not None and values.shape[0]:
        exposure = float(np.count_nonzero(in_market)) / values.shape[0]
    n = values.shape[0]
    return PerformanceReport(
        bars=n,
        start_ts=int(stamps[0]) if n else None,
        end_ts=int(stamps[-1]) if n else None,
        start_equity=float(values[0]) if n else None,
        final_equity=float(values[-1]) if n else None,
        periods_per_year=per_year,
        risk_free_rate=float(risk_free_rate),
        exposure=exposure,
        **curve,
        **book,
    )


def _curve_metrics(
    equity: FloatArray, ts: IntArray, per_year: float, risk_free_rate: float
) -> dict[str, Any]:
    """The equity-curve metrics (returns, ratios, drawdown) as report fields."""
    undefined: dict[str, Any] = {
        "total_return": None,
        "cagr": None,
        "annual_volatility": None,
        "sharpe": None,
        "sortino": None,
        "calmar": None,
        "max_drawdown": None,
        "longest_drawdown_bars": 0,
        "longest_drawdown_seconds": 0.0,
        "longest_drawdown_recovered": True,
        "ruined": False,
    }
    if equity.shape[0] == 0 or equity[0] <= 0:
        # No starting capital: no return is defined.
        return undefined | {"ruined": bool(equity.shape[0] and equity[0] <= 0)}

    ruined = bool(equity.min() <= 0)
    ruin_at = int(np.argmax(equity <= 0)) if ruined else None
    if ruin_at is not None:
        # Ruin is absorbing: the account holds nothing from then on, so it neither loses
        # more than everything nor earns a return on a negative balance.
        equity = equity.copy()
        equity[ruin_at:] = 0.0

    n_returns = equity.shape[0] - 1
    total_return = float(equity[-1] / equity[0]) - 1.0
    cagr = _cagr(total_return, n_returns, per_year)

    volatility = sharpe = sortino = None
    if n_returns >= 2:
        volatility, sharpe, sortino = _return_ratios(equity, ruin_at, per_year, risk_free_rate)

    max_drawdown, longest = _drawdown(equity, ts)
    calmar = None
    if cagr is not None and max_drawdown < 0:
        calmar = _finite_or_none(cagr / -max_drawdown)
    return {
        "total_return": total_return,
        "cagr": cagr,
        "annual_volatility": volatility,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": max_drawdown,
        "longest_drawdown_bars": longest[0],
        "longest_drawdown_seconds": longest[1],
        "longest_drawdown_recovered": longest[2],
        "ruined": ruined,
    }


def _return_ratios(
    equity: FloatArray, ruin_at: int | None, per_year: float, risk_free_rate: float
) -> tuple[float, float | None, float | None]:
    """Annual volatility, Sharpe and Sortino of the bar returns of ``equity`` (at least 3
    bars). A function of its own so its 1M-bar temporaries are freed before the drawdown's."""
    n_returns = equity.shape[0] - 1
    returns = _simple_returns(equity, ruin_at)
    # Per-period risk-free return that compounds to the annual rate.
    risk_free = (1.0 + risk_free_rate) ** (1.0 / per_year) - 1.0
    mean = float(returns.mean())
    squares, downside_squares = _squared_deviations(returns, mean, risk_free)
    std = math.sqrt(squares / (n_returns - 1))
    volatility = std * math.sqrt(per_year)
    mean_excess = mean - risk_free
    sharpe = sortino = None
    if _clearly_dispersed(std, mean, squares, n_returns) or _has_dispersion(
        std, float(returns.max()), float(returns.min())
    ):
        sharpe = _finite_or_none(mean_excess / std * math.sqrt(per_year))
    downside_risk = math.sqrt(downside_squares / n_returns)
    if downside_risk > 0:
        sortino = _finite_or_none(mean_excess * math.sqrt(per_year) / downside_risk)
    return volatility, sharpe, sortino


def _squared_deviations(returns: FloatArray, mean: float, risk_free: float) -> tuple[float, float]:
    """The sums of ``(r - mean)²`` and of ``min(r - risk_free, 0)²`` over ``returns``.

    A chunk of returns at a time, in a buffer the CPU cache keeps: each chunk's squares
    summed pairwise by numpy, the chunks' sums added in order. The order is fixed, so the
    result is the same on every machine; a BLAS dot product would split the sum over as many
    threads as the machine has cores (and wait for them on a busy one).
    """
    spread = downside = 0.0
    buffer = np.empty(min(returns.shape[0], _CHUNK_RETURNS))
    for start in range(0, returns.shape[0], _CHUNK_RETURNS):
        part = returns[start : start + _CHUNK_RETURNS]
        scratch = buffer[: part.shape[0]]
        np.subtract(part, mean, out=scratch)
        np.multiply(scratch, scratch, out=scratch)
        spread += float(scratch.sum())
        if risk_free:
            np.subtract(part, risk_free, out=scratch)
            np.minimum(scratch, 0.0, out=scratch)
        else:  # r - 0.0 is r (also for -0.0): one pass less
            np.minimum(part, 0.0, out=scratch)
        np.multiply(scratch, scratch, out=scratch)
        downside += float(scratch.sum())
    return spread, downside


def _simple_returns(equity: FloatArray, ruin_at: int | None) -> FloatArray:
    """r[t] = e[t+1] / e[t] - 1, with 0 after ruin (0 / 0 is no change of nothing)."""
    if ruin_at is None:
        returns: FloatArray = equity[1:] / equity[:-1]
        returns -= 1.0
        return returns
    returns = np.zeros(equity.shape[0] - 1)
    returns[: ruin_at - 1] = equity[1:ruin_at] / equity[: ruin_at - 1] - 1.0
    returns[ruin_at - 1] = -1.0
    return returns


def _cagr(total_return: float, n_returns: int, per_year: float) -> float | None:
    """Compound annual growth rate over ``n_returns`` periods; None if undefined or overflowing."""
    if n_returns < 1:
        return None
    growth = 1.0 + total_return
    if growth <= 0:
        return -1.0
    try:
        return _finite_or_none(growth ** (per_year / n_returns) - 1.0)
    except OverflowError:
        # A short, high-frequency sample annualises to more than a float holds.
        return None


def drawdown_curve(equity: FloatArray) -> FloatArray:
    """Equity over its running peak, minus one, at every bar (<= 0), on the curve the metrics
    use: from the first bar at or below zero the account holds nothing (-100 %), so the
    minimum is exactly ``max_drawdown``. All zeros without a positive starting equity."""
    values = np.asarray(equity, dtype=np.float64)
    if values.shape[0] == 0 or values[0] <= 0:
        return np.zeros(values.shape[0])
    if values.min() <= 0:
        values = values.copy()
        values[int(np.argmax(values <= 0)) :] = 0.0
    curve: FloatArray = values / np.maximum.accumulate(values) - 1.0
    return curve


def _drawdown(equity: FloatArray, ts: IntArray) -> tuple[float, tuple[int, float, bool]]:
    """Max drawdown (<= 0) and the longest drawdown: bars and seconds peak to recovery, and
    whether it recovered by the last bar."""
    # A drawdown runs from a bar at its running peak to the next bar back at that peak (or to
    # the last bar when the equity never gets back there).
    at_peak = _peak_bars(equity)
    # Between two peak bars the running peak is the first one's equity: the deepest point of
    # each stretch is its lowest equity over that peak (division by a positive number keeps
    # the order, so this is the minimum of equity / running peak over every bar, exactly).
    lows = np.minimum.reduceat(equity, at_peak)
    max_drawdown = min(float((lows / equity[at_peak]).min()) - 1.0, 0.0)
    gaps = np.diff(at_peak)
    # A gap of one bar between peaks is two peaks in a row: no drawdown between them.
    lengths = np.append(np.where(gaps > 1, gaps, 0), equity.shape[0] - 1 - at_peak[-1])
    longest = int(np.argmax(lengths))
    bars = int(lengths[longest])
    if bars == 0:
        return max_drawdown, (0, 0.0, True)
    start = int(at_peak[longest])
    seconds = float(ts[start + bars] - ts[start]) / NANOS_PER_SECOND
    return max_drawdown, (bars, seconds, longest < at_peak.shape[0] - 1)


def _peak_bars(equity: FloatArray) -> IntArray:
    """The bars where ``equity`` (finite, not empty) equals its running maximum, in order.

    The running maximum is a sequential pass (the slowest step of the metrics on a long
    curve), and only blocks of bars that reach the highest equity before them can hold a
    peak bar: it runs on those blocks alone, unless they are many.
    """
    blocks = equity.shape[0] // _PEAK_BLOCK
    whole = equity[: blocks * _PEAK_BLOCK].reshape(blocks, _PEAK_BLOCK)
    highs = whole.max(axis=1)
    before = np.empty(blocks)  # the highest equity before each block
    before[:1] = -np.inf
    np.maximum.accumulate(highs[:-1], out=before[1:])
    reaching = np.flatnonzero(highs >= before)
    if reaching.shape[0] > blocks * _PEAK_BLOCKS_SHARE:
        return np.flatnonzero(equity == np.maximum.accumulate(equity))
    part = whole[reaching]
    running = np.maximum.accumulate(part, axis=1)
    np.maximum(running, before[reaching, np.newaxis], out=running)
    rows, columns = np.nonzero(part == running)
    peaks = reaching[rows] * _PEAK_BLOCK + columns
    tail = equity[blocks * _PEAK_BLOCK :]
    if tail.shape[0]:
        running = np.maximum.accumulate(tail)
        if blocks:
            np.maximum(running, max(before[-1], highs[-1]), out=running)
        peaks = np.concatenate([peaks, np.flatnonzero(tail == running) + blocks * _PEAK_BLOCK])
    return peaks


def _trade_metrics(trades: TradeColumns) -> dict[str, Any]:
    """The trade statistics (win rate, profit factor, SQN, per-symbol P&L) as report fields."""
    count = len(trades)
    pnl = trades.pnl
    # Per-symbol sums in trade order (a running sum, as a ledger adds them up).
    by_symbol: dict[str, tuple[float, int]] = {}
    if count and trades.symbol.count(trades.symbol[0]) == count:
        # One symbol: numpy's cumulative sum adds in the same order, in C (from 0.0 too:
        # an all-zero sum is 0.0, never -0.0).
        by_symbol[trades.symbol[0]] = (0.0 + float(np.cumsum(pnl)[-1]), count)
    else:
        for symbol, value in zip(trades.symbol, pnl.tolist(), strict=True):
            total, number = by_symbol.get(symbol, (0.0, 0))
            by_symbol[symbol] = (total + value, number + 1)
    per_symbol = {s: SymbolPnl(p, c) for s, (p, c) in sorted(by_symbol.items())}
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    gross_profit = float(wins.sum())
    gross_loss = float(losses.sum())
    profit_factor = None
    if gross_loss < 0:
        profit_factor = _finite_or_none(gross_profit / -gross_loss)
    sqn = None
    if count >= 2:
        spread = float(pnl.std(ddof=1))
        if _has_dispersion(spread, float(pnl.max()), float(pnl.min())):
            sqn = _finite_or_none(math.sqrt(count) * float(pnl.mean()) / spread)
    notional = trades.notional
    returns = np.divide(pnl, notional, out=np.zeros(count), where=notional != 0)
    return {
        "trades": count,
        "open_trades": trades.open_trades,
        "stop_first_trades": trades.stop_first_trades,
        "win_rate": wins.shape[0] / count if count else None,
        "profit_factor": profit_factor,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "expectancy": float(pnl.mean()) if count else None,
        "average_win": float(wins.mean()) if wins.shape[0] else None,
        "average_loss": float(losses.mean()) if losses.shape[0] else None,
        "best_trade": float(returns.max()) if count else None,
        "worst_trade": float(returns.min()) if count else None,
        "sqn": sqn,
        "per_symbol": per_symbol,
    }


def _trades_around_the_clock(day_number: IntArray) -> bool:
    """True when the days (since the epoch, UTC) with bars include a Saturday and a Sunday.

    Both are required because a five-day week recorded in a far time zone can shift one
    weekday onto a Saturday or a Sunday, never onto both.
    """
    weekday = (day_number + _EPOCH_WEEKDAY) % 7
    return bool((weekday == _SATURDAY).any() and (weekday == _SUNDAY).any())


def _has_dispersion(std: float, highest: float, lowest: float) -> bool:
    """False when ``std`` is only rounding noise around values that are equal in exact
    arithmetic (a curve growing 10 % every bar gives returns that differ in the last bits, and
    dividing by that noise would report a Sharpe of 1e16)."""
    return std > DISPERSION_FLOOR * max(abs(highest), abs(lowest))


def _clearly_dispersed(std: float, mean: float, squares: float, count: int) -> bool:
    """True when ``std`` of ``count`` values with this ``mean`` and sum of squared deviations
    from it passes :func:`_has_dispersion` whatever the highest and lowest value are: none
    lies farther from the mean than the root of ``squares`` (bounded here with a margin for
    the rounding of both), so the values need not be searched for them."""
    farthest = (abs(mean) + math.sqrt(squares)) * (1.0 + (count + 16) * 2.0**-51)
    return std > DISPERSION_FLOOR * farthest


def _finite_or_none(value: float) -> float | None:
    """``value`` when finite, else None (an undefined or overflowing ratio)."""
    return value if math.isfinite(value) else None


def _json_number(value: float) -> float | None:
    """A float that JSON can hold: None instead of NaN or infinity."""
    return float(value) if math.isfinite(value) else None
