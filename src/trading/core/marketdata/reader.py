"""Reading market data files: source, format, streaming chunks, and splitting rows into cells.

A file is read ``chunk_bytes`` at a time and cut at the last newline, so memory follows the
kept bars, not the file size. A CSV chunk without quotes is split into cells by two C-level
``str`` calls; a chunk with quotes, a line with the wrong number of fields, or the reference
(non-vectorised) mode goes line by line, using the ``csv`` module for lines with quotes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import PurePath
from typing import BinaryIO, overload

import numpy as np

from trading.core.marketdata.cells import TIMESTAMP_CELL_CHARS
from trading.core.marketdata.errors import FileErrorCode, MarketDataError, RowErrorCode
from trading.core.marketdata.validate import (
    NUMBER_FIELDS,
    SYMBOL_FIELD,
    TIME_FIELDS,
    CellBlock,
    ParseResult,
    SeriesBuilder,
    records_block,
)

DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
"""Bytes read per chunk: large enough to amortise the per-chunk numpy calls."""
CSV = "csv"
JSONL = "jsonl"
_FORMAT_NAMES = {"csv": CSV, "jsonl": JSONL, "ndjson": JSONL}
_GZIP_MAGIC = b"\x1f\x8b"
SYMBOL_CELL_CHARS = 32
"""Width of the fixed-width symbol cells of the fast path; longer symbols take a slower path."""

Source = str | os.PathLike[str] | bytes | BinaryIO


def parse_market_data(
    source: Source,
    *,
    name: str | None = None,
    symbol: str | None = None,
    fmt: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    not_after: int | None = None,
) -> ParseResult:
    """Read and validate one CSV or JSON Lines file of OHLCV bars (optionally gzip-compressed).

    ``source`` is a path, the file's bytes, or a binary stream. ``name`` (default: the path or
    the stream's ``name``) chooses the format by extension (``.csv``, ``.jsonl``, ``.ndjson``,
    each optionally ``.gz``) unless ``fmt`` is given, and gives the default symbol (the file
    name without extensions) for rows without a symbol column; ``symbol`` overrides it.

    Good rows become :class:`~trading.core.bars.BarSeries`; every bad row is reported in
    ``errors`` with all its reasons. A file that cannot be read at all raises
    :class:`MarketDataError`. A path that does not exist raises the usual ``OSError``. A row
    stamped after ``not_after`` (epoch ns) is rejected as ``FUTURE_TIMESTAMP``.

    >>> result = parse_market_data(b"date,open,high,low,close,volume\\n2020-01-02,1,2,1,2,10\\n",
    ...                            name="AAPL.csv")
    >>> list(result.series), result.rows_kept, result.errors
    (['AAPL'], 1, [])
    """
    return read_market_data(
        source,
        name=name,
        symbol=symbol,
        fmt=fmt,
        chunk_bytes=chunk_bytes,
        vectorised=True,
        not_after=not_after,
    )


def read_market_data(
    source: Source,
    *,
    name: str | None,
    symbol: str | None,
    fmt: str | None,
    chunk_bytes: int,
    vectorised: bool,
    not_after: int | None = None,
) -> ParseResult:
    """:func:`parse_market_data` with a switch for the numpy fast paths.

    ``vectorised=False`` is the reference path (every line and cell on its own); the tests
    check that both give the same result.
    """
    with ExitStack() as stack:
        if isinstance(source, bytes):
            stream: BinaryIO = io.BytesIO(source)
        elif isinstance(source, str | os.PathLike):
            name = name if name is not None else os.fspath(source)
            stream = stack.enter_context(open(source, "rb"))
        else:
            stream = source
            stream_name = getattr(source, "name", None)
            name = (
                name
                if name is not None
                else (stream_name if isinstance(stream_name, str) else None)
            )
        text_format = file_format(name, fmt)
        default_symbol = symbol if symbol is not None else _symbol_from_name(name)
        builder = SeriesBuilder(default_symbol, vectorised, not_after=not_after)
        chunks = _text_chunks(_decompressed(stream), max(1, chunk_bytes))
        if text_format == CSV:
            _read_csv(chunks, builder)
        else:
            _read_jsonl(chunks, builder)
        return builder.result(text_format)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def file_format(name: str | None, fmt: str | None = None) -> str:
    """``csv`` or ``jsonl``: ``fmt`` when given, else from ``name``'s extension (``.csv``,
    ``.jsonl``, ``.ndjson``, each optionally ``.gz``). Raises :class:`MarketDataError`
    (``UNKNOWN_FORMAT``) when neither tells."""
    if fmt is not None:
        text_format = _FORMAT_NAMES.get(fmt.strip().lower().removeprefix("."))
        if text_format is None:
            raise MarketDataError(
                FileErrorCode.UNKNOWN_FORMAT, f"unknown format {fmt!r}: use csv or jsonl"
            )
        return text_format
    suffixes = [suffix.lower() for suffix in PurePath(name or "").suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    text_format = _FORMAT_NAMES.get(suffixes[-1].removeprefix(".")) if suffixes else None
    if text_format is None:
        raise MarketDataError(
            FileErrorCode.UNKNOWN_FORMAT,
            f"cannot tell the format of {name!r}: name it .csv, .jsonl or .ndjson "
            "(optionally .gz) or pass fmt",
        )
    return text_format


def _symbol_from_name(name: str | None) -> str | None:
    """``raw/2024/AAPL.csv.gz`` -> ``AAPL``."""
    if not name:
        return None
    base = PurePath(name).name
    stem = base.split(".", 1)[0] if not base.startswith(".") else ""
    return stem or None


class _GzipStream:
    """Reads of a gzip stream whose corruption surfaces as :class:`MarketDataError`."""

    def __init__(self, stream: BinaryIO) -> None:
        self._file = gzip.GzipFile(fileobj=stream, mode="rb")

    def read(self, size: int) -> bytes:
        try:
            return self._file.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise MarketDataError(
                FileErrorCode.BINARY_FILE, f"the gzip data is corrupt or truncated ({exc})"
            ) from exc


class _PeekedStream:
    """A stream with its first bytes already read (to sniff the gzip magic number)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int) -> bytes:
        if self._head:
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._stream.read(size)


