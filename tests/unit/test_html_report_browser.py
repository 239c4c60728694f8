"""The HTML report as a reader sees it: opened in headless chromium, no errors, charts drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.test_html_report import curve, make_report, trade
from trading.reporting import render_html_report


def test_the_report_loads_without_errors_and_draws_its_charts(
    open_page: Any, tmp_path: Path
) -> None:
    ts, equity = curve(120)
    trades = [trade("AAA", "long", 2, 9, 5.0), trade("BBB", "short", 12, 30, -4.0)]
    path = tmp_path / "report.html"
    path.write_text(render_html_report(make_report(), ts, equity, trades), encoding="utf-8")

    opened = open_page(path)

    assert opened.errors == []
    charts = opened.page.locator("svg")
    assert charts.count() == 2  # equity and drawdown
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    assert opened.page.locator("table").count() == 4
