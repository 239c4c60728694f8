"""Regenerate data/stocks.csv and data/samples/stocks_small.jsonl from bokeh-sampledata.

Source: ``stocks.csv.gz`` of the PyPI package bokeh-sampledata (Quandl WIKI prices, raw,
not split-adjusted). Kept: AAPL, GOOG, IBM, MSFT from 2004-08-19 (GOOG's first day) to
2013-03-01, so all four symbols share one calendar. Prices are copied as they are; the
script then checks that the platform's validator rejects no row.

Run: ``.venv/bin/python scripts/make_sample_data.py``
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from importlib import metadata
from pathlib import Path

import bokeh_sampledata

from trading.core.marketdata import parse_market_data

SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT")
FIRST_DATE = "2004-08-19"
LAST_DATE = "2013-03-01"
SMALL_SYMBOLS = ("AAPL", "MSFT")
# Around AAPL's 2:1 split of 2005-02-28, so the small sample shows the raw -50% gap.
SMALL_FIRST_DATE = "2005-01-03"
SMALL_LAST_DATE = "2005-06-30"
DATA = Path(__file__).resolve().parent.parent / "data"
COLUMNS = ("date", "symbol", "open", "high", "low", "close", "volume")


def source_rows() -> list[dict[str, str]]:
    """The package's rows for :data:`SYMBOLS` in the date range, sorted by symbol and date."""
    path = Path(bokeh_sampledata.__file__).parent / "_data" / "stocks.csv.gz"
    with gzip.open(path, "rt", newline="") as handle:
        rows = [
            {
                "date": row["Date"],
                "symbol": row["Ticker"],
                "open": row["Open"],
                "high": row["High"],
                "low": row["Low"],
                "close": row["Close"],
                "volume": row["Volume"],
            }
            for row in csv.DictReader(handle)
            if row["Ticker"] in SYMBOLS and FIRST_DATE <= row["Date"] <= LAST_DATE
        ]
    return sorted(rows, key=lambda row: (row["symbol"], row["date"]))


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    """``date,symbol,open,high,low,close,volume`` with the source's text values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue())


def write_small_jsonl(rows: list[dict[str, str]], path: Path) -> None:
    """A few hundred rows as JSON Lines, numbers as JSON numbers."""
    lines = []
    for row in rows:
        if row["symbol"] in SMALL_SYMBOLS and SMALL_FIRST_DATE <= row["date"] <= SMALL_LAST_DATE:
            record: dict[str, object] = {"date": row["date"], "symbol": row["symbol"]}
            record.update((name, float(row[name])) for name in ("open", "high", "low", "close"))
            record["volume"] = int(float(row["volume"]))
            lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))


def main() -> int:
    """Write the files, validate them, print a summary; exit 1 if any row is rejected."""
    rows = source_rows()
    stocks = DATA / "stocks.csv"
    small = DATA / "samples" / "stocks_small.jsonl"
    small.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, stocks)
    write_small_jsonl(rows, small)
    version = metadata.version("bokeh-sampledata")
    failed = False
    for path in (stocks, small):
        result = parse_market_data(path)
        spans = {name: f"{len(bars)} bars" for name, bars in result.series.items()}
        print(
            f"{path.relative_to(DATA.parent)}: {result.rows_kept}/{result.rows_read} kept {spans}"
        )
        for error in result.errors:
            print(f"  rejected: {error.message}")
        failed = failed or bool(result.errors)
    print(f"source: bokeh-sampledata {version}, {FIRST_DATE}..{LAST_DATE}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
