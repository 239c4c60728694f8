"""The one validation path: blocks of cells in, per-symbol series and row errors out.

Every input (CSV chunks, JSON Lines chunks, decoded API records) is cut into
:class:`CellBlock` objects and fed to one :class:`SeriesBuilder`, which converts the cells,
applies every rule with numpy masks, remembers the last kept timestamp of each symbol across
blocks, and keeps the good rows as per-symbol numpy pieces that are joined once at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.core.bars import BarSeries, FloatArray, IntArray
from trading.core.marketdata.cells import (
    BoolArray,
    number_column,
    symbol_column,
    timestamp_column,
)
from trading.core.marketdata.errors import RowError, RowErrorCode, RowRepair
from trading.core.model import SUPPORTED_DATES, ts_to_iso

NUMBER_FIELDS = ("open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")
TIME_FIELDS = ("timestamp", "date")
"""Accepted names of the time column (case-insensitive); the first is the canonical one."""
SYMBOL_FIELD = "symbol"
RECORDS_PER_BLOCK = 65_536
REPAIR_TOLERANCE = 1e-9
"""Largest OHLC inconsistency repaired as float noise, relative to the row's largest price:
a high below the open or close (a low above them) by at most this much is clamped to it and
the row is kept and counted as repaired; a larger gap rejects the row. Adjusted series from
public sources carry such noise (a low one unit in the last place above the close)."""
_NO_TIMESTAMP = np.iinfo(np.int64).min  # below every valid timestamp (years >= 1678)
_CELL_PREVIEW_CHARS = 40


@dataclass(slots=True)
class ParseResult:
    """Validated bars per symbol and the reasons every rejected row was rejected.

    ``series`` values have strictly increasing timestamps; ``errors`` are ordered by line and,
    within a line, by the order the rules run. ``rows_read`` counts data rows (blank lines
    and the header excluded); ``rows_kept`` the bars in ``series``.
    """

    series: dict[str, BarSeries]
    errors: list[RowError]
    rows_read: int
    rows_kept: int
    format: str
    repairs: list[RowRepair] = field(default_factory=list)
    """Values of kept rows corrected within :data:`REPAIR_TOLERANCE`, by line."""

    @property
    def rows_rejected(self) -> int:
        """Number of distinct rows with at least one error."""
        return len({error.line for error in self.errors})

    @property
    def rows_repaired(self) -> int:
        """Number of distinct kept rows with at least one repaired value."""
        return len({repair.line for repair in self.repairs})


@dataclass(slots=True)
class CellBlock:
    """Consecutive well-formed rows as columns of cells, before any conversion.

    ``text`` says every cell is a ``str`` (CSV), which enables the numpy fast paths.
    ``symbols`` is ``None`` when the rows carry no symbol and ``default_symbol`` applies.
    """

    lines: IntArray
    time_field: str
    timestamps: Sequence[object]
    symbols: Sequence[object] | None
    numbers: Mapping[str, Sequence[object]]
    text: bool
    raw: Callable[[int], str]
    table: npt.NDArray[np.void] | None = None
    """The same rows parsed by ``numpy.loadtxt``: fields ``time`` and ``symbol`` as
    fixed-width strings, the numbers as floats (CSV fast path only)."""


_Piece = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
"""Kept bars of one symbol from one block: ts, open, high, low, close, volume."""


@dataclass(frozen=True, slots=True)
class _Repair:
    row: int
    field: str
    code: RowErrorCode
    original: float
    repaired: float


@dataclass(slots=True)
class _Problem:
    row: int
    field: str | None
    code: RowErrorCode
    detail: str


@dataclass(slots=True)
class SeriesBuilder:
    """Validates blocks in file order and accumulates the kept bars per symbol."""

    default_symbol: str | None
    vectorised: bool = True
    not_after: int | None = None  # the latest timestamp a bar may have (epoch ns)
    errors: list[RowError] = field(default_factory=list)
    repairs: list[RowRepair] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    _pieces: dict[str, list[_Piece]] = field(default_factory=dict)
    _last_kept: dict[str, int] = field(default_factory=dict)

    def reject_row(
        self,
        line: int,
        raw: str,
        code: RowErrorCode,
        detail: str,
        *,
        field: str | None = None,
        symbol: str | None = None,
    ) -> None:
        """Record a row that could not be split into fields (it is never converted)."""
        self.rows_read += 1
        message = _message(line, field, detail)
        self.errors.append(RowError(line, field, code.value, message, raw, symbol))

    def add(self, block: CellBlock) -> None:
        """Convert and check one block; keep its good rows and record its bad ones."""
        count = len(block.lines)
        if not count:
            return
        self.rows_read += count
        text, fast = block.text, self.vectorised
        problems: list[_Problem] = []
        usable = np.ones(count, dtype=np.bool_)  # no reason found yet

        table = block.table
        ts, ts_ok, failures = timestamp_column(
            block.timestamps,
            text=text,
            vectorised=fast,
            fixed=None if table is None else table["time"],
        )
        for row, code in failures:
            problems.append(
                _Problem(
                    row,
                    block.time_field,
                    code,
                    _conversion_detail(code, block.timestamps[row], "an ISO 8601 date or datetime"),
                )
            )
        usable &= ts_ok
        if self.not_after is not None:
            for row in np.flatnonzero(ts_ok & (ts > self.not_after)).tolist():
                problems.append(
                    _Problem(
                        row,
                        block.time_field,
                        RowErrorCode.FUTURE_TIMESTAMP,
                        f"{ts_to_iso(int(ts[row]))} is after {ts_to_iso(self.not_after)}, "
                        "the latest time a bar may have now",
                    )
                )
                usable[row] = False

        symbol_cells = block.symbols
        if symbol_cells is None:
            symbol_cells = [self.default_symbol] * count
            text = text and self.default_symbol is not None
        fixed_symbols = None if table is None or block.symbols is None else table["symbol"]
        ids, names, failures = symbol_column(
            symbol_cells, text=text, vectorised=fast, fixed=fixed_symbols
        )
        for row, code in failures:
            detail = (
                "no symbol: the row has none and no default symbol was given"
                if code is RowErrorCode.MISSING_FIELD
                else f"{_preview(symbol_cells[row])} is not a symbol"
            )
            problems.append(_Problem(row, SYMBOL_FIELD, code, detail))
        usable &= ids >= 0
        ordered = usable.copy()  # timestamp and symbol known: the ordering rules apply

        values: dict[str, FloatArray] = {}
        for name in NUMBER_FIELDS:
            cells = block.numbers[name]
            column, converted, failures = number_column(
                cells,
                text=block.text,
                vectorised=fast,
                parsed=None if table is None else np.ascontiguousarray(table[name]),
            )
            for row, code in failures:
                problems.append(
                    _Problem(row, name, code, _conversion_detail(code, cells[row], "a number"))
                )
            finite = np.isfinite(column)
            for row in np.flatnonzero(converted & ~finite).tolist():
                problems.append(
                    _Problem(
                        row,
                        name,
                        RowErrorCode.NOT_FINITE,
                        f"{_preview(cells[row])} is not a finite number",
                    )
                )
            usable &= finite
            values[name] = np.where(finite, column, np.nan)

        repaired = self._check_values(values, problems)
        for problem in problems:
            usable[problem.row] = False
        groups = _rows_by_group(ids, len(names))
        kept = self._check_order(ts, groups, names, usable, ordered, problems)
        self._keep(ts, groups, names, values, kept)
        self._record(block, problems, ids, names, symbol_cells)
        self._record_repairs(block, repaired, kept, ids, names)

    def result(self, fmt: str) -> ParseResult:
        """The series (by symbol name, whatever order the rows came in) and errors of every
        block added so far."""
        series: dict[str, BarSeries] = {}
        for name in sorted(self._pieces):
            pieces = self._pieces[name]
            series[name] = BarSeries(
                name,
                np.concatenate([piece[0] for piece in pieces]),
                *(np.concatenate([piece[k] for piece in pieces]) for k in range(1, 6)),
            )
        # Rows rejected while splitting are recorded before the block they sit in.
        errors = sorted(self.errors, key=lambda error: error.line)
        repairs = sorted(self.repairs, key=lambda repair: repair.line)
        return ParseResult(series, errors, self.rows_read, self.rows_kept, fmt, repairs)

    def _check_values(
        self, values: dict[str, FloatArray], problems: list[_Problem]
    ) -> list[_Repair]:
        """Positive prices, non-negative volume, and the OHLC envelope, on finite values.

        An envelope broken by at most :data:`REPAIR_TOLERANCE` (relative) is float noise:
        the high (low) is clamped in ``values`` and the repair returned; a larger gap is a
        problem.
        """

        def flag(mask: BoolArray, field_name: str, code: RowErrorCode, detail: str) -> None:
            # ``detail`` is a template over the row's values, filled in for bad rows only.
            for row in np.flatnonzero(mask).tolist():
                shown = {name: _number(column[row]) for name, column in values.items()}
                problems.append(_Problem(row, field_name, code, detail.format(**shown)))

        for name in PRICE_FIELDS:
            flag(
                values[name] <= 0,
                name,
                RowErrorCode.NON_POSITIVE_PRICE,
                f"{name} {{{name}}} is not a positive price",
            )
        flag(
            values["volume"] < 0,
            "volume",
            RowErrorCode.NEGATIVE_VOLUME,
            "volume {volume} is negative",
        )
        open_, high, low, close = (values[name] for name in PRICE_FIELDS)
        repairs: list[_Repair] = []
        with np.errstate(invalid="ignore"):
            scale = np.fmax(np.fmax(np.abs(open_), np.abs(close)), np.fmax(np.abs(high), low))
            ceiling = np.fmax(open_, close)
            noisy = (high < ceiling) & (ceiling - high <= REPAIR_TOLERANCE * scale)
            repairs += self._clamp(
                values, "high", ceiling, noisy, RowErrorCode.HIGH_BELOW_OPEN_CLOSE
            )
            high = values["high"]
            floor = np.fmin(np.fmin(open_, close), high)
            noisy = (low > floor) & (low - floor <= REPAIR_TOLERANCE * scale)
            repairs += self._clamp(values, "low", floor, noisy, RowErrorCode.LOW_ABOVE_OPEN_CLOSE)
            low = values["low"]
        # fmax/fmin skip NaN (a field that failed already), so each rule uses what is known.
        flag(
            high < np.fmax(open_, close),
            "high",
            RowErrorCode.HIGH_BELOW_OPEN_CLOSE,
            "high {high} is below open {open} or close {close}",
        )
        flag(
            low > np.fmin(np.fmin(open_, close), high),
            "low",
            RowErrorCode.LOW_ABOVE_OPEN_CLOSE,
            "low {low} is above open {open}, close {close} or high {high}",
        )
        return repairs

    @staticmethod
    def _clamp(
        values: dict[str, FloatArray],
        name: str,
        bound: FloatArray,
        rows: BoolArray,
        code: RowErrorCode,
    ) -> list[_Repair]:
        """Set ``values[name]`` to ``bound`` on ``rows``; the repairs made."""
        where = np.flatnonzero(rows)
        if not len(where):
            return []
        column = values[name].copy()
        found = [
            _Repair(row, name, code, float(column[row]), float(bound[row]))
            for row in where.tolist()
        ]
        column[where] = bound[where]
        values[name] = column
        return found

    def _record_repairs(
        self,
        block: CellBlock,
        repaired: list[_Repair],
        kept: BoolArray,
        ids: IntArray,
        names: list[str],
    ) -> None:
        """Record the repairs of the rows that were kept (a rejected row's repair is moot)."""
        for repair in repaired:
            if not kept[repair.row]:
                continue
            line = int(block.lines[repair.row])
            relation = "below open/close" if repair.field == "high" else "above open/close"
            detail = (
                f"{repair.field} {repair.original!r} was {relation} by "
                f"{abs(repair.repaired - repair.original):.3g} (float noise within "
                f"{REPAIR_TOLERANCE:g} relative): set to {repair.repaired!r}"
            )
            self.repairs.append(
                RowRepair(
                    line,
                    repair.field,
                    repair.code.value,
                    _message(line, repair.field, detail),
                    block.raw(repair.row),
                    names[int(ids[repair.row])],
                    repair.original,
                    repair.repaired,
                )
            )

    def _check_order(
        self,
        ts: IntArray,
        groups: list[IntArray],
        names: list[str],
        usable: BoolArray,
        ordered: BoolArray,
        problems: list[_Problem],
    ) -> BoolArray:
        """Flag rows not after the last kept bar of their symbol; return the kept mask.

        Kept rows strictly increase, so "the last kept timestamp before row i" is the running
        maximum of the earlier usable rows (a usable row that is out of order never raises it):
        one ``maximum.accumulate`` per symbol instead of a loop over rows.
        """
        kept = np.zeros(len(ts), dtype=np.bool_)
        for rows, name in zip(groups, names, strict=True):
            if not len(rows):
                continue
            group_ts = ts[rows]
            previous = self._last_kept.get(name, _NO_TIMESTAMP)
            running = np.maximum.accumulate(np.where(usable[rows], group_ts, _NO_TIMESTAMP))
            last_before = np.empty_like(group_ts)
            last_before[0] = previous
            np.maximum(running[:-1], previous, out=last_before[1:])
            checked = ordered[rows]
            for position in np.flatnonzero(checked & (group_ts <= last_before)).tolist():
                row = int(rows[position])
                duplicate = group_ts[position] == last_before[position]
                code = RowErrorCode.DUPLICATE_TIMESTAMP if duplicate else RowErrorCode.OUT_OF_ORDER
                relation = "repeats" if duplicate else "is before"
                problems.append(
                    _Problem(
                        row,
                        "timestamp",
                        code,
                        f"{ts_to_iso(int(group_ts[position]))} {relation} the "
                        f"last kept bar of {name} at "
                        f"{ts_to_iso(int(last_before[position]))}",
                    )
                )
            kept[rows] = usable[rows] & (group_ts > last_before)
            self._last_kept[name] = max(previous, int(running[-1]))
        return kept

    def _keep(
        self,
        ts: IntArray,
        groups: list[IntArray],
        names: list[str],
        values: dict[str, FloatArray],
        kept: BoolArray,
    ) -> None:
        for group_rows, name in zip(groups, names, strict=True):
            rows = group_rows[kept[group_rows]]
            if not len(rows):
                continue
            open_, high, low, close, volume = (values[column][rows] for column in NUMBER_FIELDS)
            self._pieces.setdefault(name, []).append((ts[rows], open_, high, low, close, volume))
            self.rows_kept += len(rows)

    def _record(
        self,
        block: CellBlock,
        problems: list[_Problem],
        ids: IntArray,
        names: list[str],
        symbol_cells: Sequence[object],
    ) -> None:
        problems.sort(key=lambda problem: problem.row)  # stable: rule order within a row
        raw_of_row: dict[int, str] = {}
        for problem in problems:
            row = problem.row
            if row not in raw_of_row:
                raw_of_row[row] = block.raw(row)
            line = int(block.lines[row])
            group = int(ids[row])
            cell = symbol_cells[row]
            symbol = names[group] if group >= 0 else (cell if isinstance(cell, str) else None)
            field_name = block.time_field if problem.field == "timestamp" else problem.field
            self.errors.append(
                RowError(
                    line,
                    field_name,
                    problem.code.value,
                    _message(line, field_name, problem.detail),
                    raw_of_row[row],
                    symbol,
                )
            )


def _rows_by_group(ids: IntArray, group_count: int) -> list[IntArray]:
    """Row indices (ascending) of each group id; rows with id -1 belong to none."""
    if group_count == 1:
        return [np.flatnonzero(ids >= 0)]
    if group_count <= 16:
        return [np.flatnonzero(ids == group) for group in range(group_count)]
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(group_count + 1))
    return [order[bounds[group] : bounds[group + 1]] for group in range(group_count)]


