"""The sweep report as a reader sees it: opened in headless chromium, no errors, the heatmap
coloured cell by cell, the stability verdict, the top-N table, and the walk-forward and
universe views with their equity charts drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.builders import random_series
from trading.core.research.aggregate import leaderboard
from trading.core.research.evaluate import evaluate_batch
from trading.core.research.plan import plan_items
from trading.core.research.request import parse_sweep_request
from trading.reporting.sweep_report import sweep_html


def _document(raw: dict[str, Any], series: dict[str, Any]) -> dict[str, Any]:
    request = parse_sweep_request(raw)
    timeline = np.unique(np.concatenate([bars.ts for bars in series.values()]))
    items = plan_items(request, timeline=timeline, data_symbols=sorted(series))
    results = evaluate_batch(series, request.to_dict(), items)
    curves = {r["item"]: r.pop("curve") for r in results if "curve" in r}
    return leaderboard(request.to_dict(), results, [], lambda r: curves.get(r["item"]))


def test_the_walk_forward_report_loads_and_draws_everything(open_page: Any, tmp_path: Path) -> None:
    series = {"AAA": random_series(5, 1500, symbol="AAA")}
    raw = {
        "strategy": "sma_cross",
        "grid": {"fast": [3, 5, 8], "slow": [20, 30, 40]},
        "walk_forward": {"folds": 3, "in_sample": 0.6, "anchored": True},
    }
    path = tmp_path / "report.html"
    path.write_text(sweep_html(_document(raw, series)), encoding="utf-8")
    opened = open_page(path)
    page = opened.page
    assert opened.errors == []
    cells = page.locator("table.heatmap td[style]")
    assert cells.count() >= 9 * 3 // 3  # every scored cell of the grid is coloured
    colours = {
        cells.nth(i).evaluate("c => getComputedStyle(c).backgroundColor")
        for i in range(cells.count())
    }
    assert len(colours) > 1  # the objective's range spans colours
    assert "neighbours" in page.locator("p.stability").inner_text()
    assert page.locator("table.top tr").count() == 1 + 20
    assert page.locator("table.walk-forward tr").count() == 1 + 3
    chart = page.locator('svg[aria-label="Stitched out-of-sample equity"]')
    assert chart.count() == 1
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100


def test_the_universe_report_shows_each_symbol_and_the_portfolio(
    open_page: Any, tmp_path: Path
) -> None:
    series = {name: random_series(seed, 400, symbol=name) for seed, name in enumerate("ABC")}
    path = tmp_path / "report.html"
    document = _document({"strategy": "buy_and_hold", "mode": "universe"}, series)
    path.write_text(sweep_html(document), encoding="utf-8")
    opened = open_page(path)
    assert opened.errors == []
    rows = opened.page.locator("table.universe tr")
    assert rows.count() == 1 + 3 + 1  # header, each symbol, the equal-weight portfolio
    assert "equal weight" in opened.page.locator("tr.portfolio").inner_text()
    assert opened.page.locator('svg[aria-label="Equal-weight portfolio equity"]').count() == 1
