"""Market data ingestion: every row and file error, formats, symbols, time zones, chunks."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest

from trading.core.marketdata import (
    REPAIR_TOLERANCE,
    FileErrorCode,
    MarketDataError,
    ParseResult,
    RowErrorCode,
    parse_market_data,
    rejected_rows_jsonl,
    repaired_rows_jsonl,
    series_to_csv,
    validate_records,
)

DATA = Path(__file__).resolve().parents[2] / "data"
HEADER = "date,symbol,open,high,low,close,volume\n"
GOOD = "2020-01-02,AAPL,10,11,9,10.5,1000\n"
DAY0_NS = 1_577_923_200_000_000_000  # 2020-01-02T00:00:00Z


def parse_csv(text: str, **options: object) -> ParseResult:
    """Parse CSV text given as a str (the tests' usual input)."""
    return parse_market_data(text.encode(), name="upload.csv", **options)  # type: ignore[arg-type]


def codes(result: ParseResult) -> list[tuple[int, str, str | None]]:
    return [(error.line, error.code, error.field) for error in result.errors]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("2020-01-03,AAPL,10,11,9", [("MISSING_FIELD", "close")]),
        ("2020-01-03,AAPL,10,11,9,10.5,1000,7", [("EXTRA_FIELD", None)]),
        ("2020-01-03,AAPL,ten,11,9,10.5,1000", [("BAD_NUMBER", "open")]),
        ("2020-01-03,AAPL,,11,9,10.5,1000", [("MISSING_FIELD", "open")]),
        ("2020-02-30,AAPL,10,11,9,10.5,1000", [("BAD_TIMESTAMP", "date")]),
        ("03/01/2020,AAPL,10,11,9,10.5,1000", [("BAD_TIMESTAMP", "date")]),
        ("2262-04-12,AAPL,10,11,9,10.5,1000", [("TIMESTAMP_OUT_OF_RANGE", "date")]),
        ("1677-09-20,AAPL,10,11,9,10.5,1000", [("TIMESTAMP_OUT_OF_RANGE", "date")]),
        ("2020-01-03,AAPL,10,11,9,inf,1000", [("NOT_FINITE", "close")]),
        ("2020-01-03,AAPL,10,11,9,10.5,nan", [("NOT_FINITE", "volume")]),
        ("2020-01-03,AAPL,10,11,0,10.5,1000", [("NON_POSITIVE_PRICE", "low")]),
        ("2020-01-03,AAPL,10,11,9,10.5,-1", [("NEGATIVE_VOLUME", "volume")]),
        ("2020-01-03,AAPL,10,10.2,9,10.5,1000", [("HIGH_BELOW_OPEN_CLOSE", "high")]),
        ("2020-01-03,AAPL,10,11,10.2,10.5,1000", [("LOW_ABOVE_OPEN_CLOSE", "low")]),
        ("2020-01-02,AAPL,10,11,9,10.5,1000", [("DUPLICATE_TIMESTAMP", "date")]),
        ("2020-01-01,AAPL,10,11,9,10.5,1000", [("OUT_OF_ORDER", "date")]),
        ("2020-01-03,,10,11,9,10.5,1000", [("BAD_SYMBOL", "symbol")]),
        ('2020-01-03,"AAPL,10,11,9,10.5,1000', [("MALFORMED_ROW", None)]),
    ],
)
def test_each_row_error_has_its_code_field_line_and_raw_text(
    row: str, expected: list[tuple[str, str | None]]
) -> None:
    result = parse_csv(HEADER + GOOD + row + "\n" + "2020-01-06,AAPL,10,11,9,10.5,1\n")
    assert [(e.code, e.field) for e in result.errors] == expected
    error = result.errors[0]
    assert error.line == 3
    assert error.raw == row
    assert error.message.startswith("line 3")
    assert result.rows_read == 3
    assert result.rows_kept == 2  # the good rows around the bad one are kept


