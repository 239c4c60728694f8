"""Properties of buying power and margin on random multi-symbol long/short runs, volatile
enough for margin calls and ruin (where the two execution paths must agree too):

- every entry's cost, commission included, fits in leverage × equity less the gross exposure
  before it (so gross exposure ≤ leverage × equity at every fill, that fill's commission
  aside), and an unlevered account never spends a short's proceeds;
- the floor: at every close the equity covers the maintenance margin (and is above 0), except
  at a close that makes a margin call or ruins the account and until its orders have filled;
- after ruin the account fills nothing but its closing orders.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import DAY, T0
from tests.differential.test_columnar_vs_broker import dump
from trading.core.backtest import EngineResult, run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import ExecutionConfig
from trading.core.execution.margin import FORCED, MarginRules
from trading.core.model import ExitKind, Side

RULES = [
    MarginRules(),
    MarginRules(leverage=2.0),
    MarginRules(leverage=3.0, maintenance_margin=1.2),
    MarginRules(leverage=0.5),
    MarginRules(maintenance_margin=1.0),
]


def volatile_series(symbol: str, seed: int, n: int) -> BarSeries:
    """A random walk with 4 % moves a bar and gaps at the open (margin calls and ruin are
    common), on a calendar that skips a day now and then (symbols interleave)."""
    rng = np.random.default_rng(seed)
    close = 40.0 * np.exp(np.cumsum(rng.normal(0.0, 0.04, n)))
    open_ = np.concatenate([[40.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.02, n))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    days = np.cumsum(rng.choice([1, 1, 1, 2], size=n))
    return BarSeries(symbol, T0 + days * DAY, open_, high, low, close, np.full(n, 1e6))


def prior_close(bars: BarSeries, ts: int) -> float | None:
    """The symbol's latest close strictly before ``ts`` (None: none yet)."""
    k = int(np.searchsorted(bars.ts, ts, side="left")) - 1
    return float(bars.close[k]) if k >= 0 else None


def check_entries(
    result: EngineResult, series: dict[str, BarSeries], config: RunConfig, cash: float
) -> int:
    """Replay the fills: each entry's cost fits in its buying power. Returns the entries."""
    rules = config.margin
    held: dict[str, float] = {}
    entries = 0
    for fill in result.fills:
        position = held.get(fill.symbol, 0)
        buy = fill.side is Side.BUY
        closing = min(fill.quantity, max(0.0, -position if buy else position))
        opening = fill.quantity - closing
        if opening > 0 and fill.exit_kind not in FORCED:
            entries += 1
            longs = shorts = 0.0
            for symbol, quantity in held.items():
                mark = fill.price if symbol == fill.symbol else prior_close(series[symbol], fill.ts)
                assert mark is not None
                value = quantity * mark
                longs += max(value, 0.0)
                shorts += max(-value, 0.0)
            equity = cash + longs - shorts
            cost = opening * fill.price + fill.commission
            slack = 1e-9 * max(1.0, abs(equity) + longs + shorts)
            assert cost <= rules.leverage * equity - longs - shorts + slack, fill
            if not buy and rules.short_margin > 1:
                assert (shorts + opening * fill.price) * 0.5 <= equity + slack, fill
            if rules.leverage == 1.0:
                # Short proceeds are cash, never buying power: cash less the proceeds' worth.
                assert cost <= cash - 2 * shorts + slack, fill
        signed = fill.quantity if buy else -fill.quantity
        cash -= signed * fill.price + fill.commission
        held[fill.symbol] = position + signed
    return entries