def validate_records(
    records: Iterable[Mapping[str, object]],
    *,
    symbol: str | None = None,
    not_after: int | None = None,
) -> ParseResult:
    """Validate already-decoded records (e.g. a JSON API body) with the file rules.

    Keys are matched case-insensitively; ``timestamp`` (or ``date``) is an ISO 8601 string,
    prices and volume are numbers or numeric strings. A record without ``symbol`` takes
    ``symbol``. ``RowError.line`` is the record's 1-based position. A record stamped after
    ``not_after`` (epoch ns) is rejected as ``FUTURE_TIMESTAMP``.

    >>> result = validate_records([{"timestamp": "2020-01-02", "open": 1, "high": 2,
    ...                             "low": 1, "close": 2, "volume": 10}], symbol="AAPL")
    >>> result.rows_kept, result.format
    (1, 'records')
    """
    builder = SeriesBuilder(symbol, not_after=not_after)
    batch: list[tuple[int, Mapping[str, object]]] = []
    for position, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            builder.reject_row(
                position, _record_text(record), RowErrorCode.MALFORMED_ROW, "not an object"
            )
            continue
        batch.append((position, record))
        if len(batch) >= RECORDS_PER_BLOCK:
            builder.add(records_block(batch, symbol))
            batch = []
    builder.add(records_block(batch, symbol))
    return builder.result("records")


