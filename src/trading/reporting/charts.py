"""The report's charts as inline SVG: equity against the benchmark, drawdown, exposure, each
symbol's price with its entries and exits, and the distribution of trade returns.

No external URLs; every SVG scales to the page width through its viewBox. Long curves are
downsampled by keeping the minimum and the maximum of each bucket (:func:`downsample_minmax`),
so a one-bar crash is never smoothed away. Time axes tick at calendar boundaries (years,
quarters, months, days or hours, whichever gives a handful of ticks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.core.bars import BarSeries, FloatArray, IntArray
from trading.core.model import NANOS_PER_SECOND, Trade
from trading.reporting.formatting import html_text, money_text, when_text

MAX_CHART_POINTS = 2_000
MAX_MARKERS = 1_500  # per price chart; more trades draw only their first markers

LONG_COLOUR = "#1a9850"
SHORT_COLOUR = "#d73027"
EQUITY_COLOUR = "#2166ac"
BENCHMARK_COLOUR = "#8c8c8c"
DRAWDOWN_COLOUR = "#d73027"
EXPOSURE_COLOUR = "#5e3c99"
PRICE_COLOUR = "#404040"
RUIN_COLOUR = "#b2182b"

# Chart geometry in SVG user units (the SVG scales to the page width through its viewBox).
CHART_WIDTH = 960
EQUITY_HEIGHT = 340
DRAWDOWN_HEIGHT = 200
EXPOSURE_HEIGHT = 160
PRICE_HEIGHT = 240
HISTOGRAM_HEIGHT = 220
MARGIN_LEFT = 88
MARGIN_RIGHT = 16
MARGIN_TOP = 26
MARGIN_BOTTOM = 28
LEGEND_CHAR = 6.2  # approximate advance of one 11px legend character
LEGEND_GAP = 26
MAX_X_TICKS = 7
Y_TICKS = 5

_DAY = 86_400 * NANOS_PER_SECOND
# Calendar steps for time ticks, finest first: (unit, count).
_STEPS = (
    ("h", 1), ("h", 2), ("h", 3), ("h", 6), ("h", 12),
    ("D", 1), ("D", 2), ("W", 1), ("W", 2),
    ("M", 1), ("M", 2), ("M", 3), ("M", 6),
    ("Y", 1), ("Y", 2), ("Y", 5), ("Y", 10), ("Y", 20), ("Y", 50), ("Y", 100),
)  # fmt: skip


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
class Line:
    """One curve of a line chart: its values at every timestamp, how it is drawn and named."""

    label: str
    values: FloatArray
    colour: str
    dashed: bool = False


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

    def y1(self, value: float) -> float:
        return float(self.y(np.array([value]))[0])


def equity_chart(
    ts: IntArray, lines: Sequence[Line], ruin_index: int | None = None, label: str = ""
) -> str:
    """Equity curves over the same timestamps (the strategy, then its benchmark), the
    starting equity dashed, and the bar where the account was ruined marked."""
    if not len(ts) or not lines:
        return _no_data(EQUITY_HEIGHT, "No equity data")
    kept = [(line, downsample_minmax(line.values)) for line in lines]
    finite = np.concatenate([line.values[keep] for line, keep in kept])
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return _no_data(EQUITY_HEIGHT, "No equity data")
    ticks = _nice_ticks(float(finite.min()), float(finite.max()))
    plot = _Plot(EQUITY_HEIGHT, len(ts), ticks[0], ticks[-1])
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    labels = [f"{t:,.{decimals}f}" for t in ticks]
    start_y = plot.y1(float(lines[0].values[0]))
    parts = [
        _svg_open(EQUITY_HEIGHT, label or "Equity curve"),
        _axes(plot, ts, ticks, labels),
        f'<line class="axis" x1="{MARGIN_LEFT}" y1="{start_y:.1f}" '
        f'x2="{CHART_WIDTH - MARGIN_RIGHT}" y2="{start_y:.1f}" stroke-dasharray="4 4"/>',
    ]
    for line, keep in reversed(kept):  # the strategy drawn last, on top
        dash = ' stroke-dasharray="6 3"' if line.dashed else ""
        parts.append(
            f'<polyline class="series" data-series="{html_text(line.label)}" fill="none" '
            f'stroke="{line.colour}" stroke-width="1.5"{dash} stroke-linejoin="round" '
            f'points="{_points(plot.x(keep), plot.y(line.values[keep]))}"/>'
        )
    if ruin_index is not None and 0 <= ruin_index < len(ts):
        x = float(plot.x(np.array([ruin_index]))[0])
        parts.append(
            f'<line class="ruin" x1="{x:.1f}" y1="{MARGIN_TOP}" x2="{x:.1f}" '
            f'y2="{plot.bottom}" stroke="{RUIN_COLOUR}" stroke-width="2">'
            f"<title>ruined {html_text(when_text(int(ts[ruin_index])))}</title></line>"
        )
    parts.append(_legend([(_swatch(line.colour, line.dashed), line.label) for line in lines]))
    parts.append("</svg>")
    return "\n".join(parts)


def drawdown_chart(ts: IntArray, drawdown: FloatArray, caption: str) -> str:
    """The drawdown curve (<= 0) as a filled area, with ``caption`` (the report's figure)."""
    return _area_chart(
        ts, drawdown, DRAWDOWN_HEIGHT, DRAWDOWN_COLOUR, "Drawdown", caption, deepest=True
    )


def exposure_chart(ts: IntArray, exposure: FloatArray, caption: str) -> str:
    """Gross exposure (market value of the positions over equity) as a filled area."""
    return _area_chart(ts, exposure, EXPOSURE_HEIGHT, EXPOSURE_COLOUR, "Exposure", caption)


def price_chart(bars: BarSeries, trades: Sequence[Trade]) -> str:
    """One symbol's close with its trades: entries as triangles (up for long, down for
    short), exits as circles; the legend names only the kinds that occur."""
    if not len(bars):
        return _no_data(PRICE_HEIGHT, f"No bars of {bars.symbol}")
    keep = downsample_minmax(bars.close)
    values = bars.close[keep]
    prices = [t.entry_price for t in trades] + [t.exit_price for t in trades if not t.is_open]
    low = min(float(values.min()), *prices) if prices else float(values.min())
    high = max(float(values.max()), *prices) if prices else float(values.max())
    ticks = _nice_ticks(low, high)
    plot = _Plot(PRICE_HEIGHT, len(bars), ticks[0], ticks[-1])
    labels = [money_text(t) for t in ticks]
    parts = [
        _svg_open(PRICE_HEIGHT, f"{bars.symbol}: close with entries and exits"),
        _axes(plot, bars.ts, ticks, labels),
        f'<polyline class="series" data-series="close" fill="none" stroke="{PRICE_COLOUR}" '
        f'stroke-width="1.2" stroke-linejoin="round" '
        f'points="{_points(plot.x(keep), plot.y(values))}"/>',
    ]
    markers, kinds = _trade_markers(plot, bars, trades)
    parts.append(markers)
    legend = [(shape, name) for kind, (shape, name) in _MARKER_LEGEND.items() if kind in kinds]
    parts.append(_legend([(_swatch(PRICE_COLOUR), "close"), *legend]))
    parts.append("</svg>")
    return "\n".join(parts)


def histogram_chart(edges: Sequence[float], counts: Sequence[int]) -> str:
    """Bars of trade-return counts; losses red, gains green, the bin holding 0 grey."""
    if not counts:
        return _no_data(HISTOGRAM_HEIGHT, "No closed trades")
    top = max(counts)
    ticks = _nice_ticks(0.0, float(max(top, 1)))
    ticks = [t for t in ticks if float(t).is_integer()] or [0.0, float(top)]
    plot = _Plot(HISTOGRAM_HEIGHT, len(counts) + 1, 0.0, max(ticks[-1], 1.0))
    width = (CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(counts)
    left, bottom = MARGIN_LEFT, plot.bottom
    parts = [_svg_open(HISTOGRAM_HEIGHT, "Distribution of closed trades' returns")]
    for tick in ticks:
        y = plot.y1(tick)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
            f'y2="{y:.1f}"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{int(tick):,}</text>"
        )
    for index, count in enumerate(counts):
        low, high = edges[index], edges[index + 1]
        colour = LONG_COLOUR if low >= 0 else SHORT_COLOUR if high <= 0 else BENCHMARK_COLOUR
        x = left + index * width
        y = plot.y1(count)
        tip = f"{count:,} trades returned {low * 100:.2f}% to {high * 100:.2f}%"
        parts.append(
            f'<rect class="bin" x="{x + 1:.1f}" y="{y:.1f}" width="{max(width - 2, 1):.1f}" '
            f'height="{bottom - y:.1f}" fill="{colour}"><title>{html_text(tip)}</title></rect>'
        )
    parts.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
                 f'y2="{bottom}"/>')  # fmt: skip
    for index in _label_bins(len(edges)):
        x = left + index * width
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 17}" text-anchor="middle">'
            f"{edges[index] * 100:.1f}%</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


