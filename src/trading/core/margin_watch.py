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

from collections.abc import Mapping
from typing import Any

import numpy as np

from trading.core.bars import FloatArray, IntArray
from trading.core.config import Mode, RunConfig
from trading.core.execution.margin import MARGIN_CALL, RUIN, MarginRules, exposure
from trading.core.model import Account, ExitKind, Position, ts_to_iso

# A fresh look-ahead scans this many closes, and each continuation eight times more.
_FIRST_WINDOW = 64


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
        "calls",
        "generation",
        "liquidating",
        "pending",
        "priors",
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
        self.account = account
        self.timeline = timeline
        self.priors = priors
        self.at = 0  # the timeline position being processed (entries mark the others before it)
        self.generation = 0  # bumped by every change of positions: older events are stale
        self.liquidating = False  # a margin call's orders are working
        self.window = _FIRST_WINDOW
        self.pending: ExitKind | None = None  # what the queued event is: a breach, or None
        self.calls: list[dict[str, Any]] = []

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
        return account.cash < 0 or any(h.quantity < 0 for h in account.positions.values())

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
        account = self.account
        # Only a close beyond a price level can breach one position: compare that first
        # (cheap), then the exact equity of the candidates.
        held = [h for h in account.positions.values() if h.quantity]
        candidates: IntArray | None = None
        if len(held) == 1 and held[0].symbol in self.priors:
            candidates = self._beyond_level(held[0], begin, end)
            if candidates.shape[0] == 0:
                return (end, None) if end < length else None
        found = self._first_breach(held, begin, end, candidates)
        if found is not None:
            return found
        return (end, None) if end < length else None

    def _beyond_level(self, held: Position, begin: int, end: int) -> IntArray:
        """Offsets in [begin, end) whose close is near or beyond the level where the one
        position ``held`` can breach (a short: prices above it; a long on credit: below)."""
        cash = self.account.cash
        quantity = held.quantity
        rate = 0.0 if self.liquidating else self.rules.maintenance_rate
        marks = self.priors[held.symbol][begin + 1 : end + 1]
        if quantity < 0:
            if cash <= 0:
                return np.arange(end - begin)
            # cash + q × c < rate × |q| × c  ⇔  c > cash / (|q| × (1 + rate)); ruin at ≥.
            level = cash / (-quantity * (1.0 + rate))
            return np.flatnonzero(marks >= level * (1.0 - 1e-9))
        if cash >= 0 or rate >= 1.0:
            return np.arange(end - begin) if cash < 0 else np.zeros(0, dtype=np.int64)
        level = -cash / (quantity * (1.0 - rate))
        return np.flatnonzero(marks <= level * (1.0 + 1e-9))

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

    def _close_at(self, held: Position, position: int) -> float:
        prior = self.priors.get(held.symbol)
        return prior.item(position + 1) if prior is not None else held.last_price
