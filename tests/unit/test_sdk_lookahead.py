"""The look-ahead check: clean strategies pass, a peek at the next bar is caught at the first
bar whose decision changes, for every form."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import random_series
from trading.core.bars import BarSeries, FloatArray, SignalArray
from trading.core.model import ts_to_iso
from trading.sdk import (
    BUY,
    EventStrategy,
    PortfolioStrategy,
    SignalStrategy,
    create_strategy,
)
from trading.sdk.context import BarContext
from trading.sdk.lookahead import check_lookahead

SERIES = {"AAA": random_series(21, 160, "AAA"), "BBB": random_series(22, 160, "BBB")}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sma_cross", {"fast": 3, "slow": 9}),
        ("rsi_reversion", {"period": 5}),
        ("buy_and_hold", {}),
        ("momentum_rotation", {"lookback": 10, "top_k": 1, "rebalance": 7}),
    ],
)
def test_the_built_in_strategies_pass(name: str, params: dict[str, int]) -> None:
    report = check_lookahead(create_strategy(name, params), SERIES, cuts=20)
    assert report.finding is None and report.cuts == 20 and report.bars == 160


class Peek(SignalStrategy):
    """Buys when tomorrow closes higher: the classic bug (a shift the wrong way)."""

    name = "peek"

    def signals(self, series: BarSeries) -> SignalArray:
        out = np.zeros(len(series), dtype=np.int8)
        rises = series.close[1:] > series.close[:-1] * 1.02
        out[:-1][rises] = BUY
        return out


def _first_peek_bar(series: BarSeries) -> int:
    return int(np.flatnonzero(series.close[1:] > series.close[:-1] * 1.02)[0])


def test_a_peek_at_the_next_bar_is_named_at_its_first_bar() -> None:
    report = check_lookahead(Peek(), SERIES, cuts=10)
    finding = report.finding
    assert finding is not None
    first = min(_first_peek_bar(SERIES[s]) for s in SERIES)
    assert finding.bar_ts == int(SERIES["AAA"].ts[first])
    assert finding.known_until_ts == finding.bar_ts  # known up to that bar: no rise yet
    assert finding.message() == (
        f"look-ahead in peek: {finding.symbol} {ts_to_iso(finding.bar_ts)}: 1 with the whole "
        f"history, but 0 with only the bars up to {ts_to_iso(finding.bar_ts)}"
    )


class PeekWeights(PortfolioStrategy):
    """Normalises by the whole history's maximum: every weight depends on the future."""

    name = "peek_weights"

    def weights(self, universe: dict[str, BarSeries]) -> dict[str, FloatArray]:
        return {s: b.close / b.close.max() for s, b in universe.items()}


def test_weights_that_use_the_future_are_caught() -> None:
    finding = check_lookahead(PeekWeights(), SERIES, cuts=10).finding
    assert finding is not None and finding.bar_ts == int(SERIES["AAA"].ts[0])


class CleanEvents(EventStrategy):
    name = "clean_events"

    def on_bar(self, ctx: BarContext) -> None:
        closes = ctx.bars.close
        if len(closes) > 5 and not ctx.position and closes[-1] > closes[-6:-1].max():
            ctx.buy(10)
        elif ctx.position and closes[-1] < closes[-6:-1].min():
            ctx.sell(ctx.position)


class SpyEvents(EventStrategy):
    """Reads the series it was given beyond the current bar (through a private attribute)."""

    name = "spy_events"

    def on_bar(self, ctx: BarContext) -> None:
        future = ctx._series.close  # the whole series: a bug no clean code can write
        if ctx.bar_index + 1 < len(future) and future[ctx.bar_index + 1] > ctx.close * 1.02:
            ctx.buy(10)
        elif ctx.position:
            ctx.sell(ctx.position)


def test_event_strategies_compare_the_orders_they_place() -> None:
    assert check_lookahead(CleanEvents(), SERIES, cuts=10).finding is None
    finding = check_lookahead(SpyEvents(), SERIES, cuts=10).finding
    assert finding is not None
    assert finding.with_all_bars.startswith("order buy market 10")
    assert finding.with_bars_known_then == "no order"
    first = min(_first_peek_bar(SERIES[s]) for s in SERIES)
    assert finding.bar_ts == int(SERIES["AAA"].ts[first])
