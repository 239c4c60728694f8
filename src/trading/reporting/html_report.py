"""The HTML performance report: one self-contained page with inline CSS and inline SVG charts.

The page has no scripts and no external URLs, so it opens anywhere (an S3 object, a mail
attachment, a laptop without network) and its output is the same for the same input::

    page = render_html_report(report, result.ts, result.equity, result.trades)
    Path("report.html").write_text(page, encoding="utf-8")

The numbers it shows all come from the JSON ``report`` (formatted by
:mod:`trading.reporting.formatting`); the curve and the trades are only drawn
(:mod:`trading.reporting.charts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trading.core.bars import BarSeries, FloatArray, IntArray
from trading.core.metrics import drawdown_curve
from trading.core.model import Trade
from trading.reporting.charts import (
    BENCHMARK_COLOUR,
    EQUITY_COLOUR,
    Line,
    drawdown_chart,
    equity_chart,
    exposure_chart,
    histogram_chart,
    price_chart,
)
from trading.reporting.formatting import (
    MISSING,
    format_metric,
    html_text,
    metric_label,
    moment_text,
    money_text,
    negative_class,
    plain_text,
    setting_text,
    sign_class,
    when_text,
)

MAX_TRADE_ROWS = 2_000
MAX_PRICE_CHARTS = 24
# Metrics the header shows already (the period) or that are tables of their own.
HIDDEN_METRICS = frozenset({"start_ts", "end_ts", "start_time", "end_time", "per_symbol"})
# Metrics set side by side with the benchmark's.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #222; margin: 0 auto; padding: 24px; max-width: 1040px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
header p { margin: 2px 0; color: #444; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; font-weight: 600; }
td.text, th.text { text-align: left; }
table.metrics td:first-child { text-align: left; color: #444; }
table.metrics { min-width: 360px; }
table.calendar td { min-width: 44px; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
.scroll { max-height: 560px; overflow: auto; }
.columns { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
.pos { color: #1a7a3f; }
.neg { color: #c0392b; }
.note { color: #666; font-size: 13px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #555; }
svg.chart .grid { stroke: #e8e8e8; stroke-width: 1; }
svg.chart .axis { stroke: #999; stroke-width: 1; }
tr.total td { font-weight: 600; border-top: 1px solid #999; }
.banner { padding: 10px 14px; margin: 12px 0; border-radius: 4px; border: 1px solid; }
.banner.ruin { background: #fdecea; border-color: #c0392b; color: #7b1f16; }
.banner.warning { background: #fff8e1; border-color: #e0a800; color: #5f4500; }
input.filter { font: inherit; padding: 3px 6px; margin: 0 0 8px; width: 260px; }
"""

# Sorting and filtering of the trade table: plain DOM, no library, no network.
_SCRIPT = """
(function () {
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw !== null && raw !== "" && !isNaN(raw)) { return Number(raw); }
    return (raw !== null ? raw : cell.textContent).trim().toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !words.every(function (word) { return text.indexOf(word) >= 0; });
      });
    });
  });
})();
"""


