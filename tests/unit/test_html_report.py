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
from trading.core.bars import BarSeries
from trading.core.metrics import compute_metrics
from trading.core.model import Trade
from trading.reporting.charts import (
    LONG_COLOUR,
    MAX_CHART_POINTS,
    MAX_MARKERS,
    SHORT_COLOUR,
    downsample_minmax,
    time_ticks,
)
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


def full_page(n: int = 20, trades: list[Trade] | None = None, **report: Any) -> str:
    """A page with every optional part: benchmark, exposure and two symbols' prices."""
    ts, equity = curve(n)
    price = np.linspace(100.0, 110.0, n)
    prices = {
        symbol: BarSeries(symbol, ts, price, price + 1, price - 1, price, np.ones(n))
        for symbol in ("AAA", "BBB")
    }
    default = [
        trade("AAA", "long", 1, 5, 12.5),
        trade("BBB", "short", 6, 9, -4.0),
        trade("AAA", "long", 12, 19, 3.0, is_open=True),
    ]
    return render_html_report(
        make_report() | report,
        ts,
        equity,
        default if trades is None else trades,
        benchmark=equity * 1.1,
        exposure=np.full(n, 0.5),
        prices=prices,
    )


def test_page_is_well_formed_and_has_every_section() -> None:
    page = full_page()
    checker = parse(page)

    assert page.startswith("<!DOCTYPE html>")
    # equity, drawdown, exposure, the trade-return distribution, one price chart per symbol
    assert checker.tags.count("svg") == 6
    assert "polyline" in checker.tags and "polygon" in checker.tags
    # metrics, settings, per symbol, trades (the calendar table needs the report's returns)
    assert checker.tags.count("table") == 4
    text = " ".join(checker.text)
    for expected in ("run-1", "sma_cross", "fast=10, slow=30", "2020-01-02", "2020-01-21"):
        assert expected in text
    assert "12.34%" in page and "-5.00%" in page and "-25.00%" in page
    assert "1.234" in page and "∞" in page and "<td>Sortino</td><td>—" in page
    assert "100,000" in page
    assert "Per symbol" not in page  # nested metrics are not headline numbers
    assert re.search(r'class="text">AAA</td><td>2</td><td>1</td><td>2</td>', page)
    assert "15.50" in page  # AAA net P&L
    assert ">open<" in page  # the open trade's exit time


def test_figures_read_as_a_trader_reads_them() -> None:
    report = make_report()
    report["metrics"] |= {"longest_drawdown_seconds": 488 * 86_400.0, "start_ts": T0}
    report["settings"] |= {"slippage_bps": 5.0, "cash_fraction": 0.25}
    ts, equity = curve(20)
    page = render_html_report(report, ts, equity, [])
    assert "<td>Longest drawdown</td><td>488 d</td>" in page  # no "seconds" in the label
    assert "<td>0.1%</td>" in page and "<td>5 bps</td>" in page and "<td>25%</td>" in page
    assert "<td>Start</td>" not in page  # the period is in the header, once


def test_the_benchmark_sits_beside_the_strategy() -> None:
    benchmark = {
        "name": "equal-weight buy-and-hold",
        "description": "of AAA",
        "metrics": {"total_return": 0.5, "max_drawdown": -0.1},
    }
    page = full_page(benchmark=benchmark)
    assert "<th>Benchmark</th>" in page
    assert re.search(r"<td>Total return</td><td>12.34%</td><td>50.00%</td>", page)
    assert 'data-series="equal-weight buy-and-hold"' in page
    assert "Benchmark: of AAA" in page


def test_calendar_returns_table_has_years_down_and_months_across() -> None:
    returns = {
        "monthly": [{"period": "2020-01", "return": 0.02}, {"period": "2020-02", "return": -0.01}],
        "yearly": [{"period": "2020", "return": 0.0098, "benchmark": 0.05}],
    }
    page = full_page(returns=returns)
    table = page[page.index('<table class="calendar">') :]
    table = table[: table.index("</table>")]
    assert '<td class="text">2020</td><td class="pos">2.0%</td><td class="neg">-1.0%</td>' in table
    assert "<strong>1.0%</strong>" in table and ">5.0%<" in table


def test_page_is_self_contained() -> None:
    page = full_page(50)
    checker = parse(page)
    assert checker.tags.count("script") == 1  # the trade table's sorting, inline
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
    assert page.count("<script") == 1 and "<script>\n(function" in page  # ours only
    assert checker.tags.count("script") == 1 and "b" not in checker.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL in "".join(checker.text)  # shown to the reader as text


