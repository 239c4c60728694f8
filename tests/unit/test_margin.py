"""Buying power, margin calls and ruin: the rules on their own, and hand-computed multi-symbol
long/short runs through both execution paths (docs/execution.md, "Buying power, margin and
ruin")."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import DAY, T0, make_bar, series_from_closes
from trading.core.backtest import EngineResult, EngineState, run_engine
from trading.core.bars import BarSeries
from trading.core.config import Mode, RunConfig
from trading.core.execution import PaperBroker
from trading.core.execution.margin import MarginRules, MarginRulesError
from trading.core.model import Account, ExitKind, OrderStatus, Side, ts_to_iso
from trading.core.portfolio import Portfolio
from trading.core.risk import RejectCode
from trading.core.settings import RunSettingsError, resolve_settings

PATHS = ("broker", "columnar")


def test_buying_power_is_cash_without_shorts_or_leverage() -> None:
    rules = MarginRules()
    assert rules.entry_power(12_345.67, 50_000.0, 0.0, short=False) == 12_345.67
    # Short 50k on 100k of equity: 150k of cash, but 50k of buying power (the proceeds are
    # not the account's), for a long or another short alike.
    assert rules.entry_power(150_000.0, 0.0, 50_000.0, short=False) == 50_000.0
    assert rules.entry_power(150_000.0, 0.0, 50_000.0, short=True) == 50_000.0
    levered = MarginRules(leverage=2.0)
    assert levered.entry_power(100_000.0, 0.0, 0.0, short=False) == 200_000.0
    # Reg T: a short needs 50 % of its value in equity, whatever the leverage allows.
    assert MarginRules(leverage=4.0, maintenance_margin=1.2).entry_power(
        100_000.0, 0.0, 0.0, short=True
    ) == pytest.approx(200_000.0)
    assert rules.entry_power(10_000.0, 0.0, 20_000.0, short=False) == 0.0


def test_breach_kinds() -> None:
    rules = MarginRules()
    assert rules.breach(4_500.0, 0.0, 15_000.0) is None  # 30 % of 15,000 = 4,500
    assert rules.breach(4_499.0, 0.0, 15_000.0) is ExitKind.MARGIN_CALL
    assert rules.breach(0.0, 0.0, 15_000.0) is ExitKind.RUIN
    assert MarginRules(maintenance_margin=1.0).breach(1.0, 0.0, 1e9) is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"leverage": 0}, "leverage"),
        ({"short_margin": 1.2, "maintenance_margin": 1.3}, "maintenance_margin 1.3"),
        ({"leverage": 4}, "maintenance_margin 1.3 would call every position entered at leverage 4"),
        ({"maintenance_margin": 0.9}, "maintenance_margin"),
    ],
)
def test_contradicting_margin_settings_are_one_line_errors(
    values: dict[str, float], named: str
) -> None:
    with pytest.raises(RunSettingsError, match=named):
        resolve_settings(values)


def test_margin_rules_check_themselves() -> None:
    with pytest.raises(MarginRulesError, match="short_margin"):
        MarginRules(short_margin=2.5)


def test_settings_carry_the_margin_rules() -> None:
    settings = resolve_settings({"leverage": "2", "maintenance_margin": "1.25"})
    assert settings.run_config().margin == MarginRules(2.0, 1.5, 1.25)
    assert settings.to_dict()["leverage"] == 2.0


def daily(symbol: str, opens: list[float], closes: list[float]) -> BarSeries:
    return series_from_closes(closes, symbol, opens)


def signals(n: int, at: dict[int, int]) -> np.ndarray:
    out = np.zeros(n, dtype=np.int8)
    for bar, signal in at.items():
        out[bar] = signal
    return out


def run_both(
    series: dict[str, BarSeries],
    sigs: dict[str, np.ndarray],
    config: RunConfig,
    state: EngineState | None = None,
) -> EngineResult:
    """Both execution paths, which must agree; the broker path's result."""
    results = [run_engine(series, sigs, config, state, path=p) for p in PATHS]
    broker, columnar = results
    assert columnar.path == "columnar"
    assert [o.to_dict() for o in columnar.orders] == [o.to_dict() for o in broker.orders]
    assert [f.to_dict() for f in columnar.fills] == [f.to_dict() for f in broker.fills]
    assert [t.to_dict() for t in columnar.trades] == [t.to_dict() for t in broker.trades]
    assert columnar.equity.tolist() == broker.equity.tolist()
    assert columnar.margin_calls == broker.margin_calls
    assert columnar.ruin == broker.ruin
    assert columnar.state.to_dict() == broker.state.to_dict()
    return broker


LONG_SHORT = RunConfig(initial_cash=10_000.0, mode=Mode.LONG_SHORT)