def render_html_report(
    report: Mapping[str, Any],
    ts: IntArray,
    equity: FloatArray,
    trades: Sequence[Trade],
    *,
    benchmark: FloatArray | None = None,
    exposure: FloatArray | None = None,
    prices: Mapping[str, BarSeries] | None = None,
) -> str:
    """One self-contained HTML5 page for a run's JSON ``report``, equity curve and trades.

    ``ts`` holds epoch-nanosecond timestamps (UTC) and ``equity`` the equity at each of them;
    ``trades`` are the run's round trips (open ones included, flagged ``is_open``). Optional,
    drawn when given: the ``benchmark`` equity and the gross ``exposure`` at the same
    timestamps, and each symbol's bars (``prices``) for its price chart. Every figure written
    on the page comes from ``report``; the arrays are only drawn.
    """
    ts = np.asarray(ts, dtype=np.int64)
    equity = np.asarray(equity, dtype=np.float64)
    if ts.shape != equity.shape or ts.ndim != 1:
        raise ValueError(
            f"ts and equity must be 1-D arrays of the same length, got {ts.shape} and "
            f"{equity.shape}"
        )
    for name, extra in (("benchmark", benchmark), ("exposure", exposure)):
        if extra is not None and np.shape(extra) != ts.shape:
            raise ValueError(f"{name} must have one value per timestamp")
    run_id = str(report.get("run_id", ""))
    settings: Mapping[str, Any] = report.get("settings") or {}
    metrics: Mapping[str, Any] = report.get("metrics") or {}
    data: Mapping[str, Any] = report.get("data") or {}
    bench: Mapping[str, Any] = report.get("benchmark") or {}
    lines = [Line("strategy", equity, EQUITY_COLOUR)]
    if benchmark is not None:
        lines.append(Line(str(bench.get("name", "benchmark")), benchmark, BENCHMARK_COLOUR, True))
    ruin = report.get("ruin")
    ruin_index = None
    if ruin and len(equity) and float(equity.min()) <= 0:
        ruin_index = int(np.argmax(equity <= 0))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Performance report {html_text(run_id)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(run_id, settings, data, ts),
        _banners(report),
        '<section class="columns">',
        _metrics_table(metrics, bench.get("metrics")),
        _settings_table(settings, data),
        "</section>",
        '<section id="equity">',
        "<h2>Equity</h2>",
        equity_chart(ts, lines, ruin_index, "Equity curve against the benchmark"),
        _benchmark_note(bench),
        "</section>",
        '<section id="drawdown">',
        "<h2>Drawdown</h2>",
        drawdown_chart(ts, drawdown_curve(equity), _drawdown_caption(metrics, ts, equity)),
        "</section>",
    ]
    if exposure is not None:
        parts += [
            '<section id="exposure">',
            "<h2>Exposure</h2>",
            exposure_chart(ts, exposure, _exposure_caption(report.get("exposure") or {})),
            '<p class="note">Gross market value of the positions over equity, bar by bar.</p>',
            "</section>",
        ]
    parts += [
        '<section id="returns">',
        "<h2>Monthly and yearly returns</h2>",
        _calendar_table(report.get("returns") or {}),
        "</section>",
        '<section id="distribution">',
        "<h2>Distribution of trade returns</h2>",
        _histogram(report.get("trade_returns") or {}),
        "</section>",
    ]
    if prices:
        parts += ['<section id="prices">', "<h2>Prices, entries and exits</h2>"]
        parts += _price_charts(prices, trades)
        parts.append("</section>")
    parts += [
        '<section id="symbols">',
        "<h2>P&amp;L by symbol</h2>",
        _symbol_table(trades, data),
        "</section>",
        '<section id="trades">',
        "<h2>Trades</h2>",
        _trades_table(trades),
        "</section>",
        _data_notes(data),
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


# --- page sections -------------------------------------------------------------------------


def _banners(report: Mapping[str, Any]) -> str:
    """What a reader must see before any figure: the account's ruin (``report["ruin"]``, a
    mapping with a ``message``, or true) and the report's ``warnings`` (a list of texts)."""
    parts = []
    ruin = report.get("ruin")
    if ruin:
        message = ruin.get("message") if isinstance(ruin, Mapping) else None
        text = str(message or "The account was ruined: equity reached zero or below.")
        parts.append(f'<div class="banner ruin" role="alert">{html_text(text)}</div>')
    warnings = report.get("warnings") or []
    for warning in warnings if isinstance(warnings, list | tuple) else [warnings]:
        parts.append(f'<div class="banner warning" role="note">{html_text(warning)}</div>')
    return "\n".join(parts)


def _header(run_id: str, settings: Mapping[str, Any], data: Mapping[str, Any], ts: IntArray) -> str:
    strategy = str(settings.get("strategy", MISSING))
    params = settings.get("params") or {}
    if isinstance(params, Mapping) and params:
        described = ", ".join(f"{k}={plain_text(v)}" for k, v in sorted(params.items()))
        strategy_text = f"<strong>{html_text(strategy)}</strong> ({html_text(described)})"
    else:
        strategy_text = f"<strong>{html_text(strategy)}</strong>"
    start = moment_text(data.get("start")) or (when_text(int(ts[0])) if len(ts) else MISSING)
    end = moment_text(data.get("end")) or (when_text(int(ts[-1])) if len(ts) else MISSING)
    return "\n".join(
        [
            "<header>",
            "<h1>Performance report</h1>",
            f"<p>Run <code>{html_text(run_id)}</code></p>",
            f"<p>Strategy {strategy_text}</p>",
            f"<p>Period {html_text(start)} → {html_text(end)} · {len(ts):,} bars</p>",
            "</header>",
        ]
    )


def _metrics_table(metrics: Mapping[str, Any], benchmark: Mapping[str, Any] | None) -> str:
    # Nested values (a per-symbol breakdown) have tables of their own.
    head = ["Metric", "Strategy"] + (["Benchmark"] if benchmark else [])
    rows = []
    for name, value in metrics.items():
        if name in HIDDEN_METRICS or isinstance(value, Mapping | list | tuple):
            continue
        cells = f"<td{negative_class(value)}>{html_text(format_metric(str(name), value))}</td>"
        if benchmark:
            other = benchmark.get(name)
            shown = format_metric(str(name), other) if name in benchmark else ""
            cells += f"<td{negative_class(other)}>{html_text(shown)}</td>"
        rows.append(f"<tr><td>{html_text(metric_label(str(name)))}</td>{cells}</tr>")
    if not rows:
        rows = [f'<tr><td colspan="{len(head)}">{MISSING}</td></tr>']
    return _section_table("Metrics", "metrics", head, rows)


def _benchmark_note(benchmark: Mapping[str, Any]) -> str:
    if not benchmark:
        return ""
    return f'<p class="note">Benchmark: {html_text(benchmark.get("description", ""))}</p>'


def _drawdown_caption(metrics: Mapping[str, Any], ts: IntArray, equity: FloatArray) -> str:
    """The report's max drawdown, dated at the bar where the curve (the same definition)
    reaches it."""
    value = metrics.get("max_drawdown")
    if value is None or not len(equity) or value >= 0:
        return ""
    at = int(np.argmin(drawdown_curve(equity)))
    return f"max drawdown {format_metric('max_drawdown', value)} on {when_text(int(ts[at]))}"


def _exposure_caption(exposure: Mapping[str, Any]) -> str:
    if not exposure:
        return ""
    average = format_metric("average_exposure", exposure.get("average"))
    peak = format_metric("max_exposure", exposure.get("max"))
    return f"average {average}, at most {peak}"


def _calendar_table(returns: Mapping[str, Any]) -> str:
    """Years down, months across, the year's return last (and the benchmark's year)."""
    monthly = returns.get("monthly") or []
    yearly = returns.get("yearly") or []
    if not yearly:
        return '<p class="note">Fewer than two bars: no period returns.</p>'
    cells: dict[str, dict[int, Any]] = {}
    for row in monthly:
        year, month = str(row.get("period", "")).split("-")[:2]
        cells.setdefault(year, {})[int(month)] = row.get("return")
    head = ["Year", *MONTHS, "Year", "Benchmark"]
    rows = []
    for row in yearly:
        year = str(row.get("period", ""))
        months = cells.get(year, {})
        values = [months.get(month) for month in range(1, 13)]
        rendered = "".join(f"<td{sign_class(v)}>{html_text(_percent(v))}</td>" for v in values)
        total, other = row.get("return"), row.get("benchmark")
        rows.append(
            f'<tr><td class="text">{html_text(year)}</td>{rendered}'
            f"<td{sign_class(total)}><strong>{html_text(_percent(total))}</strong></td>"
            f"<td{sign_class(other)}>{html_text(_percent(other))}</td></tr>"
        )
    table = _table(head, rows, frozenset({0})).replace("<table>", '<table class="calendar">', 1)
    return f'<div class="scroll">{table}</div>'


def _percent(value: object) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{float(value) * 100:.1f}%"


def _histogram(histogram: Mapping[str, Any]) -> str:
    edges = histogram.get("edges") or []
    counts = histogram.get("counts") or []
    return histogram_chart(edges, counts)


def _price_charts(prices: Mapping[str, BarSeries], trades: Sequence[Trade]) -> list[str]:
    by_symbol: dict[str, list[Trade]] = {}
    for trade in trades:
        by_symbol.setdefault(trade.symbol, []).append(trade)
    parts = []
    for symbol in sorted(prices)[:MAX_PRICE_CHARTS]:
        parts.append(f'<h3 id="price-{html_text(symbol)}">{html_text(symbol)}</h3>')
        parts.append(price_chart(prices[symbol], by_symbol.get(symbol, [])))
    if len(prices) > MAX_PRICE_CHARTS:
        parts.append(
            f'<p class="note">The first {MAX_PRICE_CHARTS} of {len(prices)} symbols; '
            "trades.csv holds every trade.</p>"
        )
    return parts


def _data_notes(data: Mapping[str, Any]) -> str:
    """How the bars were prepared: repaired rows, and the corporate actions applied to them
    (a line per symbol, then every action in a table) or skipped, from the JSON report."""
    notes = []
    repaired = data.get("bars_repaired")
    if repaired:
        notes.append(
            f"{repaired:,} rows had float noise in high/low repaired (listed in repaired.jsonl)."
        )
    applied = _listed(data.get("adjustments"))
    skipped = _listed(data.get("adjustments_skipped"))
    source = data.get("corporate_actions")
    if applied or skipped:
        notes.append(
            f"Prices back-adjusted for corporate actions from {source or 'the run settings'}: "
            "bars from each ex-date on are as traded, earlier prices are scaled (splits also "
            "scale volume); the raw upload is kept as it was."
        )
    by_symbol: dict[str, list[Mapping[str, Any]]] = {}
    for item in applied:
        by_symbol.setdefault(str(item.get("symbol")), []).append(item)
    for symbol, items in sorted(by_symbol.items()):
        notes.append(_symbol_adjustments(symbol, items))
    passed: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item in skipped:
        passed.setdefault((str(item.get("symbol")), str(item.get("reason"))), []).append(item)
    for (symbol, reason), items in passed.items():
        what = (
            f"{symbol} {items[0].get('action')} on {items[0].get('date')}"
            if len(items) == 1
            else f"{len(items)} actions of {symbol}, {items[0].get('date')} to "
            f"{items[-1].get('date')}"
        )
        notes.append(f"Not applied: {what} ({reason}).")
    if not notes:
        return ""
    parts = [
        '<section id="data"><h2>Data adjustments</h2><ul>',
        "".join(f"<li>{html_text(note)}</li>" for note in notes),
        "</ul>",
    ]
    if applied:
        head = ["Symbol", "Ex-date", "Action", "Value", "Price factor", "Volume factor", "Bars"]
        rows = [
            "<tr>"
            + "".join(
                f'<td class="text">{html_text(str(item.get(name)))}</td>'
                for name in ("symbol", "date", "action")
            )
            + f"<td>{html_text(_value(item))}</td>"
            + "".join(
                f"<td>{html_text(_factor(item.get(name)))}</td>"
                for name in ("price_factor", "volume_factor")
            )
            + f"<td>{html_text(format_metric('bars', item.get('bars_adjusted')))}</td></tr>"
            for item in applied
        ]
        opened = " open" if len(rows) <= MAX_OPEN_ADJUSTMENTS else ""
        parts.append(
            f"<details{opened}><summary>Every corporate action applied ({len(rows):,})"
            f'</summary><div class="scroll" id="adjustments-table">'
            f"{_table(head, rows, frozenset({0, 1, 2}))}</div></details>"
        )
    parts.append("</section>")
    return "".join(parts)


MAX_OPEN_ADJUSTMENTS = 10
"""Up to this many applied actions the table shows unfolded; more stay behind a click."""


def _listed(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _symbol_adjustments(symbol: str, items: Sequence[Mapping[str, Any]]) -> str:
    """``AAPL: split 2:1 on 2005-02-28; 3 cash dividends, 2012-08-09 to 2013-02-07; ...``."""
    splits = [item for item in items if item.get("action") == "split"]
    dividends = [item for item in items if item.get("action") == "dividend"]
    said = [f"split {_ratio(item.get('value'))} on {item.get('date')}" for item in splits]
    if len(dividends) == 1:
        said.append(
            f"a cash dividend of {_factor(dividends[0].get('value'))} on {dividends[0].get('date')}"
        )
    elif dividends:
        said.append(
            f"{len(dividends)} cash dividends, {dividends[0].get('date')} to "
            f"{dividends[-1].get('date')}"
        )
    total = 1.0
    for item in items:
        factor = item.get("price_factor")
        total *= float(factor) if isinstance(factor, int | float) else 1.0
    return f"{symbol}: {'; '.join(said)}; its first bar's prices x{total:.6g} in all."


def _value(item: Mapping[str, Any]) -> str:
    """A split's ratio (``2:1``), a dividend's cash amount."""
    value = item.get("value")
    return _ratio(value) if item.get("action") == "split" else _factor(value)


def _ratio(value: object) -> str:
    if not isinstance(value, int | float) or value <= 0:
        return MISSING
    if value >= 1:
        return f"{value:g}:1"
    return f"1:{1 / value:g}"


def _factor(value: object) -> str:
    return (
        f"{value:.6g}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else MISSING
    )


def _settings_table(settings: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    rows = [
        f'<tr><td class="text">{html_text(metric_label(str(name)))}</td>'
        f"<td>{html_text(setting_text(value, str(name)))}</td></tr>"
        for name, value in settings.items()
        if name not in ("strategy", "params")
    ]
    for name in (
        "bars_accepted",
        "bars_rejected",
        "bars_repaired",
        "bars_excluded",
        "bars_adjusted",
    ):
        if name in data:
            rows.append(
                f'<tr><td class="text">{html_text(metric_label(name))}</td>'
                f"<td>{html_text(format_metric(name, data[name]))}</td></tr>"
            )
    symbols = data.get("symbols")
    if symbols is not None:
        listed = (
            plain_text(symbols)
            if not isinstance(symbols, list | tuple)
            else ", ".join(str(s) for s in symbols)
        )
        rows.append(f'<tr><td class="text">Symbols</td><td>{html_text(listed)}</td></tr>')
    if not rows:
        rows = [f'<tr><td colspan="2">{MISSING}</td></tr>']
    return _section_table("Run settings and data", "metrics", ["Setting", "Value"], rows)


def _section_table(title: str, css: str, head: list[str], rows: list[str]) -> str:
    header = "".join(
        f'<th class="text">{html_text(h)}</th>' if i == 0 else f"<th>{html_text(h)}</th>"
        for i, h in enumerate(head)
    )
    return "\n".join(
        [
            "<div>",
            f"<h2>{html_text(title)}</h2>",
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
    rows = [_symbol_row(html_text(symbol), pnl, "") for symbol, pnl in sorted(by_symbol.items())]
    if not rows:
        rows = [f'<tr><td class="text" colspan="{len(head)}">No trades</td></tr>']
    elif len(by_symbol) > 1:
        rows.append(_symbol_row("Total", total, ' class="total"'))
    return _table(head, rows, frozenset({0}))


def _symbol_row(label: str, pnl: _SymbolPnl, css: str) -> str:
    win_rate = pnl.winners / pnl.trades if pnl.trades else None
    return (
        f'<tr{css}><td class="text">{label}</td><td>{pnl.trades:,}</td><td>{pnl.open:,}</td>'
        f"<td>{pnl.winners:,}</td><td>{html_text(format_metric('win_rate', win_rate))}</td>"
        f"<td{sign_class(pnl.pnl)}>{money_text(pnl.pnl)}</td><td>{money_text(pnl.commission)}</td></tr>"
    )


def _trades_table(trades: Sequence[Trade]) -> str:
    """Every trade in entry order; a click on a heading sorts, the box above filters."""
    head = [
        "#",
        "Symbol",
        "Direction",
        "Quantity",
        "Entry time",
        "Entry price",
        "Exit time",
        "Exit price",
        "Exit",
        "Bars held",
        "Net P&L",
        "Return",
        "Commission",
    ]
    ordered = sorted(trades, key=lambda trade: (trade.entry_ts, trade.symbol))
    rows = []
    for number, trade in enumerate(ordered[:MAX_TRADE_ROWS], start=1):
        exit_time = "open" if trade.is_open else when_text(trade.exit_ts)
        exit_kind = "" if trade.is_open else str(getattr(trade, "exit_kind", "") or "signal")
        rows.append(
            f"<tr><td>{number:,}</td>"
            f'<td class="text">{html_text(trade.symbol)}</td>'
            f'<td class="text {"pos" if trade.direction == "long" else "neg"}">'
            f"{html_text(trade.direction)}</td>"
            f'<td data-sort="{trade.quantity}">{trade.quantity:,}</td>'
            f'<td class="text" data-sort="{trade.entry_ts}">'
            f"{html_text(when_text(trade.entry_ts))}</td>"
            f'<td data-sort="{trade.entry_price!r}">{money_text(trade.entry_price)}</td>'
            f'<td class="text" data-sort="{trade.exit_ts}">{html_text(exit_time)}</td>'
            f'<td data-sort="{trade.exit_price!r}">{money_text(trade.exit_price)}</td>'
            f'<td class="text">{html_text(exit_kind)}</td>'
            f"<td>{trade.bars_held:,}</td>"
            f'<td{sign_class(trade.pnl)} data-sort="{trade.pnl!r}">{money_text(trade.pnl)}</td>'
            f'<td{sign_class(trade.return_pct)} data-sort="{trade.return_pct!r}">'
            f"{html_text(format_metric('total_return', trade.return_pct))}</td>"
            f'<td data-sort="{trade.commission!r}">{money_text(trade.commission)}</td></tr>'
        )
    if not rows:
        return '<p class="note">No trades.</p>'
    table = _table(head, rows, frozenset({1, 2, 4, 6, 8})).replace(
        "<table>", '<table class="sortable" id="trade-table">', 1
    )
    parts = [
        '<input class="filter" type="search" data-table="trade-table" '
        'placeholder="Filter: symbol, long, short, date…" aria-label="Filter the trades">',
        '<p class="note">Click a heading to sort.</p>',
    ]
    if len(trades) > MAX_TRADE_ROWS:
        parts.append(
            f'<p class="note">Showing the first {MAX_TRADE_ROWS:,} of {len(trades):,} trades; '
            "the JSON report and trades.csv hold them all.</p>"
        )
    parts.append(f'<div class="scroll">{table}</div>')
    return "\n".join(parts)


def _table(head: list[str], rows: list[str], text_columns: frozenset[int]) -> str:
    """A table whose ``text_columns`` are left-aligned; the other (numeric) ones align right."""
    header = "".join(
        f'<th class="text">{html_text(h)}</th>' if i in text_columns else f"<th>{html_text(h)}</th>"
        for i, h in enumerate(head)
    )
    return "\n".join(
        ["<table>", f"<thead><tr>{header}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]
    )
