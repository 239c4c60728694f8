"""Regenerate data/stocks.csv, data/corporate_actions.csv and data/samples/stocks_small.jsonl
from bokeh-sampledata.

Source: ``stocks.csv.gz`` of the PyPI package bokeh-sampledata (Quandl WIKI prices, raw,
not split-adjusted, with an ``Adj Close`` column). Kept: AAPL, GOOG, IBM, MSFT from
2004-08-19 (GOOG's first day) to 2013-03-01, so all four symbols share one calendar. Prices
are copied as they are; the script then checks that the platform's validator rejects no row.

The corporate actions are read off the source's own adjustment: wherever the ratio
``Adj Close / Close`` steps between two bars, the step is an action on the later bar's date,
a split when it is a whole ratio (2.0: a 2:1 split), else a cash dividend of
``(step - 1) * close of the ex-date`` (the source's formula; every amount comes out within
half a thousandth of a whole cent, and is written in cents). The script then applies the file
with the platform's :func:`apply_corporate_actions` (the usual ``1 - dividend / previous
close`` factor) and checks that every adjusted close is the source's ``Adj Close`` times one
constant per symbol, within :data:`ADJUSTED_TOLERANCE` (the source also adjusts for actions
after 2013, and its dividend factor differs from the usual one in the fifth decimal).

Run: ``.venv/bin/python scripts/make_sample_data.py``
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
from importlib import metadata
from pathlib import Path

import bokeh_sampledata

from trading.core.marketdata import parse_market_data
from trading.core.marketdata.corporate_actions import (
    apply_corporate_actions,
    parse_corporate_actions,
)

SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT")
FIRST_DATE = "2004-08-19"
LAST_DATE = "2013-03-01"
SMALL_SYMBOLS = ("AAPL", "MSFT")
# Around AAPL's 2:1 split of 2005-02-28, so the small sample shows the raw -50% gap.
SMALL_FIRST_DATE = "2005-01-03"
SMALL_LAST_DATE = "2005-06-30"
DATA = Path(__file__).resolve().parent.parent / "data"
COLUMNS = ("date", "symbol", "open", "high", "low", "close", "volume")
ACTION_COLUMNS = ("date", "symbol", "action", "value")
STEP_TOLERANCE = 1e-6
"""A change of ``Adj Close / Close`` below this (relative) is the source's rounding."""
SPLIT_TOLERANCE = 1e-4
"""A step this close to a whole ratio is a split."""
CENT_TOLERANCE = 5e-4
"""Largest distance (dollars) of a derived dividend from a whole cent."""
ADJUSTED_TOLERANCE = 5e-3
"""Largest relative spread of adjusted close / ``Adj Close`` within a symbol accepted."""


def source_rows() -> list[dict[str, str]]:
    """The package's rows for :data:`SYMBOLS` in the date range, sorted by symbol and date
    (with the source's ``adj_close``, which the data file leaves out)."""
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
                "adj_close": row["Adj Close"],
            }
            for row in csv.DictReader(handle)
            if row["Ticker"] in SYMBOLS and FIRST_DATE <= row["Date"] <= LAST_DATE
        ]
    return sorted(rows, key=lambda row: (row["symbol"], row["date"]))


def derive_corporate_actions(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The splits and cash dividends the source's ``Adj Close`` encodes (see the module)."""
    actions = []
    for before, after in itertools.pairwise(rows):
        if before["symbol"] != after["symbol"]:
            continue
        step = (float(after["adj_close"]) / float(after["close"])) / (
            float(before["adj_close"]) / float(before["close"])
        )
        if abs(step - 1.0) <= STEP_TOLERANCE:
            continue
        whole = round(step)
        if whole >= 2 and abs(step / whole - 1.0) <= SPLIT_TOLERANCE:
            action, value = "split", f"{whole}:1"
        else:
            amount = (step - 1.0) * float(after["close"])
            if abs(amount - round(amount, 2)) > CENT_TOLERANCE:
                raise SystemExit(
                    f"{after['symbol']} {after['date']}: dividend {amount:.5f} is not in cents"
                )
            action, value = "dividend", f"{amount:.2f}"
        actions.append(
            {"date": after["date"], "symbol": after["symbol"], "action": action, "value": value}
        )
    return actions


def check_adjusted(rows: list[dict[str, str]], stocks: Path, actions: Path) -> float:
    """Apply ``actions`` to ``stocks`` as ingestion does; the largest relative spread, over
    the symbols, of adjusted close / source ``Adj Close`` (0: proportional everywhere)."""
    parsed = parse_market_data(stocks)
    adjusted = apply_corporate_actions(
        parsed.series, parse_corporate_actions(actions.read_bytes(), name=str(actions))
    )
    worst = 0.0
    for symbol, bars in adjusted.series.items():
        source = [float(row["adj_close"]) for row in rows if row["symbol"] == symbol]
        ratios = [close / adj for close, adj in zip(bars.close.tolist(), source, strict=True)]
        worst = max(worst, max(ratios) / min(ratios) - 1.0)
    return worst


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    """``date,symbol,open,high,low,close,volume`` with the source's text values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
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
    actions = DATA / "corporate_actions.csv"
    derived = derive_corporate_actions(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ACTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(derived)
    actions.write_text(buffer.getvalue())
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
    for symbol in SYMBOLS:
        own = [action for action in derived if action["symbol"] == symbol]
        splits = [f"{a['value']} on {a['date']}" for a in own if a["action"] == "split"]
        dividends = [a for a in own if a["action"] == "dividend"]
        print(
            f"{symbol}: splits {', '.join(splits) or 'none'}; {len(dividends)} cash dividends"
            + (f" {dividends[0]['date']}..{dividends[-1]['date']}" if dividends else "")
        )
    spread = check_adjusted(rows, stocks, actions)
    print(f"adjusted close / source Adj Close: within {spread:.2e} per symbol")
    failed = failed or spread > ADJUSTED_TOLERANCE
    print(f"source: bokeh-sampledata {version}, {FIRST_DATE}..{LAST_DATE}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
