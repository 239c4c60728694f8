"""The report's charts as inline SVG: equity with trade markers, and drawdown.

No scripts, no external URLs; the SVG scales to the page width through its viewBox. Long curves
are downsampled by keeping the minimum and the maximum of each bucket
(:func:`downsample_minmax`), so a one-bar crash is never smoothed away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.core.bars import FloatArray, IntArray
from trading.core.model import Trade
from trading.reporting.formatting import axis_time, html_text, money_text, when_text

MAX_CHART_POINTS = 2_000

LONG_COLOUR = "#1a9850"
SHORT_COLOUR = "#d73027"
EQUITY_COLOUR = "#2166ac"
DRAWDOWN_COLOUR = "#d73027"

# Chart geometry in SVG user units (the SVG scales to the page width through its viewBox).
CHART_WIDTH = 960
EQUITY_HEIGHT = 340
DRAWDOWN_HEIGHT = 200
MARGIN_LEFT = 88
MARGIN_RIGHT = 16
MARGIN_TOP = 26
MARGIN_BOTTOM = 28
LEGEND_CHAR = 6.2  # approximate advance of one 11px legend character
LEGEND_GAP = 26
X_TICKS = 6
Y_TICKS = 5

# Marker kinds, in the order they are drawn (exits under entries).
_LONG_EXIT, _SHORT_EXIT, _LONG_ENTRY, _SHORT_ENTRY = range(4)


def downsample_minmax(values: FloatArray, max_points: int = MAX_CHART_POINTS) -> IntArray:
    """Indices (ascending) of at most ``max_points`` points that keep the curve's shape.

    The curve is cut into equal buckets and each bucket keeps the index of its minimum and of
    its maximum; the first and the last point are always kept. Non-finite values are skipped.
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return _minmax_indices(values, max_points)
    where = np.flatnonzero(finite)
    return where[_minmax_indices(values[where], max_points)]


@dataclass(frozen=True, slots=True)
class _Plot:
    """Maps bar numbers and values to SVG coordinates inside the margins of one chart."""

    height: int
    bars: int
    low: float
    high: float

    @property
    def bottom(self) -> float:
        return float(self.height - MARGIN_BOTTOM)

    def x(self, index: npt.NDArray[Any]) -> FloatArray:
        width = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        if self.bars <= 1:
            return np.full(len(index), MARGIN_LEFT + width / 2)
        return MARGIN_LEFT + np.asarray(index, dtype=np.float64) * (width / (self.bars - 1))

    def y(self, values: npt.NDArray[Any]) -> FloatArray:
        span = self.high - self.low
        inner = self.height - MARGIN_TOP - MARGIN_BOTTOM
        scaled = (np.asarray(values, dtype=np.float64) - self.low) / span
        return self.bottom - scaled * inner


def equity_chart(ts: IntArray, equity: FloatArray, trades: Sequence[Trade]) -> str:
    keep = downsample_minmax(equity) if len(equity) else np.empty(0, dtype=np.int64)
    if not len(keep):
        return _no_data(EQUITY_HEIGHT, "No equity data")
    values = equity[keep]
    ticks = _nice_ticks(float(values.min()), float(values.max()))
    plot = _Plot(EQUITY_HEIGHT, len(equity), ticks[0], ticks[-1])
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    labels = [f"{t:,.{decimals}f}" for t in ticks]
    start_y = float(plot.y(np.array([values[0]]))[0])
    return "\n".join(
        [
            _svg_open(EQUITY_HEIGHT, "Equity curve with trade entries and exits"),
            _axes(plot, ts, ticks, labels),
            f'<line class="axis" x1="{MARGIN_LEFT}" y1="{start_y:.1f}" '
            f'x2="{CHART_WIDTH - MARGIN_RIGHT}" y2="{start_y:.1f}" stroke-dasharray="4 4"/>',
            f'<polyline fill="none" stroke="{EQUITY_COLOUR}" stroke-width="1.5" '
            f'stroke-linejoin="round" points="{_points(plot.x(keep), plot.y(values))}"/>',
            _trade_markers(plot, ts, equity, trades),
            _legend(),
            "</svg>",
        ]
    )


