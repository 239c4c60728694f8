"""What ingestion writes: the rejected and repaired rows, and the curated CSV of kept bars."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import numpy as np

from trading.core.bars import BarSeries, FloatArray, IntArray
from trading.core.marketdata.errors import RowError, RowRepair
from trading.core.model import NANOS_PER_SECOND, ts_to_iso

CURATED_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
_EXACT_INTEGER_LIMIT = 2.0**53  # beyond this a float's integer text would not round-trip


def rejected_rows_jsonl(errors: Iterable[RowError]) -> bytes:
    """One JSON object per rejected line: ``line``, ``symbol``, ``reasons``, ``raw``.

    ``reasons`` lists every ``{code, field, message}`` of the line, in the order found.

    >>> from trading.core.marketdata import RowError
    >>> rejected_rows_jsonl([RowError(3, "open", "BAD_NUMBER", "line 3: bad", "x,y", "AAPL")])
    b'{"line": 3, "symbol": "AAPL", "reasons": [{"code": "BAD_NUMBER", "field": "open", \
"message": "line 3: bad"}], "raw": "x,y"}\\n'
    """
    return _rows_jsonl(
        "reasons",
        (
            (
                error.line,
                error.symbol,
                error.raw,
                {
                    "code": str(error.code),
                    "field": error.field,
                    "message": error.message,
                },
            )
            for error in errors
        ),
    )


def repaired_rows_jsonl(repairs: Iterable[RowRepair]) -> bytes:
    """One JSON object per repaired (kept) line: ``line``, ``symbol``, ``repairs``, ``raw``.

    ``repairs`` lists every ``{code, field, original, repaired, message}`` of the line: the
    rule the value broke, the value as read and the value kept.
    """
    return _rows_jsonl(
        "repairs",
        (
            (
                repair.line,
                repair.symbol,
                repair.raw,
                {
                    "code": repair.code,
                    "field": repair.field,
                    "original": repair.original,
                    "repaired": repair.repaired,
                    "message": repair.message,
                },
            )
            for repair in repairs
        ),
    )


def _rows_jsonl(
    name: str, items: Iterable[tuple[int, str | None, str, dict[str, object]]]
) -> bytes:
    """One JSON object per line number: ``line``, ``symbol``, ``name`` (every item of that
    line, in order) and ``raw``."""
    rows: dict[int, dict[str, object]] = {}
    for line, symbol, raw, item in items:
        row = rows.setdefault(line, {"line": line, "symbol": symbol, name: [], "raw": raw})
        found = row[name]
        assert isinstance(found, list)
        found.append(item)
    return "".join(json.dumps(row) + "\n" for row in rows.values()).encode("utf-8")


def series_to_csv(series: Mapping[str, BarSeries]) -> bytes:
    """Curated CSV: ``timestamp`` (ISO 8601, Z), ``symbol``, OHLC and volume, one row per bar.

    Floats are written in their shortest exact form, so :func:`parse_market_data` reads the
    same values back; symbols are in the mapping's order, bars in time order.
    """
    lines = [",".join(CURATED_COLUMNS)]
    for name, bars in series.items():
        symbol = _csv_field(name)
        columns = zip(
            _iso_timestamps(bars.ts),
            _floats(bars.open),
            _floats(bars.high),
            _floats(bars.low),
            _floats(bars.close),
            _volumes(bars.volume),
            strict=True,
        )
        lines.extend(f"{ts},{symbol},{o},{h},{lo},{c},{v}" for ts, o, h, lo, c, v in columns)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _iso_timestamps(ts: IntArray) -> list[str]:
    if not len(ts) or (ts % NANOS_PER_SECOND != 0).any():
        return [ts_to_iso(value) for value in ts.tolist()]
    # Whole seconds (daily and minute bars): numpy formats the column in one call.
    text = np.datetime_as_string(ts.astype("datetime64[ns]"), unit="s")
    return [value + "Z" for value in text.tolist()]


def _floats(values: FloatArray) -> list[str]:
    return [repr(value) for value in values.tolist()]


def _volumes(values: FloatArray) -> list[str]:
    return [
        str(int(value)) if value.is_integer() and abs(value) < _EXACT_INTEGER_LIMIT else repr(value)
        for value in values.tolist()
    ]


def _csv_field(text: str) -> str:
    if any(char in text for char in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text
