"""Technical indicators over numpy arrays. A value at index t uses only inputs up to t.

Inside :func:`shared_indicators` each distinct (input array, period) of :func:`sma` and
:func:`rsi` is computed once: a batch of parameter sets over the same bars (a sweep) shares
its averages instead of recomputing them per set. Results are read-only there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from trading.core.bars import BoolArray, FloatArray, SignalArray

# (indicator, id of the input array, period) -> (input kept alive, result); None: no sharing.
_SHARED: ContextVar[dict[tuple[str, int, int], tuple[FloatArray, FloatArray]] | None] = ContextVar(
    "shared_indicators", default=None
)


@contextmanager
def shared_indicators() -> Iterator[dict[tuple[str, int, int], tuple[FloatArray, FloatArray]]]:
    """Compute each distinct indicator once within the block (see the module docstring)."""
    cache: dict[tuple[str, int, int], tuple[FloatArray, FloatArray]] = {}
    token = _SHARED.set(cache)
    try:
        yield cache
    finally:
        _SHARED.reset(token)


def _shared(
    name: str, compute: Callable[[FloatArray, int], FloatArray]
) -> Callable[[FloatArray, int], FloatArray]:
    def indicator(values: FloatArray, period: int) -> FloatArray:
        cache = _SHARED.get()
        if cache is None:
            return compute(values, period)
        key = (name, id(values), period)
        hit = cache.get(key)
        if hit is not None and hit[0] is values:
            return hit[1]
        result = compute(values, period)
        result.flags.writeable = False
        cache[key] = (values, result)
        return result

    indicator.__doc__ = compute.__doc__
    indicator.__name__ = name
    return indicator


def _sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average; NaN for the first ``period - 1`` values."""
    if period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.shape[0])
    out[: period - 1] = np.nan
    _window_means(values, period, out[period - 1 :])
    return out


def _window_means(values: FloatArray, period: int, out: FloatArray) -> None:
    """``out[i]`` = the mean of ``values[i : i + period]``, for each of the full windows.

    One sum per window (not a running cumsum): rounding does not drift over a million bars,
    and windows of equal values give equal means. A window's sum depends on its values
    alone, so the windows are taken a chunk at a time, in buffers the CPU cache keeps.
    """
    spare = (np.empty(0), np.empty(0))
    for first in range(0, out.shape[0], _CHUNK_WINDOWS):
        chunk = out[first : first + _CHUNK_WINDOWS]
        inputs = values[first : first + chunk.shape[0] + period - 1]
        if period <= _SEQUENTIAL_WINDOW:
            sums = np.convolve(inputs, np.ones(period), mode="valid")
        else:
            if spare[0].shape[0] < inputs.shape[0]:
                spare = (np.empty(inputs.shape[0]), np.empty(inputs.shape[0]))
            sums = _pairwise_window_sums(inputs, period, chunk, spare)
        np.divide(sums, period, out=chunk)


# Windows up to this many values are summed left to right in C (numpy's small-kernel
# convolution); longer ones by _pairwise_window_sums: numpy's convolution makes a BLAS dot
# product per window there, slower, and rounded in an order that depends on the CPU.
_SEQUENTIAL_WINDOW = 11
_CHUNK_WINDOWS = 1 << 15


def _pairwise_window_sums(
    values: FloatArray, period: int, out: FloatArray, spare: tuple[FloatArray, FloatArray]
) -> FloatArray:
    """``out[i]`` = the sum of ``values[i : i + period]`` for every full window (``out`` holds
    one per window; ``spare``: two scratch arrays at least as long as ``values``).

    Sums of blocks of 1, 2, 4, ... consecutive values are built by adding two halves, and a
    window adds the blocks of ``period``'s binary digits, smallest first: about log2(period)
    passes over the values, the same rounding on every machine.
    """
    windows = out.shape[0]
    block, size, covered, rest = values, 1, 0, period
    while True:
        if rest & 1:
            part = block[covered : covered + windows]
            if covered:
                np.add(out, part, out=out)
            else:
                np.copyto(out, part)
            covered += size
        rest >>= 1
        if not rest:
            return out
        length = block.shape[0] - size
        # Blocks of twice the size, into the scratch array the current blocks are not in.
        block = np.add(block[:length], block[size:], out=spare[size.bit_length() % 2][:length])
        size *= 2


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range: the simple mean of the last ``period`` true ranges, where a bar's
    true range is ``max(high − low, |high − previous close|, |low − previous close|)`` (the
    first bar: ``high − low``). NaN for the first ``period - 1`` values."""
    previous = np.concatenate([close[:1], close[:-1]])
    true_range = np.maximum(high - low, np.maximum(np.abs(high - previous), np.abs(low - previous)))
    return sma(true_range, period)


def _rsi(values: FloatArray, period: int) -> FloatArray:
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


sma = _shared("sma", _sma)
rsi = _shared("rsi", _rsi)


def crossed_above(first: FloatArray, second: FloatArray) -> BoolArray:
    """True at t when first[t-1] < second[t-1] and first[t] > second[t] (NaN never crosses)."""
    out = np.zeros(first.shape[0], dtype=bool)
    out[1:] = (first[:-1] < second[:-1]) & (first[1:] > second[1:])
    return out


def crossings(first: FloatArray, second: FloatArray | float) -> SignalArray:
    """+1 (``BUY``) at t where ``first`` crosses strictly above ``second`` (see
    :func:`crossed_above`), −1 (``SELL``) where it crosses strictly below, 0 elsewhere and
    wherever either side is NaN. ``second`` may be one level for every bar.

    One comparison of each kind per bar, shared by both directions, a chunk of bars at a
    time (the comparisons stay in the CPU cache; only the signals take fresh memory).
    """
    level = np.ndim(second) == 0
    out = np.empty(first.shape[0], dtype=np.int8)
    out[:1] = 0
    for start in range(1, first.shape[0], _CHUNK_WINDOWS):
        stop = start + _CHUNK_WINDOWS
        ahead = first[start - 1 : stop]
        other = second if level else second[start - 1 : stop]  # type: ignore[index]
        above = ahead > other
        below = ahead < other
        up = below[:-1] & above[1:]
        down = above[:-1] & below[1:]
        np.subtract(up.view(np.int8), down.view(np.int8), out=out[start:stop])
    return out
