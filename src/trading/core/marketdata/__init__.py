"""Market data ingestion: CSV / JSON Lines OHLCV files to validated per-symbol bar series.

>>> from trading.core.marketdata import parse_market_data
>>> result = parse_market_data(
...     b"date,symbol,open,high,low,close,volume\\n"
...     b"2020-01-02,AAPL,10,11,9,10.5,1000\\n"
...     b"2020-01-02,AAPL,10,11,9,10.5,1000\\n",
...     name="upload.csv",
... )
>>> len(result.series["AAPL"]), [(e.line, e.code) for e in result.errors]
(1, [(3, 'DUPLICATE_TIMESTAMP')])

Pure Python plus numpy; no AWS imports. Every rule and code lives here once: files
(:func:`parse_market_data`) and decoded API bodies (:func:`validate_records`) go through the
same validator.
"""

from trading.core.marketdata.errors import (
    FileErrorCode,
    MarketDataError,
    RowError,
    RowErrorCode,
    RowRepair,
)
from trading.core.marketdata.output import rejected_rows_jsonl, repaired_rows_jsonl, series_to_csv
from trading.core.marketdata.reader import DEFAULT_CHUNK_BYTES, parse_market_data
from trading.core.marketdata.validate import REPAIR_TOLERANCE, ParseResult, validate_records

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "REPAIR_TOLERANCE",
    "FileErrorCode",
    "MarketDataError",
    "ParseResult",
    "RowError",
    "RowErrorCode",
    "RowRepair",
    "parse_market_data",
    "rejected_rows_jsonl",
    "repaired_rows_jsonl",
    "series_to_csv",
    "validate_records",
]
