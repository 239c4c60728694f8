"""Properties of market data ingestion: no crash on any input, fast path == reference path."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.core.marketdata import MarketDataError, ParseResult, parse_market_data
from trading.core.marketdata.cells import parse_timestamp_cell, timestamp_column
from trading.core.marketdata.reader import read_market_data
from trading.core.marketdata.validate import validate_records

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Cells close to valid ones, so that most rows pass some rules and fail others.
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 200).map(str),
    st.sampled_from(["", " ", "1_000", "1e999", "nan", "-0", " 12.5 ", "x", "١٢", "1e", "+3"]),
)
digits2 = st.integers(0, 99).map(lambda value: f"{value:02d}")
timestamps = st.one_of(
    st.datetimes(
        min_value=datetime(1677, 1, 1), max_value=datetime(2263, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: moment.isoformat()),
    st.dates().map(str),
    st.builds(
        lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}{s}{frac}{zone}",
        st.integers(1600, 2300),
        digits2,
        digits2,
        st.sampled_from(["T", " ", "t", "_"]),
        digits2,
        digits2,
        st.sampled_from(["", ":00", ":59", ":60", ":5"]),
        st.sampled_from(["", ".5", ".123456789", ".1234567890", "."]),
        st.sampled_from(["", "Z", "z", "+01:00", "-05:30", "+24:00", "+01:60", "+0100", " "]),
    ),
    st.text(alphabet="0123456789-T:Z+. ", max_size=30),
    st.text(max_size=12),
)
clean_numbers = st.one_of(st.floats(0.5, 2.0).map(repr), st.integers(0, 3).map(str), st.just("-1"))
clean_timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2000, 1, 3), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
symbols = st.sampled_from(["AAPL", "MSFT", " IBM ", "", "  ", "GOOG"])


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV file whose rows are mostly well-shaped, with some broken ones."""
    rows = []
    # Half the files are clean enough for the loadtxt path; the rest exercise the fallbacks.
    clean = draw(st.booleans())
    cell_numbers = clean_numbers if clean else numbers
    cell_timestamps = clean_timestamps if clean else timestamps
    for _ in range(draw(st.integers(0, 25))):
        cells = [draw(cell_timestamps), draw(symbols), *(draw(cell_numbers) for _ in range(5))]
        shapes = ["ok"] if clean else ["ok"] * 8 + ["short", "long", "quoted", "blank"]
        shape = draw(st.sampled_from(shapes))
        if shape == "short":
            cells = cells[:4]
        elif shape == "long":
            cells.append("7")
        elif shape == "quoted":
            cells[1] = '"' + cells[1] + '"'
        line = "" if shape == "blank" else ",".join(cell.replace("\n", " ") for cell in cells)
        rows.append(line.replace("\r", " ").replace(",", ",", 1))
    header = draw(
        st.sampled_from(
            [
                "date,symbol,open,high,low,close,volume",
                "Timestamp,Symbol,Open,High,Low,Close,Volume,extra",
            ]
        )
    )
    if header.endswith("extra"):
        rows = [row + ",1" if row else row for row in rows]
    return (header + "\n" + "\n".join(rows) + "\n").encode("utf-8", "surrogatepass")


def results_equal(left: ParseResult, right: ParseResult) -> bool:
    assert left.errors == right.errors
    assert (left.rows_read, left.rows_kept) == (right.rows_read, right.rows_kept)
    assert list(left.series) == list(right.series)
    for name, bars in left.series.items():
        other = right.series[name]
        for column in ("ts", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(bars, column), getattr(other, column))
        assert (np.diff(bars.ts) > 0).all()
    return True


@FAST
@given(content=csv_files(), chunk_bytes=st.sampled_from([16, 100, 1 << 20]))
def test_fast_path_and_reference_path_agree(content: bytes, chunk_bytes: int) -> None:
    try:
        fast = parse_market_data(content, name="f.csv", chunk_bytes=chunk_bytes)
    except MarketDataError as error:
        fast_error: MarketDataError | None = error
    else:
        fast_error = None
    try:
        slow = read_market_data(
            content, name="f.csv", symbol=None, fmt=None, chunk_bytes=1 << 20, vectorised=False
        )
    except MarketDataError as error:
        assert fast_error is not None and fast_error.code == error.code
        return
    assert fast_error is None
    results_equal(fast, slow)


@FAST
@given(cells=st.lists(timestamps, min_size=1, max_size=30))
def test_vectorised_timestamps_equal_the_cell_parser(cells: list[str]) -> None:
    values, converted, failures = timestamp_column(cells, text=True, vectorised=True)
    for row, cell in enumerate(cells):
        expected = parse_timestamp_cell(cell)
        if isinstance(expected, int):
            assert converted[row] and values[row] == expected, cell
        else:
            assert (row, expected) in failures, cell


def _mutate(text: str, position: int, char: str, mutate: bool) -> str:
    return text[:position] + char + text[position + 1 :] if mutate else text


same_length_timestamps = st.builds(
    _mutate,
    st.datetimes(min_value=datetime(1677, 1, 1), max_value=datetime(2263, 1, 1)).map(
        lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S")
    ),
    st.integers(0, 18),
    st.sampled_from("0123456789-T: Z+x"),
    st.booleans(),
)


@FAST
@given(cells=st.lists(same_length_timestamps, min_size=2, max_size=30))
def test_vectorised_timestamps_of_one_length_equal_the_cell_parser(cells: list[str]) -> None:
    values, converted, _ = timestamp_column(cells, text=True, vectorised=True)
    expected = [parse_timestamp_cell(cell) for cell in cells]
    assert [int(v) if ok else None for v, ok in zip(values, converted, strict=True)] == [
        value if isinstance(value, int) else None for value in expected
    ]


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=300), fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_bytes_give_a_result_or_a_market_data_error(content: bytes, fmt: str) -> None:
    for data in (content, b"date,symbol,open,high,low,close,volume\n" + content):
        try:
            result = parse_market_data(data, fmt=fmt, name="any", chunk_bytes=64)
        except MarketDataError as error:
            assert error.code and error.message
        else:
            assert result.rows_kept == sum(len(bars) for bars in result.series.values())


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_text_gives_a_result_or_a_market_data_error(text: str, fmt: str) -> None:
    header = "date,symbol,open,high,low,close,volume\n" if fmt == "csv" else ""
    try:
        parse_market_data((header + text).encode("utf-8", "surrogatepass"), fmt=fmt)
    except MarketDataError as error:
        assert error.code


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.one_of(
            st.dictionaries(
                st.sampled_from(
                    [
                        "timestamp",
                        "Date",
                        "symbol",
                        "open",
                        "high",
                        "low",
                        "close",
                        "volume",
                        "other",
                    ]
                ),
                json_values | timestamps | numbers,
            ),
            json_values,
        ),
        max_size=10,
    )
)
def test_validate_records_never_raises(records: list[object]) -> None:
    result = validate_records(records, symbol="X")  # type: ignore[arg-type]
    assert result.rows_read == len(records)