def records_block(
    numbered: Sequence[tuple[int, Mapping[str, object]]],
    default_symbol: str | None,
    raw: Sequence[str] | None = None,
) -> CellBlock:
    """A block from (line, record) pairs; ``raw`` holds each record's text when it has one."""
    normalised = [_normalise_keys(record) for _, record in numbered]
    time_field = next(
        (name for record in normalised for name in TIME_FIELDS if name in record), TIME_FIELDS[0]
    )
    timestamps = [
        record.get("timestamp") if "timestamp" in record else record.get("date")
        for record in normalised
    ]
    symbols = [record.get(SYMBOL_FIELD, default_symbol) for record in normalised]
    numbers = {name: [record.get(name) for record in normalised] for name in NUMBER_FIELDS}
    originals = [record for _, record in numbered]

    def raw_text(row: int) -> str:
        return raw[row] if raw is not None else _record_text(originals[row])

    return CellBlock(
        lines=np.array([line for line, _ in numbered], dtype=np.int64),
        time_field=time_field,
        timestamps=timestamps,
        symbols=symbols,
        numbers=numbers,
        text=False,
        raw=raw_text,
    )


def _normalise_keys(record: Mapping[str, object]) -> dict[str, object]:
    return {key.strip().lower(): value for key, value in record.items() if isinstance(key, str)}


def _record_text(record: object) -> str:
    try:
        return json.dumps(record, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(record)


def _number(value: np.floating[Any] | float) -> str:
    return repr(float(value))


def _message(line: int, field: str | None, detail: str) -> str:
    where = f"line {line}" if field is None else f"line {line}, field '{field}'"
    return f"{where}: {detail}"


def _preview(cell: object) -> str:
    text = repr(cell)
    return text if len(text) <= _CELL_PREVIEW_CHARS else text[: _CELL_PREVIEW_CHARS - 3] + "..."


def _conversion_detail(code: RowErrorCode, cell: object, expected: str) -> str:
    if code is RowErrorCode.MISSING_FIELD:
        return "the value is missing"
    if code is RowErrorCode.NOT_FINITE:
        return f"{_preview(cell)} is not a finite number"
    if code is RowErrorCode.TIMESTAMP_OUT_OF_RANGE:
        return f"{_preview(cell)} is outside the supported dates, {SUPPORTED_DATES}"
    return f"{_preview(cell)} is not {expected}"
