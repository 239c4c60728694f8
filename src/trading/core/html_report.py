"""The HTML performance report: one self-contained page with inline CSS and inline SVG charts.

The page has no scripts and no external URLs, so it opens anywhere (an S3 object, a mail
attachment, a laptop without network) and its output is the same for the same input::

    page = render_html_report(report, result.ts, result.equity, result.trades)
    Path("report.html").write_text(page, encoding="utf-8")

Long curves are downsampled for the SVG by keeping the minimum and the maximum of each bucket
(:func:`downsample_minmax`), so a one-bar crash is never smoothed away.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from numbers import Integral, Real
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.core.bars import FloatArray, IntArray
from trading.core.model import NANOS_PER_SECOND, Trade, ts_to_iso

MAX_CHART_POINTS = 2_000
MAX_TRADE_ROWS = 500
MISSING = "—"

# Metrics that are fractions and read as percentages; every other number is shown as is.
PERCENT_METRICS = frozenset(
    {
        "total_return",
        "cagr",
        "annual_return",
        "annualized_return",
        "volatility",
        "annual_volatility",
        "annualized_volatility",
        "max_drawdown",
        "win_rate",
        "exposure",
        "best_trade",
        "worst_trade",
        "avg_trade_return",
        "best_trade_return",
        "worst_trade_return",
        "buy_and_hold_return",
        "benchmark_return",
        "risk_free_rate",
    }
)
# Key suffixes with a unit of their own: epoch-nanosecond timestamps and durations in seconds.
TIMESTAMP_SUFFIX = "_ts"
SECONDS_SUFFIX = "_seconds"
METRIC_LABELS = {
    "cagr": "CAGR",
    "sqn": "SQN",
    "stop_first_trades": "Trades decided by stop-loss-first",
    "start_ts": "Start",
    "end_ts": "End",
    "pnl": "P&L",
    "total_pnl": "Total P&L",
}

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

_MIDNIGHT = "T00:00:00Z"
_DAY_NANOS = 86_400 * NANOS_PER_SECOND

# Marker kinds, in the order they are drawn (exits under entries).
_LONG_EXIT, _SHORT_EXIT, _LONG_ENTRY, _SHORT_ENTRY = range(4)

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #222; margin: 0 auto; padding: 24px; max-width: 1040px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
header p { margin: 2px 0; color: #444; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f6f6f6; font-weight: 600; }
td.text, th.text { text-align: left; }
table.metrics td:first-child { text-align: left; color: #444; }
table.metrics { min-width: 360px; }
.columns { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
.pos { color: #1a7a3f; }
.neg { color: #c0392b; }
.note { color: #666; font-size: 13px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #555; }
svg.chart .grid { stroke: #e8e8e8; stroke-width: 1; }
svg.chart .axis { stroke: #999; stroke-width: 1; }
tr.total td { font-weight: 600; border-top: 1px solid #999; }
"""


