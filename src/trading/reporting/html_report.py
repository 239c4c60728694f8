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

from trading.core.bars import FloatArray, IntArray
from trading.core.model import Trade
from trading.reporting.charts import drawdown_chart, equity_chart
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

MAX_TRADE_ROWS = 500

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
.banner { padding: 10px 14px; margin: 12px 0; border-radius: 4px; border: 1px solid; }
.banner.ruin { background: #fdecea; border-color: #c0392b; color: #7b1f16; }
.banner.warning { background: #fff8e1; border-color: #e0a800; color: #5f4500; }
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
        f"<title>Performance report {html_text(run_id)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(run_id, settings, data, ts),
        _banners(report),
        '<section class="columns">',
        _metrics_table(metrics),
        _settings_table(settings, data),
        "</section>",
        "<section>",
        "<h2>Equity</h2>",
        equity_chart(ts, equity, trades),
        "</section>",
        "<section>",
        "<h2>Drawdown</h2>",
        drawdown_chart(ts, equity),
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


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    # Nested values (a per-symbol breakdown) have tables of their own.
    rows = [
        f"<tr><td>{html_text(metric_label(str(name)))}</td>"
        f"<td{negative_class(value)}>{html_text(format_metric(str(name), value))}</td></tr>"
        for name, value in metrics.items()
        if not isinstance(value, Mapping | list | tuple)
    ]
    if not rows:
        rows = [f'<tr><td colspan="2">{MISSING}</td></tr>']
    return _section_table("Metrics", "metrics", ["Metric", "Value"], rows)


def _settings_table(settings: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    rows = [
        f'<tr><td class="text">{html_text(metric_label(str(name)))}</td>'
        f"<td>{html_text(setting_text(value))}</td></tr>"
        for name, value in settings.items()
        if name not in ("strategy", "params")
    ]
    for name in ("bars_accepted", "bars_rejected"):
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
        exit_time = when_text(trade.exit_ts) + (" (open)" if trade.is_open else "")
        rows.append(
            f"<tr><td>{number:,}</td>"
            f'<td class="text">{html_text(trade.symbol)}</td>'
            f'<td class="text {"pos" if trade.direction == "long" else "neg"}">'
            f"{html_text(trade.direction)}</td>"
            f"<td>{trade.quantity:,}</td>"
            f'<td class="text">{html_text(when_text(trade.entry_ts))}</td>'
            f"<td>{money_text(trade.entry_price)}</td>"
            f'<td class="text">{html_text(exit_time)}</td>'
            f"<td>{money_text(trade.exit_price)}</td>"
            f"<td>{trade.bars_held:,}</td>"
            f"<td{sign_class(trade.pnl)}>{money_text(trade.pnl)}</td>"
            f"<td{sign_class(trade.return_pct)}>"
            f"{html_text(format_metric('total_return', trade.return_pct))}</td>"
            f"<td>{money_text(trade.commission)}</td></tr>"
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
        f'<th class="text">{html_text(h)}</th>' if i in text_columns else f"<th>{html_text(h)}</th>"
        for i, h in enumerate(head)
    )
    return "\n".join(
        ["<table>", f"<thead><tr>{header}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]
    )
