"""The margin watch's look-ahead against a close-by-close replay: with several positions it
first bounds each range by its symbols' lowest and highest closes (by blocks of the timeline)
and tests the closes only where the bound cannot clear them. Both execution paths use the
watch, so the differential tests cannot see a wrong bound; this test can."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.core.execution.margin import MARGIN_CALL, RUIN, MarginRules
from trading.core.margin_watch import MarginWatch
from trading.core.model import Account, ExitKind, Position

RULES = [MarginRules(), MarginRules(leverage=3.0, maintenance_margin=1.2)]


def replay(
    account: Account, priors: dict[str, np.ndarray], rate: float, begin: int, end: int
) -> tuple[int, ExitKind] | None:
    """The first close in [begin, end) where the account breaches, one close at a time
    (positions of symbols outside ``priors`` marked at their last price)."""
    held = [p for p in account.positions.values() if p.quantity]
    if not held:  # flat: only a loan breaches (ruin), whatever the closes
        return (begin, RUIN) if account.cash < 0 and begin < end else None
    for t in range(begin, end):
        equity = account.cash
        gross = 0.0
        for position in held:
            prior = priors.get(position.symbol)
            mark = float(prior[t + 1]) if prior is not None else position.last_price
            equity += position.quantity * mark
            gross += abs(position.quantity) * mark
        if equity <= 0:
            return t, RUIN
        if equity < rate * gross:
            return t, MARGIN_CALL
    return None


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(1, 400),
    quantities=st.lists(st.sampled_from([-40, -7, 0, 5, 30, 60]), min_size=2, max_size=4),
    outside=st.booleans(),
    cash=st.sampled_from([-3_000.0, 0.0, 500.0, 2_000.0, 6_000.0]),
    rules=st.sampled_from(RULES),
    liquidating=st.booleans(),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_the_look_ahead_finds_the_first_close_that_breaches(
    seed: int,
    n: int,
    quantities: list[int],
    outside: bool,
    cash: float,
    rules: MarginRules,
    liquidating: bool,
    cut: tuple[float, float],
) -> None:
    rng = np.random.default_rng(seed)
    symbols = [f"S{i}" for i in range(len(quantities))]
    priors = {s: 40.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, n + 1))) for s in symbols}
    positions = {
        s: Position(s, quantity=q, last_price=float(priors[s][0]))
        for s, q in zip(symbols, quantities, strict=True)
    }
    if outside:  # a position in a symbol the run has no bars of: marked at its last price
        positions["ZZZ"] = Position("ZZZ", quantity=-10, last_price=35.0)
    account = Account(cash=cash, initial_cash=10_000.0, positions=positions)
    watch = MarginWatch(rules, account, np.arange(n, dtype=np.int64), priors)
    watch.liquidating = liquidating
    begin, end = sorted(int(c * n) for c in cut)
    rate = 0.0 if liquidating else rules.maintenance_rate
    assert watch.first_breach(begin, end) == replay(account, priors, rate, begin, end)


def test_a_calm_range_is_cleared_without_the_exact_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two positions far from any breach: the bound clears the range (no exact test runs),
    and a range with a breach still finds it."""
    n = 500
    priors = {"A": np.full(n + 1, 50.0), "B": np.full(n + 1, 20.0)}
    priors["B"][301:] = 90.0  # the short in B is squeezed from timeline position 300
    account = Account(
        cash=10_000.0,
        initial_cash=10_000.0,
        positions={"A": Position("A", quantity=10), "B": Position("B", quantity=-100)},
    )
    watch = MarginWatch(MarginRules(), account, np.arange(n, dtype=np.int64), priors)
    tested: list[tuple[int, int]] = []
    exact = MarginWatch._first_breach

    def spy(
        self: MarginWatch, held: list[Position], begin: int, end: int, candidates: Any
    ) -> tuple[int, ExitKind] | None:
        tested.append((begin, end))
        return exact(self, held, begin, end, candidates)

    monkeypatch.setattr(MarginWatch, "_first_breach", spy)
    assert watch.first_breach(0, 256) is None
    assert tested == []
    assert watch.first_breach(0, n) == (300, MARGIN_CALL)
    assert tested == [(0, n)]