def test_a_row_reports_all_its_reasons_in_rule_order() -> None:
    result = parse_csv(HEADER + GOOD + "2020-01-01,AAPL,x,11,9,-2,-5\n")
    assert codes(result) == [
        (3, "BAD_NUMBER", "open"),
        (3, "NON_POSITIVE_PRICE", "close"),
        (3, "NEGATIVE_VOLUME", "volume"),
        (3, "LOW_ABOVE_OPEN_CLOSE", "low"),
        (3, "OUT_OF_ORDER", "date"),
    ]
    assert [json.loads(line) for line in rejected_rows_jsonl(result.errors).splitlines()] == [
        {
            "line": 3,
            "symbol": "AAPL",
            "reasons": [
                {"code": e.code, "field": e.field, "message": e.message} for e in result.errors
            ],
            "raw": "2020-01-01,AAPL,x,11,9,-2,-5",
        }
    ]


def test_high_below_low_is_flagged_even_without_open_and_close() -> None:
    result = parse_csv(HEADER + "2020-01-02,AAPL,x,9,10,y,1\n")
    assert (2, "LOW_ABOVE_OPEN_CLOSE", "low") in codes(result)


def test_order_is_judged_against_the_last_kept_bar_of_the_same_symbol() -> None:
    rows = [
        "2020-01-05,AAPL,10,11,9,10.5,1",  # kept
        "2020-01-07,AAPL,10,11,9,10.5,-1",  # rejected (volume): does not move the clock
        "2020-01-06,AAPL,10,11,9,10.5,1",  # kept: after the last KEPT bar (01-05)
        "2020-01-01,MSFT,10,11,9,10.5,1",  # kept: other symbol, own clock
        "2020-01-06,AAPL,10,11,9,10.5,1",  # duplicate of the last kept
        "2020-01-05,AAPL,10,11,9,10.5,1",  # out of order
    ]
    result = parse_csv(HEADER + "\n".join(rows) + "\n")
    assert codes(result) == [
        (3, "NEGATIVE_VOLUME", "volume"),
        (6, "DUPLICATE_TIMESTAMP", "date"),
        (7, "OUT_OF_ORDER", "date"),
    ]
    aapl = result.series["AAPL"]
    assert aapl.ts.tolist() == [DAY0_NS + 3 * 86_400 * 10**9, DAY0_NS + 4 * 86_400 * 10**9]
    assert len(result.series["MSFT"]) == 1


@pytest.mark.parametrize(
    ("content", "options", "code"),
    [
        (b"", {}, FileErrorCode.EMPTY_FILE),
        (b" \n\n\t\n", {}, FileErrorCode.EMPTY_FILE),
        (b"date,open\x00,high\n", {}, FileErrorCode.BINARY_FILE),
        (HEADER.encode() + b"2020-01-02,\xff\xfe,1,1,1,1,1\n", {}, FileErrorCode.BAD_ENCODING),
        (GOOD.encode(), {}, FileErrorCode.NO_HEADER),
        (b"\n" + HEADER.encode() + GOOD.encode(), {}, FileErrorCode.NO_HEADER),
        (b"date,symbol,open,high,low,volume\n", {}, FileErrorCode.MISSING_COLUMN),
        (b"date,open,high,low,close,volume\n", {"name": None}, FileErrorCode.MISSING_COLUMN),
        (b"date,date,open,high,low,close,volume\n", {}, FileErrorCode.NO_HEADER),
        (HEADER.encode(), {"name": "upload.txt"}, FileErrorCode.UNKNOWN_FORMAT),
        (HEADER.encode(), {"name": None}, FileErrorCode.UNKNOWN_FORMAT),
        (HEADER.encode(), {"fmt": "xlsx"}, FileErrorCode.UNKNOWN_FORMAT),
        (b"\x1f\x8bnot really gzip", {}, FileErrorCode.BINARY_FILE),
    ],
)
def test_unreadable_files_raise_one_market_data_error(
    content: bytes, options: dict[str, str | None], code: FileErrorCode
) -> None:
    arguments: dict[str, str | None] = {"name": "upload.csv", **options}
    if arguments["name"] is None and "fmt" not in options and code is FileErrorCode.MISSING_COLUMN:
        arguments["fmt"] = "csv"
    with pytest.raises(MarketDataError) as raised:
        parse_market_data(content, **arguments)  # type: ignore[arg-type]
    assert raised.value.code == code
    assert raised.value.message


