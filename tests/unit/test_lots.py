"""Fractional quantities: a quantity step and minimum per symbol, sizing rounded down to the step
so cash never goes negative, and orders off the step or below the minimum refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import make_bar, random_series
from trading.core.backtest import run_engine
from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig, OrderValidationError, PaperBroker
from trading.core.execution.sizing import affordable_quantity
from trading.core.lots import LotSize
from trading.core.model import OrderStatus, Side
from trading.core.portfolio import Portfolio
from trading.core.risk import RejectCode
from trading.core.settings import RunSettingsError, resolve_settings
from trading.core.strategies import create_strategy

CRYPTO = LotSize(step=0.0001, minimum=0.001)


def test_round_down_and_problems() -> None:
    assert CRYPTO.round_down(1.23456789) == 1.2345
    assert CRYPTO.round_down(0.3) == 0.3  # 0.3 / 0.0001 is 2999.9999999999995 in floats
    assert CRYPTO.problem(0.0123) is None
    assert "not a multiple of the step 0.0001" in str(CRYPTO.problem(0.00015))
    assert "below the minimum 0.001" in str(CRYPTO.problem(0.0005))
    assert LotSize().round_down(7.9) == 7 and isinstance(LotSize().round_down(7.9), int)
    with pytest.raises(ValueError, match="step must be positive"):
        LotSize(0.0)


def test_sizing_rounds_down_to_the_step_and_never_overspends() -> None:
    execution = ExecutionConfig(commission_rate=0.001)
    # 1000 / (30000 × 1.001) = 0.033300033 -> 0.0333; cost 999 + commission 0.999 <= 1000
    assert affordable_quantity(execution, 1.0, 1_000.0, 30_000.0, CRYPTO) == 0.0333
    # A fixed minimum commission of 5 lowers it step by step until it fits: 0.0331
    floor = ExecutionConfig(commission_rate=0.001, commission_minimum=5.0)
    assert affordable_quantity(floor, 1.0, 1_000.0, 30_000.0, CRYPTO) == 0.0331
    assert 0.0331 * 30_000 + 5.0 <= 1_000.0 < 0.0332 * 30_000 + 5.0
    # Below the minimum: nothing
    assert affordable_quantity(execution, 1.0, 20.0, 30_000.0, CRYPTO) == 0


def test_a_fraction_sized_order_fills_a_fractional_quantity_and_below_minimum_is_refused() -> None:
    execution = ExecutionConfig(lot_sizes={"BTC": CRYPTO})
    broker = PaperBroker(Portfolio.with_cash(1_000.0), execution)
    order = broker.submit("BTC", Side.BUY, make_bar(0, 30_000.0, symbol="BTC"), 0, cash_fraction=1)
    (fill,) = broker.on_bar(make_bar(1, 30_000.0, symbol="BTC"), 1)
    assert fill.quantity == 0.0333 and order.status is OrderStatus.FILLED
    assert broker.portfolio.account.cash == pytest.approx(1_000.0 - 999.0)
    poor = PaperBroker(Portfolio.with_cash(20.0), execution)
    tiny = poor.submit("BTC", Side.BUY, make_bar(0, 30_000.0, symbol="BTC"), 0, cash_fraction=1)
    poor.on_bar(make_bar(1, 30_000.0, symbol="BTC"), 1)
    assert tiny.reject_reason == RejectCode.INSUFFICIENT_BUYING_POWER
    assert "lot of 0.001" in str(tiny.reject_message)


@pytest.mark.parametrize(
    ("symbol", "quantity", "message"),
    [
        ("BTC", 0.00015, "not a multiple of the step 0.0001"),
        ("BTC", 0.0005, "below the minimum 0.001"),
        ("AAPL", 1.5, "not a multiple of the step 1"),
    ],
)
def test_a_fixed_quantity_off_the_step_or_below_the_minimum_is_invalid(
    symbol: str, quantity: float, message: str
) -> None:
    broker = PaperBroker(Portfolio.with_cash(1e6), ExecutionConfig(lot_sizes={"BTC": CRYPTO}))
    order = broker.submit(symbol, Side.BUY, make_bar(0, 100.0, symbol=symbol), 0, quantity=quantity)
    assert order.reject_reason == RejectCode.INVALID_ORDER and message in str(order.reject_message)


def test_amending_to_an_off_step_quantity_names_the_field() -> None:
    broker = PaperBroker(Portfolio.with_cash(1e6), ExecutionConfig(lot_sizes={"BTC": CRYPTO}))
    order = broker.submit("BTC", Side.BUY, make_bar(0, 100.0, symbol="BTC"), 0, quantity=0.01)
    with pytest.raises(OrderValidationError) as error:
        broker.replace(order.order_id, quantity=0.01005)
    assert error.value.field == "quantity" and order.quantity == 0.01


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    rate=st.sampled_from([0.0, 0.001]),
    minimum=st.sampled_from([0.0, 1.0]),
    exits=st.sampled_from([None, AttachedExits(stop_loss_pct=0.02, take_profit_pct=0.03)]),
)
def test_fractional_runs_keep_cash_non_negative_and_positions_on_the_step(
    seed: int, rate: float, minimum: float, exits: AttachedExits | None
) -> None:
    series = {"AAA": random_series(seed, 200, "AAA")}
    strategy = create_strategy("sma_cross", {"fast": 3, "slow": 9})
    lot = LotSize(0.001, minimum)
    config = RunConfig(
        initial_cash=1_000.0,
        mode=Mode.LONG_ONLY,
        cash_fraction=0.7,
        exits=exits,
        execution=ExecutionConfig(commission_rate=rate, default_lot=lot),
    )
    result = run_engine(series, {"AAA": strategy.signals(series["AAA"])}, config)
    assert (result.cash >= 0).all()
    assert any(f.quantity != int(f.quantity) for f in result.fills)
    for fill in result.fills:
        assert lot.problem(fill.quantity) is None
    held = result.positions["AAA"]
    assert np.allclose(np.round(held / 0.001), held / 0.001)
    assert all(t.quantity >= minimum for t in result.trades)


def test_settings_carry_the_step_and_minimum_and_validate_them() -> None:
    settings_ = resolve_settings({"quantity_step": "0.0001", "min_quantity": "0.001"})
    assert settings_.run_config().execution.default_lot == CRYPTO
    assert settings_.to_dict()["quantity_step"] == 0.0001
    with pytest.raises(RunSettingsError, match="quantity_step must be in"):
        resolve_settings(None, {"quantity_step": 0})
