"""Cells to typed columns: a precise per-cell parser and a vectorised fast path per column.

The per-cell functions (``parse_*_cell``) define what is valid. The column functions run a
numpy fast path first when every cell is text and hand only the cells it does not accept to
the per-cell functions, so a column's result is the same either way (a property test checks
this) and every failure still has its row and code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt

from trading.core.bars import FloatArray, IntArray
from trading.core.marketdata.errors import RowErrorCode
from trading.core.model import MAX_YEAR, MIN_YEAR, NANOS_PER_SECOND
from trading.core.symbols import is_symbol

BoolArray = npt.NDArray[np.bool_]
Failures = list[tuple[int, RowErrorCode]]
"""(row index within the column, code) of the cells that did not convert."""

_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The longest accepted timestamp: 2020-01-02T03:04:05.123456789+01:00.
_MAX_TIMESTAMP_CHARS = 35
TIMESTAMP_CELL_CHARS = _MAX_TIMESTAMP_CHARS + 1
"""Width of a fixed-width timestamp cell: one more than the longest valid one, so a longer
(invalid) cell that was cut to fit is still recognised as too long."""
_WIDTH = TIMESTAMP_CELL_CHARS
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# Few distinct symbols per chunk (the usual case) are grouped by comparing against each one;
# more are grouped by sorting.
_COMPARE_GROUPING_LIMIT = 16


def parse_timestamp_cell(cell: object) -> int | RowErrorCode:
    """One ISO 8601 date or datetime to epoch nanoseconds UTC, or the reason it is not one.

    Accepted: ``YYYY-MM-DD``, optionally followed by ``T`` or a space, ``HH:MM``, optional
    ``:SS`` and ``.fraction`` (1-9 digits), and an optional ``Z`` or ``±HH:MM`` offset
    (UTC when absent). Surrounding whitespace is ignored.

    >>> parse_timestamp_cell("2020-01-02T01:00:00+01:00")
    1577923200000000000
    """
    if cell is None:
        return RowErrorCode.MISSING_FIELD
    if not isinstance(cell, str):
        return RowErrorCode.BAD_TIMESTAMP
    text = cell.strip()
    if not text:
        return RowErrorCode.MISSING_FIELD
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return RowErrorCode.BAD_TIMESTAMP
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        valid = _valid_date(int(year), int(month), int(day))
        return RowErrorCode.TIMESTAMP_OUT_OF_RANGE if valid else RowErrorCode.BAD_TIMESTAMP
    offset = timedelta(0)
    if zone is not None and zone != "Z":
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 23 or zone_minutes > 59:
            return RowErrorCode.BAD_TIMESTAMP
        offset = timedelta(hours=zone_hours, minutes=zone_minutes)
        if zone[0] == "-":
            offset = -offset
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return RowErrorCode.BAD_TIMESTAMP
    delta = moment - _EPOCH
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + nanos


def _valid_date(year: int, month: int, day: int) -> bool:
    """Whether the proleptic Gregorian calendar has this day (any year 1..9999)."""
    try:
        datetime(max(year, 1), month, day)
    except ValueError:
        return False
    return year >= 1


def parse_number_cell(cell: object) -> float | RowErrorCode:
    """A number cell (text in Python's float syntax, or a JSON number) to a float.

    Non-finite values (``nan``, ``inf``, ``1e999``) are returned as they are; the validator
    rejects them with NOT_FINITE.
    """
    if cell is None:
        return RowErrorCode.MISSING_FIELD
    if isinstance(cell, bool):  # a JSON true/false is not a price
        return RowErrorCode.BAD_NUMBER
    if isinstance(cell, int | float):
        try:
            return float(cell)
        except OverflowError:  # an integer beyond the float range
            return RowErrorCode.NOT_FINITE
    if isinstance(cell, str):
        if not cell.strip():
            return RowErrorCode.MISSING_FIELD
        try:
            return float(cell)
        except ValueError:
            return RowErrorCode.BAD_NUMBER
    return RowErrorCode.BAD_NUMBER


def parse_symbol_cell(cell: object) -> str | RowErrorCode:
    """A symbol cell to the symbol (surrounding whitespace removed), or why it is not one."""
    if cell is None:
        return RowErrorCode.MISSING_FIELD
    if not isinstance(cell, str):
        return RowErrorCode.BAD_SYMBOL
    # A CSV cell's padding is not part of the symbol; what is left obeys the one rule.
    symbol = cell.strip()
    if not is_symbol(symbol):
        return RowErrorCode.BAD_SYMBOL
    return symbol


def timestamp_column(
    cells: Sequence[object],
    *,
    text: bool,
    vectorised: bool,
    fixed: npt.NDArray[np.str_] | None = None,
) -> tuple[IntArray, BoolArray, Failures]:
    """Epoch-ns timestamps of a column, a mask of the converted rows, and the failures.

    ``fixed`` is the column already as fixed-width strings of :data:`TIMESTAMP_CELL_CHARS`
    (possibly cut); ``cells`` then serves only the rows the fast path does not accept.
    """
    count = len(cells)
    values: IntArray = np.zeros(count, dtype=np.int64)
    converted = np.ones(count, dtype=np.bool_)
    pending: Sequence[int] = range(count)
    if vectorised and text and count:
        fast = _vector_timestamps(cells) if fixed is None else _fixed_timestamps(fixed)
        if fast is not None:
            values, accepted = fast
            pending = np.flatnonzero(~accepted).tolist()
    failures: Failures = []
    for row in pending:
        parsed = parse_timestamp_cell(cells[row])
        if isinstance(parsed, int):
            values[row] = parsed
        else:
            converted[row] = False
            failures.append((row, parsed))
    return values, converted, failures


def number_column(
    cells: Sequence[object], *, text: bool, vectorised: bool, parsed: FloatArray | None = None
) -> tuple[FloatArray, BoolArray, Failures]:
    """Floats of a column (NaN where a cell did not convert), the converted mask, failures.

    ``parsed`` is the column already converted by a parser that accepts a subset of what
    :func:`parse_number_cell` accepts, with the same values.
    """
    count = len(cells)
    if vectorised and text and parsed is not None:
        return parsed, np.ones(count, dtype=np.bool_), []
    if vectorised and text:
        try:
            # numpy converts each str with float(), so it accepts exactly what the cell
            # parser accepts; one bad cell fails the whole column, which then goes per cell.
            return np.array(cells, dtype=np.float64), np.ones(count, dtype=np.bool_), []
        except (ValueError, TypeError, OverflowError):
            pass
    values = np.empty(count, dtype=np.float64)
    converted = np.ones(count, dtype=np.bool_)
    failures: Failures = []
    for row, cell in enumerate(cells):
        number = parse_number_cell(cell)
        if isinstance(number, float):
            values[row] = number
        else:
            values[row] = np.nan
            converted[row] = False
            failures.append((row, number))
    return values, converted, failures


def symbol_column(
    cells: Sequence[object],
    *,
    text: bool,
    vectorised: bool,
    fixed: npt.NDArray[np.str_] | None = None,
) -> tuple[IntArray, list[str], Failures]:
    """Group ids of a symbol column (-1 where invalid), the symbols they index, and failures.

    Symbols that differ only by surrounding whitespace are one group. ``fixed`` is the
    column as fixed-width strings; a cell that fills the width may have been cut, so then
    ``cells`` are used instead.
    """
    count = len(cells)
    names: list[str] = []
    group_of_symbol: dict[str, int] = {}
    failures: Failures = []
    ids: IntArray
    if vectorised and text and fixed is not None and count:
        grouped = _fixed_group_ids(fixed)
        if grouped is not None:
            fixed_cells, fixed_ids = grouped
            lookup = np.array(
                [_group_of(cell, group_of_symbol) for cell in fixed_cells], dtype=np.int64
            )
            ids = lookup[fixed_ids]
            bad = np.flatnonzero(ids < 0).tolist()
            return ids, list(group_of_symbol), [(row, RowErrorCode.BAD_SYMBOL) for row in bad]
    if not text:
        ids = np.empty(count, dtype=np.int64)
        for row, cell in enumerate(cells):
            symbol = parse_symbol_cell(cell)
            if isinstance(symbol, RowErrorCode):
                ids[row] = -1
                failures.append((row, symbol))
            else:
                ids[row] = group_of_symbol.setdefault(symbol, len(group_of_symbol))
        names = list(group_of_symbol)
        return ids, names, failures
    # Text cells: parse each distinct cell once (a chunk usually holds a handful of symbols).
    distinct = list(dict.fromkeys(cells))
    group_of_cell = {cell: _group_of(cell, group_of_symbol) for cell in distinct}
    names = list(group_of_symbol)
    fast: IntArray | None = None
    if vectorised and len(distinct) > 1:
        fast = _vector_group_ids(cells, distinct, group_of_cell)
    if len(distinct) == 1:
        ids = np.full(count, group_of_cell[distinct[0]], dtype=np.int64)
    elif fast is not None:
        ids = fast
    else:
        ids = np.array([group_of_cell[cell] for cell in cells], dtype=np.int64)
    failures = [(row, RowErrorCode.BAD_SYMBOL) for row in np.flatnonzero(ids < 0).tolist()]
    return ids, names, failures


def _vector_group_ids(
    cells: Sequence[object], distinct: list[object], group_of_cell: dict[object, int]
) -> IntArray | None:
    """Group id per row by numpy comparisons; ``None`` if numpy cannot hold the cells exactly."""
    if "\x00" in "".join(cells):  # type: ignore[arg-type]
        return None  # numpy drops trailing NULs, which would merge distinct cells
    column = np.array(cells)
    if column.dtype.kind != "U":
        return None
    ids = np.full(len(cells), -2, dtype=np.int64)
    if len(distinct) <= _COMPARE_GROUPING_LIMIT:
        for cell in distinct:
            ids[column == cell] = group_of_cell[cell]
    else:
        uniques, inverse = np.unique(column, return_inverse=True)
        lookup = np.array([group_of_cell.get(u, -2) for u in uniques.tolist()], dtype=np.int64)
        ids = lookup[inverse.reshape(-1)]
    return None if (ids == -2).any() else ids


def _group_of(cell: object, group_of_symbol: dict[str, int]) -> int:
    """The group id of a symbol cell (a new one for a new symbol), -1 if it is invalid."""
    parsed = parse_symbol_cell(cell)
    if isinstance(parsed, RowErrorCode):
        return -1
    return group_of_symbol.setdefault(parsed, len(group_of_symbol))


def _fixed_group_ids(fixed: npt.NDArray[np.str_]) -> tuple[list[str], IntArray] | None:
    """(distinct cells, index into them per row) of a fixed-width column, or ``None``.

    Rows sorted by symbol (the usual export) make few runs of equal cells: compare neighbours
    and repeat each run's index. Many runs (interleaved symbols) are grouped by sorting.
    """
    count = len(fixed)
    starts = np.flatnonzero(fixed[1:] != fixed[:-1]) + 1
    if len(starts) < max(1, count // 64):
        bounds = np.concatenate(([0], starts, [count]))
        run_cells: list[str] = fixed[bounds[:-1]].tolist()
        distinct = list(dict.fromkeys(run_cells))
        index = {cell: position for position, cell in enumerate(distinct)}
        run_index = np.array([index[cell] for cell in run_cells], dtype=np.int64)
        result = distinct, np.repeat(run_index, np.diff(bounds))
    else:
        uniques, inverse = np.unique(fixed, return_inverse=True)
        inverse_ids: IntArray = inverse.reshape(-1).astype(np.int64)
        result = uniques.tolist(), inverse_ids
    width = fixed.dtype.itemsize // 4
    if any(len(cell) >= width for cell in result[0]):
        return None  # a cell may have been cut to the width: use the cells themselves
    return result


def _fixed_timestamps(fixed: npt.NDArray[np.str_]) -> tuple[IntArray, BoolArray]:
    code_points = np.ascontiguousarray(fixed).view(np.uint32).reshape(len(fixed), -1)
    lengths = np.count_nonzero(code_points, axis=1).astype(np.int64)
    return _parse_timestamp_matrix(code_points, lengths)


def _vector_timestamps(cells: Sequence[object]) -> tuple[IntArray, BoolArray] | None:
    """Parse a text column as a character matrix with numpy; ``None`` if it is not all text.

    Rows the matrix parser does not accept come back ``False`` in the mask and go to the
    per-cell parser, which decides whether they are errors or forms it alone handles
    (surrounding whitespace, non-ASCII digits are not accepted by either).
    """
    count = len(cells)
    first = cells[0]
    if isinstance(first, str) and 0 < len(first) <= _MAX_TIMESTAMP_CHARS:
        # Every cell the same length (the common case): one join, one encode, one reshape.
        width = len(first)
        try:
            joined = "\n".join(cells)  # type: ignore[arg-type]  # TypeError: not all text
            encoded = (joined + "\n").encode("ascii")
        except (TypeError, UnicodeEncodeError):
            encoded = b""
        if len(encoded) == count * (width + 1) and joined.count("\n") == count - 1:
            matrix = np.frombuffer(encoded, dtype=np.uint8).reshape(count, width + 1)
            if (matrix[:, width] == ord("\n")).all():
                lengths = np.full(count, width, dtype=np.int64)
                return _parse_timestamp_matrix(matrix[:, :width], lengths)
    if not all(isinstance(cell, str) for cell in cells) or "\x00" in "".join(cells):  # type: ignore[arg-type]
        return None  # numpy drops trailing NULs; such cells go to the per-cell parser
    # Mixed lengths: fixed-width unicode, one code point per uint32.
    wide = np.array(cells, dtype=f"U{_WIDTH}")
    code_points = wide.view(np.uint32).reshape(count, _WIDTH)
    lengths = np.count_nonzero(code_points, axis=1).astype(np.int64)
    return _parse_timestamp_matrix(code_points, lengths)


def _parse_timestamp_matrix(
    matrix: npt.NDArray[np.uint8] | npt.NDArray[np.uint32], lengths: IntArray
) -> tuple[IntArray, BoolArray]:
    """Epoch ns and an accepted-mask from an (n, width) matrix of character codes.

    Accepts exactly the strings :func:`parse_timestamp_cell` accepts without stripping, and
    checks every character position below the row's length, so an embedded NUL or any
    stray character rejects the row.
    """
    count, width = matrix.shape
    longest = int(lengths.max()) if count else 0
    used = min(width, longest, _WIDTH)
    # Bytes are enough: any code point above 255 is no accepted character, and 255 is none
    # either. Positions up to 19 are read unconditionally, so the matrix is at least that wide.
    codes = np.zeros((count, max(used, 20)), dtype=np.uint8)
    codes[:, :used] = np.minimum(matrix[:, :used], 255)
    is_digit = (codes >= ord("0")) & (codes <= ord("9"))
    digits = np.where(is_digit, codes - ord("0"), 0).astype(np.uint8)
    rows = np.arange(count)

    def at(offset_from_end: int) -> IntArray:
        return np.maximum(lengths - offset_from_end, 0)

    def number(*positions: int) -> IntArray:
        value: IntArray = np.zeros(count, dtype=np.int64)
        for position in positions:
            value *= 10
            value += digits[:, position]
        return value

    accepted = (lengths >= 10) & (lengths <= _MAX_TIMESTAMP_CHARS)
    accepted &= is_digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1)
    accepted &= (codes[:, 4] == ord("-")) & (codes[:, 7] == ord("-"))

    zulu = codes[rows, at(1)] == ord("Z")
    sign = codes[rows, at(6)]
    has_offset = (lengths >= 22) & ((sign == ord("+")) | (sign == ord("-")))
    has_offset &= codes[rows, at(3)] == ord(":")
    for offset_from_end in (5, 4, 2, 1):
        has_offset &= is_digit[rows, at(offset_from_end)]
    body = lengths - zulu - 6 * has_offset
    accepted &= ~(zulu | has_offset) | (body >= 16)
    accepted &= (body == 10) | (body == 16) | (body == 19) | ((body >= 21) & (body <= 29))

    has_time = body >= 16
    separator = codes[:, 10]
    accepted &= ~has_time | (
        ((separator == ord("T")) | (separator == ord(" ")))
        & is_digit[:, 11]
        & is_digit[:, 12]
        & (codes[:, 13] == ord(":"))
        & is_digit[:, 14]
        & is_digit[:, 15]
    )
    has_seconds = body >= 19
    accepted &= ~has_seconds | ((codes[:, 16] == ord(":")) & is_digit[:, 17] & is_digit[:, 18])
    accepted &= ~(body >= 21) | (codes[:, 19] == ord("."))
    fraction = np.zeros(count, dtype=np.int64)
    for position in range(20, min(29, used)):
        present = position < body
        accepted &= ~present | is_digit[:, position]
        fraction += np.where(present, digits[:, position], 0).astype(np.int64) * 10 ** (
            28 - position
        )

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour = np.where(has_time, number(11, 12), 0)
    minute = np.where(has_time, number(14, 15), 0)
    second = np.where(has_seconds, number(17, 18), 0)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in_month = _DAYS_IN_MONTH[np.clip(month - 1, 0, 11)] + ((month == 2) & leap)
    accepted &= (year >= MIN_YEAR) & (year <= MAX_YEAR) & (month >= 1) & (month <= 12)
    accepted &= (day >= 1) & (day <= days_in_month)
    accepted &= (hour <= 23) & (minute <= 59) & (second <= 59)

    zone_hours = digits[rows, at(5)].astype(np.int64) * 10 + digits[rows, at(4)]
    zone_minutes = digits[rows, at(2)].astype(np.int64) * 10 + digits[rows, at(1)]
    accepted &= ~has_offset | ((zone_hours <= 23) & (zone_minutes <= 59))
    zone_seconds = np.where(
        has_offset, np.where(sign == ord("-"), -1, 1) * (zone_hours * 3600 + zone_minutes * 60), 0
    )

    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    nanos = (seconds - zone_seconds) * NANOS_PER_SECOND + fraction
    result: IntArray = np.where(accepted, nanos, 0).astype(np.int64)
    return result, accepted


def _days_from_civil(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    shifted_year = year - (month <= 2)
    era = shifted_year // 400
    year_of_era = shifted_year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days: IntArray = era * 146_097 + day_of_era - 719_468
    return days
