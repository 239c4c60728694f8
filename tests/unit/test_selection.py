"""The bars a run trades: its symbols and period out of the file's series."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import DAY, T0
from trading.core.bars import BarSeries
from trading.core.marketdata.selection import SelectionError, select_bars


def series(symbol: str, days: int, offset: int = 0) -> BarSeries:
    ts = T0 + (np.arange(days, dtype=np.int64) + offset) * DAY
    price = np.full(days, 10.0)
    return BarSeries(symbol, ts, price, price, price, price, price)


FILE = {"AAA": series("AAA", 10), "BBB": series("BBB", 10, offset=5)}


def test_no_selection_keeps_everything() -> None:
    assert select_bars(FILE) == FILE


def test_symbols_and_an_inclusive_period_select_the_bars() -> None:
    chosen = select_bars(FILE, symbols=("BBB",), first=T0 + 6 * DAY, last=T0 + 8 * DAY)
    assert list(chosen) == ["BBB"] and chosen["BBB"].ts.tolist() == [
        T0 + 6 * DAY,
        T0 + 7 * DAY,
        T0 + 8 * DAY,
    ]


def test_a_symbol_without_bars_in_the_period_is_dropped() -> None:
    chosen = select_bars(FILE, last=T0 + 2 * DAY)
    assert list(chosen) == ["AAA"] and len(chosen["AAA"]) == 3


def test_a_symbol_the_file_lacks_is_named_with_what_it_has() -> None:
    with pytest.raises(SelectionError, match=r"symbol ZZZ not in the data \(it has AAA, BBB\)"):
        select_bars(FILE, symbols=("AAA", "ZZZ"))


def test_a_period_without_bars_says_what_the_data_covers() -> None:
    with pytest.raises(SelectionError, match=r"no bar from .* to the last bar: the data runs from"):
        select_bars(FILE, first=T0 + 100 * DAY)