def _decompressed(stream: BinaryIO) -> _GzipStream | _PeekedStream:
    head = stream.read(len(_GZIP_MAGIC))
    peeked = _PeekedStream(head, stream)
    if head == _GZIP_MAGIC:  # by content, not by name: an S3 key may lie
        return _GzipStream(peeked)  # type: ignore[arg-type]  # GzipFile only calls read()
    return peeked


def _text_chunks(
    stream: _GzipStream | _PeekedStream, chunk_bytes: int
) -> Iterator[tuple[int, str]]:
    """(number of the first line, text) pieces that end at a line boundary.

    Raises EMPTY_FILE for a file without any non-whitespace content, BINARY_FILE for NUL
    bytes, BAD_ENCODING for bytes that are not UTF-8 (a UTF-8 BOM is dropped).
    """
    carry = b""
    line = 1
    first = True
    seen_content = False
    while True:
        data = stream.read(chunk_bytes)
        buffer = carry + data if carry else data
        if data:
            cut = buffer.rfind(b"\n")
            if cut < 0:
                carry = buffer
                continue
            piece, carry = buffer[: cut + 1], buffer[cut + 1 :]
        else:
            piece, carry = buffer, b""
        if piece:
            nul = piece.find(b"\x00")
            if nul >= 0:
                bad_line = line + piece.count(b"\n", 0, nul)
                raise MarketDataError(
                    FileErrorCode.BINARY_FILE, f"line {bad_line}: NUL byte; this is not a text file"
                )
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_line = line + piece.count(b"\n", 0, exc.start)
                raise MarketDataError(
                    FileErrorCode.BAD_ENCODING, f"line {bad_line}: the bytes are not UTF-8"
                ) from exc
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            seen_content = seen_content or (bool(text) and not text.isspace())
            if seen_content:
                yield line, text
            line += piece.count(b"\n")
        if not data:
            break
    if not seen_content:
        raise MarketDataError(FileErrorCode.EMPTY_FILE, "the file has no content")


def _lines(text: str) -> list[str]:
    """The lines of a chunk, without their terminators."""
    return (text[:-1] if text.endswith("\n") else text).split("\n")