def test_header_names_are_case_insensitive_trimmed_and_unknown_columns_ignored() -> None:
    text = " Timestamp ,SYMBOL, Open,HIGH,low ,Close,Volume,Adj Close\n"
    result = parse_csv(text + "2020-01-02,AAPL,10,11,9,10.5,1000,3.2\n")
    assert result.errors == []
    assert result.series["AAPL"].bar(0) == ("AAPL", DAY0_NS, 10.0, 11.0, 9.0, 10.5, 1000.0)


def test_symbol_comes_from_the_parameter_else_the_file_name(tmp_path: Path) -> None:
    content = b"date,open,high,low,close,volume\n2020-01-02,10,11,9,10.5,1000\n"
    path = tmp_path / "MSFT.csv.gz"
    path.write_bytes(gzip.compress(content))
    assert list(parse_market_data(path).series) == ["MSFT"]
    assert list(parse_market_data(path, symbol="IBM").series) == ["IBM"]
    stream = io.BytesIO(content)
    assert list(parse_market_data(stream, name="raw/2024/GOOG.csv").series) == ["GOOG"]


def test_timestamps_with_offsets_are_converted_to_utc() -> None:
    rows = [
        "2020-01-02T01:00:00+01:00",  # = 00:00Z
        "2020-01-02 00:30:00Z",
        "2020-01-01T20:00-05:00",  # = 01:00Z on the 2nd
        "2020-01-02T01:00:00.5",
        "2020-01-02T01:00:01.123456789Z",
    ]
    body = "".join(f"{ts},AAPL,10,11,9,10.5,1\n" for ts in rows)
    result = parse_csv(HEADER + body)
    hour = 3_600 * 10**9
    assert result.errors == []
    assert result.series["AAPL"].ts.tolist() == [
        DAY0_NS,
        DAY0_NS + hour // 2,
        DAY0_NS + hour,
        DAY0_NS + hour + 500_000_000,
        DAY0_NS + hour + 1_123_456_789,
    ]


def test_csv_and_jsonl_of_the_same_rows_give_the_same_result() -> None:
    csv_result = parse_market_data(DATA / "samples" / "bad_rows.csv")
    records = []
    lines = (DATA / "samples" / "bad_rows.csv").read_text().splitlines()[1:]
    names = HEADER.strip().split(",")
    jsonl = [""]  # a blank first line (skipped) where the CSV has its header: same numbers
    for line in lines:
        fields = line.split(",")
        records.append(dict(zip(names, fields, strict=False)))
        well_formed = len(fields) == len(names) and '"' not in line
        jsonl.append(json.dumps(records[-1]) if well_formed else line)
    jsonl_result = parse_market_data("\n".join(jsonl).encode(), name="bad.jsonl")
    assert jsonl_result.format == "jsonl"
    assert_same_series(csv_result, jsonl_result)
    field_count_lines = {3, 4, 16}  # no JSON equivalent of a wrong field count
    assert [c for c in codes(csv_result) if c[0] not in field_count_lines] == [
        c for c in codes(jsonl_result) if c[0] not in field_count_lines
    ]


def test_jsonl_sample_matches_the_csv_sample() -> None:
    small = parse_market_data(DATA / "samples" / "stocks_small.jsonl")
    full = parse_market_data(DATA / "stocks.csv")
    assert small.errors == [] and small.rows_kept == 250
    for name, bars in small.series.items():
        start = int(np.searchsorted(full.series[name].ts, bars.ts[0]))
        expected = full.series[name].slice(start, start + len(bars))
        assert list(bars.bars()) == list(expected.bars())


def test_bundled_stocks_csv_passes_validation_with_zero_rejects() -> None:
    result = parse_market_data(DATA / "stocks.csv")
    assert result.errors == []
    assert list(result.series) == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert {len(bars) for bars in result.series.values()} == {2148}


