"""The API's request errors: one class per answer a client can act on, each with its code.

The HTTP status of each class is mapped once, in ``handlers.api``; the ``code`` is what the
client switches on (``{"code", "message", "details"}``). Plain Python, no AWS imports.

>>> OrderRejectedError("INSUFFICIENT_BUYING_POWER", "buying power is 10.00").details()
{'reason': 'INSUFFICIENT_BUYING_POWER'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from trading.errors import PlatformError


class RequestError(PlatformError):
    """Base of the errors a request causes (never raised by the workflow)."""

    code: ClassVar[str] = "BAD_REQUEST"

    def details(self) -> dict[str, Any]:
        """What the error response's ``details`` holds (beyond the message)."""
        return {}


class InvalidRequestError(RequestError):
    """A field of the request is missing, of the wrong type or out of range."""

    code: ClassVar[str] = "INVALID_REQUEST"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> dict[str, Any]:
        """The offending field (``limit_price``, ``next_token``...)."""
        return {"field": self.field}


class InvalidPageTokenError(InvalidRequestError):
    """``next_token`` is not a token this API issued for this query."""

    code: ClassVar[str] = "INVALID_PAGE_TOKEN"

    def __init__(self, message: str = "next_token is not a token of this list") -> None:
        super().__init__(message, "next_token")


class InvalidMarketDataError(RequestError):
    """Some bars of a ``POST /market-data`` batch break the market data rules."""

    code: ClassVar[str] = "INVALID_MARKET_DATA"
    MAX_ROWS_SHOWN: ClassVar[int] = 50

    def __init__(self, message: str, rows: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(message)
        self.rows = [dict(row) for row in rows[: self.MAX_ROWS_SHOWN]]

    def details(self) -> dict[str, Any]:
        """The rejected bars with their reasons (the first :attr:`MAX_ROWS_SHOWN`)."""
        return {"field": "bars", "rows": self.rows}


class OrderRejectedError(RequestError):
    """The risk checks refused the order; ``reason`` is the core's reject code."""

    code: ClassVar[str] = "ORDER_REJECTED"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def details(self) -> dict[str, Any]:
        """The reject code (``INSUFFICIENT_BUYING_POWER``, ``MAX_POSITION``...)."""
        return {"reason": self.reason}


class NotFoundError(RequestError):
    """The requested thing does not exist."""

    code: ClassVar[str] = "NOT_FOUND"


class OrderNotFoundError(NotFoundError):
    """No order of the account has this id."""

    code: ClassVar[str] = "ORDER_NOT_FOUND"


class QuoteNotFoundError(NotFoundError):
    """No bar of this symbol has been processed yet."""

    code: ClassVar[str] = "QUOTE_NOT_FOUND"


class ReportNotFoundError(NotFoundError):
    """The run has no report (yet): unknown run, still running, or failed."""

    code: ClassVar[str] = "REPORT_NOT_FOUND"


class ConflictError(RequestError):
    """The request contradicts the current state of a resource."""

    code: ClassVar[str] = "CONFLICT"


class ClientOrderIdConflictError(ConflictError):
    """The client order id was used already for an order with another body."""

    code: ClassVar[str] = "CLIENT_ORDER_ID_CONFLICT"


class OrderNotCancellableError(ConflictError):
    """The order is filled or rejected: there is nothing left to cancel."""

    code: ClassVar[str] = "ORDER_NOT_CANCELLABLE"


class OrderNotAmendableError(ConflictError):
    """The order is filled, cancelled or rejected: it can no longer be amended."""

    code: ClassVar[str] = "ORDER_NOT_AMENDABLE"


class TooManyOpenOrdersError(ConflictError):
    """The account has as many open orders as it may keep: cancel some or let them fill."""

    code: ClassVar[str] = "TOO_MANY_OPEN_ORDERS"


class NoMarketDataError(ConflictError):
    """An order needs a reference price, and no bar of its symbol has been processed."""

    code: ClassVar[str] = "NO_MARKET_DATA"


class AccountHaltedError(ConflictError):
    """The account's kill switch is on: nothing trades in it until an admin turns it off."""

    code: ClassVar[str] = "TRADING_HALTED"
