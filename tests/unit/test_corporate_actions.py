"""Corporate actions: the CSV's rules and the back-adjustment, checked on hand-computed bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.builders import DAY, T0
from trading.core.bars import BarSeries
from trading.core.marketdata import parse_market_data
from trading.core.marketdata.corporate_actions import (
    CorporateAction,
    CorporateActionsError,
    apply_corporate_actions,
    parse_corporate_actions,
)

ROOT = Path(__file__).resolve().parents[2]
HEADER = b"date,symbol,action,value\n"


def bars(
    symbol: str, closes: list[float], volume: float = 1_000.0, first_day: int = 0
) -> BarSeries:
    """Daily bars from 2020-01-02 + ``first_day``: open = close, high/low = close + /- 1."""
    close = np.array(closes)
    ts = T0 + (np.arange(len(closes), dtype=np.int64) + first_day) * DAY
    return BarSeries(
        symbol, ts, close.copy(), close + 1, close - 1, close, np.full(len(close), volume)
    )


def day(offset: int) -> str:
    """The ISO date ``offset`` days after 2020-01-02."""
    return str(np.datetime64("2020-01-02") + np.timedelta64(offset, "D"))


def test_a_two_for_one_split_halves_earlier_prices_and_doubles_their_volume() -> None:
    # Raw: 100, 102 before the ex-date (day 2), 51, 52 from it: a -50% 'loss' that is a split.
    raw = bars("AAPL", [100.0, 102.0, 51.0, 52.0])
    done = apply_corporate_actions({"AAPL": raw}, [CorporateAction("AAPL", day(2), "split", 2.0)])

    adjusted = done.series["AAPL"]
    assert adjusted.close.tolist() == [50.0, 51.0, 51.0, 52.0]
    assert adjusted.open.tolist() == [50.0, 51.0, 51.0, 52.0]
    assert adjusted.high.tolist() == [50.5, 51.5, 52.0, 53.0]
    assert adjusted.low.tolist() == [49.5, 50.5, 50.0, 51.0]
    assert adjusted.volume.tolist() == [2_000.0, 2_000.0, 1_000.0, 1_000.0]
    assert adjusted.ts.tolist() == raw.ts.tolist()
    assert raw.close.tolist() == [100.0, 102.0, 51.0, 52.0]  # the raw series is left as it was
    (applied,) = done.applied
    assert (applied.price_factor, applied.volume_factor, applied.bars_adjusted) == (0.5, 2.0, 2)
    assert applied.to_dict()["description"] == (
        "AAPL split 2:1 on 2020-01-04: 2 earlier bars, prices x0.5, volumes x2"
    )
    assert done.bars_adjusted == 2 and done.skipped == []


def test_a_cash_dividend_scales_earlier_prices_by_one_minus_dividend_over_previous_close() -> None:
    # Previous close 40, dividend 2: earlier prices x (1 - 2/40) = x0.95; volume unchanged.
    raw = bars("MSFT", [50.0, 40.0, 41.0])
    done = apply_corporate_actions(
        {"MSFT": raw}, [CorporateAction("MSFT", day(2), "dividend", 2.0)]
    )

    adjusted = done.series["MSFT"]
    assert adjusted.close.tolist() == pytest.approx([47.5, 38.0, 41.0], rel=1e-15)
    assert adjusted.volume.tolist() == [1_000.0, 1_000.0, 1_000.0]
    (applied,) = done.applied
    assert applied.price_factor == pytest.approx(0.95) and applied.previous_close == 40.0


def test_several_actions_multiply_and_a_split_the_same_day_restates_the_previous_close() -> None:
    # Split 2:1 on day 3 and a dividend of 1 (post-split terms) the same day: the previous
    # close 60 is 30 in post-split terms, so the dividend factor is 1 - 1/30.
    # A second dividend of 3 on day 1 (previous close 100): factor 0.97.
    raw = bars("X", [100.0, 110.0, 60.0, 29.0])
    actions = [
        CorporateAction("X", day(3), "split", 2.0),
        CorporateAction("X", day(3), "dividend", 1.0),
        CorporateAction("X", day(1), "dividend", 3.0),
    ]
    done = apply_corporate_actions({"X": raw}, actions)

    late = 0.5 * (1 - 1 / 30)
    expected = [100.0 * late * 0.97, 110.0 * late, 60.0 * late, 29.0]
    assert done.series["X"].close.tolist() == pytest.approx(expected, rel=1e-14)
    assert [a.action.ex_date for a in done.applied] == [day(1), day(3), day(3)]
    assert done.bars_adjusted == 3


def test_an_ex_date_without_a_bar_applies_from_the_next_bar() -> None:
    # Bars on days 0, 1 and 4 (a weekend between): a split dated day 2 applies at day 4.
    raw = bars("X", [10.0, 10.0, 5.0])
    raw = BarSeries(
        "X",
        raw.ts + np.array([0, 0, 2 * DAY]),
        *(getattr(raw, f) for f in ("open", "high", "low", "close", "volume")),
    )
    done = apply_corporate_actions({"X": raw}, [CorporateAction("X", day(2), "split", 2.0)])
    assert done.series["X"].close.tolist() == [5.0, 5.0, 5.0]
    assert done.applied[0].ex_bar == T0 + 4 * DAY


def test_actions_that_touch_no_bar_are_skipped_with_the_reason() -> None:
    raw = bars("X", [10.0, 11.0], first_day=5)
    actions = [
        CorporateAction("X", day(5), "split", 2.0),  # on the first bar: nothing before it
        CorporateAction("X", day(9), "dividend", 0.1),  # after the last bar
        CorporateAction("ZZZ", day(6), "split", 3.0),  # a symbol the data lacks
    ]
    done = apply_corporate_actions({"X": raw}, actions)

    assert done.series["X"] is raw and done.applied == []
    reasons = {(s.action.symbol, s.action.ex_date): s.reason for s in done.skipped}
    assert reasons == {
        ("X", day(5)): "no bar of the data is before it",
        ("X", day(9)): "no bar of the data is on or after it",
        ("ZZZ", day(6)): "ZZZ has no bars in this run",
    }


def test_a_dividend_not_below_the_previous_close_is_refused() -> None:
    raw = bars("X", [10.0, 4.0, 5.0])
    with pytest.raises(
        CorporateActionsError,
        match=r"line 7: X dividend 4 on .* is not below "
        r"the previous close 4$",
    ):
        apply_corporate_actions({"X": raw}, [CorporateAction("X", day(2), "dividend", 4.0, 7)])


def test_the_csv_reads_ratios_amounts_any_column_order_and_sorts_by_symbol_and_date() -> None:
    text = (
        b"Symbol,Value,Action,Ex_Date\n"
        b"MSFT,0.08,Dividend,2005-02-15\n"
        b"AAPL,2:1,split,2005-02-28\n"
        b"\n"
        b"AAPL,3/2,split,2000-06-21\n"
        b"IBM,1:10,split,2001-01-02\n"
        b"IBM,4,split,2002-01-02\n"
    )
    actions = parse_corporate_actions(text, name="ca.csv")
    assert [(a.symbol, a.ex_date, a.action, a.value, a.line) for a in actions] == [
        ("AAPL", "2000-06-21", "split", 1.5, 5),
        ("AAPL", "2005-02-28", "split", 2.0, 3),
        ("IBM", "2001-01-02", "split", 0.1, 6),
        ("IBM", "2002-01-02", "split", 4.0, 7),
        ("MSFT", "2005-02-15", "dividend", 0.08, 2),
    ]
    assert actions[0].shown() == "split 3/2"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "corporate actions ca.csv: empty file"),
        (HEADER, "corporate actions ca.csv: no action in it (rows of date,symbol,action,value)"),
        (
            b"date,symbol,kind,value\n2005-02-28,AAPL,split,2\n",
            "corporate actions ca.csv: the header lacks action (it needs "
            "date,symbol,action,value; got date,symbol,kind,value)",
        ),
        (b"\xff\xfe", "corporate actions ca.csv: not UTF-8 text"),
        (
            HEADER + b"2005-02-30,AAPL,split,2\n",
            "corporate actions ca.csv line 2: date '2005-02-30' is not an ISO 8601 date "
            "(2005-02-28)",
        ),
        (
            HEADER + b"2300-01-02,AAPL,split,2\n",
            "corporate actions ca.csv line 2: date 2300-01-02 is outside the supported dates, "
            "1678-01-01 to 2261-12-31",
        ),
        (
            HEADER + b"2005-02-28,AA PL,split,2\n",
            "corporate actions ca.csv line 2: symbol 'AA PL' is not 1-32 letters, digits or "
            "-_.:/^=",
        ),
        (
            HEADER + b"2005-02-28,AAPL,merger,2\n",
            "corporate actions ca.csv line 2: action 'merger' is not split or dividend",
        ),
        (
            HEADER + b"2005-02-28,AAPL,split,0:1\n",
            "corporate actions ca.csv line 2: split ratio '0:1' is not a positive ratio other "
            "than 1",
        ),
        (HEADER + b"2005-02-28,AAPL,split,1:1\n", "split ratio '1:1' is not a positive ratio"),
        (HEADER + b"2005-02-28,AAPL,split,2:0\n", "split ratio '2:0' is not a positive ratio"),
        (HEADER + b"2005-02-28,AAPL,split,two\n", "split ratio 'two' is not a positive ratio"),
        (
            HEADER + b"2005-02-28,AAPL,dividend,-0.5\n",
            "corporate actions ca.csv line 2: dividend '-0.5' is not a positive cash amount "
            "per share",
        ),
        (HEADER + b"2005-02-28,AAPL,dividend,nan\n", "dividend 'nan' is not a positive cash"),
        (
            HEADER + b"2005-02-28,AAPL,split,2\n2005-02-28,AAPL,Split,2:1\n",
            "corporate actions ca.csv line 3: AAPL split on 2005-02-28 repeats line 2",
        ),
        (
            HEADER + b"2005-02-28,AAPL,split\n",
            "corporate actions ca.csv line 2: 3 fields where the header has 4",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_file_the_line_and_the_problem(
    body: bytes, message: str
) -> None:
    with pytest.raises(CorporateActionsError) as raised:
        parse_corporate_actions(body, name="ca.csv")
    text = str(raised.value)
    assert message in text and "\n" not in text


def test_the_bundled_actions_turn_aapl_split_into_a_continuous_series() -> None:
    """data/corporate_actions.csv on data/stocks.csv: AAPL's 2:1 split of 2005-02-28 is the
    one split of the four symbols in 2004-08..2013-03, and no overnight gap of the adjusted
    bars is near -50 %; the raw -49.8 % gap is gone."""
    actions = parse_corporate_actions(
        (ROOT / "data" / "corporate_actions.csv").read_bytes(), name="corporate_actions.csv"
    )
    assert [(a.symbol, a.ex_date, a.value) for a in actions if a.action == "split"] == [
        ("AAPL", "2005-02-28", 2.0)
    ]
    assert {a.symbol for a in actions} == {"AAPL", "IBM", "MSFT"}  # GOOG paid none then
    raw = parse_market_data(ROOT / "data" / "stocks.csv").series
    done = apply_corporate_actions(raw, actions)
    assert done.skipped == [] and len(done.applied) == len(actions)

    def worst_gap(series: BarSeries) -> float:
        return float((series.open[1:] / series.close[:-1] - 1).min())

    assert worst_gap(raw["AAPL"]) == pytest.approx(44.68 / 88.99 - 1)
    assert worst_gap(done.series["AAPL"]) > -0.15
    split_day = int(np.searchsorted(raw["AAPL"].ts, done.applied[0].ex_bar))
    assert done.series["AAPL"].close[split_day - 1] == pytest.approx(88.99 / 2 * 0.987, rel=2e-3)
    assert done.series["GOOG"] is raw["GOOG"]