def test_bad_rows_sample_has_every_row_error_code() -> None:
    # With a row from the future and a latest allowed time: the one rule that needs a clock.
    content = (DATA / "samples" / "bad_rows.csv").read_bytes()
    future = b"2101-01-05,ZZZ,10,11,9,10.5,1000\n"
    result = parse_market_data(content + future, name="bad_rows.csv", not_after=NOT_AFTER)
    assert {error.code for error in result.errors} == set(RowErrorCode)


NOT_AFTER = 4_102_444_800 * 10**9  # 2100-01-01


def test_a_bar_after_the_latest_allowed_time_is_rejected_and_the_others_kept() -> None:
    body = (HEADER + GOOD + GOOD.replace("2020-01-02", "2100-01-02")).encode()
    result = parse_market_data(body, name="x.csv", not_after=NOT_AFTER)
    assert result.rows_kept == 1
    [error] = result.errors
    assert (error.code, error.field, error.line) == ("FUTURE_TIMESTAMP", "date", 3)
    assert "is after 2100-01-01T00:00:00Z" in error.message
    records = validate_records(
        [{"timestamp": "2100-01-02", "open": 1, "high": 2, "low": 1, "close": 2, "volume": 1}],
        symbol="AAPL",
        not_after=NOT_AFTER,
    )
    assert [e.code for e in records.errors] == ["FUTURE_TIMESTAMP"]


def test_small_chunks_split_symbols_and_lines_without_changing_the_result() -> None:
    content = (DATA / "samples" / "bad_rows.csv").read_bytes() + (
        DATA / "stocks.csv"
    ).read_bytes().split(b"\n", 1)[1][:20_000].rsplit(b"\n", 1)[0]
    whole = parse_market_data(content, name="x.csv")
    for chunk_bytes in (1, 7, 64, 1000):
        assert_same_result(whole, parse_market_data(content, name="x.csv", chunk_bytes=chunk_bytes))


def test_quoted_fields_and_crlf_line_ends_are_read() -> None:
    text = (
        HEADER + '"2020-01-02","AAPL","10","11","9","10.5","1,000"\r\n' + GOOD.replace("02", "03")
    )
    result = parse_csv(text.replace("\n", "\r\n"))
    assert codes(result) == [(2, "BAD_NUMBER", "volume")]  # "1,000" is one field, not a number
    assert len(result.series["AAPL"]) == 1


def test_blank_lines_are_skipped_but_keep_their_line_numbers() -> None:
    result = parse_csv(HEADER + "\n" + GOOD + "\n\n" + "bad,AAPL,1,1,1,1,1\n")
    assert codes(result) == [(6, "BAD_TIMESTAMP", "date")]
    assert result.rows_read == 2


