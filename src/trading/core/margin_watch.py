"""The account's margin at every close of a backtest: the bar of the next margin call or ruin,
found with a vectorised look-ahead over the run's timeline, and the marks buying power uses.

Both execution paths (the broker's and the columnar one) drive a :class:`MarginWatch` the same
way: after every bar where a fill moved cash or positions they ask for the next event
(:meth:`MarginWatch.next_event`), queue it after every symbol's bar of that timeline position,
and act on it when it comes (:meth:`MarginWatch.breach`): the positions close at each
symbol's next open by orders the account places itself (see
:mod:`trading.core.execution.margin`). Between fills the positions are constant, so the
equity at each close is cash plus a sum of forward-filled closes: one numpy pass per window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from trading.core.bars import FloatArray, IntArray
from trading.core.config import Mode, RunConfig
from trading.core.execution.margin import MARGIN_CALL, RUIN, MarginRules, exposure
from trading.core.model import Account, ExitKind, Position, ts_to_iso

# A fresh look-ahead scans this many closes, and each continuation eight times more.
_FIRST_WINDOW = 64
# A range of at most this many closes is compared in plain floats (numpy's per-call cost is
# higher than a short list's).
_PLAIN_RANGE = 256
# Several positions: each symbol's lowest and highest close per block of this many timeline
# positions bound the equity over a range before any exact test.
_BLOCK = 64


def watched(config: RunConfig, account: Account) -> bool:
    """True when a run can breach its margin or spend buying power that is not its cash: short
    selling, leverage other than 1, shorts or a loan carried in, or a ruined account."""
    return (
        config.mode is Mode.LONG_SHORT
        or config.margin.leverage != 1.0
        or account.ruin is not None
        or account.cash < 0
        or any(held.quantity < 0 for held in account.positions.values())
    )


class MarginWatch:
    """Margin calls and ruin over one run's timeline.

    ``priors[symbol][p]`` is the symbol's latest close before timeline position ``p``
    (``priors[symbol][p + 1]``: its close at ``p``), forward-filled.
    """

    __slots__ = (
        "account",
        "at",
        "blocks",
        "calls",
        "generation",
        "liquidating",
        "pending",
        "priors",
        "rate",
        "rules",
        "timeline",
        "window",
    )

    def __init__(
        self,
        rules: MarginRules,
        account: Account,
        timeline: IntArray,
        priors: Mapping[str, FloatArray],
    ) -> None:
        self.rules = rules
        self.rate = rules.maintenance_rate
        self.account = account
        self.timeline = timeline
        self.priors = priors
        self.at = 0  # the timeline position being processed (entries mark the others before it)
        self.generation = 0  # bumped by every change of positions: older events are stale
        self.liquidating = False  # a margin call's orders are working
        self.window = _FIRST_WINDOW
        self.pending: ExitKind | None = None  # what the queued event is: a breach, or None
        self.calls: list[dict[str, Any]] = []
        # Per symbol: its lowest and highest close per _BLOCK timeline positions (None when a
        # mark is not a finite number), built at the first range that needs them.
        self.blocks: dict[str, tuple[list[float], list[float]] | None] = {}

    @property
    def halted(self) -> bool:
        """True when the account places no new orders: ruined, or meeting a margin call."""
        return self.liquidating or self.account.ruin is not None

    def price_of(self, held: Position) -> float:
        """The mark of a position an entry's buying power counts: its latest close before the
        bar being processed (its own last price for a symbol outside the run)."""
        prior = self.priors.get(held.symbol)
        return prior.item(self.at) if prior is not None else held.last_price

    def at_risk(self) -> bool:
        """True when a close can breach: a short, or a loan (cash below 0)."""
        account = self.account
        if account.ruin is not None:
            return False
        if account.cash < 0:
            return True
        # A loop, not any() of a generator: this runs after every fill of a watched run.
        for held in account.positions.values():  # noqa: SIM110
            if held.quantity < 0:
                return True
        return False

    def next_event(self, begin: int, fresh: bool = True) -> tuple[int, ExitKind | None] | None:
        """The first close at or after timeline position ``begin`` where the account breaches
        (its position and the kind), or where the look-ahead continues (kind None); None
        when no close can breach. ``fresh``: positions changed, start a new look-ahead."""
        if fresh:
            self.generation += 1
            self.window = _FIRST_WINDOW
        if not self.at_risk():
            return None
        length = self.timeline.shape[0]
        if begin >= length:
            return None
        end = min(length, begin + self.window)
        self.window *= 8
        found = self.first_breach(begin, end)
        if found is not None:
            return found
        return (end, None) if end < length else None

    def first_breach(self, begin: int, end: int) -> tuple[int, ExitKind] | None:
        """The first close in timeline positions [begin, end) where the account, as it holds
        now, breaches (its position and the kind); None when none does.

        One position breaches only beyond a price level (:meth:`bounds`): the closes are
        compared with it first (plain floats over a short range, numpy over a long one) and
        only those near or beyond it get the exact equity test.
        """
        end = min(end, self.timeline.shape[0])
        if begin >= end:
            return None
        bounds = self.bounds()
        held = [h for h in self.account.positions.values() if h.quantity]
        if bounds is None:
            if self._clear(held, begin, end):
                return None
            return self._first_breach(held, begin, end, None)
        above, below = bounds
        if above == math.inf and below == -math.inf:
            return None
        marks = self.priors[held[0].symbol][begin + 1 : end + 1]
        if end - begin > _PLAIN_RANGE:
            candidates = np.flatnonzero((marks >= above) | (marks <= below))
            if not candidates.shape[0]:
                return None
            return self._first_breach(held, begin, end, candidates)
        closes = marks.tolist()
        if max(closes) < above and min(closes) > below:  # the usual case: nowhere near
            return None
        for offset, close in enumerate(closes):
            if below < close < above:
                continue
            kind = self._breach_at(held[0].quantity, close)
            if kind is not None:
                return begin + offset, kind
        return None

    def close_ranges(
        self, symbol: str, starts: IntArray
    ) -> tuple[list[float], list[float], list[int]]:
        """The highest and the lowest close of ``symbol`` over each range of timeline
        positions [starts[i], starts[i + 1]) (the last one to the end), and each range's
        end: with :meth:`bounds`, whether a range can hold a breach (``starts`` increasing)."""
        length = self.timeline.shape[0]
        if not starts.shape[0]:
            return [], [], []
        marks = self.priors[symbol][1:]
        highs = np.maximum.reduceat(marks, starts).tolist()
        lows = np.minimum.reduceat(marks, starts).tolist()
        ends = starts[1:].tolist()
        ends.append(length)
        return highs, lows, ends

    def bounds(self) -> tuple[float, float] | None:
        """``(above, below)``: the account as it holds now can breach only at a close at or
        above ``above`` or at or below ``below`` of its one position's symbol (a short: above
        a level; a long on credit: below), widened by a relative 1e-9 against rounding;
        ``(inf, -inf)`` when no close can breach, None when the closes of several symbols
        count (or of one outside the run)."""
        account = self.account
        if account.ruin is not None:
            return math.inf, -math.inf
        cash = account.cash
        held = None
        for position in account.positions.values():
            if position.quantity:
                if held is not None:
                    return None
                held = position
        if held is None:
            return (math.inf, -math.inf) if cash >= 0 else None  # a loan alone: ruin
        if held.symbol not in self.priors:
            return None
        quantity = held.quantity
        rate = 0.0 if self.liquidating else self.rate
        if quantity < 0:
            if cash <= 0:
                return -math.inf, math.inf
            # cash + q × c < rate × |q| × c  ⇔  c > cash / (|q| × (1 + rate)); ruin at ≥.
            return cash / (-quantity * (1.0 + rate)) * (1.0 - 1e-9), -math.inf
        if cash >= 0:
            return math.inf, -math.inf  # no loan and no short: no close can breach
        if rate >= 1.0:
            return -math.inf, math.inf
        # cash + q × c < rate × q × c  ⇔  c < −cash / (q × (1 − rate)); ruin at ≤.
        return math.inf, -cash / (quantity * (1.0 - rate)) * (1.0 + 1e-9)

    def _breach_at(self, quantity: float, close: float) -> ExitKind | None:
        """The exact test of :meth:`_first_breach` for one position of ``quantity`` marked at
        ``close`` (the same floats: equity cash + q × c, gross |q| × c)."""
        value = quantity * close
        equity = self.account.cash + value
        if quantity > 0:
            kind = self.rules.breach(equity, value, 0.0)
        else:
            kind = self.rules.breach(equity, 0.0, -value)
        return None if kind is MARGIN_CALL and self.liquidating else kind

    def _clear(self, held: list[Position], begin: int, end: int) -> bool:
        """True when the positions ``held`` cannot breach at any close in [begin, end): the
        lowest equity above the maintenance margin they can reach there, every long at its
        symbol's lowest close of the range and every short at its highest, is above 0 (with
        a relative 1e-9 against rounding). For several symbols' positions (one has
        :meth:`bounds`); the extremes are those of whole blocks around the range, a bound
        all the same."""
        rate = 0.0 if self.liquidating else self.rate
        floor = self.account.cash  # the equity less rate × gross, at its lowest
        scale = abs(floor)
        first, last = begin // _BLOCK, (end - 1) // _BLOCK + 1
        for position in held:
            symbol = position.symbol
            if symbol in self.priors:
                blocks = self.blocks[symbol] if symbol in self.blocks else self._blocks(symbol)
                if blocks is None:
                    return False
                if last - first == 1:  # a range within one block (the usual first look)
                    low, high = blocks[0][first], blocks[1][first]
                else:
                    low = min(blocks[0][first:last])
                    high = max(blocks[1][first:last])
            else:
                low = high = position.last_price
            quantity = position.quantity
            if quantity > 0:
                floor += (1.0 - rate) * quantity * low
            else:
                floor += (1.0 + rate) * quantity * high
            scale += abs(quantity) * high
        return floor > 1e-9 * scale

    def _blocks(self, symbol: str) -> tuple[list[float], list[float]] | None:
        """The lowest and highest close of ``symbol`` per _BLOCK timeline positions, kept."""
        marks = self.priors[symbol][1:]
        found: tuple[list[float], list[float]] | None = None
        if marks.shape[0] and np.isfinite(marks).all():
            starts = np.arange(0, marks.shape[0], _BLOCK)
            found = (
                np.minimum.reduceat(marks, starts).tolist(),
                np.maximum.reduceat(marks, starts).tolist(),
            )
        self.blocks[symbol] = found
        return found

    def _first_breach(
        self, held: list[Position], begin: int, end: int, candidates: IntArray | None
    ) -> tuple[int, ExitKind] | None:
        """The first close in [begin, end) (among ``candidates``, offsets, when given) where
        the equity is at or below 0 or, outside a margin call, below the maintenance margin."""
        size = end - begin if candidates is None else candidates.shape[0]
        equity = np.full(size, self.account.cash)
        gross = np.zeros(size)
        for position in held:
            prior = self.priors.get(position.symbol)
            marks: FloatArray
            if prior is None:
                marks = np.full(size, position.last_price)
            else:
                marks = prior[begin + 1 : end + 1]
                if candidates is not None:
                    marks = marks[candidates]
            equity += position.quantity * marks
            gross += abs(position.quantity) * marks
        ruined = equity <= 0
        if self.liquidating:  # already closing everything: only ruin can still happen
            breached = ruined
        else:
            breached = ruined | (equity < self.rules.maintenance_rate * gross)
        hit = np.flatnonzero(breached)
        if not hit.shape[0]:
            return None
        first = int(hit[0])
        offset = first if candidates is None else int(candidates[first])
        return begin + offset, RUIN if ruined[first] else MARGIN_CALL

    def breach(self, position: int, kind: ExitKind) -> None:
        """Record the breach at the close of ``position``: a margin call (the account places
        no entries until it is flat) or ruin (it never trades again)."""
        account = self.account
        longs, shorts = exposure(
            account.positions.values(), lambda held: self._close_at(held, position)
        )
        equity = account.cash + longs - shorts
        when = ts_to_iso(int(self.timeline[position]))
        event = {
            "time": when,
            "equity": equity,
            "long_value": longs,
            "short_value": shorts,
            "requirement": self.rules.maintenance(longs, shorts),
        }
        if kind is RUIN:
            account.ruin = {
                **event,
                "cause": f"equity {equity:,.2f} at the close of {when[:10]} (longs "
                f"{longs:,.2f}, shorts {shorts:,.2f}): every position closed at its next open "
                "and the account stopped trading",
            }
        else:
            self.calls.append(event)
        self.liquidating = True

    def settled(self) -> None:
        """After a fill: a margin call ends once every position is closed."""
        if self.liquidating and not any(h.quantity for h in self.account.positions.values()):
            self.liquidating = False

    def release(self) -> None:
        """The run is over: drop the marks (a float per timeline position and symbol, as
        large as the closes), which nothing reads after it; the calls stay."""
        self.priors = {}
        self.blocks = {}

    def _close_at(self, held: Position, position: int) -> float:
        prior = self.priors.get(held.symbol)
        return prior.item(position + 1) if prior is not None else held.last_price