# --- pieces ------------------------------------------------------------------------------

_LONG_ENTRY, _SHORT_ENTRY, _LONG_EXIT, _SHORT_EXIT = range(4)
_MARKER_LEGEND = {
    _LONG_ENTRY: (f'<path d="M{{x}},9 l-4.5,8 h9 z" fill="{LONG_COLOUR}"/>', "long entry"),
    _SHORT_ENTRY: (f'<path d="M{{x}},17 l-4.5,-8 h9 z" fill="{SHORT_COLOUR}"/>', "short entry"),
    _LONG_EXIT: (
        f'<circle cx="{{x}}" cy="13" r="3.5" fill="#fff" stroke="{LONG_COLOUR}" '
        'stroke-width="1.5"/>',
        "long exit",
    ),
    _SHORT_EXIT: (
        f'<circle cx="{{x}}" cy="13" r="3.5" fill="#fff" stroke="{SHORT_COLOUR}" '
        'stroke-width="1.5"/>',
        "short exit",
    ),
}


def _trade_markers(plot: _Plot, bars: BarSeries, trades: Sequence[Trade]) -> tuple[str, set[int]]:
    """Entry triangles and exit circles at their fill prices; the kinds drawn."""
    kinds: set[int] = set()
    parts = ['<g class="trades">']
    drawn = 0
    for trade in trades:
        long = trade.direction == "long"
        events = [(trade.entry_ts, trade.entry_price, _LONG_ENTRY if long else _SHORT_ENTRY)]
        if not trade.is_open:  # an open trade's "exit" is only the last mark
            events.append((trade.exit_ts, trade.exit_price, _LONG_EXIT if long else _SHORT_EXIT))
        for moment, price, kind in events:
            if drawn >= MAX_MARKERS or not math.isfinite(price):
                continue
            index = min(int(np.searchsorted(bars.ts, moment, side="left")), len(bars) - 1)
            x = float(plot.x(np.array([index]))[0])
            y = plot.y1(price)
            entry = kind in (_LONG_ENTRY, _SHORT_ENTRY)
            tip = (
                f"{trade.direction} {'entry' if entry else 'exit'} {trade.quantity:,} @ "
                f"{money_text(price)}, {when_text(int(moment))}"
            )
            colour = LONG_COLOUR if kind in (_LONG_ENTRY, _LONG_EXIT) else SHORT_COLOUR
            if kind == _LONG_ENTRY:
                shape = f'<path class="entry" d="M{x:.1f},{y:.1f} l-4.5,8 h9 z" fill="{colour}">'
                end = "</path>"
            elif kind == _SHORT_ENTRY:
                shape = f'<path class="entry" d="M{x:.1f},{y:.1f} l-4.5,-8 h9 z" fill="{colour}">'
                end = "</path>"
            else:
                shape = (
                    f'<circle class="exit" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#fff" '
                    f'stroke="{colour}" stroke-width="1.5">'
                )
                end = "</circle>"
            parts.append(f"{shape}<title>{html_text(tip)}</title>{end}")
            kinds.add(kind)
            drawn += 1
    parts.append("</g>")
    return "\n".join(parts), kinds


