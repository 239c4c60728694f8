"""The look-ahead check: a strategy's decision on a bar must not change once later bars are
known. Rerun it on truncated histories and compare each decision with the full run's.

Decisions are what the strategy returns per bar (signals, targets, weights) or, for an
event-driven strategy, the orders it places on each bar. The histories are cut at evenly
spaced timestamps; when a cut shows a change, the cuts since the last clean one are tried
bar by bar so the finding names the first bar whose decision changes::

    finding = check_lookahead(create_strategy("sma_cross"), series)
    finding is None or print(finding.message())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trading.core.bars import BarSeries
from trading.core.config import RunConfig
from trading.core.model import ts_to_iso
from trading.sdk.base import EventStrategy, SignalStrategy, Strategy
from trading.sdk.compute import compute_signals

DEFAULT_CUTS = 50


@dataclass(frozen=True, slots=True)
class LookaheadFinding:
    """The first decision that changed once later bars were known."""

    strategy: str
    symbol: str
    bar_ts: int
    known_until_ts: int
    with_all_bars: str
    with_bars_known_then: str

    def message(self) -> str:
        """One line naming the strategy, the symbol and the bar."""
        return (
            f"look-ahead in {self.strategy}: {self.symbol} {ts_to_iso(self.bar_ts)}: "
            f"{self.with_all_bars} with the whole history, but {self.with_bars_known_then} "
            f"with only the bars up to {ts_to_iso(self.known_until_ts)}"
        )


@dataclass(frozen=True, slots=True)
class LookaheadReport:
    """What the check ran and what it found (None: no look-ahead seen)."""

    cuts: int
    bars: int
    finding: LookaheadFinding | None


def check_lookahead(
    strategy: Strategy,
    series: Mapping[str, BarSeries],
    *,
    cuts: int = DEFAULT_CUTS,
    config: RunConfig | None = None,
) -> LookaheadReport:
    """Compare the strategy's decisions on the whole history with those on ``cuts``
    truncated ones (and, after a change, every cut since the last clean one)."""
    config = config or RunConfig()
    timeline = np.unique(np.concatenate([bars.ts for bars in series.values()]))
    full = _decisions(strategy, series, config)
    positions = sorted({int(p) for p in np.linspace(0, len(timeline) - 2, cuts)} - {-1})
    runs = 0
    clean = -1
    for position in positions:
        runs += 1
        finding = _compare(strategy, series, config, full, int(timeline[position]))
        if finding is None:
            clean = position
            continue
        for earlier in range(clean + 1, position):
            runs += 1
            first = _compare(strategy, series, config, full, int(timeline[earlier]))
            if first is not None:
                return LookaheadReport(runs, len(timeline), first)
        return LookaheadReport(runs, len(timeline), finding)
    return LookaheadReport(runs, len(timeline), None)


Decisions = dict[str, list[tuple[int, Any]]]  # per symbol: (bar ts, decision) in bar order


def _decisions(strategy: Strategy, series: Mapping[str, BarSeries], config: RunConfig) -> Decisions:
    from trading.sdk.drive import compute_targets, run_strategy

    if isinstance(strategy, SignalStrategy):
        values: Mapping[str, Any] = compute_signals(strategy, series)
        return {
            s: list(zip(series[s].ts.tolist(), v.tolist(), strict=True)) for s, v in values.items()
        }
    if not isinstance(strategy, EventStrategy):
        targets = compute_targets(strategy, series)
        return {
            s: [
                (ts, None if np.isnan(v) else v)
                for ts, v in zip(series[s].ts.tolist(), t.tolist(), strict=True)
            ]
            for s, t in targets.items()
        }
    result = run_strategy(series, strategy, config)
    placed: Decisions = {s: [] for s in series}
    for order in result.orders:
        if order.parent_id is not None:
            continue  # an attached exit follows from its entry's fill, not a decision
        quantity = order.quantity if order.cash_fraction is None else order.cash_fraction
        placed[order.symbol].append(
            (
                order.created_ts,
                f"{order.side} {order.order_type} {quantity:g}"
                + (f" limit {order.limit_price:g}" if order.limit_price is not None else "")
                + (f" stop {order.stop_price:g}" if order.stop_price is not None else ""),
            )
        )
    return placed


def _by_bar(bars: BarSeries, values: list[Any]) -> list[tuple[int, Any]]:
    return list(zip(bars.ts.tolist(), values, strict=True))


def _compare(
    strategy: Strategy,
    series: Mapping[str, BarSeries],
    config: RunConfig,
    full: Decisions,
    cut_ts: int,
) -> LookaheadFinding | None:
    truncated = {}
    for symbol, bars in series.items():
        keep = int(np.searchsorted(bars.ts, cut_ts, side="right"))
        if keep:
            truncated[symbol] = bars.slice(0, keep)
    partial = _decisions(type(strategy)(**strategy.values), truncated, config)
    firsts: list[LookaheadFinding] = []
    for symbol in series:
        whole = [d for d in full[symbol] if d[0] <= cut_ts]
        known = partial.get(symbol, [])
        if isinstance(strategy, EventStrategy):
            finding = _first_order_change(strategy.name, symbol, whole, known, cut_ts)
        else:
            finding = _first_value_change(strategy.name, symbol, whole, known, cut_ts)
        if finding is not None:
            firsts.append(finding)
    return min(firsts, key=lambda f: (f.bar_ts, f.symbol)) if firsts else None


def _first_value_change(
    name: str, symbol: str, whole: list[tuple[int, Any]], known: list[tuple[int, Any]], cut: int
) -> LookaheadFinding | None:
    for (ts, value), (_, seen) in zip(whole, known, strict=True):
        if value != seen:
            return LookaheadFinding(name, symbol, ts, cut, f"{value!r}", f"{seen!r}")
    return None


def _first_order_change(
    name: str, symbol: str, whole: list[tuple[int, Any]], known: list[tuple[int, Any]], cut: int
) -> LookaheadFinding | None:
    for k in range(max(len(whole), len(known))):
        one = whole[k] if k < len(whole) else None
        other = known[k] if k < len(known) else None
        if one != other:
            ts = min(x[0] for x in (one, other) if x is not None)
            return LookaheadFinding(
                name,
                symbol,
                ts,
                cut,
                f"order {one[1]}" if one is not None and one[0] == ts else "no order",
                f"order {other[1]}" if other is not None and other[0] == ts else "no order",
            )
    return None