def test_an_entry_is_never_sized_from_short_proceeds() -> None:
    """Short AAA with all the buying power: the 10,000 of proceeds sit in cash (20,000), yet
    BBB's long gets nothing (the old cash sizing bought 400 shares with them)."""
    series = {
        "AAA": daily("AAA", [100.0] * 4, [100.0] * 4),
        "BBB": daily("BBB", [50.0] * 4, [50.0] * 4),
    }
    sigs = {"AAA": signals(4, {0: -1}), "BBB": signals(4, {0: 1})}
    result = run_both(series, sigs, LONG_SHORT)
    short, long = result.orders
    assert (short.side, short.filled_quantity) == (Side.SELL, 100)
    assert long.status is OrderStatus.REJECTED
    assert long.reject_reason == RejectCode.INSUFFICIENT_BUYING_POWER
    assert long.reject_message == "buying power 0.00 buys no whole share of BBB at 50.0000"
    assert result.cash[-1] == 20_000.0 and result.equity[-1] == 10_000.0


def test_half_the_buying_power_each() -> None:
    """cash_fraction 0.5: AAA short 50 × 100 = 5,000 (cash 15,000); BBB's buying power is
    15,000 − 2 × 5,000 = 5,000 (equity 10,000 less the 5,000 short), half of it buys 50 × 50."""
    series = {
        "AAA": daily("AAA", [100.0] * 4, [100.0] * 4),
        "BBB": daily("BBB", [50.0] * 4, [50.0] * 4),
    }
    sigs = {"AAA": signals(4, {0: -1}), "BBB": signals(4, {0: 1})}
    config = RunConfig(initial_cash=10_000.0, mode=Mode.LONG_SHORT, cash_fraction=0.5)
    result = run_both(series, sigs, config)
    assert [(f.symbol, f.side, f.quantity, f.price) for f in result.fills] == [
        ("AAA", Side.SELL, 50, 100.0),
        ("BBB", Side.BUY, 50, 50.0),
    ]
    assert result.cash[-1] == 12_500.0  # 10,000 + 5,000 − 2,500
    # Gross exposure 7,500 ≤ 1 × equity 10,000.
    assert result.equity[-1] == 10_000.0


def test_a_short_squeeze_makes_a_margin_call_at_the_close_and_closes_at_the_next_open() -> None:
    """Short 100 AAA at 100 on 10,000: cash 20,000, equity 20,000 − 100 × close. Maintenance
    is 30 % of the short's value: at 150 equity 5,000 ≥ 4,500; at 155 equity 4,500 < 4,650,
    a margin call; the account buys 100 back at the next open, 156 (cash 4,400). BBB's buy
    order of that day (bar 3, before the close) is cancelled by the call; its signal of bar 5
    is acted on, with the buying power left (4,400 buys 88 at 50)."""
    series = {
        "AAA": daily(
            "AAA", [100, 100, 140, 152, 156, 150, 150], [100, 100, 150, 155, 151, 150, 150]
        ),
        "BBB": daily("BBB", [50.0] * 7, [50.0] * 7),
    }
    sigs = {"AAA": signals(7, {0: -1}), "BBB": signals(7, {3: 1, 5: 1})}
    result = run_both(series, sigs, LONG_SHORT)
    assert result.margin_calls == [
        {
            "time": ts_to_iso(T0 + 3 * DAY),
            "equity": 4_500.0,
            "long_value": 0.0,
            "short_value": 15_500.0,
            "requirement": pytest.approx(4_650.0),
        }
    ]
    forced = [o for o in result.orders if o.exit_kind is ExitKind.MARGIN_CALL]
    assert len(forced) == 1
    assert (forced[0].side, forced[0].quantity, forced[0].created_ts) == (
        Side.BUY,
        100,
        T0 + 3 * DAY,
    )
    assert forced[0].reduce_only and forced[0].status is OrderStatus.FILLED
    (cover,) = [f for f in result.fills if f.exit_kind is ExitKind.MARGIN_CALL]
    assert (cover.price, cover.ts) == (156.0, T0 + 4 * DAY)
    (trade,) = [t for t in result.trades if t.symbol == "AAA"]
    assert trade.exit_kind is ExitKind.MARGIN_CALL and trade.pnl == -5_600.0
    bbb = [o for o in result.orders if o.symbol == "BBB"]
    assert [o.status for o in bbb] == [OrderStatus.CANCELLED, OrderStatus.FILLED]
    buys = [f for f in result.fills if f.symbol == "BBB"]
    assert [(f.ts, f.quantity) for f in buys] == [(T0 + 6 * DAY, 88)]
    assert result.ruin is None
    assert result.equity[4] == 4_400.0


