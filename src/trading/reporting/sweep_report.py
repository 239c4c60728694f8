"""The sweep's HTML report: a heatmap of the objective over two parameters, the stability of
the best cell among its neighbours, the top-N table, and the walk-forward and universe views.
One self-contained page (inline CSS, no script)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trading.core.model import ts_to_iso
from trading.reporting.charts import EQUITY_COLOUR, Line, equity_chart

TOP = 20


def sweep_html(document: Mapping[str, Any]) -> str:
    """The report page of ``document`` (the sweep's ``leaderboard.json``)."""
    title = f"Sweep of {document['strategy']} by {document['objective']}"
    parts = [
        f"<h1>{_e(title)}</h1>",
        f"<p class='summary'>{document['succeeded']:,} of {document['items']:,} items "
        f"succeeded, {document['failed']:,} failed; mode {_e(document['mode'])}"
        + (f", at least {document['min_trades']} trades" if document.get("min_trades") else "")
        + "</p>",
    ]
    ranking = document["ranking"]
    parts.append(heatmap(ranking))
    parts.append(stability(ranking))
    parts.append(top_table(ranking[:TOP]))
    if document.get("walk_forward"):
        parts.append(walk_forward_table(document["walk_forward"]))
    if document.get("universe"):
        parts.append(universe_table(document["universe"]))
    if document.get("failures"):
        rows = "".join(
            f"<tr><td>{f['item']}</td><td>{_e(_params(f.get('params') or {}))}</td>"
            f"<td>{_e(str(f.get('error')))}</td></tr>"
            for f in document["failures"]
        )
        parts.append(
            f"<h2>Failed items</h2><table><tr><th>item</th>"
            f"<th>parameters</th><th>error</th></tr>{rows}</table>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def _grid(
    ranking: Sequence[Mapping[str, Any]],
) -> tuple[str, str, dict[tuple[Any, Any], float | None]] | None:
    """The two most varied parameters and the best score at each of their pairs."""
    names = sorted({name for row in ranking for name in row["params"]})
    varied = sorted(names, key=lambda n: -len({row["params"].get(n) for row in ranking}))
    varied = [n for n in varied if len({row["params"].get(n) for row in ranking}) > 1]
    if len(varied) < 2:
        return None
    x_name, y_name = sorted(varied[:2])
    cells: dict[tuple[Any, Any], float | None] = {}
    for row in ranking:
        key = (row["params"].get(x_name), row["params"].get(y_name))
        value = row["score"]
        best = cells.get(key)
        if key not in cells or (value is not None and (best is None or value > best)):
            cells[key] = value
    return x_name, y_name, cells


def heatmap(ranking: Sequence[Mapping[str, Any]]) -> str:
    """The objective over the two most varied parameters (best value per cell)."""
    grid = _grid(ranking)
    if grid is None:
        return "<p class='note'>No heatmap: fewer than two parameters vary.</p>"
    x_name, y_name, cells = grid
    xs = sorted({x for x, _ in cells})
    ys = sorted({y for _, y in cells})
    values = [v for v in cells.values() if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    head = "".join(f"<th>{_e(_num(x))}</th>" for x in xs)
    rows = []
    for y in ys:
        tds = []
        for x in xs:
            value = cells.get((x, y))
            if value is None:
                tds.append(
                    "<td class='empty'>·</td>" if (x, y) not in cells else "<td class='na'>n/a</td>"
                )
                continue
            share = 0.5 if high == low else (value - low) / (high - low)
            tds.append(
                f"<td style='background:hsl({int(120 * share)},70%,{85 - 35 * share:.0f}%)' "
                f"title='{_e(x_name)}={_e(_num(x))} {_e(y_name)}={_e(_num(y))}: {value:.4g}'>"
                f"{value:.3g}</td>"
            )
        rows.append(f"<tr><th>{_e(_num(y))}</th>{''.join(tds)}</tr>")
    return (
        f"<h2>Objective over {_e(x_name)} (columns) and {_e(y_name)} (rows)</h2>"
        f"<table class='heatmap'><tr><th>{_e(y_name)} \\ {_e(x_name)}</th>"
        f"{head}</tr>{''.join(rows)}</table>"
    )


def stability(ranking: Sequence[Mapping[str, Any]]) -> str:
    """Whether the best cell is a plateau (its grid neighbours score close to it) or a spike."""
    grid = _grid(ranking)
    if grid is None or not ranking or ranking[0]["score"] is None:
        return ""
    x_name, y_name, cells = grid
    xs = sorted({x for x, _ in cells})
    ys = sorted({y for _, y in cells})
    best = ranking[0]["params"]
    bx, by = xs.index(best.get(x_name)), ys.index(best.get(y_name))
    neighbours = [
        cells.get((xs[i], ys[j]))
        for i in range(max(0, bx - 1), min(len(xs), bx + 2))
        for j in range(max(0, by - 1), min(len(ys), by + 2))
        if (i, j) != (bx, by) and (xs[i], ys[j]) in cells
    ]
    scored = [v for v in neighbours if v is not None]
    top = float(ranking[0]["score"])
    if not scored:
        verdict, mean = "isolated: no scored neighbour", math.nan
    else:
        mean = sum(scored) / len(scored)
        near = sum(1 for v in scored if abs(top - v) <= 0.25 * abs(top))
        verdict = (
            "a plateau: its neighbours are also good"
            if near * 2 >= len(scored)
            else "an isolated spike: most neighbours are much worse (likely overfit)"
        )
    return (
        f"<h2>Stability of the best cell</h2><p class='stability'>Best {top:.4g}; "
        f"{len(scored)} neighbours average {mean:.4g}: {_e(verdict)}.</p>"
    )


def top_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The top rows with their parameters and headline metrics."""
    metrics = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "trades")
    head = "".join(f"<th>{name}</th>" for name in metrics)
    body = "".join(
        f"<tr><td>{row['rank']}</td><td>{_e(_params(row['params']))}</td>"
        f"<td>{_e(' '.join(row.get('symbols') or []) or 'all')}</td>"
        f"<td>{_e(_num(row['score']))}</td>"
        + "".join(f"<td>{_e(_num(row['metrics'].get(m)))}</td>" for m in metrics)
        + "</tr>"
        for row in rows
    )
    return (
        f"<h2>Top {len(rows)}</h2><table class='top'><tr><th>rank</th><th>parameters</th>"
        f"<th>symbols</th><th>score</th>{head}</tr>{body}</table>"
    )


def walk_forward_table(summary: Mapping[str, Any]) -> str:
    """In-sample against out-of-sample per fold, and the walk-forward efficiency."""
    rows = []
    for fold in summary["folds"]:
        if not fold.get("out_of_sample"):
            rows.append(f"<tr><td>{fold['fold']}</td><td colspan='5'>no eligible winner</td></tr>")
            continue
        ins, outs = fold["in_sample"], fold["out_of_sample"]
        rows.append(
            f"<tr><td>{fold['fold']}</td><td>{_e(_params(fold['params']))}</td>"
            f"<td>{_e(_day(outs['window']['start_ts']))} to "
            f"{_e(_day(outs['window']['end_ts']))}</td>"
            f"<td>{_e(_num(ins['metrics'].get('sharpe')))}</td>"
            f"<td>{_e(_num(outs['metrics'].get('sharpe')))}</td>"
            f"<td>{_e(_num(ins['metrics'].get('cagr')))} / "
            f"{_e(_num(outs['metrics'].get('cagr')))}</td>"
            f"</tr>"
        )
    efficiency = summary.get("efficiency")
    curve = summary.get("stitched") or {}
    stitched = curve.get("metrics") or {}
    chart = _curve_chart(curve, "Stitched out-of-sample equity")
    return (
        "<h2>Walk-forward: in-sample against out-of-sample</h2>"
        f"<p class='wfe'>Walk-forward efficiency {_e(_num(efficiency))}; stitched out-of-sample "
        f"total return {_e(_num(stitched.get('total_return')))}, "
        f"Sharpe {_e(_num(stitched.get('sharpe')))}.</p>"
        "<table class='walk-forward'><tr><th>fold</th><th>winner</th><th>out-of-sample</th>"
        "<th>Sharpe in</th><th>Sharpe out</th><th>CAGR in / out</th></tr>"
        + "".join(rows)
        + "</table>"
        + chart
    )


def universe_table(summary: Mapping[str, Any]) -> str:
    """Each symbol's result and the equal-weight portfolio."""
    rows = "".join(
        f"<tr><td>{_e(' '.join(row['symbols'] or []))}</td>"
        f"<td>{_e(_num(row['metrics'].get('total_return')))}</td>"
        f"<td>{_e(_num(row['metrics'].get('sharpe')))}</td>"
        f"<td>{_e(_num(row['metrics'].get('max_drawdown')))}</td></tr>"
        for row in summary["per_symbol"]
    )
    portfolio = (summary.get("portfolio") or {}).get("metrics") or {}
    rows += (
        f"<tr class='portfolio'><td>equal weight</td>"
        f"<td>{_e(_num(portfolio.get('total_return')))}</td>"
        f"<td>{_e(_num(portfolio.get('sharpe')))}</td>"
        f"<td>{_e(_num(portfolio.get('max_drawdown')))}</td></tr>"
    )
    chart = _curve_chart(summary.get("portfolio") or {}, "Equal-weight portfolio equity")
    return (
        chart + "<h2>Universe</h2><table class='universe'><tr><th>symbol</th><th>total return</th>"
        f"<th>Sharpe</th><th>max drawdown</th></tr>{rows}</table>"
    )


def _curve_chart(curve: Mapping[str, Any], label: str) -> str:
    """An equity chart of ``curve`` (``ts``, ``equity``), or nothing without one."""
    if len(curve.get("equity") or []) < 2:
        return ""
    ts = np.asarray(curve["ts"], dtype=np.int64)
    equity = np.asarray(curve["equity"], dtype=float)
    return f"<h3>{_e(label)}</h3>" + equity_chart(
        ts, [Line(label, equity, EQUITY_COLOUR)], label=label
    )


def _params(params: Mapping[str, Any]) -> str:
    return (
        ", ".join(f"{name}={_num(value)}" for name, value in sorted(params.items())) or "defaults"
    )


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _day(ts: int) -> str:
    return ts_to_iso(ts)[:10]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
    "svg.chart{width:100%;max-width:1100px;height:auto;display:block}"
    "svg.chart text{font:11px system-ui,sans-serif;fill:#555}"
    "svg.chart .grid{stroke:#e8e8e8;stroke-width:1}svg.chart .axis{stroke:#999;stroke-width:1}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
    "th{background:#f4f4f4}.heatmap td{min-width:3em}.empty{color:#bbb}.na{color:#999}"
    ".portfolio{font-weight:bold}"
)
