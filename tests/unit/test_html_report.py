"""The HTML performance report: well-formed, self-contained, escaped, bounded in size."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.builders import DAY, T0
from trading.core.model import Trade
from trading.reporting.charts import LONG_COLOUR, MAX_CHART_POINTS, SHORT_COLOUR, downsample_minmax
from trading.reporting.formatting import format_metric
from trading.reporting.html_report import MAX_TRADE_ROWS, render_html_report

VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "wbr"})
EVIL = "<script>alert(1)</script>"
MINUTE = 60_000_000_000


class TagChecker(HTMLParser):
    """Records the tags and checks that every opened non-void tag is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def trade(
    symbol: str = "AAA",
    direction: str = "long",
    entry: int = 1,
    exit_: int = 5,
    pnl: float = 10.0,
    is_open: bool = False,
    step: int = DAY,
) -> Trade:
    return Trade(
        symbol=symbol,
        direction=direction,
        quantity=10,
        entry_ts=T0 + entry * step,
        entry_price=100.0,
        exit_ts=T0 + exit_ * step,
        exit_price=101.0,
        entry_bar=entry,
        exit_bar=exit_,
        pnl=pnl,
        commission=0.5,
        is_open=is_open,
    )


def make_report(run_id: str = "run-1", symbols: list[str] | None = None) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "settings": {
            "strategy": "sma_cross",
            "params": {"fast": 10, "slow": 30},
            "cash": 100_000.0,
            "commission": 0.001,
            "mode": "long-short",
        },
        "metrics": {
            "total_return": 0.1234,
            "cagr": -0.05,
            "sharpe": 1.2345,
            "sortino": None,
            "max_drawdown": -0.25,
            "profit_factor": float("inf"),
            "trades": 3,
            "per_symbol": {"AAA": {"pnl": 1.0, "trades": 1}},
        },
        "data": {
            "bars_accepted": 20,
            "bars_rejected": 1,
            "symbols": symbols or ["AAA", "BBB"],
            "start": "2020-01-02T00:00:00Z",
            "end": "2020-01-21T00:00:00Z",
        },
    }


def curve(
    n: int, step: int = DAY
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, Any]]:
    ts = T0 + np.arange(n, dtype=np.int64) * step
    equity = 100_000.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.01, n)))
    return ts, equity


def polyline_points(page: str) -> int:
    (points,) = re.findall(r'<polyline[^>]* points="([^"]*)"', page)
    return len(points.split())


def test_page_is_well_formed_and_has_every_section() -> None:
    ts, equity = curve(20)
    trades = [
        trade("AAA", "long", 1, 5, 12.5),
        trade("BBB", "short", 6, 9, -4.0),
        trade("AAA", "long", 12, 19, 3.0, is_open=True),
    ]
    page = render_html_report(make_report(), ts, equity, trades)
    checker = parse(page)

    assert page.startswith("<!DOCTYPE html>")
    assert checker.tags.count("svg") == 2  # equity and drawdown
    assert "polyline" in checker.tags and "polygon" in checker.tags
    assert checker.tags.count("table") == 4  # metrics, settings, per symbol, trades
    text = " ".join(checker.text)
    for expected in ("run-1", "sma_cross", "fast=10, slow=30", "2020-01-02", "2020-01-21"):
        assert expected in text
    assert "12.34%" in page and "-5.00%" in page and "-25.00%" in page
    assert "1.234" in page and "∞" in page and "Sortino</td><td>—" in page
    assert "100,000" in page
    assert "Per symbol" not in page  # nested metrics are not headline numbers
    assert re.search(r'class="text">AAA</td><td>2</td><td>1</td><td>2</td>', page)
    assert "15.50" in page  # AAA net P&L
    assert "(open)" in page