def render_html_report(
    report: Mapping[str, Any],
    ts: IntArray,
    equity: FloatArray,
    trades: Sequence[Trade],
) -> str:
    """One self-contained HTML5 page for a run's JSON ``report``, equity curve and trades.

    ``ts`` holds epoch-nanosecond timestamps (UTC) and ``equity`` the equity at each of them;
    ``trades`` are the run's round trips (open ones included, flagged ``is_open``).
    """
    ts = np.asarray(ts, dtype=np.int64)
    equity = np.asarray(equity, dtype=np.float64)
    if ts.shape != equity.shape or ts.ndim != 1:
        raise ValueError(
            f"ts and equity must be 1-D arrays of the same length, got {ts.shape} and "
            f"{equity.shape}"
        )
    run_id = str(report.get("run_id", ""))
    settings: Mapping[str, Any] = report.get("settings") or {}
    metrics: Mapping[str, Any] = report.get("metrics") or {}
    data: Mapping[str, Any] = report.get("data") or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Performance report {_text(run_id)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(run_id, settings, data, ts),
        '<section class="columns">',
        _metrics_table(metrics),
        _settings_table(settings, data),
        "</section>",
        "<section>",
        "<h2>Equity</h2>",
        _equity_chart(ts, equity, trades),
        "</section>",
        "<section>",
        "<h2>Drawdown</h2>",
        _drawdown_chart(ts, equity),
        "</section>",
        "<section>",
        "<h2>P&amp;L by symbol</h2>",
        _symbol_table(trades, data),
        "</section>",
        "<section>",
        "<h2>Trades</h2>",
        _trades_table(trades),
        "</section>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


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


def format_metric(name: str, value: object) -> str:
    """Display text of one metric: a percentage for :data:`PERCENT_METRICS`, ``—`` for None.

    ``*_ts`` integers read as times and ``*_seconds`` numbers as durations.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        if name.endswith(TIMESTAMP_SUFFIX):
            return _when(int(value))
        return f"{int(value):,}"
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return MISSING
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        if name.endswith(SECONDS_SUFFIX):
            return _duration(number)
        if name in PERCENT_METRICS:
            return f"{number * 100:,.2f}%"
        return _number(number)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def metric_label(name: str) -> str:
    """Human label of a metric key: ``max_drawdown`` → ``Max drawdown``."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    return name.replace("_", " ").capitalize()


# --- page sections -------------------------------------------------------------------------


def _header(run_id: str, settings: Mapping[str, Any], data: Mapping[str, Any], ts: IntArray) -> str:
    strategy = str(settings.get("strategy", MISSING))
    params = settings.get("params") or {}
    if isinstance(params, Mapping) and params:
        described = ", ".join(f"{k}={_plain(v)}" for k, v in sorted(params.items()))
        strategy_text = f"<strong>{_text(strategy)}</strong> ({_text(described)})"
    else:
        strategy_text = f"<strong>{_text(strategy)}</strong>"
    start = _moment(data.get("start")) or (_when(int(ts[0])) if len(ts) else MISSING)
    end = _moment(data.get("end")) or (_when(int(ts[-1])) if len(ts) else MISSING)
    return "\n".join(
        [
            "<header>",
            "<h1>Performance report</h1>",
            f"<p>Run <code>{_text(run_id)}</code></p>",
            f"<p>Strategy {strategy_text}</p>",
            f"<p>Period {_text(start)} → {_text(end)} · {len(ts):,} bars</p>",
            "</header>",
        ]
    )


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    # Nested values (a per-symbol breakdown) have tables of their own.
    rows = [
        f"<tr><td>{_text(metric_label(str(name)))}</td>"
        f"<td{_negative_class(value)}>{_text(format_metric(str(name), value))}</td></tr>"
        for name, value in metrics.items()
        if not isinstance(value, Mapping | list | tuple)
    ]
    if not rows:
        rows = [f'<tr><td colspan="2">{MISSING}</td></tr>']
    return _section_table("Metrics", "metrics", ["Metric", "Value"], rows)


def _settings_table(settings: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    rows = [
        f'<tr><td class="text">{_text(metric_label(str(name)))}</td>'
        f"<td>{_text(_setting(value))}</td></tr>"
        for name, value in settings.items()
        if name not in ("strategy", "params")
    ]
    for name in ("bars_accepted", "bars_rejected"):
        if name in data:
            rows.append(
                f'<tr><td class="text">{_text(metric_label(name))}</td>'
                f"<td>{_text(format_metric(name, data[name]))}</td></tr>"
            )
    symbols = data.get("symbols")
    if symbols is not None:
        listed = (
            _plain(symbols)
            if not isinstance(symbols, list | tuple)
            else ", ".join(str(s) for s in symbols)
        )
        rows.append(f'<tr><td class="text">Symbols</td><td>{_text(listed)}</td></tr>')
    if not rows:
        rows = [f'<tr><td colspan="2">{MISSING}</td></tr>']
    return _section_table("Run settings and data", "metrics", ["Setting", "Value"], rows)


def _section_table(title: str, css: str, head: list[str], rows: list[str]) -> str:
    header = "".join(
        f'<th class="text">{_text(h)}</th>' if i == 0 else f"<th>{_text(h)}</th>"
        for i, h in enumerate(head)
    )
    return "\n".join(
        [
            "<div>",
            f"<h2>{_text(title)}</h2>",
            f'<table class="{css}">',
            f"<thead><tr>{header}</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
            "</div>",
        ]
    )


@dataclass(slots=True)
class _SymbolPnl:
    """Round trips of one symbol, summed."""

    trades: int = 0
    winners: int = 0
    open: int = 0
    pnl: float = 0.0
    commission: float = 0.0

    def add(self, trade: Trade) -> None:
        self.trades += 1
        self.winners += trade.pnl > 0
        self.open += trade.is_open
        self.pnl += trade.pnl
        self.commission += trade.commission


def _symbol_table(trades: Sequence[Trade], data: Mapping[str, Any]) -> str:
    by_symbol: dict[str, _SymbolPnl] = {}
    symbols = data.get("symbols")
    if isinstance(symbols, list | tuple):
        for symbol in symbols:
            by_symbol.setdefault(str(symbol), _SymbolPnl())
    total = _SymbolPnl()
    for trade in trades:
        by_symbol.setdefault(trade.symbol, _SymbolPnl()).add(trade)
        total.add(trade)
    head = ["Symbol", "Trades", "Open", "Winners", "Win rate", "Net P&L", "Commission"]
    rows = [_symbol_row(_text(symbol), pnl, "") for symbol, pnl in sorted(by_symbol.items())]
    if not rows:
        rows = [f'<tr><td class="text" colspan="{len(head)}">No trades</td></tr>']
    elif len(by_symbol) > 1:
        rows.append(_symbol_row("Total", total, ' class="total"'))
    return _table(head, rows, frozenset({0}))


def _symbol_row(label: str, pnl: _SymbolPnl, css: str) -> str:
    win_rate = pnl.winners / pnl.trades if pnl.trades else None
    return (
        f'<tr{css}><td class="text">{label}</td><td>{pnl.trades:,}</td><td>{pnl.open:,}</td>'
        f"<td>{pnl.winners:,}</td><td>{_text(format_metric('win_rate', win_rate))}</td>"
        f"<td{_sign_class(pnl.pnl)}>{_money(pnl.pnl)}</td><td>{_money(pnl.commission)}</td></tr>"
    )


def _trades_table(trades: Sequence[Trade]) -> str:
    head = [
        "#",
        "Symbol",
        "Direction",
        "Quantity",
        "Entry time",
        "Entry price",
        "Exit time",
        "Exit price",
        "Bars held",
        "Net P&L",
        "Return",
        "Commission",
    ]
    rows = []
    for number, trade in enumerate(trades[:MAX_TRADE_ROWS], start=1):
        exit_time = _when(trade.exit_ts) + (" (open)" if trade.is_open else "")
        rows.append(
            f"<tr><td>{number:,}</td>"
            f'<td class="text">{_text(trade.symbol)}</td>'
            f'<td class="text {"pos" if trade.direction == "long" else "neg"}">'
            f"{_text(trade.direction)}</td>"
            f"<td>{trade.quantity:,}</td>"
            f'<td class="text">{_text(_when(trade.entry_ts))}</td>'
            f"<td>{_money(trade.entry_price)}</td>"
            f'<td class="text">{_text(exit_time)}</td>'
            f"<td>{_money(trade.exit_price)}</td>"
            f"<td>{trade.bars_held:,}</td>"
            f"<td{_sign_class(trade.pnl)}>{_money(trade.pnl)}</td>"
            f"<td{_sign_class(trade.return_pct)}>"
            f"{_text(format_metric('total_return', trade.return_pct))}</td>"
            f"<td>{_money(trade.commission)}</td></tr>"
        )
    if not rows:
        rows = [f'<tr><td class="text" colspan="{len(head)}">No trades</td></tr>']
    table = _table(head, rows, frozenset({1, 2, 4, 6}))
    if len(trades) > MAX_TRADE_ROWS:
        note = (
            f'<p class="note">Showing the first {MAX_TRADE_ROWS:,} of {len(trades):,} trades; '
            "the JSON report and trades.csv hold them all.</p>"
        )
        return note + "\n" + table
    return table


def _table(head: list[str], rows: list[str], text_columns: frozenset[int]) -> str:
    """A table whose ``text_columns`` are left-aligned; the other (numeric) ones align right."""
    header = "".join(
        f'<th class="text">{_text(h)}</th>' if i in text_columns else f"<th>{_text(h)}</th>"
        for i, h in enumerate(head)
    )
    return "\n".join(
        ["<table>", f"<thead><tr>{header}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]
    )


# --- charts --------------------------------------------------------------------------------


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


def _equity_chart(ts: IntArray, equity: FloatArray, trades: Sequence[Trade]) -> str:
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


def _drawdown_chart(ts: IntArray, equity: FloatArray) -> str:
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
        caption = f"max drawdown {drawdown[deepest] * 100:.2f}% on {_when(int(ts[deepest]))}"
        parts += [
            f'<circle cx="{low_x:.1f}" cy="{low_y:.1f}" r="3" fill="{DRAWDOWN_COLOUR}"/>',
            f'<text x="{CHART_WIDTH - MARGIN_RIGHT}" y="17" text-anchor="end">'
            f"{_text(caption)}</text>",
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
            f"{trade.quantity:,} @ {_money(price)}, {_when(int(moment[pick]))}"
        )
        if count[at] > 1:
            tip += f" (and {int(count[at]) - 1:,} more here)"
        title = f"<title>{_text(tip)}</title>"
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
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_text(label)}</text>'
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
        label = _axis_time(int(ts[index]), span)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 17}" text-anchor="{anchor}">{_text(label)}</text>'
        )
    return "\n".join(parts)


