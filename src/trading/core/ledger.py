"""A run's orders, fills and trades kept as plain rows, made into objects only when read, and
the trade columns the metrics are computed from.

A backtest of a million bars leaves tens of thousands of trades; building an object for each
costs more than the run itself. The columnar path keeps rows (tuples and lists) and a
:class:`Records` sequence makes the :class:`~trading.core.model.Trade` (or fill, or order) a
report or the API reads, when it reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import countOf, itemgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import numpy as np

from trading.core.bars import FloatArray
from trading.core.model import Account, Fill, Order, Trade

if TYPE_CHECKING:
    from trading.core.execution.broker import PaperBroker

T = TypeVar("T")


class Records(Sequence[T], Generic[T]):
    """A read-only sequence of objects made from ``rows`` by ``make``, one at a time."""

    __slots__ = ("make", "rows")

    def __init__(self, rows: list[Any], make: Callable[[Any], T]) -> None:
        self.rows = rows
        self.make = make

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self.make(row) for row in self.rows[index]]
        return self.make(self.rows[index])

    def __iter__(self) -> Iterator[T]:
        make = self.make
        for row in self.rows:
            yield make(row)

    def __add__(self, other: Sequence[T]) -> list[T]:
        """The objects of both, in a list (as adding two lists gives)."""
        return [*self, *other]

    def __radd__(self, other: Sequence[T]) -> list[T]:
        return [*other, *self]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Records({len(self.rows)} rows)"


def trade_from_row(row: tuple[Any, ...]) -> Trade:
    """A :class:`Trade` from a row of its fields in declaration order."""
    return Trade(*row)


@dataclass(frozen=True, slots=True)
class TradeColumns:
    """The fields of round trips the metrics read, one array each, in trade order, and the
    counts of marked-open trades and of trades decided by stop-loss-first."""

    symbol: list[str]
    pnl: FloatArray
    notional: FloatArray  # quantity × entry price
    open_trades: int
    stop_first_trades: int

    def __len__(self) -> int:
        return int(self.pnl.shape[0])

    @classmethod
    def from_trades(cls, *parts: Sequence[Trade]) -> TradeColumns:
        """The columns of the trades of ``parts``, one after the other."""
        rows: list[tuple[Any, ...]] = []
        for part in parts:
            rows.extend(_rows(part))
        return cls._of_rows(rows, list(map(_SYMBOL, rows)), countOf(map(_IS_OPEN, rows), True))

    @classmethod
    def of_run(
        cls, closed: Sequence[Trade], marked_open: Sequence[Trade], symbol: str | None
    ) -> TradeColumns:
        """The columns of a run's ``closed`` trades, then of its ``marked_open`` ones, as
        :meth:`from_trades` gives them; ``symbol``: the run's only symbol (None: several).

        What the run says of every closed trade (closed, in that symbol) is not read again
        from each: a million-bar run closes tens of thousands.
        """
        if symbol is None:
            return cls.from_trades(closed, marked_open)
        rows, last = _rows(closed), _rows(marked_open)
        return cls._of_rows(
            [*rows, *last],
            [symbol] * len(rows) + list(map(_SYMBOL, last)),
            countOf(map(_IS_OPEN, last), True),
        )

    @classmethod
    def _of_rows(
        cls, rows: list[tuple[Any, ...]], symbols: list[str], open_trades: int
    ) -> TradeColumns:
        """The columns of trade rows (:class:`Trade` fields in order), given their symbols and
        how many are marked open."""
        count = len(rows)
        # Quantity, entry price, P&L and the stop-first flag of every row, in one pass read
        # in C: the rows of a long run are out of the CPU cache, each pass reads all again.
        numbers = np.fromiter(
            chain.from_iterable(map(_NUMBERS, rows)), dtype=np.float64, count=4 * count
        ).reshape(count, 4)
        return cls(
            symbol=symbols,
            pnl=numbers[:, 2].copy(),
            notional=numbers[:, 0] * numbers[:, 1],
            open_trades=open_trades,
            stop_first_trades=int(np.count_nonzero(numbers[:, 3])),
        )


# What the columns read of a trade row (:class:`Trade` fields in order).
_SYMBOL, _IS_OPEN, _NUMBERS = itemgetter(0), itemgetter(11), itemgetter(2, 4, 9, 13)


def _rows(trades: Sequence[Trade]) -> list[tuple[Any, ...]]:
    """The fields of ``trades`` the columns read, as rows of :class:`Trade` fields in order
    (the rows themselves when the trades are rows already: no object per trade)."""
    if isinstance(trades, Records) and trades.make is trade_from_row:
        return trades.rows
    return [
        (t.symbol, None, t.quantity, None, t.entry_price)
        + (None,) * 4
        + (t.pnl, None, t.is_open, None, t.stop_first)
        for t in trades
    ]


BROKER_PATH = "broker"  # the paper broker, one object per order, fill and trade
COLUMNAR_PATH = "columnar"  # the columnar fast path, rows of plain values


@dataclass(slots=True)
class Ledger:
    """What one execution path leaves of a run, for the engine to assemble its result: the
    account after the run, the orders, fills and round trips, the orders still open, and
    where cash and each position moved on the timeline."""

    path: str  # BROKER_PATH or COLUMNAR_PATH
    account: Account
    orders: Sequence[Order]
    carried_orders: list[Order]  # open at the start (from the state), as they are now
    fills: Sequence[Fill]
    trades: Sequence[Trade]
    open_orders: list[Order]
    sequence: int
    id_prefix: str
    cash_changes: list[tuple[int, float]]
    qty_changes: dict[str, list[tuple[int, float]]]

    @classmethod
    def of_broker(
        cls,
        broker: PaperBroker,
        account: Account,
        cash_changes: list[tuple[int, float]],
        qty_changes: dict[str, list[tuple[int, float]]],
    ) -> Ledger:
        """What a run on the paper broker (the broker path) leaves: its objects as they are."""
        return cls(
            path=BROKER_PATH,
            account=account,
            orders=broker.orders,
            carried_orders=broker.restored,
            fills=broker.fills,
            trades=broker.portfolio.trades,
            open_orders=list(broker.open_orders.values()),
            sequence=broker.sequence,
            id_prefix=broker.id_prefix,
            cash_changes=cash_changes,
            qty_changes=qty_changes,
        )
