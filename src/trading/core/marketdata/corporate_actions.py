"""Corporate actions: splits and cash dividends read from a small CSV and applied to bars.

The file has one action a row, ``date,symbol,action,value``::

    date,symbol,action,value
    2005-02-28,AAPL,split,2:1
    2012-08-09,AAPL,dividend,2.65

``date`` is the ex-date (the first trading day on the new basis), ``value`` a split's ratio
(``2:1``, ``3:2``, ``1:10`` or a number: new shares per old share) or a dividend's cash
amount per share as declared. Actions are applied backwards, as data vendors publish adjusted
series: the bars from the ex-date on stay as they were traded, every earlier bar is scaled.
A split divides earlier prices by its ratio and multiplies their volume by it; a dividend
multiplies earlier prices by ``1 - amount / previous close`` (the close of the last bar
before the ex-date, as traded), so a position held through it earns the dividend as price.

    actions = parse_corporate_actions(path.read_bytes(), name="corporate_actions.csv")
    adjusted = apply_corporate_actions(series, actions)
    adjusted.series, adjusted.applied, adjusted.skipped
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from trading.core.bars import BarSeries, FloatArray
from trading.core.model import MAX_YEAR, MIN_YEAR, NANOS_PER_SECOND, SUPPORTED_DATES

SPLIT = "split"
DIVIDEND = "dividend"
ACTIONS = (SPLIT, DIVIDEND)
COLUMNS = ("date", "symbol", "action", "value")
MAX_ACTIONS = 100_000
"""Rows one corporate actions file may hold (a master list of many symbols fits)."""
_RATIO = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*[:/]\s*([0-9]*\.?[0-9]+)\s*")
_SYMBOL_CHARS = frozenset("-_.:/^=")
_DAY_NANOS = 86_400 * NANOS_PER_SECOND
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class CorporateActionsError(ValueError):
    """A corporate actions file or action that cannot be used; the message is one line naming
    the file, the line and what is wrong."""


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """One split or cash dividend of one symbol, effective from ``ex_date`` (ISO date)."""

    symbol: str
    ex_date: str
    action: str
    value: float
    """A split's ratio (new shares per old share), a dividend's cash amount per share."""
    line: int = 0
    """The action's line in its file (1 is the header); 0 when not read from a file."""
    text: str = ""
    """The value as written (``2:1``), for messages; empty: from ``value``."""

    @property
    def ex_ts(self) -> int:
        """Midnight UTC of the ex-date, epoch nanoseconds."""
        return (date.fromisoformat(self.ex_date).toordinal() - _EPOCH_ORDINAL) * _DAY_NANOS

    def shown(self) -> str:
        """The action in words: ``split 2:1``, ``dividend 2.65``."""
        if self.text:
            return f"{self.action} {self.text}"
        if self.action == SPLIT:
            ratio = f"{self.value:g}:1" if self.value >= 1 else f"1:{1 / self.value:g}"
            return f"{SPLIT} {ratio}"
        return f"{self.action} {self.value:g}"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """An action applied to a symbol's bars before its ex-date."""

    action: CorporateAction
    price_factor: float
    """What every earlier price was multiplied by (this action alone)."""
    volume_factor: float
    bars_adjusted: int
    ex_bar: int
    """Epoch ns of the first bar on the new basis (the ex-date's bar or the next one)."""
    previous_close: float | None = None
    """A dividend's reference: the close of the last bar before the ex-date, as traded."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the report carries it (``description`` says it in one sentence)."""
        action = self.action
        return {
            "symbol": action.symbol,
            "date": action.ex_date,
            "action": action.action,
            "value": action.value,
            "price_factor": self.price_factor,
            "volume_factor": self.volume_factor,
            "bars_adjusted": self.bars_adjusted,
            "previous_close": self.previous_close,
            "description": self.description(),
        }

    def description(self) -> str:
        """``AAPL split 2:1 on 2005-02-28: 131 earlier bars, prices x0.5, volumes x2``."""
        action = self.action
        volume = f", volumes x{self.volume_factor:.6g}" if self.volume_factor != 1.0 else ""
        basis = (
            f" (previous close {self.previous_close:g})" if self.previous_close is not None else ""
        )
        return (
            f"{action.symbol} {action.shown()} on {action.ex_date}{basis}: "
            f"{self.bars_adjusted:,} earlier bars, prices x{self.price_factor:.6g}{volume}"
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """An action that changed no bar, and why."""

    action: CorporateAction
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the action's fields and the ``reason``."""
        action = self.action
        return {
            "symbol": action.symbol,
            "date": action.ex_date,
            "action": action.action,
            "value": action.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class AdjustedSeries:
    """Bars after the actions, what was applied (in date order per symbol) and what was not."""

    series: dict[str, BarSeries]
    applied: list[Adjustment]
    skipped: list[Skipped]

    @property
    def bars_adjusted(self) -> int:
        """Bars whose values changed (each counted once, however many actions touched it)."""
        counts: dict[str, int] = {}
        for adjustment in self.applied:
            symbol = adjustment.action.symbol
            counts[symbol] = max(counts.get(symbol, 0), adjustment.bars_adjusted)
        return sum(counts.values())


def parse_corporate_actions(source: bytes, *, name: str) -> list[CorporateAction]:
    """The actions of a ``date,symbol,action,value`` CSV (header required, any column order,
    names case-insensitive; ``ex_date`` is accepted for ``date``), sorted by symbol and date.

    Raises :class:`CorporateActionsError` with one line naming ``name``, the line and the
    problem: not UTF-8 text, a missing column, a bad date, symbol, action or value, the same
    action twice for a symbol and date, or no action at all.

    >>> [a.shown() for a in parse_corporate_actions(
    ...     b"date,symbol,action,value\\n2005-02-28,AAPL,split,2:1\\n", name="ca.csv")]
    ['split 2:1']
    """
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CorporateActionsError(f"corporate actions {name}: not UTF-8 text") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        raise CorporateActionsError(f"corporate actions {name}: empty file")
    columns = _columns(header, name)
    actions: list[CorporateAction] = []
    seen: dict[tuple[str, str, str], int] = {}
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"corporate actions {name} line {line}"
        if len(row) != len(header):
            raise CorporateActionsError(
                f"{where}: {len(row)} fields where the header has {len(header)}"
            )
        cells = {column: row[index].strip() for column, index in columns.items()}
        action = _action(cells, line, where)
        key = (action.symbol, action.ex_date, action.action)
        if key in seen:
            raise CorporateActionsError(
                f"{where}: {action.symbol} {action.action} on {action.ex_date} repeats line "
                f"{seen[key]}"
            )
        seen[key] = line
        actions.append(action)
        if len(actions) > MAX_ACTIONS:
            raise CorporateActionsError(
                f"corporate actions {name}: more than {MAX_ACTIONS:,} actions"
            )
    if not actions:
        raise CorporateActionsError(
            f"corporate actions {name}: no action in it (rows of {','.join(COLUMNS)})"
        )
    return sorted(actions, key=lambda action: (action.symbol, action.ex_date, action.line))


def _columns(header: Sequence[str], name: str) -> dict[str, int]:
    """Where each of :data:`COLUMNS` is in ``header``."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = cell.strip().lower()
        column = "date" if column == "ex_date" else column
        if column in COLUMNS and column not in found:
            found[column] = index
    missing = [column for column in COLUMNS if column not in found]
    if missing:
        raise CorporateActionsError(
            f"corporate actions {name}: the header lacks {', '.join(missing)} (it needs "
            f"{','.join(COLUMNS)}; got {','.join(cell.strip() for cell in header)})"
        )
    return found


def _action(cells: Mapping[str, str], line: int, where: str) -> CorporateAction:
    """One row's action, checked."""
    try:
        ex_date = date.fromisoformat(cells["date"])
    except ValueError:
        raise CorporateActionsError(
            f"{where}: date {cells['date']!r} is not an ISO 8601 date (2005-02-28)"
        ) from None
    if not MIN_YEAR <= ex_date.year <= MAX_YEAR:
        raise CorporateActionsError(
            f"{where}: date {cells['date']} is outside the supported dates, {SUPPORTED_DATES}"
        )
    symbol = cells["symbol"]
    if not symbol or len(symbol) > 32 or not all(c.isalnum() or c in _SYMBOL_CHARS for c in symbol):
        raise CorporateActionsError(
            f"{where}: symbol {symbol!r} is not 1-32 letters, digits or -_.:/^="
        )
    kind = cells["action"].lower()
    if kind not in ACTIONS:
        raise CorporateActionsError(
            f"{where}: action {cells['action']!r} is not {' or '.join(ACTIONS)}"
        )
    text = cells["value"]
    value = _split_ratio(text, where) if kind == SPLIT else _amount(text, where)
    return CorporateAction(symbol, ex_date.isoformat(), kind, value, line, text)


def _split_ratio(text: str, where: str) -> float:
    """``2:1`` / ``2/1`` (new:old) or a number, positive, finite and not 1."""
    match = _RATIO.fullmatch(text)
    try:
        value = float(match.group(1)) / float(match.group(2)) if match else float(text)
    except (ValueError, ZeroDivisionError):
        value = math.nan
    if not math.isfinite(value) or value <= 0 or value == 1.0:
        raise CorporateActionsError(
            f"{where}: split ratio {text!r} is not a positive ratio other than 1 (2:1, 3:2, "
            "1:10 or a number of new shares per old share)"
        )
    return value


def _amount(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise CorporateActionsError(
            f"{where}: dividend {text!r} is not a positive cash amount per share"
        )
    return value


def apply_corporate_actions(
    series: Mapping[str, BarSeries], actions: Sequence[CorporateAction]
) -> AdjustedSeries:
    """``series`` with every action applied to its symbol's bars before the ex-date.

    An action applies at its symbol's first bar on or after the ex-date; one whose symbol is
    not in ``series``, or that no bar precedes or follows, changes nothing and is returned in
    ``skipped`` with the reason. Factors of several actions multiply. Raises
    :class:`CorporateActionsError` for a dividend not below the previous close (it would
    make earlier prices zero or negative).

    >>> from trading.core.bars import BarSeries
    >>> import numpy as np
    >>> day = 86_400 * 10**9
    >>> bars = BarSeries("X", np.array([0, day]), *(np.array([10.0, 5.0]),) * 4,
    ...                  np.array([100.0, 100.0]))
    >>> done = apply_corporate_actions({"X": bars}, [CorporateAction("X", "1970-01-02",
    ...                                 "split", 2.0)])
    >>> done.series["X"].close.tolist(), done.series["X"].volume.tolist()
    ([5.0, 5.0], [200.0, 100.0])
    """
    by_symbol: dict[str, list[CorporateAction]] = {}
    for action in sorted(actions, key=lambda action: (action.symbol, action.ex_date)):
        by_symbol.setdefault(action.symbol, []).append(action)
    adjusted = dict(series)
    applied: list[Adjustment] = []
    skipped: list[Skipped] = []
    for symbol, own in by_symbol.items():
        bars = series.get(symbol)
        if bars is None:
            skipped.extend(Skipped(action, f"{symbol} has no bars in this run") for action in own)
            continue
        adjusted[symbol], done, passed = _apply(bars, own)
        applied.extend(done)
        skipped.extend(passed)
    return AdjustedSeries(adjusted, applied, skipped)


def _apply(
    bars: BarSeries, actions: Sequence[CorporateAction]
) -> tuple[BarSeries, list[Adjustment], list[Skipped]]:
    """One symbol's bars scaled by its ``actions`` (sorted by date)."""
    count = len(bars)
    price = np.ones(count)
    volume = np.ones(count)
    applied: list[Adjustment] = []
    skipped: list[Skipped] = []
    splits_at: dict[int, float] = {}
    for action in actions:
        if action.action == SPLIT:
            at = int(np.searchsorted(bars.ts, action.ex_ts, side="left"))
            splits_at[at] = splits_at.get(at, 1.0) * action.value
    for action in actions:
        at = int(np.searchsorted(bars.ts, action.ex_ts, side="left"))
        if at == 0:
            skipped.append(Skipped(action, "no bar of the data is before it"))
            continue
        if at == count:
            skipped.append(Skipped(action, "no bar of the data is on or after it"))
            continue
        previous_close = None
        if action.action == SPLIT:
            price_factor, volume_factor = 1.0 / action.value, action.value
        else:
            # Declared per share on the ex-date's basis: a split that day restates the close.
            previous_close = float(bars.close[at - 1]) / splits_at.get(at, 1.0)
            if action.value >= previous_close:
                where = f"line {action.line}: " if action.line else ""
                raise CorporateActionsError(
                    f"corporate actions {where}{action.symbol} dividend {action.value:g} on "
                    f"{action.ex_date} is not below the previous close {previous_close:g}"
                )
            price_factor, volume_factor = 1.0 - action.value / previous_close, 1.0
        price[:at] *= price_factor
        volume[:at] *= volume_factor
        applied.append(
            Adjustment(action, price_factor, volume_factor, at, int(bars.ts[at]), previous_close)
        )
    if not applied:
        return bars, applied, skipped
    return (
        BarSeries(
            bars.symbol,
            bars.ts,
            _scaled(bars.open, price),
            _scaled(bars.high, price),
            _scaled(bars.low, price),
            _scaled(bars.close, price),
            _scaled(bars.volume, volume),
        ),
        applied,
        skipped,
    )


def _scaled(values: FloatArray, factor: FloatArray) -> FloatArray:
    # One multiplication per value: rounding is monotonic, so high >= open/close >= low holds.
    scaled: FloatArray = values * factor
    return scaled