def _svg_open(height: int, label: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} '
        f'{height}" role="img" aria-label="{_text(label)}">'
    )


def _no_data(height: int, message: str) -> str:
    return (
        f"{_svg_open(height, message)}\n"
        f'<text x="{CHART_WIDTH / 2}" y="{height / 2}" text-anchor="middle">{_text(message)}</text>'
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


# --- text ----------------------------------------------------------------------------------


def _text(value: object) -> str:
    """Escaped text for element content and quoted attribute values."""
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.2f}"
    if value == 0 or abs(value) >= 0.01:
        return f"{value:.3f}"
    return f"{value:.3g}"


def _money(value: float) -> str:
    if not math.isfinite(value):
        return MISSING
    return f"{value:,.2f}"


def _sign_class(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, Real):
        return ""
    number = float(value)
    if number > 0 and math.isfinite(number):
        return ' class="pos"'
    if number < 0 and math.isfinite(number):
        return ' class="neg"'
    return ""


def _negative_class(value: object) -> str:
    """Flag only negative metrics: a positive volatility or trade count is not "good"."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return ""
    return ' class="neg"' if float(value) < 0 else ""


def _setting(value: object) -> str:
    """A setting value: whole numbers with thousands separators (cash), others as given."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, Integral) and not isinstance(value, bool) and abs(int(value)) >= 1000:
        return f"{int(value):,}"
    return _plain(value)