def test_empty_trades_and_a_one_bar_curve_render() -> None:
    ts, equity = curve(1)
    page = render_html_report(make_report(), ts, equity, [])
    parse(page)
    assert '<p class="note">No trades.</p>' in page  # the trades table
    assert "No closed trades" in page  # the distribution
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
    prices = {"AAA": BarSeries("AAA", ts, equity, equity, equity, equity, equity)}
    page = render_html_report(
        make_report(), ts, equity, trades, benchmark=equity, exposure=equity * 0, prices=prices
    )
    parse(page)
    for points in re.findall(r'<polyline[^>]* points="([^"]*)"', page):
        assert len(points.split()) <= MAX_CHART_POINTS
    for points in re.findall(r'<polygon[^>]* points="([^"]*)"', page):
        assert len(points.split()) <= MAX_CHART_POINTS + 2
    markers = page[
        page.index('<g class="trades">') : page.index(
            '<g class="legend">', page.index('<g class="trades">')
        )
    ]
    assert markers.count("<title>") <= MAX_MARKERS
    assert len(page.encode()) < 3_000_000


def test_trade_markers_sit_on_the_price_chart_and_the_legend_names_only_what_occurs() -> None:
    trades = [trade("AAA", "long", 2, 8), trade("AAA", "long", 10, 19, is_open=True)]
    page = full_page(30, trades)
    aaa = page[page.index('<h3 id="price-AAA">') : page.index('<h3 id="price-BBB">')]
    markers = aaa[aaa.index('<g class="trades">') : aaa.index('<g class="legend">')]
    assert markers.count("<path") == 2 and markers.count("<circle") == 1  # open: no exit
    assert f'fill="{LONG_COLOUR}"' in markers and SHORT_COLOUR not in markers
    assert "long entry 10 @ 100.00, 2020-01-04" in markers
    legend = aaa[aaa.index('<g class="legend">') :]
    assert "long entry" in legend and "long exit" in legend
    assert "short entry" not in legend and "short exit" not in legend
    bbb = page[page.index('<h3 id="price-BBB">') :]
    assert '<g class="trades">\n</g>' in bbb  # no trade of BBB


def test_drawdown_caption_is_the_report_s_figure_dated_on_the_same_curve() -> None:
    ts = T0 + np.arange(4, dtype=np.int64) * DAY
    equity = np.array([100.0, 200.0, 100.0, 150.0])
    report = make_report()
    report["metrics"]["max_drawdown"] = compute_metrics(equity, ts, []).max_drawdown
    page = render_html_report(report, ts, equity, [])
    assert "max drawdown -50.00% on 2020-01-04" in page


def test_a_ruined_account_shows_one_drawdown_figure_and_a_banner() -> None:
    ts = T0 + np.arange(6, dtype=np.int64) * DAY
    equity = np.array([100.0, 120.0, 30.0, -50.0, -215.0, -100.0])
    metrics = compute_metrics(equity, ts, []).to_dict()
    assert metrics["max_drawdown"] == -1.0 and metrics["ruined"]
    report = make_report() | {"ruin": {"message": "The account was ruined on 2020-01-05."}}
    report["metrics"] = metrics
    page = render_html_report(report, ts, equity, [])
    assert "max drawdown -100.00% on 2020-01-05" in page  # the metric, not -279 %
    drawdown = page.split("<h2>Drawdown</h2>")[1].split("</section>")[0]
    shown = [float(value) for value in re.findall(r"(-?\d+(?:\.\d+)?)%", drawdown)]
    assert -100.0 in shown and min(shown) == -100.0  # the axis stops where the metric does
    assert 'class="banner ruin"' in page and 'class="ruin"' in page  # banner and chart mark


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


def test_time_ticks_fall_on_calendar_boundaries() -> None:
    days = np.datetime64("2004-08-19", "ns").astype(np.int64) + np.arange(3_000) * DAY
    assert [label for _, label in time_ticks(days)] == ["2006", "2008", "2010", "2012"]
    assert [label for _, label in time_ticks(days[:200])] == [
        "2004-09",
        "2004-11",
        "2005-01",
        "2005-03",
    ]
    weekly = time_ticks(days[:40])
    assert all(np.datetime64(label).astype(object).weekday() == 0 for _, label in weekly)
    for index, label in time_ticks(days):
        assert str(days[index].astype("datetime64[ns]")).startswith(label)


def test_few_bars_and_few_trades_are_flagged_before_the_figures() -> None:
    from trading.core.breakdown import warnings_for

    notes = warnings_for(4, 1)
    assert len(notes) == 2 and "Only 4 bars" in notes[0] and "Only 1 closed trades" in notes[1]
    assert warnings_for(500, 40) == []
    page = full_page(warnings=notes)
    assert page.index("Only 4 bars") < page.index("<h2>Metrics</h2>")
