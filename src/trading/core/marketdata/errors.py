"""The error vocabulary of market data ingestion: row codes, file codes and their carriers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RowErrorCode(StrEnum):
    """Why one row was rejected; the values are stable, machine-readable identifiers."""

    MISSING_FIELD = "MISSING_FIELD"
    EXTRA_FIELD = "EXTRA_FIELD"
    BAD_NUMBER = "BAD_NUMBER"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    # A valid ISO 8601 date outside what 64-bit nanosecond timestamps hold (SUPPORTED_DATES).
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"
    # A bar stamped later than the moment it was checked allows (see FUTURE_TOLERANCE_NS):
    # accepted, it would stand in front of every real bar of its symbol.
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    NOT_FINITE = "NOT_FINITE"
    NON_POSITIVE_PRICE = "NON_POSITIVE_PRICE"
    NEGATIVE_VOLUME = "NEGATIVE_VOLUME"
    HIGH_BELOW_OPEN_CLOSE = "HIGH_BELOW_OPEN_CLOSE"
    LOW_ABOVE_OPEN_CLOSE = "LOW_ABOVE_OPEN_CLOSE"
    DUPLICATE_TIMESTAMP = "DUPLICATE_TIMESTAMP"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    BAD_SYMBOL = "BAD_SYMBOL"
    # A JSON Lines line that is not a JSON object, a CSV line the csv module cannot split,
    # or a validate_records item that is not a mapping: there are no fields to name.
    MALFORMED_ROW = "MALFORMED_ROW"


class FileErrorCode(StrEnum):
    """Why a whole file could not be read; no row of it was looked at."""

    EMPTY_FILE = "EMPTY_FILE"
    BINARY_FILE = "BINARY_FILE"
    BAD_ENCODING = "BAD_ENCODING"
    NO_HEADER = "NO_HEADER"
    MISSING_COLUMN = "MISSING_COLUMN"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"


class MarketDataError(Exception):
    """A market data file that cannot be read at all.

    >>> error = MarketDataError(FileErrorCode.EMPTY_FILE, "the file has no content")
    >>> error.code, str(error)
    ('EMPTY_FILE', 'EMPTY_FILE: the file has no content')
    """

    def __init__(self, code: FileErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: str = code.value  # plain str: compares equal to the enum member too
        self.message = message


@dataclass(frozen=True, slots=True)
class RowError:
    """One reason a row was rejected. A row with several problems has several of these.

    ``line`` is the 1-based line number in the file (the header is line 1), or the 1-based
    position of the record for :func:`validate_records`. ``field`` names the column at fault
    (``None`` when the row as a whole is at fault), ``raw`` is the row's text as it was read.
    """

    line: int
    field: str | None
    code: str
    message: str
    raw: str
    symbol: str | None


@dataclass(frozen=True, slots=True)
class RowRepair:
    """One value of a kept row that was corrected: float noise within the tolerance.

    ``code`` is the rule the raw value broke (``HIGH_BELOW_OPEN_CLOSE``...), ``original`` the
    value as read and ``repaired`` the value kept; the other fields as in :class:`RowError`.
    """

    line: int
    field: str
    code: str
    message: str
    raw: str
    symbol: str | None
    original: float
    repaired: float
