"""The HTML report as a reader sees it: opened in headless chromium, no errors, every chart
drawn, the trade table sorted and filtered by the page's own script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.test_html_report import full_page, make_report, trade

CHARTS = (
    "Equity curve against the benchmark",
    "Drawdown",
    "Exposure",
    "Distribution of closed trades' returns",
    "AAA: close with entries and exits",
    "BBB: close with entries and exits",
)


def test_the_report_loads_without_errors_and_draws_every_chart(
    open_page: Any, tmp_path: Path
) -> None:
    trades = [
        trade("AAA", "long", 2, 9, 5.0),
        trade("BBB", "short", 12, 30, -4.0),
        trade("AAA", "long", 40, 60, 9.0),
        trade("BBB", "long", 70, 80, 1.0),
    ]
    returns = {
        "monthly": [{"period": "2020-01", "return": 0.01}],
        "yearly": [{"period": "2020", "return": 0.01, "benchmark": 0.02}],
    }
    path = tmp_path / "report.html"
    histogram = {"edges": [-0.04, 0.0, 0.04, 0.08], "counts": [1, 2, 1]}
    page_text = full_page(120, trades, returns=returns, trade_returns=histogram)
    path.write_text(page_text, encoding="utf-8")

    opened = open_page(path)
    page = opened.page

    assert opened.errors == []
    for label in CHARTS:
        chart = page.locator(f'svg[aria-label="{label}"]')
        assert chart.count() == 1, label
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, label
    assert page.locator("svg polyline.series").count() == 4  # strategy, benchmark, 2 prices
    assert page.locator("table").count() == 5
    assert page.locator("table.calendar td", has_text="1.0%").count() >= 1

    rows = page.locator("#trade-table tbody tr")
    symbols = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert symbols == ["AAA", "BBB", "AAA", "BBB"]  # entry order
    page.locator("#trade-table th", has_text="Net P&L").click()
    pnl = [rows.nth(i).locator("td").nth(10).inner_text() for i in range(rows.count())]
    assert pnl == ["-4.00", "1.00", "5.00", "9.00"]
    page.locator("#trade-table th", has_text="Net P&L").click()
    assert rows.nth(0).locator("td").nth(10).inner_text() == "9.00"
    page.fill("input.filter", "short")
    assert page.locator("#trade-table tbody tr:visible").count() == 1
    page.fill("input.filter", "")
    assert page.locator("#trade-table tbody tr:visible").count() == 4
    # Dates never wrap: every entry time cell is one line high.
    heights = page.eval_on_selector_all(
        "#trade-table tbody td:nth-child(5)", "cells => cells.map(c => c.getClientRects().length)"
    )
    assert heights == [1, 1, 1, 1]
    assert opened.errors == []


def test_the_data_adjustments_section_shows_the_corporate_actions_of_the_json_report(
    open_page: Any, tmp_path: Path
) -> None:
    split = {
        "symbol": "AAA",
        "date": "2020-01-10",
        "action": "split",
        "value": 2.0,
        "price_factor": 0.5,
        "volume_factor": 2.0,
        "bars_adjusted": 6,
        "previous_close": None,
        "description": "AAA split 2:1 on 2020-01-10: 6 earlier bars, prices x0.5, volumes x2",
    }
    dividend = split | {
        "date": "2020-01-15",
        "action": "dividend",
        "value": 0.5,
        "price_factor": 0.99,
        "volume_factor": 1.0,
        "bars_adjusted": 9,
        "previous_close": 50.0,
    }
    skipped = [
        {
            "symbol": "CCC",
            "date": f"2020-0{m}-01",
            "action": "dividend",
            "value": 1.0,
            "reason": "CCC has no bars in this run",
        }
        for m in (2, 3)
    ]
    data = make_report()["data"] | {
        "corporate_actions": "corporate-actions/ab12/actions.csv",
        "bars_adjusted": 9,
        "adjustments": [split, dividend],
        "adjustments_skipped": skipped,
    }
    path = tmp_path / "report.html"
    path.write_text(full_page(30, data=data), encoding="utf-8")

    opened = open_page(path)
    page = opened.page
    assert opened.errors == []
    section = page.locator("section#data")
    assert section.is_visible()
    notes = section.locator("li").all_inner_texts()
    assert notes[0].startswith(
        "Prices back-adjusted for corporate actions from corporate-actions/ab12/actions.csv"
    )
    assert (
        "AAA: split 2:1 on 2020-01-10; a cash dividend of 0.5 on 2020-01-15; its first bar's "
        "prices x0.495 in all." in notes
    )
    assert (
        "Not applied: 2 actions of CCC, 2020-02-01 to 2020-03-01 (CCC has no bars in this run)."
        in notes
    )
    rows = page.locator("#adjustments-table tbody tr")
    assert rows.count() == 2 and rows.first.is_visible()  # two actions: shown unfolded
    assert rows.nth(0).locator("td").all_inner_texts() == [
        "AAA",
        "2020-01-10",
        "split",
        "2:1",
        "0.5",
        "2",
        "6",
    ]
    assert rows.nth(1).locator("td").all_inner_texts()[3:5] == ["0.5", "0.99"]
    settings = page.locator("table", has_text="Bars adjusted")
    assert settings.count() == 1
