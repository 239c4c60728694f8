"""The columnar fast path of a backtest: the paper broker's rules, without an object per order.

A backtest's signals become market orders, fills and round trips kept as plain rows (lists and
tuples of floats), in one loop over the bars where something happens: a signal, the bar after
it (where its orders fill), and the first bar an attached exit can reach (found with a
vectorised look-ahead, trailing stops included). Everything a rule decides is decided by the
functions the broker itself calls: :func:`~trading.core.signal_orders.signal_orders` (which
orders a signal places), :mod:`.sizing` and :mod:`.costs`, :func:`~trading.core.risk.
check_sized`, :mod:`.fill_rules` (fill prices, which exit wins a bar), :mod:`.exits` (exit
prices, trailing) and :meth:`~trading.core.portfolio.Portfolio.book` (the accounting). What
stays here is the life cycle of the orders a signal run places, the part the broker keeps in
objects. The result is identical to the broker's: same orders, fills, trades, cash and state
(a differential test holds the two paths to it).

Covered: market orders from signals, long-only and long/short, fixed quantity or a fraction
of cash, lot steps, commission (rate and minimum), slippage, fills at the open or on the
signal bar's close, risk limits, attached stop-loss / take-profit / trailing exits given as
fractions of the fill price (or a multiple of ATR). :func:`unsupported` names what is not
(a volume cap, absolute exit prices, orders left open by an earlier run): those runs take the
broker path. This is the one module of the execution package that imports numpy.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trading.core.bars import BarSeries, FloatArray, IntArray, SignalArray
from trading.core.config import RunConfig
from trading.core.execution.exits import (
    AttachedExits,
    stop_loss_price,
    take_profit_price,
    tightened,
    trailing_stop,
)
from trading.core.execution.fill_rules import contest, limit_touch, stop_touch
from trading.core.execution.margin import FORCED, buying_power, last_price
from trading.core.execution.sizing import affordable_quantity, check_order_size, unaffordable
from trading.core.lots import WHOLE_SHARES, without_dust
from trading.core.model import (
    OPEN_STATUSES,
    Account,
    ExitKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from trading.core.portfolio import Portfolio
from trading.core.risk import Rejection, check_sized, check_static
from trading.core.signal_orders import entry_exits, signal_orders
from trading.core.strategies import BUY

if TYPE_CHECKING:
    from trading.core.margin_watch import MarginWatch

_STOP_LOSS = ExitKind.STOP_LOSS
_TAKE_PROFIT = ExitKind.TAKE_PROFIT
_TRAILING_STOP = ExitKind.TRAILING_STOP
_NEW = OrderStatus.NEW
_CANCELLED = OrderStatus.CANCELLED
_FILLED = OrderStatus.FILLED
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_REJECTED = OrderStatus.REJECTED
_SIDES = (Side.SELL, Side.BUY)  # indexed by "is a buy"
_NOWHERE: IntArray = np.zeros(0, dtype=np.int64)  # a book's timeline positions after the run

# An order is a list (cheap to make and to change); its fields by position:
_SEQ = 0  # id sequence number
_BOOK = 1  # the symbol's book
_BUY = 2  # True for a buy
_QTY = 3  # quantity (0 until a fraction-of-cash order is sized)
_FRACTION = 4  # cash fraction, or None
_REDUCE = 5  # reduce-only
_CREATED = 6  # created on the bar of this timestamp
_STATUS = 7
_FILLED_QTY = 8
_AVG = 9  # average fill price
_FILLS = 10  # fill count
_REASON = 11  # reject reason code
_MESSAGE = 12  # reject message
_EXITS = 13  # an entry's attached exits
_KIND = 14  # an exit's kind (None: a signal's order)
_LIMIT = 15  # a take-profit's limit price
_STOP = 16  # a stop's stop price
_EXTREME = 17  # a trailing stop's best price since entry
_PARENT = 18  # an exit's entry
_FOLD = 19  # a trailing stop's next bar to fold into its best price

# Bars scanned one by one for an exit before vectorised windows (a stop near the price is
# usually reached within a few bars; a numpy pass costs more than dozens of comparisons):
# with a trailing stop, then fixed levels (read singly first, then as one list).
_PLAIN_SCAN = 40
_TRAILING_STEPS = (8, _PLAIN_SCAN - 8)
_SINGLE_READS = 24
_PLAIN_STEPS = (32,)
_FIRST_WINDOW = 256
# Bars compared at once by _first_touches (a few arrays of this many elements).
_TOUCH_CHUNK = 1 << 16


def unsupported(config: RunConfig, carried_orders: int) -> str | None:
    """Why a run cannot take the columnar path (it then takes the broker's), or None."""
    if config.execution.volume_limit is not None:
        return "a volume cap (partial fills)"
    if config.exits is not None and config.exits.priced:
        return "absolute stop-loss/take-profit prices (checked against each entry)"
    if carried_orders:
        return "orders left open by an earlier run"
    return None


class _Book:
    """One symbol: its bars and signals, its position, its open orders and exits."""

    __slots__ = (
        "atr",
        "close",
        "cursor",
        "exits",
        "held",
        "high",
        "length",
        "lot",
        "low",
        "offset",
        "open",
        "pending",
        "qty_changes",
        "rank",
        "signal_bars",
        "signals",
        "start",
        "symbol",
        "trailing",
        "ts",
        "visited",
        "where",
    )

    def __init__(
        self,
        bars: BarSeries,
        signals: SignalArray,
        start: int,
        offset: int,
        where: IntArray,
        rank: int,
        held: Position | None,
    ) -> None:
        self.symbol = bars.symbol
        self.rank = rank
        self.start = start
        self.offset = offset
        self.length = len(bars)
        self.ts, self.open, self.high = bars.ts, bars.open, bars.high
        self.low, self.close = bars.low, bars.close
        self.signals = signals
        self.signal_bars: list[int] = (np.flatnonzero(signals[start:]) + start).tolist()
        self.cursor = 0
        self.where = where
        self.held = held
        self.pending: list[list[Any]] = []  # open market orders, in arrival order
        self.exits: list[list[Any]] = []  # open exit orders, in arrival order
        self.trailing = 0  # how many of them are trailing stops
        self.qty_changes: list[tuple[int, float]] = []
        self.atr: FloatArray | None = None
        self.lot = WHOLE_SHARES
        self.visited = start - 1  # the last bar processed

    def next_signal(self, after: int) -> int:
        """The first signal bar after ``after`` (the bar count when none)."""
        bars = self.signal_bars
        k = self.cursor
        while k < len(bars) and bars[k] <= after:
            k += 1
        self.cursor = k
        return bars[k] if k < len(bars) else self.length


class ColumnarReplay:
    """Replays the signals of a run over the bars not yet processed, as the broker would.

    Build it with the run's books, then :meth:`run`; read the rows and the account after.
    """

    def __init__(
        self,
        config: RunConfig,
        account: Account,
        sequence: int,
        id_prefix: str,
        watch: MarginWatch | None = None,
    ) -> None:
        self.config = config
        self.watch = watch
        # The one-pass run's first timeline position whose close the margin watch has not
        # checked against the positions held now (see _margin_until).
        self.checked = 0
        # The one-pass run's stretches between fill bars: highest and lowest close, end.
        self.ranges: tuple[list[float], list[float], list[int]] | None = None
        # How buying power marks the other positions (the watch's closes in a watched run).
        self.price_of = last_price if watch is None else watch.price_of
        self.execution = config.execution
        self.limits = config.risk_limits()
        self.account = account
        self.sequence = sequence
        self.id_prefix = id_prefix
        self.trade_rows: list[tuple[Any, ...]] = []
        self.portfolio = Portfolio(account, self.trade_rows)
        self.order_rows: list[list[Any]] = []
        self.fill_rows: list[tuple[Any, ...]] = []
        self.cash_changes: list[tuple[int, float]] = []
        self.books: list[_Book] = []
        execution = self.execution
        self.whole_lots = (
            not execution.lot_sizes
            and execution.default_lot.whole
            and execution.default_lot.minimum <= 1
        )
        self.slippage = bool(execution.slippage_bps)
        self.static_checks = self.limits.halted or self.limits.allowed_symbols is not None
        # Bars from a signal to the first its entry's exits can fill on (the bar after the
        # fill's: the fill bar's own rest is worked apart), in the one-pass run.
        self.exits_lag = 1 if execution.trade_on_close else 2
        # Whether the run's own exits arm any order (read for every entry that fills).
        self.arms = config.exits is not None and _has_exits(config.exits)

    def add(
        self,
        bars: BarSeries,
        signals: SignalArray,
        start: int,
        offset: int,
        where: IntArray,
    ) -> None:
        """Add one symbol (in symbol order: its rank breaks ties between symbols' bars)."""
        book = _Book(
            bars,
            signals,
            start,
            offset,
            where,
            len(self.books),
            self.account.positions.get(bars.symbol),
        )
        if not self.whole_lots:
            book.lot = self.execution.lot(bars.symbol)
        self.books.append(book)

    # -- the loop over the bars where something happens -----------------------------------

    def run(self) -> None:
        """Process every bar where something can happen, in timeline order."""
        books = self.books
        if self._one_pass():
            try:
                self._run_signal_bars(books[0])
            except _Breach as breach:  # a margin call or ruin: the queue takes over
                self._run_watched(breach)
        elif self.watch is not None:
            self._run_watched()
        elif len(books) == 1:  # one symbol: no queue needed
            book = books[0]
            index = book.next_signal(book.start - 1)
            while index < book.length:
                self._visit(book, index)
                index = self._next_bar(book, index)
        else:
            queue: list[tuple[int, int, int]] = []
            for book in books:
                self._schedule(queue, book, book.next_signal(book.start - 1))
            while queue:
                _, rank, index = heapq.heappop(queue)
                book = books[rank]
                self._visit(book, index)
                self._schedule(queue, book, self._next_bar(book, index))
        for book in books:
            if book.trailing:
                self._fold(book, book.length)
        # The run is over: the result reads the rows (through this object, as long as it
        # lives); the look-ahead's lists and the timeline positions would live as long.
        self.ranges = None
        for book in books:
            book.signal_bars = []
            book.where = _NOWHERE

    def _run_watched(self, breach: _Breach | None = None) -> None:
        """:meth:`run` with the margin watch's events queued after each timeline position's
        bars (rank: the number of books), as the broker path does; from the start, or from
        the ``breach`` the one-pass run stopped at (its book goes on from its last bar)."""
        watch = self.watch
        assert watch is not None
        books = self.books
        account_rank = len(books)
        queue: list[tuple[int, int, int]] = []
        if breach is None:
            for book in books:
                self._schedule(queue, book, book.next_signal(book.start - 1))
            self._queue_margin_event(queue, 0, True)
        else:
            book = books[0]
            self._schedule(queue, book, self._next_bar(book, book.visited))
            heapq.heappush(queue, (breach.position, account_rank, watch.generation))
            watch.pending = breach.kind
        while queue:
            pos, rank, index = heapq.heappop(queue)
            if rank == account_rank:
                if index == watch.generation:
                    self._margin_event(queue, pos)
                continue
            book = books[rank]
            if index <= book.visited:
                continue  # queued twice (a margin call's orders asked for an earlier visit)
            watch.at = pos
            fills_before = len(self.fill_rows)
            self._visit(book, index)
            if len(self.fill_rows) != fills_before:
                watch.settled()
                self._queue_margin_event(queue, pos, True)
            self._schedule(queue, book, self._next_bar(book, index))

    def _queue_margin_event(
        self, queue: list[tuple[int, int, int]], begin: int, fresh: bool
    ) -> None:
        """Queue the watch's next event from timeline position ``begin``."""
        watch = self.watch
        assert watch is not None
        event = watch.next_event(begin, fresh)
        if event is not None:
            heapq.heappush(queue, (event[0], len(self.books), watch.generation))
            watch.pending = event[1]

    def _margin_event(self, queue: list[tuple[int, int, int]], pos: int) -> None:
        """Continue the look-ahead, or act on a breach at the close of ``pos`` (the broker
        path's ``_margin_event``): cancel the signals' working orders, close every position
        at its symbol's next open."""
        watch = self.watch
        assert watch is not None
        kind = watch.pending
        if kind is None:
            self._queue_margin_event(queue, pos, False)
            return
        watch.breach(pos, kind)
        ts = int(watch.timeline[pos])
        for book in self.books:
            for row in book.pending:
                row[_STATUS] = _CANCELLED
            book.pending.clear()
        for book in self.books:
            held = book.held
            if held is None or not held.quantity:
                continue
            self._force(book, ts, kind)
            after = int(np.searchsorted(book.ts, ts, side="right")) - 1
            self._schedule(queue, book, max(after, book.visited, book.start - 1) + 1)
        self._queue_margin_event(queue, pos + 1, True)

    def _order_row(
        self,
        book: _Book,
        buy: bool,
        quantity: float,
        fraction: float | None,
        reduce_only: bool,
        ts: int,
        exits: AttachedExits | None = None,
        kind: ExitKind | None = None,
        limit: float | None = None,
        stop: float | None = None,
        parent: list[Any] | None = None,
    ) -> list[Any]:
        """A new order as a row (the fields in the order of the row's column constants),
        numbered and recorded; the caller files it where it waits. (Called positionally in
        the loops: a keyword argument costs CPython 3.11 about twice the call.)"""
        self.sequence += 1
        row: list[Any] = [
            self.sequence,
            book,
            buy,
            quantity,
            fraction,
            reduce_only,
            ts,
            _NEW,
            0,
            0.0,
            0,
            None,
            None,
            exits,
            kind,
            limit,
            stop,
            None,
            parent,
            0,
        ]
        self.order_rows.append(row)
        return row

    def _force(self, book: _Book, ts: int, kind: ExitKind) -> None:
        """The account's own market order closing ``book``'s position (the broker's
        ``force_close``): reduce-only, no risk check, filled at the next open."""
        held = book.held
        assert held is not None
        row = self._order_row(
            book, held.quantity < 0, abs(held.quantity), None, True, ts, None, kind
        )
        book.pending.append(row)

    def _buying_power(self, book: _Book, buy: bool, price: float) -> float:
        """What an entry in ``book`` may spend at ``price`` (the broker's ``buying_power``)."""
        if self.watch is None:
            # Long-only, unlevered, no short carried in: the rule's value is the cash (the
            # broker path computes it in full and gets the same float).
            return self.account.cash
        symbol = book.symbol
        account = self.account
        positions = account.positions
        if len(positions) == 1 and book.held is not None:
            # The account holds this symbol only: exposure() of that one position, marked
            # at ``price``, without a mark function per call (the same floats).
            value = book.held.quantity * price
            return self.config.margin.entry_power(
                account.cash, value if value > 0 else 0.0, -value if value < 0 else 0.0, not buy
            )
        price_of = self.price_of

        def mark(held: Position) -> float:
            return price if held.symbol == symbol else price_of(held)

        return buying_power(
            self.config.margin, account.cash, account.positions.values(), mark, not buy
        )

    def _one_pass(self) -> bool:
        """True when :meth:`_run_signal_bars` covers the run: one symbol, exits (if any) a
        stop-loss, take-profit and trailing stop set as fractions of (or distances from) the
        fill price, no ATR trailing, and with exits no size limit
        that could refuse a close (a position's exits are then always gone when its close
        fills), and not when an earlier run left the account ruined or meeting a margin call.
        With a margin watch the pass follows its look-ahead and hands the run to the queue at
        the first breach (:class:`_Breach`)."""
        config = self.config
        if len(self.books) != 1 or config.trailing_atr is not None:
            return False
        if self.watch is not None and self.watch.halted:
            return False
        exits = config.exits
        if exits is None:
            return True
        return (
            not exits.priced
            and self.limits.max_position is None
            and self.limits.max_order_notional is None
        )

    def _run_signal_bars(self, book: _Book) -> None:
        """:meth:`run` in one pass over the signal bars of one symbol (see :meth:`_one_pass`).

        A signal's market orders fill on the next bar, before that bar's own signal acts, so
        the bars to visit are the signal bars, the bars after them and, while a position's
        exits are open, the first bar between two signals where one of them fills (found
        with the vectorised look-ahead :func:`_first_touch`)."""
        signal_bars = book.signal_bars
        length = book.length
        at = np.array(signal_bars, dtype=np.int64)
        after = np.minimum(at + 1, length - 1)  # the fill bar (clipped: the last signal's)
        signals = book.signals[at].tolist()
        closes = book.close[at].tolist()
        stamps = book.ts[at].tolist()
        opens = book.open[after].tolist()
        fill_stamps = book.ts[after].tolist()
        fill_closes = book.close[after].tolist()
        wheres = book.where[after - book.start].tolist()
        signal_wheres = book.where[at - book.start].tolist()
        config = self.config
        execution = self.execution
        limits = self.limits
        account = self.account
        fill_rows = self.fill_rows
        cash_changes = self.cash_changes
        qty_changes = book.qty_changes
        symbol = book.symbol
        on_close = execution.trade_on_close
        slippage = self.slippage
        static_checks = self.static_checks
        whole_lots = self.whole_lots
        fill_market = self._fill_market
        exits = book.exits
        watch = self.watch
        self.checked = 0
        # The signals' fills split the timeline into stretches (from one signal's fill bar to
        # the next's; an exit's fill falls inside one): their highest and lowest closes, taken
        # at once, clear most of the margin watch's checks with two comparisons against a
        # position's price bounds (see _margin_from).
        self.ranges = None
        if watch is not None and signal_bars:
            if on_close:
                starts = signal_wheres
            else:
                starts = wheres[: len(signal_bars) - (signal_bars[-1] + 1 >= length)]
            self.ranges = watch.close_ranges(symbol, np.array(starts, dtype=np.int64))
        # A fraction-of-cash entry is checked alone at the signal (it is sized at its fill):
        # the check depends on the fraction only, the run's own.
        fraction_check = check_order_size(
            symbol, Side.BUY, 0, config.cash_fraction, 0.0, 0, 0.0, execution, limits
        )
        offset = book.start  # one symbol: timeline position p is bar start + p
        watch_from = 0  # the first bar the open exits have not been checked on
        planned = (
            self._planned_touches(book, at, after)
            if config.exits is not None
            and config.exits.trailing_pct is None
            and config.exits.trailing_distance is None
            and signal_bars
            else None
        )
        for k, index in enumerate(signal_bars):
            if exits:  # the exits may fill before this bar's signal acts
                self._exits_until(book, watch_from, index + 1, k - 1, planned)
                # Worked up to this bar (a trailing stop trailed through it): never again.
                watch_from = index + 1
            if watch is not None and self.checked < index - offset:
                self._margin_until(index - offset)
            book.visited = index
            held = book.held
            intents = signal_orders(signals[k], held.quantity if held is not None else 0, config)
            if not intents:
                continue
            close = closes[k]
            ts = stamps[k]
            fills_before = len(fill_rows)
            working = []
            for buy, quantity, fraction, reduce_only, entry in intents:
                row = self._order_row(
                    book,
                    buy,
                    quantity or 0,
                    fraction,
                    reduce_only,
                    ts,
                    config.exits if entry else None,
                )
                held = book.held
                position = held.quantity if held is not None else 0
                rejection = check_static(symbol, limits) if static_checks else None
                if rejection is None and fraction is not None:
                    rejection = fraction_check  # the same for every entry of the run
                elif rejection is None:
                    rejection = check_order_size(
                        symbol,
                        _SIDES[buy],
                        row[_QTY],
                        fraction,
                        close,
                        position,
                        # Only a fixed quantity that opens or adds to a position needs buying
                        # power now (a close needs none).
                        self._buying_power(book, buy, close)
                        if position == 0 or (position > 0) == buy or row[_QTY] > abs(position)
                        else 0.0,
                        execution,
                        limits,
                        whole_lots,
                    )
                if rejection is not None:
                    _reject(row, rejection)
                elif on_close:
                    fill_market(book, row, index, close, ts, None)
                else:
                    working.append(row)
            if on_close:
                watch_from = index + 1
                if len(fill_rows) != fills_before:
                    where = signal_wheres[k]
                    cash_changes.append((where, account.cash))
                    qty_changes.append((where, book.held.quantity))  # type: ignore[union-attr]
                    if watch is not None:
                        self._margin_from(where, k)
                continue
            if not working:
                continue
            if watch is not None and self.checked < index + 1 - offset:
                # A breach at this close cancels the orders just placed.
                book.pending.extend(working)
                self._margin_until(index + 1 - offset)
                book.pending.clear()
            if index + 1 >= length:  # no next bar: the orders stay open
                book.pending.extend(working)
                break
            opening = opens[k]
            ts = fill_stamps[k]
            armed: list[list[Any]] = []
            for row in working:
                price = opening if not slippage else execution.slipped(opening, _SIDES[row[_BUY]])
                fill_market(book, row, index + 1, price, ts, armed)
            # Exits armed at the open live on the rest of the bar (where the plan shows
            # they are reached on it: the levels of an entry filled at this open).
            if armed and (planned is None or planned[2][k] == index + 1):
                self._same_bar(book, index + 1, armed)
            book.visited = index + 1
            watch_from = index + 2
            if len(fill_rows) != fills_before:
                where = wheres[k]
                cash_changes.append((where, account.cash))
                qty_changes.append((where, book.held.quantity))  # type: ignore[union-attr]
                if watch is not None:
                    self._margin_from(where, k)
            if book.held is not None:
                book.held.last_price = fill_closes[k]
        if exits:
            self._exits_until(book, watch_from, length, len(signal_bars) - 1, planned)
        if watch is not None:
            self._margin_until(length - offset)

    def _margin_until(self, end: int) -> None:
        """Check the closes not yet checked up to timeline position ``end`` (excluded) with
        the margin watch; raise :class:`_Breach` at the first margin call or ruin."""
        if self.checked >= end:
            return
        watch = self.watch
        assert watch is not None
        found = watch.first_breach(self.checked, end)
        self.checked = end
        if found is not None:
            raise _Breach(*found)

    def _margin_from(self, where: int, stretch: int) -> None:
        """After a fill at timeline position ``where``, in the ``stretch``-th stretch between
        two signals' fill bars: the margin watch checks the closes from there, except those
        the stretch's highest and lowest close show the position cannot breach at."""
        watch = self.watch
        assert watch is not None
        if watch.liquidating:
            watch.settled()
        self.checked = where
        ranges = self.ranges
        if ranges is None or not 0 <= stretch < len(ranges[2]):
            return
        bounds = watch.bounds()
        if bounds is not None and ranges[0][stretch] < bounds[0] and ranges[1][stretch] > bounds[1]:
            self.checked = ranges[2][stretch]

    def _planned_touches(
        self, book: _Book, at: IntArray, after: IntArray
    ) -> tuple[list[float], list[float], list[int]]:
        """For each signal of :meth:`_run_signal_bars` at the bars ``at`` whose entry fills at
        the open of the bars ``after`` (or at the signal bar's close), slipped: the levels
        that wake its exits (:func:`_wakes`) and the first bar after the signal bar up to the
        next signal's bar where they wake (:func:`_first_touches`), all at once. The pass
        uses one only where its entry's exits are the ones open, with these very levels."""
        exits = self.config.exits
        assert exits is not None
        execution = self.execution
        long = book.signals[at] == BUY
        # The rule functions below, applied to arrays: the entries' fill prices, then levels.
        prices: Any = book.close[at] if execution.trade_on_close else book.open[after]
        if self.slippage:
            prices = np.where(
                long, execution.slipped(prices, Side.BUY), execution.slipped(prices, Side.SELL)
            )
        unset = np.full(prices.shape, math.inf)
        stop, take = exits.stop_loss_pct, exits.take_profit_pct
        # A long's stop-loss wakes on a low, a short's on a high; take-profits the other way.
        long_low = -unset if stop is None else stop_loss_price(prices, stop, True)
        short_high = unset if stop is None else stop_loss_price(prices, stop, False)
        long_high = unset if take is None else take_profit_price(prices, take, True)
        short_low = -unset if take is None else take_profit_price(prices, take, False)
        low_wakes = np.where(long, long_low, short_low)
        high_wakes = np.where(long, long_high, short_high)
        ends = np.empty_like(at)
        ends[:-1] = at[1:] + 1
        ends[-1] = book.length
        touches = _first_touches(book.low, book.high, at + 1, ends, low_wakes, high_wakes)
        return low_wakes.tolist(), high_wakes.tolist(), touches

    def _exits_until(
        self,
        book: _Book,
        begin: int,
        end: int,
        stretch: int,
        planned: tuple[list[float], list[float], list[int]] | None = None,
    ) -> None:
        """Fill the open exits of ``book`` on the bars of [begin, end) they reach (the
        broker's ``on_bar`` on each such bar), after the margin events before each; the
        bars lie in the ``stretch``-th stretch between two signals' fill bars (``planned``:
        see :meth:`_planned_touches`)."""
        watch = self.watch
        offset = book.start
        exits = book.exits
        index = -1  # the next bar to visit, not known yet
        if (
            planned is not None
            and stretch >= 0
            and begin == book.signal_bars[stretch] + self.exits_lag
        ):
            # The exits of the stretch's entry, at their planned levels: its first touch.
            touch = planned[2][stretch]
            if touch >= begin:
                low_wake, high_wake, trail = _wakes(exits, begin)
                if (
                    trail is None
                    and low_wake == planned[0][stretch]
                    and high_wake == planned[1][stretch]
                ):
                    index = touch
        while exits and begin < end:
            if index < 0:
                if book.trailing:  # the look-ahead starts from the best price up to begin
                    self._fold(book, begin)
                index = self._first_exit_bar(book, begin, end)
            if watch is not None:
                self._margin_until(min(index, end) - offset)
            if index >= end:
                if book.trailing:  # it trails the bars up to end (an order may cancel it)
                    self._fold(book, end)
                return
            book.visited = index
            if book.trailing:
                self._fold(book, index)
            filled = self._fixed_exits(book, index)
            if book.trailing:  # still open: it trails the bar's move
                self._fold(book, index + 1)
            held = book.held
            assert held is not None  # exits are open: a position is held
            held.last_price = book.close.item(index)
            if filled:
                where = book.where.item(index - offset)
                self.cash_changes.append((where, self.account.cash))
                book.qty_changes.append((where, held.quantity))
                if watch is not None:
                    self._margin_from(where, stretch)
            begin = index + 1
            index = -1

    def _fixed_exits(self, book: _Book, index: int) -> bool:
        """:meth:`_work` on bar ``index`` for the exits of :meth:`_run_signal_bars` (one
        position's stop-loss, take-profit and trailing stop, each for the whole position,
        the trailing stop folded up to this bar): in arrival order, the first one reached
        that :func:`contest` lets fill closes the position and cancels the others. True when
        one filled."""
        opening = book.open.item(index)
        high = book.high.item(index)
        low = book.low.item(index)
        exits = book.exits
        for row in list(exits):
            buy = row[_BUY]
            own_limit = row[_KIND] is _TAKE_PROFIT
            if own_limit:
                level = row[_LIMIT]
                price = limit_touch(opening, high, low, level, buy)
            else:
                level = row[_STOP]
                price = stop_touch(opening, high, low, level, buy)
                if price is not None and self.slippage:
                    price = self.execution.slipped(price, _SIDES[buy])
            if price is None:
                continue
            if len(exits) == 2:  # a stop-loss and a take-profit: the other one, as a pair
                other = exits[1] if row is exits[0] else exits[0]
                if other[_KIND] is _TAKE_PROFIT:
                    siblings: Sequence[tuple[bool, float]] = ((True, other[_LIMIT]),)
                else:
                    siblings = ((False, other[_STOP]),)
            else:
                siblings = _siblings(exits, row)
            decided = contest(not buy, own_limit, level, opening, high, low, siblings)
            if decided is None:
                continue
            quantity = row[_QTY]
            commission = self.execution.commission(quantity * price)
            held = book.held
            rejection = check_sized(
                book.symbol,
                _SIDES[buy],
                quantity,
                price,
                held.quantity if held is not None else 0,
                0.0,  # an exit closes: it needs no buying power
                commission,
                self.limits,
            )
            if rejection is not None:
                _reject(row, rejection)
                self._close_exit(book, row)
                continue
            ts = book.ts.item(index)
            kind = row[_KIND]
            row[_FILLS] = 1
            self.fill_rows.append((row, 1, quantity, price, commission, ts, kind, decided))
            row[_FILLED_QTY] = quantity
            row[_AVG] = price
            row[_STATUS] = _FILLED
            self.portfolio.book(
                book.symbol,
                buy,
                quantity,
                price,
                commission,
                ts,
                index + book.offset,
                kind,
                decided,
            )
            for other in exits:
                if other is not row:
                    other[_STATUS] = _CANCELLED
            exits.clear()
            book.trailing = 0
            return True
        return False

    def _same_bar(self, book: _Book, index: int, armed: list[list[Any]]) -> None:
        """Work the exits armed by entries filled at the open of bar ``index`` on the rest
        of that bar (the end of the broker's ``on_bar``)."""
        high = book.high.item(index)
        low = book.low.item(index)
        while armed:
            batch = list(armed)
            armed.clear()
            for row in batch:
                # A trailing stop trails the rest of the bar even where it is not reached.
                if row[_STATUS] in OPEN_STATUSES and (
                    row[_KIND] is _TRAILING_STOP or _reaches(row, high, low)
                ):
                    self._work(book, row, index, armed)

    def _fill_market(
        self,
        book: _Book,
        row: list[Any],
        index: int,
        price: float,
        ts: int,
        same_bar: list[list[Any]] | None,
    ) -> None:
        """:meth:`_fill` for a signal's market order in :meth:`_run_signal_bars`: filled
        whole or not at all (a close reduces the whole position it was placed against)."""
        held = book.held
        buy = row[_BUY]
        position = held.quantity if held is not None else 0
        if row[_REDUCE] and (-position if buy else position) <= 0:
            row[_STATUS] = _CANCELLED  # an exit closed the position
            return
        execution = self.execution
        fraction = row[_FRACTION]
        power = -1.0  # not computed yet
        if fraction is not None:
            power = self._buying_power(book, buy, price)
            quantity = affordable_quantity(execution, fraction, power, price, book.lot)
            if quantity <= 0:
                _reject(row, unaffordable(book.symbol, power, price, book.lot))
                return
            row[_QTY] = quantity
        else:
            quantity = row[_QTY]
        if not self.whole_lots:
            quantity = book.lot.round_down(quantity)
        commission = execution.commission(quantity * price)
        # Buying power only where the fill opens or adds to a position (closing needs none).
        if position == 0 or (position > 0) == buy or quantity > abs(position):
            if power < 0:
                power = self._buying_power(book, buy, price)
        else:
            power = 0.0
        rejection = check_sized(
            book.symbol, _SIDES[buy], quantity, price, position, power, commission, self.limits
        )
        if rejection is not None:
            _reject(row, rejection)
            return
        row[_FILLS] = 1
        self.fill_rows.append((row, 1, quantity, price, commission, ts, None, False))
        row[_FILLED_QTY] = row[_QTY]
        row[_AVG] = price
        row[_STATUS] = _FILLED
        self.portfolio.book(book.symbol, buy, quantity, price, commission, ts, index + book.offset)
        if held is None:
            book.held = held = self.account.positions[book.symbol]
        exits = row[_EXITS]
        if exits is not None and (self.arms if exits is self.config.exits else _has_exits(exits)):
            self._arm_exits(book, row, quantity, index, same_bar)
        if book.exits:
            # Closing (or reversing) a position cancels the exits left reducing it (seldom
            # any: the list is copied only then).
            position = held.quantity
            for other in book.exits:
                if (-position if other[_BUY] else position) <= 0:
                    break
            else:
                return
            for other in list(book.exits):
                if other[_STATUS] in OPEN_STATUSES and (
                    (-position if other[_BUY] else position) <= 0
                ):
                    other[_STATUS] = _CANCELLED
                    self._close_exit(book, other)

    @staticmethod
    def _schedule(queue: list[tuple[int, int, int]], book: _Book, index: int) -> None:
        if index < book.length:
            heapq.heappush(queue, (book.where.item(index - book.start), book.rank, index))

    def _next_bar(self, book: _Book, index: int) -> int:
        """The next bar of ``book`` after ``index`` where something can happen."""
        nxt = book.next_signal(index)
        if book.pending:
            return index + 1  # a market order fills on the next bar
        if book.exits:
            return self._first_exit_bar(book, index + 1, nxt)
        return nxt

    def _visit(self, book: _Book, index: int) -> None:
        """One bar of one symbol: work its open orders, then act on its signal."""
        book.visited = index
        fills_before = len(self.fill_rows)
        if book.pending or book.exits:
            self._on_bar(book, index)
        signal = book.signals.item(index)
        if signal and (self.watch is None or not self.watch.halted):
            self._act(book, index, signal)
        if len(self.fill_rows) != fills_before:  # cash and positions only move on fills
            where = book.where.item(index - book.start)
            self.cash_changes.append((where, self.account.cash))
            held = book.held
            book.qty_changes.append((where, held.quantity if held is not None else 0))

    # -- orders ----------------------------------------------------------------------------

    def _act(self, book: _Book, index: int, signal: int) -> None:
        """A signal's orders (:func:`signal_orders`), after cancelling opposite ones."""
        buy = signal == BUY
        if book.pending:
            same_side = False
            for row in list(book.pending):
                if row[_BUY] is not buy:
                    row[_STATUS] = _CANCELLED
                    book.pending.remove(row)
                else:
                    same_side = True
            if same_side:
                return  # an order in the signal's direction is already working
        held = book.held
        intents = signal_orders(signal, held.quantity if held is not None else 0, self.config)
        if not intents:
            return
        config = self.config
        exits = config.exits
        if config.trailing_atr is not None:
            if book.atr is None:
                from trading.core.indicators import atr

                book.atr = atr(book.high, book.low, book.close, config.atr_period)
            exits = entry_exits(config, book.atr.item(index))
        ts = book.ts.item(index)
        for side, quantity, fraction, reduce_only, entry in intents:
            self._submit(
                book, index, side, quantity, fraction, reduce_only, exits if entry else None, ts
            )

    def _submit(
        self,
        book: _Book,
        index: int,
        buy: bool,
        quantity: float | None,
        fraction: float | None,
        reduce_only: bool,
        exits: AttachedExits | None,
        ts: int,
    ) -> None:
        """Place a market order on bar ``index`` (the broker's ``submit``)."""
        row = self._order_row(book, buy, quantity or 0, fraction, reduce_only, ts, exits)
        held = book.held
        close = book.close.item(index)
        rejection = None
        if self.static_checks:
            rejection = check_static(book.symbol, self.limits)
        if rejection is None:
            rejection = check_order_size(
                book.symbol,
                _SIDES[buy],
                row[_QTY],
                fraction,
                close,
                held.quantity if held is not None else 0,
                # Only a fixed quantity is checked now (a fraction is sized when it fills).
                self._buying_power(book, buy, close) if fraction is None else 0.0,
                self.execution,
                self.limits,
                self.whole_lots,
            )
        if rejection is not None:
            _reject(row, rejection)
        elif self.execution.trade_on_close:
            self._fill(book, row, index, close, False, None)
        else:
            book.pending.append(row)

    def _on_bar(self, book: _Book, index: int) -> None:
        """Fill or trail the open orders of ``book`` on bar ``index`` (the broker's
        ``on_bar``): market orders at the open first, then exits, then the exits an entry
        filled at the open armed, on the rest of the bar."""
        if book.trailing:
            self._fold(book, index)
        ts = book.ts.item(index)
        armed: list[list[Any]] = []
        later = list(book.exits)
        if book.pending:
            opening = book.open.item(index)
            for row in list(book.pending):
                if row[_CREATED] >= ts or row[_STATUS] is _CANCELLED:
                    continue
                price = (
                    opening
                    if not self.slippage
                    else self.execution.slipped(opening, _SIDES[row[_BUY]])
                )
                self._fill(book, row, index, price, False, armed)
                if row[_STATUS] not in OPEN_STATUSES and row in book.pending:
                    book.pending.remove(row)
        for row in later:
            if row[_STATUS] is not _CANCELLED:
                self._work(book, row, index, armed)
        if armed:
            self._same_bar(book, index, armed)
        if book.held is not None:
            book.held.last_price = book.close.item(index)

    def _work(self, book: _Book, row: list[Any], index: int, armed: list[list[Any]]) -> None:
        """Try to fill exit ``row`` on bar ``index``, or trail it."""
        opening = book.open.item(index)
        high = book.high.item(index)
        low = book.low.item(index)
        buy = row[_BUY]
        own_limit = row[_KIND] is _TAKE_PROFIT
        level = row[_LIMIT] if own_limit else row[_STOP]
        price: float | None
        if own_limit:
            price = limit_touch(opening, high, low, level, buy)
        else:
            touched = stop_touch(opening, high, low, level, buy)
            price = None if touched is None else self.execution.slipped(touched, _SIDES[buy])
        if price is not None:
            parent = row[_PARENT]
            decided = contest(
                not buy,
                own_limit,
                level,
                opening,
                high,
                low,
                [
                    (
                        other[_KIND] is _TAKE_PROFIT,
                        other[_LIMIT] if other[_KIND] is _TAKE_PROFIT else other[_STOP],
                    )
                    for other in book.exits
                    if other is not row and other[_PARENT] is parent
                ],
            )
            if decided is not None:
                self._fill(book, row, index, price, decided, armed if price == opening else None)
        if row[_STATUS] in OPEN_STATUSES:
            if row[_KIND] is _TRAILING_STOP:
                long = not buy  # a sell stop protects a long
                extreme = max(row[_EXTREME], high) if long else min(row[_EXTREME], low)
                exits = row[_PARENT][_EXITS]
                row[_EXTREME] = extreme
                row[_STOP] = tightened(
                    extreme, row[_STOP], exits.trailing_pct, exits.trailing_distance, long
                )
                row[_FOLD] = index + 1
        elif row in book.exits:
            self._close_exit(book, row)

    def _fill(
        self,
        book: _Book,
        row: list[Any],
        index: int,
        price: float,
        stop_first: bool,
        same_bar: list[list[Any]] | None,
    ) -> None:
        """Fill ``row`` at ``price`` on bar ``index`` as far as allowed (the broker's
        ``_fill_at``); exits it arms go to ``same_bar`` when given."""
        account = self.account
        execution = self.execution
        buy = row[_BUY]
        power = -1.0  # not computed yet
        if row[_FRACTION] is not None and row[_QTY] == 0:
            power = self._buying_power(book, buy, price)
            quantity = affordable_quantity(execution, row[_FRACTION], power, price, book.lot)
            if quantity <= 0:
                _reject(row, unaffordable(book.symbol, power, price, book.lot))
                return
            row[_QTY] = quantity
        remaining = row[_QTY] - row[_FILLED_QTY]
        wanted = remaining
        held = book.held
        position = held.quantity if held is not None else 0
        if row[_REDUCE]:
            reducible = -position if buy else position
            if reducible <= 0:  # nothing left to reduce: the position was closed meanwhile
                row[_STATUS] = _CANCELLED
                return
            if reducible < wanted:
                wanted = reducible
        if not self.whole_lots:
            wanted = book.lot.round_down(wanted)
        if wanted <= 0:
            return
        commission = execution.commission(wanted * price)
        kind = row[_KIND]
        # Buying power only where the fill opens or adds to a position (closing needs none).
        opens = position == 0 or (position > 0) == buy or wanted > abs(position)
        rejection = (
            check_sized(
                book.symbol,
                _SIDES[buy],
                wanted,
                price,
                position,
                (power if power >= 0 else self._buying_power(book, buy, price)) if opens else 0.0,
                commission,
                self.limits,
            )
            if kind not in FORCED
            else None
        )
        if rejection is not None:
            if row[_FILLED_QTY]:
                row[_STATUS] = _CANCELLED
                row[_REASON] = rejection.code.value
                row[_MESSAGE] = rejection.message
            else:
                _reject(row, rejection)
            return
        row[_FILLS] += 1
        ts = book.ts.item(index)
        self.fill_rows.append((row, row[_FILLS], wanted, price, commission, ts, kind, stop_first))
        previous = row[_FILLED_QTY]
        row[_FILLED_QTY] = row[_QTY] if wanted >= remaining else without_dust(previous + wanted)
        row[_AVG] = (
            price if not previous else (previous * row[_AVG] + wanted * price) / row[_FILLED_QTY]
        )
        row[_STATUS] = _FILLED if row[_QTY] - row[_FILLED_QTY] == 0 else _PARTIALLY_FILLED
        self.portfolio.book(
            book.symbol, buy, wanted, price, commission, ts, index + book.offset, kind, stop_first
        )
        if held is None:
            book.held = held = account.positions[book.symbol]
        if row[_PARENT] is not None:  # one-cancels-other
            parent = row[_PARENT]
            for other in list(book.exits):
                if other is not row and other[_PARENT] is parent:
                    other[_STATUS] = _CANCELLED
                    self._close_exit(book, other)
        elif not row[_REDUCE] and row[_EXITS] is not None and _has_exits(row[_EXITS]):
            self._arm_exits(book, row, wanted, index, same_bar)
        # Closing (or reversing) a position cancels the reduce-only orders left reducing it.
        if not book.exits and (not book.pending or book.pending == [row]):
            return  # nothing else is open
        position = held.quantity
        for other in [*book.pending, *book.exits]:
            if other is row or not other[_REDUCE] or other[_STATUS] not in OPEN_STATUSES:
                continue
            if (-position if other[_BUY] else position) <= 0:
                other[_STATUS] = _CANCELLED
                if other[_KIND] is None or other[_KIND] in FORCED:
                    book.pending.remove(other)
                else:
                    self._close_exit(book, other)

    def _arm_exits(
        self,
        book: _Book,
        entry: list[Any],
        quantity: float,
        index: int,
        same_bar: list[list[Any]] | None,
    ) -> None:
        """The exit orders of a filled entry (stop-loss, take-profit, trailing stop, in this
        order), priced from its fill price; live on the rest of the bar when it filled at the
        open (``same_bar``), else from the next bar."""
        exits: AttachedExits = entry[_EXITS]
        reference = entry[_AVG]
        long = entry[_BUY]
        ts = book.ts.item(index)
        order_row = self._order_row
        rows = []
        if exits.stop_loss_pct is not None:
            stop = stop_loss_price(reference, exits.stop_loss_pct, long)
            rows.append(
                order_row(
                    book, not long, quantity, None, True, ts, None, _STOP_LOSS, None, stop, entry
                )
            )
        if exits.take_profit_pct is not None:
            limit = take_profit_price(reference, exits.take_profit_pct, long)
            rows.append(
                order_row(
                    book, not long, quantity, None, True, ts, None, _TAKE_PROFIT, limit, None, entry
                )
            )
        if exits.trailing_pct is not None or exits.trailing_distance is not None:
            stop = tightened(reference, None, exits.trailing_pct, exits.trailing_distance, long)
            row = order_row(
                book, not long, quantity, None, True, ts, None, _TRAILING_STOP, None, stop, entry
            )
            row[_EXTREME] = reference
            row[_FOLD] = index + 1
            book.trailing += 1
            rows.append(row)
        book.exits.extend(rows)
        if same_bar is not None:
            same_bar.extend(rows)

    def _close_exit(self, book: _Book, row: list[Any]) -> None:
        book.exits.remove(row)
        if row[_KIND] is _TRAILING_STOP:
            book.trailing -= 1

    # -- exits between the bars visited ----------------------------------------------------

    def _fold(self, book: _Book, index: int) -> None:
        """Trail the open trailing stops of ``book`` through the bars before ``index`` not yet
        seen (the best price is a running extreme, so one max stands for each bar's move)."""
        for row in book.exits:
            first = row[_FOLD]
            if row[_KIND] is not _TRAILING_STOP or first >= index:
                continue
            long = not row[_BUY]
            if index - first == 1:  # one bar (the one-pass run's usual step)
                moved = book.high.item(first) if long else book.low.item(first)
            elif index - first <= _PLAIN_SCAN:  # a few bars: cheaper than a numpy reduction
                moved = (
                    max(book.high[first:index].tolist())
                    if long
                    else min(book.low[first:index].tolist())
                )
            else:
                moved = (
                    book.high[first:index].max().item()
                    if long
                    else book.low[first:index].min().item()
                )
            extreme = max(row[_EXTREME], moved) if long else min(row[_EXTREME], moved)
            exits = row[_PARENT][_EXITS]
            row[_EXTREME] = extreme
            row[_STOP] = tightened(
                extreme, row[_STOP], exits.trailing_pct, exits.trailing_distance, long
            )
            row[_FOLD] = index

    def _first_exit_bar(self, book: _Book, begin: int, end: int) -> int:
        """The first bar in [begin, end) where an open exit of ``book`` can fill; ``end``
        when none. Fixed levels wake on a bar's low or high; a trailing stop is followed bar
        by bar as the broker trails it."""
        low_wake, high_wake, trail = _wakes(book.exits, begin)
        if trail is _EVERY_BAR:
            return begin  # several trailing stops: visit every bar
        if trail is None:
            return _first_touch(book.low, book.high, begin, end, low_wake, high_wake)
        exits = trail[_PARENT][_EXITS]
        return _first_trailing_touch(
            book.low,
            book.high,
            begin,
            end,
            low_wake,
            high_wake,
            not trail[_BUY],
            trail[_EXTREME],
            trail[_STOP],
            exits.trailing_pct,
            exits.trailing_distance,
        )

    # -- the result ------------------------------------------------------------------------

    def orders(self) -> list[list[Any]]:
        """Every order row, in the order the orders were placed."""
        return self.order_rows

    def open_orders(self) -> list[Order]:
        """The orders still open after the run, as objects, in arrival order."""
        rows = [row for book in self.books for row in (*book.pending, *book.exits)]
        rows.sort(key=lambda row: row[_SEQ])
        return [self.make_order(row) for row in rows]

    def make_order(self, row: list[Any]) -> Order:
        """The :class:`Order` of an order row."""
        kind = row[_KIND]
        order = Order(
            self._order_id(row),
            row[_BOOK].symbol,
            _SIDES[row[_BUY]],
            row[_QTY],
            OrderType.MARKET
            if kind is None or kind in FORCED
            else (OrderType.LIMIT if kind is _TAKE_PROFIT else OrderType.STOP),
            row[_LIMIT],
            created_ts=row[_CREATED],
            status=row[_STATUS],
            filled_quantity=row[_FILLED_QTY],
            average_fill_price=row[_AVG],
            reject_reason=row[_REASON],
            reject_message=row[_MESSAGE],
            cash_fraction=row[_FRACTION],
            fill_count=row[_FILLS],
            stop_price=row[_STOP],
            reduce_only=row[_REDUCE],
            exit_kind=kind,
        )
        if row[_EXITS] is not None:
            row[_EXITS].attach_to(order)
        if row[_PARENT] is not None:
            order.parent_id = self._order_id(row[_PARENT])
            if kind is _TRAILING_STOP:
                exits = row[_PARENT][_EXITS]
                order.trailing_pct = exits.trailing_pct
                order.trailing_distance = exits.trailing_distance
                order.trail_extreme = row[_EXTREME]
        return order

    def make_fill(self, fill: tuple[Any, ...]) -> Fill:
        """The :class:`Fill` of a fill row."""
        row, number, quantity, price, commission, ts, kind, stop_first = fill
        order_id = self._order_id(row)
        return Fill(
            f"{order_id}-{number}",
            order_id,
            row[_BOOK].symbol,
            _SIDES[row[_BUY]],
            quantity,
            price,
            commission,
            ts,
            kind,
            stop_first,
        )

    def _order_id(self, row: list[Any]) -> str:
        return f"{self.id_prefix}{row[_SEQ]:06d}"

    def quantity_changes(self) -> dict[str, list[tuple[int, float]]]:
        """Per symbol, (timeline position, quantity held after that bar) where it moved."""
        return {book.symbol: book.qty_changes for book in self.books}

    def fills(self) -> Sequence[tuple[Any, ...]]:
        """Every fill row, in the order the fills happened."""
        return self.fill_rows


class _Breach(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A margin call or ruin met by the one-pass run at a timeline position: the queue of
    :meth:`ColumnarReplay._run_watched` takes the run over from there."""

    def __init__(self, position: int, kind: ExitKind) -> None:
        super().__init__(position, kind)
        self.position = position
        self.kind = kind


def _reject(row: list[Any], rejection: Rejection) -> None:
    row[_STATUS] = _REJECTED
    row[_REASON] = rejection.code.value
    row[_MESSAGE] = rejection.message


def _has_exits(exits: AttachedExits) -> bool:
    return (
        exits.stop_loss_pct is not None
        or exits.take_profit_pct is not None
        or exits.trailing_pct is not None
        or exits.trailing_distance is not None
        or exits.stop_loss is not None
        or exits.take_profit is not None
    )


_EVERY_BAR: list[Any] = []  # _wakes(): several trailing stops, every bar must be visited


def _wakes(exits: list[list[Any]], begin: int) -> tuple[float, float, list[Any] | None]:
    """The levels that wake the open exits ``exits``: none of their fixed levels is reached
    on a bar whose low is above the first and whose high is below the second; and the one
    trailing stop among them (None: none; ``_EVERY_BAR``: several, or one not folded up to
    ``begin``)."""
    low_wake = -math.inf
    high_wake = math.inf
    trail: list[Any] | None = None
    for row in exits:
        kind = row[_KIND]
        if kind is _TRAILING_STOP:
            if trail is not None or row[_FOLD] != begin:
                return low_wake, high_wake, _EVERY_BAR
            trail = row
            continue
        buy = row[_BUY]
        if kind is _TAKE_PROFIT:
            level, wakes_low = row[_LIMIT], buy
        else:
            level, wakes_low = row[_STOP], not buy
        if wakes_low:
            if level > low_wake:
                low_wake = level
        elif level < high_wake:
            high_wake = level
    return low_wake, high_wake, trail


def _siblings(exits: list[list[Any]], row: list[Any]) -> list[tuple[bool, float]]:
    """The exits of ``exits`` other than ``row`` as :func:`contest` takes them: (is a limit,
    level)."""
    return [
        (True, other[_LIMIT]) if other[_KIND] is _TAKE_PROFIT else (False, other[_STOP])
        for other in exits
        if other is not row
    ]


def _reaches(row: list[Any], high: float, low: float) -> bool:
    """True when a bar's range reaches an exit's limit or stop."""
    sell = not row[_BUY]
    if row[_KIND] is _TAKE_PROFIT:
        return bool(high >= row[_LIMIT] if sell else low <= row[_LIMIT])
    return bool(low <= row[_STOP] if sell else high >= row[_STOP])


def _first_touch(
    low: FloatArray, high: FloatArray, begin: int, end: int, low_wake: float, high_wake: float
) -> int:
    """The first bar in [begin, end) whose low is at or below ``low_wake`` or whose high is at
    or above ``high_wake``; ``end`` when none."""
    # The first bars one by one: a stop near the price is usually reached within a few bars,
    # and a numpy pass costs more than dozens of plain comparisons (the very first bars read
    # singly, the next ones as a list).
    near = min(end, begin + _SINGLE_READS)
    item_low, item_high = low.item, high.item
    for k in range(begin, near):
        if item_low(k) <= low_wake or item_high(k) >= high_wake:
            return k
    begin = near
    for size in _PLAIN_STEPS:
        near = min(end, begin + size)
        for k, (lo, hi) in enumerate(
            zip(low[begin:near].tolist(), high[begin:near].tolist(), strict=True)
        ):
            if lo <= low_wake or hi >= high_wake:
                return begin + k
        begin = near
    window = _FIRST_WINDOW
    while begin < end:
        stop = min(end, begin + window)
        hit = np.flatnonzero((low[begin:stop] <= low_wake) | (high[begin:stop] >= high_wake))
        if hit.shape[0]:
            return begin + int(hit[0])
        begin = stop
        window *= 8
    return end


def _first_touches(
    low: FloatArray,
    high: FloatArray,
    starts: IntArray,
    ends: IntArray,
    low_wakes: FloatArray,
    high_wakes: FloatArray,
) -> list[int]:
    """:func:`_first_touch` over many ranges at once: for each i, the first bar in
    [starts[i], ends[i]) whose low is at or below ``low_wakes[i]`` or whose high is at or
    above ``high_wakes[i]``; ``ends[i]`` when none. The ranges are disjoint and in order;
    they are taken about ``_TOUCH_CHUNK`` bars at a time (a few arrays of that size)."""
    result = ends.copy()
    lengths = np.maximum(ends - starts, 0)
    total = np.cumsum(lengths)
    count = starts.shape[0]
    first = 0
    while first < count:
        done = int(total[first - 1]) if first else 0
        last = max(first + 1, int(np.searchsorted(total, done + _TOUCH_CHUNK, side="right")))
        sizes = lengths[first:last]
        size = int(total[last - 1]) - done
        if size:
            owner = np.repeat(np.arange(first, last), sizes)  # the range of each bar
            bar = np.arange(done, done + size) + np.repeat(
                starts[first:last] - (total[first:last] - sizes), sizes
            )
            hit = np.flatnonzero((low[bar] <= low_wakes[owner]) | (high[bar] >= high_wakes[owner]))
            if hit.shape[0]:
                owners = owner[hit]
                lead = np.empty(hit.shape[0], dtype=bool)  # the first hit of each range
                lead[0] = True
                lead[1:] = owners[1:] != owners[:-1]
                result[owners[lead]] = bar[hit[lead]]
        first = last
    return result.tolist()  # type: ignore[no-any-return]


def _first_trailing_touch(
    low: FloatArray,
    high: FloatArray,
    begin: int,
    end: int,
    low_wake: float,
    high_wake: float,
    long: bool,
    extreme: float,
    stop: float,
    pct: float | None,
    distance: float | None,
) -> int:
    """:func:`_first_touch` with a trailing stop too, whose level on each bar follows the
    best price of the bars before it (``extreme`` and ``stop`` as of ``begin``)."""
    # The first bars as plain floats, a few, then more (a stop near the price is usually
    # reached soon; each list costs a conversion).
    for size in _TRAILING_STEPS:
        near = min(end, begin + size)
        for k, (lo, hi) in enumerate(
            zip(low[begin:near].tolist(), high[begin:near].tolist(), strict=True)
        ):
            if lo <= low_wake or hi >= high_wake or (lo <= stop if long else hi >= stop):
                return begin + k
            # The stop moves only with a new best price (from the same one it stays put).
            if long:
                if hi > extreme:
                    extreme = hi
                    stop = tightened(extreme, stop, pct, distance, long)
            elif lo < extreme:
                extreme = lo
                stop = tightened(extreme, stop, pct, distance, long)
        begin = near
    window = _FIRST_WINDOW
    while begin < end:
        last = min(end, begin + window)
        lows, highs = low[begin:last], high[begin:last]
        moves = highs if long else lows
        best = np.maximum.accumulate(moves) if long else np.minimum.accumulate(moves)
        before = np.empty_like(best)  # the best price before each bar
        before[0] = extreme
        before[1:] = np.maximum(best[:-1], extreme) if long else np.minimum(best[:-1], extreme)
        # The same formula over an array: the stop each bar starts with.
        levels = trailing_stop(before, pct, distance, long)  # type: ignore[arg-type]
        hit_trail = (
            (lows <= np.maximum(levels, stop)) if long else (highs >= np.minimum(levels, stop))
        )
        hit = np.flatnonzero((lows <= low_wake) | (highs >= high_wake) | hit_trail)
        if hit.shape[0]:
            return begin + int(hit[0])
        extreme = max(extreme, best[-1].item()) if long else min(extreme, best[-1].item())
        stop = tightened(extreme, stop, pct, distance, long)
        begin = last
        window *= 8
    return end