def drawdown_chart(ts: IntArray, equity: FloatArray) -> str:
    drawdown = _drawdown(equity)
    keep = downsample_minmax(drawdown) if len(drawdown) else np.empty(0, dtype=np.int64)
    if not len(keep):
        return _no_data(DRAWDOWN_HEIGHT, "No equity data")
    values = drawdown[keep]
    deepest = int(keep[np.argmin(values)])
    floor = float(values.min())
    ticks = _nice_ticks(floor if floor < 0 else -0.01, 0.0)
    plot = _Plot(DRAWDOWN_HEIGHT, len(equity), ticks[0], ticks[-1])
    labels = [f"{t * 100:.{_percent_decimals(ticks)}f}%" for t in ticks]
    xs, ys = plot.x(keep), plot.y(values)
    zero = float(plot.y(np.zeros(1))[0])
    area = f"{xs[0]:.1f},{zero:.1f} {_points(xs, ys)} {xs[-1]:.1f},{zero:.1f}"
    parts = [
        _svg_open(DRAWDOWN_HEIGHT, "Drawdown: equity over its running maximum, minus one"),
        _axes(plot, ts, ticks, labels),
        f'<polygon fill="{DRAWDOWN_COLOUR}" fill-opacity="0.25" stroke="{DRAWDOWN_COLOUR}" '
        f'stroke-width="1" stroke-linejoin="round" points="{area}"/>',
    ]
    if drawdown[deepest] < 0:
        low_x = float(plot.x(np.array([deepest]))[0])
        low_y = float(plot.y(np.array([drawdown[deepest]]))[0])
        caption = f"max drawdown {drawdown[deepest] * 100:.2f}% on {when_text(int(ts[deepest]))}"
        parts += [
            f'<circle cx="{low_x:.1f}" cy="{low_y:.1f}" r="3" fill="{DRAWDOWN_COLOUR}"/>',
            f'<text x="{CHART_WIDTH - MARGIN_RIGHT}" y="17" text-anchor="end">'
            f"{html_text(caption)}</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def _drawdown(equity: FloatArray) -> FloatArray:
    """Equity over its running maximum, minus one (0 where the running maximum is not positive)."""
    if not len(equity):
        return np.empty(0, dtype=np.float64)
    peak = np.fmax.accumulate(equity)
    ratio = np.divide(equity, peak, out=np.ones_like(equity), where=peak > 0)
    result: FloatArray = ratio - 1.0
    return result


def _trade_markers(plot: _Plot, ts: IntArray, equity: FloatArray, trades: Sequence[Trade]) -> str:
    """Entry triangles and exit circles, long green and short red, one per kind and pixel."""
    if not trades or not len(ts):
        return ""
    kinds: list[int] = []
    moments: list[int] = []
    owners: list[int] = []
    for number, trade in enumerate(trades):
        long = trade.direction == "long"
        kinds.append(_LONG_ENTRY if long else _SHORT_ENTRY)
        moments.append(trade.entry_ts)
        owners.append(number)
        if not trade.is_open:  # an open trade's "exit" is only the last mark
            kinds.append(_LONG_EXIT if long else _SHORT_EXIT)
            moments.append(trade.exit_ts)
            owners.append(number)
    kind = np.array(kinds, dtype=np.int64)
    moment = np.array(moments, dtype=np.int64)
    owner = np.array(owners, dtype=np.int64)
    inside = (moment >= ts[0]) & (moment <= ts[-1])
    kind, moment, owner = kind[inside], moment[inside], owner[inside]
    index = np.minimum(np.searchsorted(ts, moment, side="left"), len(ts) - 1)
    value = equity[index]
    drawable = np.isfinite(value)
    kind, moment, owner, index, value = (a[drawable] for a in (kind, moment, owner, index, value))
    if not len(kind):
        return ""
    xs, ys = plot.x(index), plot.y(value)
    # Many trades on one pixel column draw as one marker: bounded SVG size, no visual loss.
    cell = kind * (CHART_WIDTH + 1) + np.rint(xs).astype(np.int64)
    cells, first, count = np.unique(cell, return_index=True, return_counts=True)
    parts = ['<g class="trades">']
    for at in range(len(cells)):  # cells sort by kind first: exits are drawn under entries
        pick = int(first[at])
        trade = trades[int(owner[pick])]
        what = int(kind[pick])
        x, y = float(xs[pick]), float(ys[pick])
        colour = LONG_COLOUR if what in (_LONG_ENTRY, _LONG_EXIT) else SHORT_COLOUR
        entry = what in (_LONG_ENTRY, _SHORT_ENTRY)
        price = trade.entry_price if entry else trade.exit_price
        tip = (
            f"{trade.direction} {'entry' if entry else 'exit'} {trade.symbol} "
            f"{trade.quantity:,} @ {money_text(price)}, {when_text(int(moment[pick]))}"
        )
        if count[at] > 1:
            tip += f" (and {int(count[at]) - 1:,} more here)"
        title = f"<title>{html_text(tip)}</title>"
        if what == _LONG_ENTRY:
            shape = f'<path d="M{x:.1f},{y - 1:.1f} l-4.5,8 h9 z" fill="{colour}">'
        elif what == _SHORT_ENTRY:
            shape = f'<path d="M{x:.1f},{y + 1:.1f} l-4.5,-8 h9 z" fill="{colour}">'
        else:
            shape = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#fff" stroke="{colour}" '
                'stroke-width="1.5">'
            )
        closing = "</path>" if shape.startswith("<path") else "</circle>"
        parts.append(f"{shape}{title}{closing}")
    parts.append("</g>")
    return "\n".join(parts)


