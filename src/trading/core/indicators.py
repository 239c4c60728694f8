"""Technical indicators over numpy arrays. A value at index t uses only inputs up to t."""

from __future__ import annotations

import numpy as np

from trading.core.bars import BoolArray, FloatArray


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average; NaN for the first ``period - 1`` values."""
    out = np.full(values.shape[0], np.nan)
    if period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    if values.shape[0] >= period:
        # One windowed sum per output (not a running cumsum) so rounding does not drift
        # over a million bars and equal averages compare equal.
        out[period - 1 :] = np.convolve(values, np.ones(period), mode="valid") / period
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range: the simple mean of the last ``period`` true ranges, where a bar's
    true range is ``max(high − low, |high − previous close|, |low − previous close|)`` (the
    first bar: ``high − low``). NaN for the first ``period - 1`` values."""
    previous = np.concatenate([close[:1], close[:-1]])
    true_range = np.maximum(high - low, np.maximum(np.abs(high - previous), np.abs(low - previous)))
    return sma(true_range, period)


def rsi(values: FloatArray, period: int) -> FloatArray:
    """Wilder's relative strength index (0..100); NaN until ``period`` changes are known.

    The first average gain/loss is the simple mean of the first ``period`` changes; later ones
    are smoothed with weight 1/period. Flat prices (no gain and no loss) give 50.
    """
    if period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    n = values.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    change = np.diff(values)
    gains = np.where(change > 0, change, 0.0).tolist()
    losses = np.where(change < 0, -change, 0.0).tolist()
    avg_gain = sum(gains[:period]) / period
    avg_loss = sum(losses[:period]) / period
    result = [_rsi_value(avg_gain, avg_loss)]
    keep = period - 1
    # Wilder smoothing is recursive; a plain loop over Python floats is the fastest exact form.
    for gain, loss in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * keep + gain) / period
        avg_loss = (avg_loss * keep + loss) / period
        result.append(_rsi_value(avg_gain, avg_loss))
    out[period:] = result
    return out


def _rsi_value(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 50.0 if avg_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def crossed_above(first: FloatArray, second: FloatArray) -> BoolArray:
    """True at t when first[t-1] < second[t-1] and first[t] > second[t] (NaN never crosses)."""
    out = np.zeros(first.shape[0], dtype=bool)
    out[1:] = (first[:-1] < second[:-1]) & (first[1:] > second[1:])
    return out