def test_validate_records_applies_the_same_rules_and_codes() -> None:
    records: list[object] = [
        {"Timestamp": "2020-01-02", "open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 5},
        {"timestamp": "2020-01-02", "open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 5},
        {"timestamp": "2020-01-03", "open": True, "high": 11, "low": 9, "close": None},
        "not a record",
        {
            "date": "2020-01-04",
            "symbol": "MSFT",
            "open": "10",
            "high": 11,
            "low": 9,
            "close": 10,
            "volume": 10**400,
        },
    ]
    result = validate_records(records, symbol="AAPL")  # type: ignore[arg-type]
    assert result.format == "records"
    assert codes(result) == [
        (2, "DUPLICATE_TIMESTAMP", "timestamp"),
        (3, "BAD_NUMBER", "open"),
        (3, "MISSING_FIELD", "close"),
        (3, "MISSING_FIELD", "volume"),
        (4, "MALFORMED_ROW", None),
        (5, "NOT_FINITE", "volume"),
    ]
    assert list(result.series) == ["AAPL"]


def test_records_without_symbol_or_default_are_rejected() -> None:
    result = validate_records(
        [{"timestamp": "2020-01-02", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}]
    )
    assert codes(result) == [(1, "MISSING_FIELD", "symbol")]


def test_curated_csv_round_trips_exactly() -> None:
    original = parse_market_data(DATA / "samples" / "stocks_small.jsonl")
    text = series_to_csv(original.series)
    assert text.startswith(b"timestamp,symbol,open,high,low,close,volume\n2005-01-03T00:00:00Z,")
    again = parse_market_data(text, name="curated.csv")
    assert again.errors == []
    assert_same_series(original, again)


def assert_same_series(left: ParseResult, right: ParseResult) -> None:
    assert list(left.series) == list(right.series)
    for name, bars in left.series.items():
        other = right.series[name]
        for column in ("ts", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(bars, column), getattr(other, column))


def assert_same_result(left: ParseResult, right: ParseResult) -> None:
    assert_same_series(left, right)
    assert left.errors == right.errors
    assert (left.rows_read, left.rows_kept) == (right.rows_read, right.rows_kept)


def test_a_date_outside_the_range_says_so_and_gives_the_range() -> None:
    (error,) = parse_csv(HEADER + "2300-01-02,AAPL,10,11,9,10.5,1000\n").errors
    assert error.message == (
        "line 2, field 'date': '2300-01-02' is outside the supported dates, "
        "1678-01-01 to 2261-12-31"
    )


@pytest.mark.parametrize("vectorised", [True, False])
def test_float_noise_in_high_and_low_is_repaired_and_counted_not_rejected(
    vectorised: bool,
) -> None:
    from trading.core.marketdata.reader import read_market_data

    text = (
        HEADER + "1984-09-10,AAPL,0.12297222763299943,0.12327988684065404,"
        "0.12297222763299943,0.12297222763299942,2346400\n"
        + "1984-09-11,AAPL,100,99.99999999,95,98,10\n"  # 1e-10 relative below the open
        + "1984-09-12,AAPL,100,101,95,98,10\n"
    )
    result = read_market_data(
        text.encode(),
        name="a.csv",
        symbol=None,
        fmt=None,
        chunk_bytes=1 << 20,
        vectorised=vectorised,
    )
    assert result.errors == [] and result.rows_kept == 3 and result.rows_repaired == 2
    bars = result.series["AAPL"]
    assert bars.low[0] == 0.12297222763299942 and bars.high[1] == 100.0
    low, high = result.repairs
    assert (low.line, low.field, low.code) == (2, "low", "LOW_ABOVE_OPEN_CLOSE")
    assert (high.line, high.field, high.original, high.repaired) == (3, "high", 99.99999999, 100)
    rows = [json.loads(line) for line in repaired_rows_jsonl(result.repairs).splitlines()]
    assert rows[1]["repairs"][0]["original"] == 99.99999999 and rows[1]["line"] == 3


def test_an_inconsistency_beyond_the_tolerance_is_still_rejected() -> None:
    gap = 100 * REPAIR_TOLERANCE * 10  # ten times the tolerance of a 100 price
    result = parse_csv(HEADER + f"2020-01-02,AAPL,100,{100 - gap!r},95,98,10\n")
    assert codes(result) == [(2, "HIGH_BELOW_OPEN_CLOSE", "high")] and result.repairs == []


def test_a_repair_on_a_row_rejected_for_another_reason_is_not_counted() -> None:
    row = "2020-01-02,AAPL,100,99.99999999,95,98,10\n"
    result = parse_csv(HEADER + GOOD.replace("2020-01-02", "2020-01-03") + row)
    assert codes(result) == [(3, "OUT_OF_ORDER", "date")] and result.repairs == []


def test_symbols_obey_the_platform_s_one_rule_in_files_too() -> None:
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    symbols = ["ÄAPL", '"A,B"', '"=HYPERLINK(""x"")"', "A" * 1000, " MSFT ", "BRK.B"]
    for index, symbol in enumerate(symbols):
        rows.append(f"2024-01-0{index + 1},{symbol},1,2,0.5,1.5,10")
    result = parse_csv("\n".join(rows) + "\n")
    assert sorted(result.series) == ["BRK.B", "MSFT"]  # a cell's padding is not the symbol
    assert [(e.line, e.code) for e in result.errors] == [
        (line, "BAD_SYMBOL") for line in (2, 3, 4, 5)
    ]
