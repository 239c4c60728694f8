"""The bars a run trades: the file's validated series narrowed to the run's symbols and period.

    chosen = select_bars(parsed.series, symbols=("AAPL",), first=None, last=None)

Excluded bars are not errors (the file is fine; the run wants less of it), but a selection
that leaves nothing is: a symbol the file does not have, or a period without a bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from trading.core.bars import BarSeries
from trading.core.model import ts_to_iso


class SelectionError(ValueError):
    """The run's symbols or period select no bar of the file; the message says what it has."""


def select_bars(
    series: Mapping[str, BarSeries],
    *,
    symbols: Sequence[str] = (),
    first: int | None = None,
    last: int | None = None,
) -> dict[str, BarSeries]:
    """``series`` kept to ``symbols`` (all when empty) and to bars with ``first <= ts <= last``
    (epoch ns; ``None``: unbounded). A symbol left without bars in the period is dropped.

    Raises :class:`SelectionError` naming a requested symbol the file lacks, or when no bar
    of the chosen symbols falls in the period.
    """
    missing = [symbol for symbol in symbols if symbol not in series]
    if missing:
        raise SelectionError(
            f"symbol {', '.join(missing)} not in the data (it has {', '.join(sorted(series))})"
        )
    chosen = {symbol: series[symbol] for symbol in symbols} if symbols else dict(series)
    if first is None and last is None:
        return chosen
    kept: dict[str, BarSeries] = {}
    for symbol, bars in chosen.items():
        start = 0 if first is None else int(np.searchsorted(bars.ts, first, side="left"))
        stop = len(bars) if last is None else int(np.searchsorted(bars.ts, last, side="right"))
        if stop > start:
            kept[symbol] = bars if (start, stop) == (0, len(bars)) else bars.slice(start, stop)
    if not kept:
        begins = min(int(bars.ts[0]) for bars in chosen.values())
        ends = max(int(bars.ts[-1]) for bars in chosen.values())
        wanted = f"{_bound(first, 'the first bar')} to {_bound(last, 'the last bar')}"
        raise SelectionError(
            f"no bar from {wanted}: the data runs from {ts_to_iso(begins)} to {ts_to_iso(ends)}"
        )
    return kept


def _bound(ts: int | None, otherwise: str) -> str:
    return otherwise if ts is None else ts_to_iso(ts)