def _area_chart(
    ts: IntArray,
    values: FloatArray,
    height: int,
    colour: str,
    label: str,
    caption: str,
    *,
    deepest: bool = False,
) -> str:
    keep = downsample_minmax(values) if len(values) else np.empty(0, dtype=np.int64)
    if not len(keep):
        return _no_data(height, f"No {label.lower()} data")
    shown = values[keep]
    low, high = float(min(shown.min(), 0.0)), float(max(shown.max(), 0.0))
    if low == high:
        low, high = (low - 0.01, high) if deepest else (low, high + 0.01)
    ticks = _nice_ticks(low, high)
    plot = _Plot(height, len(values), ticks[0], ticks[-1])
    labels = [f"{t * 100:.{_percent_decimals(ticks)}f}%" for t in ticks]
    xs, ys = plot.x(keep), plot.y(shown)
    zero = plot.y1(0.0)
    area = f"{xs[0]:.1f},{zero:.1f} {_points(xs, ys)} {xs[-1]:.1f},{zero:.1f}"
    parts = [
        _svg_open(height, label),
        _axes(plot, ts, ticks, labels),
        f'<polygon class="series" data-series="{html_text(label.lower())}" fill="{colour}" '
        f'fill-opacity="0.25" stroke="{colour}" stroke-width="1" stroke-linejoin="round" '
        f'points="{area}"/>',
    ]
    if deepest and len(values) and float(values.min()) < 0:
        at = int(np.argmin(values))
        parts.append(
            f'<circle cx="{float(plot.x(np.array([at]))[0]):.1f}" cy="{plot.y1(values[at]):.1f}" '
            f'r="3" fill="{colour}"/>'
        )
    if caption:
        parts.append(
            f'<text x="{CHART_WIDTH - MARGIN_RIGHT}" y="17" text-anchor="end">'
            f"{html_text(caption)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _swatch(colour: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="4 2"' if dashed else ""
    return (
        f'<line x1="{{x}}" y1="13" x2="{{x2}}" y2="13" stroke="{colour}" stroke-width="2"{dash}/>'
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    """Legend entries right-aligned in the top margin: (shape template with ``{x}``, label)."""
    right = CHART_WIDTH - MARGIN_RIGHT
    parts = ['<g class="legend">']
    widths = [round(LEGEND_GAP + LEGEND_CHAR * len(label)) for _, label in items]
    x = right - sum(widths) + 5
    for (shape, label), width in zip(items, widths, strict=True):
        parts.append(shape.format(x=x - 6, x2=x + 4) if "{x2}" in shape else shape.format(x=x))
        parts.append(f'<text x="{x + 8}" y="17">{html_text(label)}</text>')
        x += width
    parts.append("</g>")
    return "\n".join(parts)


def _axes(plot: _Plot, ts: IntArray, ticks: list[float], labels: list[str]) -> str:
    left, right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
    parts = []
    for tick, label in zip(ticks, labels, strict=True):
        y = plot.y1(tick)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{html_text(label)}</text>'
        )
    bottom = plot.bottom
    parts.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>')
    for index, label in time_ticks(ts):
        x = float(plot.x(np.array([index]))[0])
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>'
        )
        parts.append(
            f'<text class="xtick" x="{x:.1f}" y="{bottom + 17}" text-anchor="middle">'
            f"{html_text(label)}</text>"
        )
    return "\n".join(parts)