def test_ruin_closes_everything_and_the_account_stops_trading() -> None:
    """Short 100 AAA at 100 on 10,000; AAA closes at 210: equity 20,000 − 21,000 = −1,000,
    ruin. It buys back at the next open, 205 (cash −500), and never trades again: BBB's later
    signals place nothing, in this run or the next."""
    series = {
        "AAA": daily("AAA", [100, 100, 205, 200, 200], [100, 210, 200, 200, 200]),
        "BBB": daily("BBB", [50.0] * 5, [50.0] * 5),
    }
    sigs = {"AAA": signals(5, {0: -1}), "BBB": signals(5, {2: 1, 3: -1})}
    config = LONG_SHORT
    result = run_both(series, sigs, config)
    assert result.ruin is not None
    assert result.ruin["time"] == ts_to_iso(T0 + DAY)
    assert result.ruin["equity"] == -1_000.0
    assert "every position closed at its next open" in result.ruin["cause"]
    (forced,) = [o for o in result.orders if o.exit_kind is ExitKind.RUIN]
    assert forced.status is OrderStatus.FILLED and forced.average_fill_price == 205.0
    assert [o.symbol for o in result.orders] == ["AAA", "AAA"]  # BBB's signals: nothing
    assert result.equity.tolist() == [10_000.0, -1_000.0, -500.0, -500.0, -500.0]
    assert result.margin_calls == []
    # The next run continues a ruined account: still nothing.
    more = {
        "AAA": daily("AAA", [100.0] * 8, [100.0] * 8),
        "BBB": daily("BBB", [50.0] * 8, [50.0] * 8),
    }
    later = {s: signals(8, {6: 1}) for s in more}
    again = run_both(more, later, config, result.state)
    assert again.orders == [] and again.ruin == result.ruin


def test_levered_longs_get_margin_calls_too() -> None:
    """Leverage 2: 10,000 buys 200 at 100 (cash −10,000). Maintenance 30 % of the long's
    value: at 70 equity 4,000 ≥ 4,200? No: 4,000 < 4,200, a margin call; sold at 69."""
    series = {"AAA": daily("AAA", [100, 100, 90, 69, 69], [100, 90, 70, 69, 69])}
    config = RunConfig(initial_cash=10_000.0, margin=MarginRules(leverage=2.0))
    result = run_both(series, {"AAA": signals(5, {0: 1})}, config)
    assert result.fills[0].quantity == 200
    assert [c["time"] for c in result.margin_calls] == [ts_to_iso(T0 + 2 * DAY)]
    assert result.fills[-1].exit_kind is ExitKind.MARGIN_CALL
    assert result.fills[-1].price == 69.0
    assert result.equity[-1] == 10_000.0 - 200 * 31.0


def test_the_paper_broker_checks_buying_power_on_the_order_path() -> None:
    """The live account's broker (the API's orders): a long after a short is checked against
    the equity-based buying power, with positions at their last prices."""
    broker = PaperBroker(
        Portfolio(Account(cash=10_000.0, initial_cash=10_000.0)),
        limits=RunConfig(mode=Mode.LONG_SHORT).risk_limits(),
    )
    bar = make_bar(0, 100.0, symbol="AAA")
    broker.submit("AAA", Side.SELL, bar, 0, quantity=60)
    broker.on_bar(make_bar(1, 100.0, symbol="AAA"), 1)
    assert broker.portfolio.account.cash == 16_000.0
    other = make_bar(1, 50.0, symbol="BBB")
    refused = broker.submit("BBB", Side.BUY, other, 1, quantity=90)  # 4,500 > 4,000
    assert refused.reject_reason == RejectCode.INSUFFICIENT_BUYING_POWER
    assert refused.reject_message == "buying 90 BBB needs 4500.00, buying power is 4000.00"
    accepted = broker.submit("BBB", Side.BUY, other, 1, quantity=80)
    assert accepted.status is OrderStatus.NEW


@pytest.mark.parametrize("cut", [2, 3, 4, 5])
def test_a_run_in_two_chunks_meets_its_margin_call_as_one_run(cut: int) -> None:
    """Cut before, at or after the close of the call (bar 3) and its fill (bar 4): the state
    carries the forced order and the call being met; the same fills and equity."""
    series = {
        "AAA": daily(
            "AAA", [100, 100, 140, 152, 156, 150, 150], [100, 100, 150, 155, 151, 150, 150]
        ),
        "BBB": daily("BBB", [50.0] * 7, [50.0] * 7),
    }
    sigs = {"AAA": signals(7, {0: -1}), "BBB": signals(7, {3: 1, 4: 1, 5: 1})}
    whole = run_engine(series, sigs, LONG_SHORT)
    first = run_engine(
        {s: b.slice(0, cut) for s, b in series.items()},
        {s: x[:cut] for s, x in sigs.items()},
        LONG_SHORT,
    )
    second = run_engine(series, sigs, LONG_SHORT, first.state)
    fills = [f.to_dict() for f in (*first.fills, *second.fills)]
    assert fills == [f.to_dict() for f in whole.fills]
    assert [*first.equity.tolist(), *second.equity.tolist()] == whole.equity.tolist()
    assert [*first.margin_calls, *second.margin_calls] == whole.margin_calls