def _legend() -> str:
    right = CHART_WIDTH - MARGIN_RIGHT
    items = [
        (f'<path d="M{{x}},9 l-4.5,8 h9 z" fill="{LONG_COLOUR}"/>', "long entry"),
        (f'<path d="M{{x}},17 l-4.5,-8 h9 z" fill="{SHORT_COLOUR}"/>', "short entry"),
        (
            f'<circle cx="{{x}}" cy="13" r="3.5" fill="#fff" stroke="{LONG_COLOUR}" '
            'stroke-width="1.5"/>',
            "long exit",
        ),
        (
            f'<circle cx="{{x}}" cy="13" r="3.5" fill="#fff" stroke="{SHORT_COLOUR}" '
            'stroke-width="1.5"/>',
            "short exit",
        ),
    ]
    parts = ['<g class="legend">']
    widths = [round(LEGEND_GAP + LEGEND_CHAR * len(label)) for _, label in items]
    x = right - sum(widths) + 5
    for (shape, label), width in zip(items, widths, strict=True):
        parts.append(shape.format(x=x))
        parts.append(f'<text x="{x + 8}" y="17">{label}</text>')
        x += width
    parts.append("</g>")
    return "\n".join(parts)


def _axes(plot: _Plot, ts: IntArray, ticks: list[float], labels: list[str]) -> str:
    left, right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
    parts = []
    for tick, label in zip(ticks, labels, strict=True):
        y = float(plot.y(np.array([tick]))[0])
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{html_text(label)}</text>'
        )
    bottom = plot.bottom
    parts.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>')
    count = min(X_TICKS, plot.bars)
    where = np.unique(np.rint(np.linspace(0, plot.bars - 1, count)).astype(np.int64))
    xs = plot.x(where)
    span = int(ts[-1] - ts[0])
    for i, (index, x) in enumerate(zip(where.tolist(), xs.tolist(), strict=True)):
        anchor = "middle"
        if len(where) > 1 and i == 0:
            anchor = "start"
        elif len(where) > 1 and i == len(where) - 1:
            anchor = "end"
        label = axis_time(int(ts[index]), span)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 17}" text-anchor="{anchor}">{html_text(label)}</text>'
        )
    return "\n".join(parts)


def _svg_open(height: int, label: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} '
        f'{height}" role="img" aria-label="{html_text(label)}">'
    )


def _no_data(height: int, message: str) -> str:
    return (
        f"{_svg_open(height, message)}\n"
        f'<text x="{CHART_WIDTH / 2}" y="{height / 2}" text-anchor="middle">'
        f"{html_text(message)}</text>"
        "\n</svg>"
    )


def _points(xs: FloatArray, ys: FloatArray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def _nice_ticks(low: float, high: float, count: int = Y_TICKS) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering ``[low, high]``."""
    if high <= low:
        pad = abs(low) * 0.01 or 0.01
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    steps = round((last - first) / step)
    return [first + i * step for i in range(steps + 1)]


def _percent_decimals(ticks: list[float]) -> int:
    step = abs(ticks[1] - ticks[0]) * 100 if len(ticks) > 1 else 1.0
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def _minmax_indices(values: FloatArray, max_points: int) -> IntArray:
    n = len(values)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)
    # Pad with the last value: a padded slot never beats a real one of the same bucket by more
    # than a tie, and ties resolve to the real last point after clipping.
    padded = np.empty(buckets * size, dtype=np.float64)
    padded[:n] = values
    padded[n:] = values[-1]
    shaped = padded.reshape(buckets, size)
    offsets = np.arange(buckets, dtype=np.int64) * size
    lows = np.minimum(shaped.argmin(axis=1) + offsets, n - 1)
    highs = np.minimum(shaped.argmax(axis=1) + offsets, n - 1)
    ends = np.array([0, n - 1], dtype=np.int64)
    result: IntArray = np.unique(np.concatenate([ends, lows, highs]))
    return result