def time_ticks(ts: IntArray, most: int = MAX_X_TICKS) -> list[tuple[int, str]]:
    """(bar index, label) of ticks at calendar boundaries: the finest step (hours, days,
    weeks, months, years) that gives at most ``most`` ticks inside the span of ``ts``."""
    if len(ts) < 2:
        return [(0, when_text(int(ts[0])))] if len(ts) else []
    first, last = ts.astype("datetime64[ns]")[[0, -1]]
    for unit, count in _STEPS:
        start = first.astype(f"datetime64[{unit}]")
        stop = last.astype(f"datetime64[{unit}]")
        span = int((stop - start).astype(np.int64))
        if span // count + 1 > most:
            continue
        if unit == "W":
            # numpy's weeks start on Thursday (the epoch's weekday): tick on Mondays instead.
            start = (first.astype("datetime64[D]") - np.timedelta64(1, "D")).astype("datetime64[W]")
        aligned = (int(start.astype(np.int64)) // count) * count
        boundaries = np.arange(aligned, int(stop.astype(np.int64)) + 1, count)
        moments: npt.NDArray[Any] = boundaries.astype(f"datetime64[{unit}]")
        if unit == "W":
            moments = moments.astype("datetime64[D]") + np.timedelta64(4, "D")
        stamps = moments.astype("datetime64[ns]").astype(np.int64)
        stamps = stamps[(stamps >= ts[0]) & (stamps <= ts[-1])]
        if not len(stamps):
            continue
        indices = np.searchsorted(ts, stamps, side="left")
        ticks = []
        for index, stamp in zip(indices.tolist(), stamps.tolist(), strict=True):
            text = str(np.datetime64(stamp, "ns"))
            label = {"Y": text[:4], "M": text[:7]}.get(unit, text[:10])
            if unit == "h":
                label = f"{text[5:10]} {text[11:16]}"
            ticks.append((index, label))
        return ticks
    return [(0, when_text(int(ts[0]))), (len(ts) - 1, when_text(int(ts[-1])))]


def _label_bins(count: int) -> list[int]:
    """Which bin edges of a histogram get a label: about six, evenly spread."""
    step = max(1, (count - 1) // 5)
    return list(range(0, count, step))


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