class _CsvHeader:
    """Column positions of one CSV header."""

    def __init__(self, line: str, has_default_symbol: bool) -> None:
        fields = _split_csv_line(line)
        if fields is None:
            raise MarketDataError(FileErrorCode.NO_HEADER, "line 1 is not a CSV header")
        names = [field.strip().lower() for field in fields]
        known = {*TIME_FIELDS, SYMBOL_FIELD, *NUMBER_FIELDS}
        expected = "date or timestamp, open, high, low, close, volume and optionally symbol"
        if not known.intersection(names):
            raise MarketDataError(
                FileErrorCode.NO_HEADER, f"line 1 is not a header: expected {expected}"
            )
        repeated = sorted({name for name in names if name in known and names.count(name) > 1})
        time_names = [name for name in TIME_FIELDS if name in names]
        if repeated or len(time_names) > 1:
            raise MarketDataError(
                FileErrorCode.NO_HEADER,
                f"line 1 names a column twice ({', '.join(repeated or time_names)})",
            )
        missing = [name for name in NUMBER_FIELDS if name not in names]
        if not time_names:
            missing.insert(0, "date or timestamp")
        if missing:
            raise MarketDataError(
                FileErrorCode.MISSING_COLUMN, f"the header lacks {', '.join(missing)}"
            )
        if SYMBOL_FIELD not in names and not has_default_symbol:
            raise MarketDataError(
                FileErrorCode.MISSING_COLUMN,
                "no symbol column and no symbol given: pass symbol= or name the file "
                "after the symbol",
            )
        self.width = len(names)
        self.names = names
        self.time_field = time_names[0]
        self.time = names.index(self.time_field)
        self.symbol = names.index(SYMBOL_FIELD) if SYMBOL_FIELD in names else None
        self.numbers = {name: names.index(name) for name in NUMBER_FIELDS}
        # Row layout for numpy.loadtxt: every column by position, unknown ones one char wide.
        kinds = dict.fromkeys(range(len(names)), "U1")
        kinds[self.time] = f"U{TIMESTAMP_CELL_CHARS}"
        if self.symbol is not None:
            kinds[self.symbol] = f"U{SYMBOL_CELL_CHARS}"
        kinds.update((index, "f8") for index in self.numbers.values())
        keys = {self.time: "time", self.symbol: "symbol"}
        keys.update((index, name) for name, index in self.numbers.items())
        self.table_dtype = np.dtype(
            [(keys.get(index, f"column{index}"), kind) for index, kind in kinds.items()]
        )

    def symbol_of(self, fields: list[str], default: str | None) -> str | None:
        """The symbol of a row that has the wrong number of fields, when it can be told."""
        if self.symbol is None:
            return default
        if self.symbol < len(fields):
            return fields[self.symbol].strip() or None
        return None


def _split_csv_line(line: str) -> list[str] | None:
    """Fields of one line: ``str.split`` unless quoted; ``None`` if csv cannot parse it."""
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error:
        return None


def _read_csv(chunks: Iterator[tuple[int, str]], builder: SeriesBuilder) -> None:
    header: _CsvHeader | None = None
    for first_line, text in chunks:
        line = first_line
        if header is None:
            header_line, _, text = text.partition("\n")
            if first_line != 1 or not header_line.strip():
                raise MarketDataError(FileErrorCode.NO_HEADER, "line 1 is empty, not a header")
            header = _CsvHeader(header_line, builder.default_symbol is not None)
            line += 1
        if not text:
            continue
        block = None
        if builder.vectorised and '"' not in text:
            block = _csv_block_table(line, text, header) or _csv_block_fast(line, text, header)
        if block is None:
            block = _csv_block_by_line(line, text, header, builder)
        builder.add(block)


class _LazyCells(Sequence[str]):
    """One column of a chunk, split out of a line only when a row needs its cell."""

    def __init__(self, lines: Callable[[], list[str]], index: int, count: int) -> None:
        self._lines = lines
        self._index = index
        self._count = count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, row: int) -> str: ...
    @overload
    def __getitem__(self, row: slice) -> Sequence[str]: ...
    def __getitem__(self, row: int | slice) -> str | Sequence[str]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(self._count))]
        return self._lines()[row].split(",")[self._index]


