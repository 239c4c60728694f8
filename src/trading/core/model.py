"""Plain data of the trading domain: bars, orders, fills, positions and round-trip trades.

Timestamps are integers: nanoseconds since the Unix epoch, UTC. Everything here is plain data
that serialises to and from JSON-compatible dicts, so a portfolio or a pending order can be
saved between runs and restored exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

NANOS_PER_SECOND = 1_000_000_000
# int64 nanoseconds cover 1677-09-21 .. 2262-04-11; whole years inside it, with a day of slack
# on both sides so that a UTC offset cannot push a valid date out of range.
MIN_YEAR = 1678
MAX_YEAR = 2261
SUPPORTED_DATES = f"{MIN_YEAR}-01-01 to {MAX_YEAR}-12-31"
"""The dates bars and run settings may have, as a sentence names them."""


def ts_to_iso(ts: int) -> str:
    """Format an epoch-nanosecond timestamp as ISO 8601 UTC, e.g. ``2020-01-02T00:00:00Z``."""
    seconds, nanos = divmod(ts, NANOS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += f".{nanos:09d}".rstrip("0")
    return text + "Z"


class Side(StrEnum):
    """Direction of an order or fill."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """How an order's price is determined."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # stop-market: becomes a market order once the bar trades through the stop
    STOP_LIMIT = "stop_limit"  # becomes a limit order once the stop is traded through


class ExitKind(StrEnum):
    """Why an order closes a position by itself: an attached exit of its entry, or a forced
    close by the account (a margin call, or ruin: see ``trading.core.execution.margin``)."""

    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    MARGIN_CALL = "margin_call"
    RUIN = "ruin"


class TimeInForce(StrEnum):
    """How long an unfilled order stays open: DAY expires after its first eligible bar."""

    DAY = "day"
    GTC = "gtc"


class OrderStatus(StrEnum):
    """Life cycle of an order."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


class Bar(NamedTuple):
    """One OHLCV bar of one symbol (a named tuple: cheap to create on the hot path)."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form with an ISO timestamp."""
        return {
            "symbol": self.symbol,
            "timestamp": ts_to_iso(self.ts),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }


@dataclass(slots=True)
class Order:
    """An order and its life cycle. ``created_ts`` is the bar on which it was created."""

    order_id: str
    symbol: str
    side: Side
    quantity: float  # a multiple of the symbol's quantity step (whole shares by default)
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    created_ts: int = 0
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: float = 0
    average_fill_price: float = 0.0
    reject_reason: str | None = None
    reject_message: str | None = None
    # Fraction-of-cash sizing: when set, the quantity is decided at fill time from the cash then.
    cash_fraction: float | None = None
    fill_count: int = 0
    stop_price: float | None = None
    # A stop-limit whose stop has been traded through: from then on a plain limit order.
    triggered: bool = False
    # Exits an entry attaches (absolute price, or a fraction of the average fill price); they
    # become live exit orders, one-cancels-other, when the entry fills.
    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_pct: float | None = None
    trailing_distance: float | None = None  # a trailing stop at a price distance (k × ATR)
    # An order that may only reduce the position (attached exits, a signal's close): it fills
    # at most the quantity held and is cancelled once the position is flat.
    reduce_only: bool = False
    parent_id: str | None = None  # the entry an attached exit belongs to
    exit_kind: ExitKind | None = None
    # A trailing stop's best price since entry (highest high of a long, lowest low of a short).
    trail_extreme: float | None = None

    @property
    def remaining(self) -> float:
        """Quantity still to fill."""
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in OPEN_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["side"] = Side(values["side"])
        values["order_type"] = OrderType(values["order_type"])
        values["time_in_force"] = TimeInForce(values["time_in_force"])
        values["status"] = OrderStatus(values["status"])
        if values.get("exit_kind") is not None:
            values["exit_kind"] = ExitKind(values["exit_kind"])
        return cls(**values)

    @property
    def has_exits(self) -> bool:
        """True when filling this order arms attached exits."""
        return (
            self.stop_loss is not None
            or self.take_profit is not None
            or self.stop_loss_pct is not None
            or self.take_profit_pct is not None
            or self.trailing_pct is not None
            or self.trailing_distance is not None
        )


@dataclass(slots=True)
class Fill:
    """An execution of (part of) an order."""

    fill_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    ts: int
    # The attached exit this fill executed, and whether it won only by the stop-loss-first rule
    # (stop-loss and take-profit both reachable inside the bar).
    exit_kind: ExitKind | None = None
    stop_first: bool = False

    @property
    def signed_quantity(self) -> float:
        """Positive for a buy, negative for a sell."""
        return self.quantity if self.side is Side.BUY else -self.quantity

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fill:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["side"] = Side(values["side"])
        if values.get("exit_kind") is not None:
            values["exit_kind"] = ExitKind(values["exit_kind"])
        return cls(**values)


@dataclass(slots=True)
class Position:
    """Holding in one symbol: signed quantity (negative = short) and average entry cost."""

    symbol: str
    quantity: float = 0
    average_cost: float = 0.0
    # The open round trip: when it started, and the commission paid on entry fills so far.
    entry_ts: int = 0
    entry_bar: int = 0
    entry_commission: float = 0.0
    last_price: float = 0.0

    @property
    def unrealized_pnl(self) -> float:
        """Mark-to-market profit of the open quantity at the last price seen."""
        return self.quantity * (self.last_price - self.average_cost)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(slots=True)
class Trade:
    """A closed (or, at the end of data, marked-open) round trip in one symbol."""

    symbol: str
    direction: str  # "long" or "short"
    quantity: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    entry_bar: int
    exit_bar: int
    pnl: float  # net of entry and exit commission
    commission: float
    is_open: bool = False
    exit_kind: ExitKind | None = None  # the attached exit that closed it; None: other orders
    stop_first: bool = False  # decided by the stop-loss-first assumption (both exits in a bar)

    @property
    def bars_held(self) -> int:
        """Number of bars between entry and exit."""
        return self.exit_bar - self.entry_bar

    @property
    def return_pct(self) -> float:
        """Net P&L as a fraction of the entry notional."""
        notional = self.quantity * self.entry_price
        return self.pnl / notional if notional else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form with ISO timestamps and derived fields."""
        values = asdict(self)
        values["exit_kind"] = None if self.exit_kind is None else self.exit_kind.value
        values["entry_time"] = ts_to_iso(self.entry_ts)
        values["exit_time"] = ts_to_iso(self.exit_ts)
        values["bars_held"] = self.bars_held
        values["return_pct"] = self.return_pct
        return values


@dataclass(slots=True)
class Account:
    """Cash and positions: the portfolio state that is saved between runs."""

    cash: float
    initial_cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    realized_pnl: float = 0.0
    total_commission: float = 0.0
    # Set once equity reached zero or below (when, why): the account trades no more.
    ruin: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        values: dict[str, Any] = {
            "cash": self.cash,
            "initial_cash": self.initial_cash,
            "positions": {s: p.to_dict() for s, p in self.positions.items()},
            "realized_pnl": self.realized_pnl,
            "total_commission": self.total_commission,
        }
        if self.ruin is not None:  # absent, as in the ledgers written before ruin existed
            values["ruin"] = dict(self.ruin)
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        """Inverse of :meth:`to_dict`."""
        return cls(
            cash=data["cash"],
            initial_cash=data["initial_cash"],
            positions={s: Position.from_dict(p) for s, p in data["positions"].items()},
            realized_pnl=data["realized_pnl"],
            total_commission=data["total_commission"],
            ruin=dict(data["ruin"]) if data.get("ruin") else None,
        )