def check_floor(result: EngineResult, series: dict[str, BarSeries], config: RunConfig) -> None:
    """Every close below maintenance (or at equity ≤ 0) is a margin call's or ruin's close,
    or lies between one and the fills of its closing orders."""
    ts = result.ts
    gross = np.zeros(len(ts))
    for symbol, quantity in result.positions.items():
        bars = series[symbol]
        k = np.searchsorted(bars.ts, ts, side="right") - 1
        marks = np.where(k >= 0, bars.close[np.maximum(k, 0)], 0.0)
        gross += np.abs(quantity) * marks
    held = gross > 0
    breached = held & (
        (result.equity <= 0) | (result.equity < config.margin.maintenance_rate * gross)
    )
    events = [c["time"] for c in result.margin_calls or []]
    if result.ruin is not None:
        events.append(result.ruin["time"])
    forced = [o for o in result.orders if o.exit_kind in FORCED]
    fills_by_order = {f.order_id: f.ts for f in result.fills}
    windows: list[tuple[int, int]] = []
    for created in sorted({o.created_ts for o in forced}):
        group = [o for o in forced if o.created_ts == created]
        ends = [fills_by_order.get(o.order_id, 2**62) for o in group]
        windows.append((created, max(ends)))
    assert len(windows) == len(events)
    for t in np.flatnonzero(breached).tolist():
        moment = int(ts[t])
        assert any(start <= moment < end for start, end in windows), (
            f"equity {result.equity[t]} below the maintenance of {gross[t]} at bar {t} "
            "without a margin call"
        )
    if result.ruin is not None:
        ruined_at = max(o.created_ts for o in forced if o.exit_kind is ExitKind.RUIN)
        later = [f for f in result.fills if f.ts > ruined_at and f.exit_kind not in FORCED]
        assert later == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rules=st.sampled_from(RULES),
    seeds=st.lists(st.integers(0, 10_000), min_size=2, max_size=3),
    n=st.integers(30, 90),
    density=st.sampled_from([0.1, 0.3]),
    fraction=st.sampled_from([1.0, 0.5, 0.3]),
    commission=st.sampled_from([0.0, 0.002]),
)
def test_margin_properties(
    rules: MarginRules,
    seeds: list[int],
    n: int,
    density: float,
    fraction: float,
    commission: float,
) -> None:
    names = ["AAA", "BBB", "CCC"][: len(seeds)]
    series = {s: volatile_series(s, seed, n) for s, seed in zip(names, seeds, strict=True)}
    rng = np.random.default_rng(seeds[0])
    signals = {
        s: np.where(
            rng.random(n) < density, rng.choice(np.array([-1, 1], dtype=np.int8), n), 0
        ).astype(np.int8)
        for s in names
    }
    config = RunConfig(
        initial_cash=10_000.0,
        mode=Mode.LONG_SHORT,
        cash_fraction=fraction,
        execution=ExecutionConfig(commission_rate=commission),
        margin=rules,
    )
    result = run_engine(series, signals, config, path="broker")
    fast = run_engine(series, signals, config)
    assert fast.path == "columnar"
    assert dump(fast) == dump(result)  # the two paths agree through calls and ruin
    assert (fast.margin_calls, fast.ruin) == (result.margin_calls, result.ruin)
    check_entries(result, series, config, 10_000.0)
    check_floor(result, series, config)


def test_the_properties_see_margin_calls_and_ruin() -> None:
    """The random runs above do reach margin calls and ruin (the properties are not vacuous):
    a fixed sample of them, counted."""
    seen: dict[str, Any] = {"calls": 0, "ruins": 0, "entries": 0}
    for seed in range(40):
        names = ["AAA", "BBB"]
        series = {s: volatile_series(s, seed * 7 + k, 80) for k, s in enumerate(names)}
        rng = np.random.default_rng(seed)
        signals = {
            s: np.where(
                rng.random(80) < 0.2, rng.choice(np.array([-1, 1], dtype=np.int8), 80), 0
            ).astype(np.int8)
            for s in names
        }
        config = RunConfig(
            initial_cash=10_000.0,
            mode=Mode.LONG_SHORT,
            # Odd seeds without maintenance margin: only ruin stops those.
            margin=MarginRules(leverage=3.0, maintenance_margin=1.2 if seed % 2 else 1.0),
        )
        result = run_engine(series, signals, config)
        seen["entries"] += check_entries(result, series, config, 10_000.0)
        check_floor(result, series, config)
        seen["calls"] += len(result.margin_calls or [])
        seen["ruins"] += result.ruin is not None
    assert seen["calls"] >= 5 and seen["ruins"] >= 1 and seen["entries"] >= 100, seen