def _csv_block_table(first_line: int, text: str, header: _CsvHeader) -> CellBlock | None:
    """A quote-free chunk parsed by ``numpy.loadtxt`` in C; ``None`` if it refuses any line.

    loadtxt accepts a subset of what the per-cell parsers accept (no ``1_000``, no non-ASCII
    digits) with the same values, skips blank lines (caught by the row count) and refuses a
    line with the wrong number of fields; a refused chunk goes the slower ways.
    """
    body = text[:-1] if text.endswith("\n") else text
    if not body or body.isspace():
        return None  # loadtxt would warn about "no data"; the line-by-line path skips it
    count = body.count("\n") + 1
    try:
        table = np.loadtxt(
            io.StringIO(body),
            delimiter=",",
            dtype=header.table_dtype,
            comments=None,
            quotechar=None,
            ndmin=1,
        )
    except (ValueError, TypeError, OverflowError):
        return None
    if len(table) != count:
        return None
    lines_cache: list[list[str]] = []

    def lines() -> list[str]:
        if not lines_cache:
            lines_cache.append(body.split("\n"))
        return lines_cache[0]

    return CellBlock(
        lines=np.arange(first_line, first_line + count, dtype=np.int64),
        time_field=header.time_field,
        timestamps=_LazyCells(lines, header.time, count),
        symbols=None if header.symbol is None else _LazyCells(lines, header.symbol, count),
        numbers={name: _LazyCells(lines, index, count) for name, index in header.numbers.items()},
        text=True,
        raw=lambda row: lines()[row],
        table=table,
    )


def _csv_block_fast(first_line: int, text: str, header: _CsvHeader) -> CellBlock | None:
    """All cells of a quote-free chunk in two C-level calls; ``None`` if any line is odd.

    Each newline becomes a field of its own, so the cut is right exactly when every
    ``width + 1``-th field is a newline: then every line has ``width`` fields.
    """
    body = text[:-1] if text.endswith("\n") else text
    width = header.width
    flat = body.replace("\n", ",\n,").split(",")
    count = body.count("\n") + 1
    stride = width + 1
    if len(flat) != count * stride - 1 or flat[width::stride].count("\n") != count - 1:
        return None  # blank lines or lines with a wrong number of fields
    lines_cache: list[list[str]] = []

    def raw(row: int) -> str:
        if not lines_cache:
            lines_cache.append(body.split("\n"))
        return lines_cache[0][row]

    return CellBlock(
        lines=np.arange(first_line, first_line + count, dtype=np.int64),
        time_field=header.time_field,
        timestamps=flat[header.time :: stride],
        symbols=None if header.symbol is None else flat[header.symbol :: stride],
        numbers={name: flat[index::stride] for name, index in header.numbers.items()},
        text=True,
        raw=raw,
    )


def _csv_block_by_line(
    first_line: int, text: str, header: _CsvHeader, builder: SeriesBuilder
) -> CellBlock:
    """Split a chunk line by line; rows with the wrong number of fields are rejected here."""
    numbers: list[int] = []
    raws: list[str] = []
    rows: list[list[str]] = []
    for line, raw in enumerate(_lines(text), start=first_line):
        if not raw.strip():
            continue  # blank lines are not rows
        fields = _split_csv_line(raw)
        if fields is None:
            builder.reject_row(line, raw, RowErrorCode.MALFORMED_ROW, "the CSV quoting is broken")
        elif len(fields) != header.width:
            short = len(fields) < header.width
            builder.reject_row(
                line,
                raw,
                RowErrorCode.MISSING_FIELD if short else RowErrorCode.EXTRA_FIELD,
                f"{len(fields)} fields, the header has {header.width}",
                field=header.names[len(fields)] if short else None,
                symbol=header.symbol_of(fields, builder.default_symbol),
            )
        else:
            numbers.append(line)
            raws.append(raw)
            rows.append(fields)
    columns: list[list[str]] = [[row[index] for row in rows] for index in range(header.width)]
    return CellBlock(
        lines=np.array(numbers, dtype=np.int64),
        time_field=header.time_field,
        timestamps=columns[header.time],
        symbols=None if header.symbol is None else columns[header.symbol],
        numbers={name: columns[index] for name, index in header.numbers.items()},
        text=True,
        raw=raws.__getitem__,
    )


def _read_jsonl(chunks: Iterator[tuple[int, str]], builder: SeriesBuilder) -> None:
    for first_line, text in chunks:
        numbered: list[tuple[int, dict[str, object]]] = []
        raws: list[str] = []
        for line, raw in enumerate(_lines(text), start=first_line):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                builder.reject_row(line, raw, RowErrorCode.MALFORMED_ROW, "not valid JSON")
                continue
            if not isinstance(record, dict):
                builder.reject_row(line, raw, RowErrorCode.MALFORMED_ROW, "not a JSON object")
                continue
            numbered.append((line, record))
            raws.append(raw)
        builder.add(records_block(numbered, builder.default_symbol, raws))