def test_page_is_self_contained() -> None:
    ts, equity = curve(50)
    page = render_html_report(make_report(), ts, equity, [trade()])
    checker = parse(page)
    assert "script" not in checker.tags
    assert not {"link", "img", "iframe", "object"} & set(checker.tags)
    assert not [a for a, _ in checker.attrs if a in ("src", "href") or a.startswith("on")]
    urls = set(re.findall(r"https?://[^\"'\s)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert "url(" not in page and "@import" not in page


def test_markup_in_run_id_symbols_settings_and_metrics_is_escaped() -> None:
    report = make_report(run_id=EVIL, symbols=[EVIL])
    report["settings"]["strategy"] = EVIL
    report["settings"]["params"] = {EVIL: EVIL}
    report["settings"]["mode"] = '"><b>x</b>'
    report["metrics"][EVIL] = EVIL
    ts, equity = curve(10)
    page = render_html_report(report, ts, equity, [trade(EVIL, entry=1, exit_=4)])
    checker = parse(page)
    assert "<script" not in page
    assert "script" not in checker.tags and "b" not in checker.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL in "".join(checker.text)  # shown to the reader as text


def test_empty_trades_and_a_one_bar_curve_render() -> None:
    ts, equity = curve(1)
    page = render_html_report(make_report(), ts, equity, [])
    parse(page)
    assert page.count("No trades") == 1  # the trades table
    assert polyline_points(page) == 1


def test_a_curve_without_bars_renders() -> None:
    empty = np.empty(0, dtype=np.int64)
    page = render_html_report(make_report(), empty, empty.astype(np.float64), [])
    parse(page)
    assert page.count("No equity data") >= 2


def test_mismatched_lengths_are_refused() -> None:
    ts, equity = curve(5)
    with pytest.raises(ValueError, match="same length"):
        render_html_report(make_report(), ts, equity[:4], [])


def test_a_million_points_make_a_small_page() -> None:
    ts, equity = curve(1_000_000, MINUTE)
    trades = [
        trade("AAA", "long" if i % 2 else "short", i, i + 3, step=MINUTE)
        for i in range(0, 999_000, 50)
    ]
    page = render_html_report(make_report(), ts, equity, trades)
    parse(page)
    assert polyline_points(page) <= MAX_CHART_POINTS
    drawdown_points = re.search(r'<polygon[^>]* points="([^"]*)"', page)
    assert drawdown_points is not None
    assert len(drawdown_points.group(1).split()) <= MAX_CHART_POINTS + 2
    # One marker per kind and pixel column however many trades there are.
    assert page.count("<path d=") <= 2 * 1_000 + 4
    assert len(page.encode()) < 1_500_000


def test_trade_markers_are_green_for_long_red_for_short_and_open_trades_have_no_exit() -> None:
    ts, equity = curve(30)
    trades = [trade("AAA", "long", 2, 8), trade("AAA", "short", 10, 20, is_open=True)]
    page = render_html_report(make_report(), ts, equity, trades)
    markers = page[page.index('<g class="trades">') : page.index('<g class="legend">')]
    assert markers.count("<path") == 2 and markers.count("<circle") == 1
    assert f'fill="{LONG_COLOUR}"' in markers and f'fill="{SHORT_COLOUR}"' in markers
    assert f'stroke="{LONG_COLOUR}"' in markers and f'stroke="{SHORT_COLOUR}"' not in markers
    assert "long entry AAA 10 @ 100.00, 2020-01-04" in markers


def test_trades_outside_the_curve_draw_no_marker() -> None:
    ts, equity = curve(10)
    page = render_html_report(make_report(), ts, equity, [trade(entry=-5, exit_=-2)])
    assert '<g class="trades">' not in page


def test_drawdown_is_equity_over_running_maximum_minus_one() -> None:
    ts = T0 + np.arange(4, dtype=np.int64) * DAY
    equity = np.array([100.0, 200.0, 100.0, 150.0])
    page = render_html_report(make_report(), ts, equity, [])
    assert "max drawdown -50.00% on 2020-01-04" in page


def test_the_trades_table_stops_at_its_limit_with_a_note() -> None:
    ts, equity = curve(10)
    trades = [trade(entry=1, exit_=2) for _ in range(MAX_TRADE_ROWS + 7)]
    page = render_html_report(make_report(), ts, equity, trades)
    parse(page)
    table = page[page.index("<h2>Trades</h2>") :]
    assert table.count("<tr><td>") == MAX_TRADE_ROWS
    assert f"first {MAX_TRADE_ROWS:,} of {MAX_TRADE_ROWS + 7:,} trades" in page


def test_output_is_deterministic() -> None:
    ts, equity = curve(5_000)
    trades = [trade("AAA", "long", i, i + 5) for i in range(0, 4_900, 37)]
    first = render_html_report(make_report(), ts, equity, trades)
    assert render_html_report(make_report(), ts.copy(), equity.copy(), list(trades)) == first


def test_downsampling_keeps_the_minimum_the_maximum_and_the_ends() -> None:
    values = np.sin(np.linspace(0, 60, 1_000_003))
    values[123_457] = -5.0  # a one-bar crash
    values[876_543] = 7.0
    keep = downsample_minmax(values, 2_000)
    assert len(keep) <= 2_000
    assert np.all(np.diff(keep) > 0)
    assert {0, 123_457, 876_543, len(values) - 1} <= set(keep.tolist())


def test_short_curves_are_kept_whole_and_non_finite_points_skipped() -> None:
    assert downsample_minmax(np.arange(10.0), 2_000).tolist() == list(range(10))
    values = np.arange(10_000, dtype=np.float64)
    values[[0, 5, 9_999]] = [np.nan, np.inf, np.nan]
    keep = downsample_minmax(values, 100)
    assert 0 not in keep and 5 not in keep and 9_999 not in keep
    assert {1, 9_998} <= set(keep.tolist())


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 5_000), elements=st.floats(-1e6, 1e6)),
    st.integers(4, 300),
)
def test_downsampling_property(values: np.ndarray[Any, Any], max_points: int) -> None:
    keep = downsample_minmax(values, max_points)
    assert len(keep) <= max_points
    kept = values[keep]
    assert kept.min() == values.min() and kept.max() == values.max()
    assert keep[0] == 0 and keep[-1] == len(values) - 1


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("total_return", 0.1234, "12.34%"),
        ("win_rate", 0.5, "50.00%"),
        ("sharpe", 1.23456, "1.235"),
        ("final_equity", 123_456.789, "123,456.79"),
        ("trades", 1_234, "1,234"),
        ("sortino", None, "—"),
        ("sharpe", float("nan"), "—"),
        ("profit_factor", float("inf"), "∞"),
        ("expectancy", 0.000123, "0.000123"),
        ("note", "text", "text"),
        ("best_trade", 0.25, "25.00%"),
        ("start_ts", T0, "2020-01-02"),
        ("longest_drawdown_seconds", 3 * 86_400.0 + 7_200, "3 d 2 h"),
        ("longest_drawdown_seconds", 45.0, "45 s"),
        ("ruined", False, "no"),
    ],
)
def test_format_metric(name: str, value: object, text: str) -> None:
    assert format_metric(name, value) == text


def test_ruin_and_warnings_show_as_banners_before_the_figures() -> None:
    ts, equity = curve(20)
    report = make_report() | {
        "ruin": {"message": f"Ruined on 2020-01-09 {EVIL}"},
        "warnings": ["Only 20 bars: the annualised figures mean little."],
    }
    page = render_html_report(report, ts, equity, [])
    parse(page)
    ruin_at = page.index('class="banner ruin"')
    assert ruin_at < page.index("<h2>Metrics</h2>")
    assert "Ruined on 2020-01-09 &lt;script&gt;" in page
    assert 'class="banner warning"' in page and "Only 20 bars" in page
    assert "banner" not in render_html_report(make_report(), ts, equity, []).split("</style>")[1]