def _plain(value: object) -> str:
    """Short text of a setting value: strings as they are, numbers without a trailing .0."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value)}"
    if isinstance(value, Real):
        return f"{value}"
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return ", ".join(_plain(v) for v in value)
    return json.dumps(value, sort_keys=True, default=str)


def _duration(seconds: float) -> str:
    """A duration for people: ``12 d 3 h``, ``3 h 20 min``, ``45 s``."""
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days:,} d {hours} h" if hours else f"{days:,} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _when(ts: int) -> str:
    """A timestamp for people: the date alone at midnight UTC, otherwise date and time."""
    text = ts_to_iso(ts)
    if text.endswith(_MIDNIGHT):
        return text[: -len(_MIDNIGHT)]
    return text.replace("T", " ").removesuffix("Z")


def _moment(value: object) -> str:
    """A period bound from the report's data section: ISO text, or epoch nanoseconds."""
    if value is None or value == "":
        return ""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return _when(int(value))
    text = str(value)
    return text.removesuffix(_MIDNIGHT) if text.endswith(_MIDNIGHT) else text


def _axis_time(ts: int, span: int) -> str:
    """Tick label: the date over a span of days or more, the time of day within a day."""
    text = ts_to_iso(ts)
    if span >= 3 * _DAY_NANOS:
        return text[:10]
    if span >= _DAY_NANOS:
        return f"{text[5:10]} {text[11:16]}"
    return text[11:19]
