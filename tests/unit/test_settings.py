"""Run settings from layers of named values (metadata, then overrides), with clear errors."""

from __future__ import annotations

import pytest

from trading.core.config import Mode
from trading.core.execution import AttachedExits
from trading.core.settings import RunSettings, RunSettingsError, resolve_settings


def test_defaults_are_documented_values() -> None:
    settings = resolve_settings()
    assert settings == RunSettings(params={"fast": 10, "slow": 30})
    assert settings.to_dict()["mode"] == "long-only"


def test_layers_set_the_run_and_later_layers_win() -> None:
    settings = resolve_settings(
        {
            "strategy": "rsi_reversion",
            "params": "period=10,lower=25",
            "cash": "5000",
            "mode": "Long-Short",
            "commission": "0.001",
            "trade_on_close": "yes",
        },
        {"cash": 7_000, "account": "paper"},
    )
    assert settings.strategy == "rsi_reversion"
    assert settings.params == {"period": 10, "lower": 25.0, "upper": 70.0}
    assert (settings.cash, settings.mode, settings.commission) == (7_000.0, Mode.LONG_SHORT, 0.001)
    assert settings.trade_on_close is True and settings.account == "paper"
    config = settings.run_config()
    assert config.execution.commission_rate == 0.001 and config.initial_cash == 7_000.0


def test_params_may_be_json() -> None:
    assert resolve_settings({"params": '{"fast": 5, "slow": 50}'}).params == {
        "fast": 5,
        "slow": 50,
    }


@pytest.mark.parametrize(
    ("metadata", "overrides", "message"),
    [
        ({"strategi": "x"}, None, "unknown run setting(s): strategi"),
        ({"strategy": "magic"}, None, "unknown strategy 'magic'"),
        ({"params": "fast=40"}, None, "sma_cross needs fast < slow"),
        ({"params": "{bad"}, None, "params is not valid JSON"),
        ({"cash": "-1"}, None, "cash must be in (0, 1e+15]"),
        ({"cash": "lots"}, None, "cash must be a number"),
        ({"commission": "0.5"}, None, "commission must be in [0, 0.1]"),
        ({"mode": "sideways"}, None, "mode must be one of long-only, long-short"),
        (None, {"trade_on_close": "maybe"}, "trade_on_close must be true or false"),
        (None, {"account": "a b"}, "account must be 1-64 letters"),
        (None, {"cash_fraction": 0}, "cash_fraction must be in (0, 1]"),
    ],
)
def test_bad_settings_name_what_is_wrong(
    metadata: dict[str, str] | None, overrides: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(RunSettingsError) as caught:
        resolve_settings(metadata, overrides)
    assert message in str(caught.value)


def test_symbol_for_files_without_a_symbol_column() -> None:
    assert resolve_settings({"symbol": "AAPL"}).symbol == "AAPL"
    assert resolve_settings().symbol is None
    with pytest.raises(RunSettingsError, match="symbol must be"):
        resolve_settings(None, {"symbol": "two words"})


def test_exit_params_reach_the_engine_as_attached_exits() -> None:
    settings = resolve_settings({"params": "fast=5,slow=20,stop_loss=0.02,take_profit=0.04"})
    assert settings.params == {"fast": 5, "slow": 20, "stop_loss": 0.02, "take_profit": 0.04}
    exits = settings.run_config().exits
    assert exits is not None
    assert (exits.stop_loss_pct, exits.take_profit_pct, exits.trailing_pct) == (0.02, 0.04, None)
    trailing = resolve_settings(None, {"strategy": "buy_and_hold", "params": "trailing_stop=0.1"})
    assert trailing.run_config().exits == AttachedExits(trailing_pct=0.1)
    assert resolve_settings().run_config().exits is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("stop_loss=1.5", "'stop_loss' must be between"),
        ("take_profit=-0.1", "'take_profit' must be between"),
        ("trailing_stop=x", "'trailing_stop' must be a number"),
        ("stoploss=0.1", "unknown parameter(s) for sma_cross: stoploss"),
    ],
)
def test_exit_params_are_validated_with_the_name(params: str, message: str) -> None:
    with pytest.raises(RunSettingsError) as error:
        resolve_settings(None, {"params": params})
    assert message in str(error.value)


def test_a_trailing_stop_at_a_multiple_of_atr_and_its_conflict_with_a_fraction() -> None:
    config = resolve_settings(None, {"params": "trailing_atr=3,atr_period=10"}).run_config()
    assert (config.trailing_atr, config.atr_period, config.exits) == (3.0, 10, None)
    with pytest.raises(RunSettingsError, match="trailing_stop or trailing_atr, not both"):
        resolve_settings(None, {"params": "trailing_atr=3,trailing_stop=0.05"})


def test_symbols_are_one_or_a_comma_list_and_the_period_is_inclusive() -> None:
    settings = resolve_settings({"symbol": " AAPL, MSFT ,AAPL", "start": "2010-01-04"})
    assert settings.symbol == "AAPL,MSFT" and settings.symbols == ("AAPL", "MSFT")
    day = 86_400 * 10**9
    first, last = resolve_settings({"start": "2010-01-04", "end": "2010-01-05"}).period()
    assert first == 1_262_563_200 * 10**9  # 2010-01-04T00:00:00Z
    assert last == first + 2 * day - 1  # a date-only end includes its whole day
    _, last = resolve_settings({"end": "2010-01-05T15:30:00-05:00"}).period()
    assert last == first + day + (20 * 3600 + 30 * 60) * 10**9
    assert resolve_settings().period() == (None, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": "04/01/2010"}, "start must be an ISO 8601 date or datetime"),
        ({"end": "2262-04-12"}, "end 2262-04-12 is outside the supported dates, 1678-01-01 to"),
        ({"start": "2011-01-01", "end": "2010-01-01"}, "start 2011-01-01 is after end 2010-01-01"),
        ({"symbol": "AAPL,,MSFT"}, "symbol must be symbols of 1-32"),
    ],
)
def test_bad_periods_and_symbols_name_the_setting(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(RunSettingsError) as caught:
        resolve_settings(overrides)
    assert message in str(caught.value)


def test_every_setting_has_a_help_line() -> None:
    from trading.core.settings import SETTING_HELP

    assert set(SETTING_HELP) == set(RunSettings.__dataclass_fields__)


def test_repeat_signal_keeps_by_default_and_reopen_reaches_the_engine() -> None:
    assert resolve_settings().run_config().reopen_on_repeat is False
    settings = resolve_settings({"repeat_signal": "Reopen"})
    assert settings.repeat_signal == "reopen" and settings.run_config().reopen_on_repeat
    with pytest.raises(RunSettingsError, match="repeat_signal must be one of keep, reopen"):
        resolve_settings({"repeat_signal": "again"})
