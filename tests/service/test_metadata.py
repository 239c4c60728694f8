"""The upload contract: run settings as ``stp-*`` S3 metadata, written and read back."""

from __future__ import annotations

import pytest

from trading.core.config import Mode
from trading.errors import InvalidRunConfigError
from trading.service.metadata import settings_from_metadata, to_metadata
from trading.service.steps import run_settings


def test_metadata_keys_set_the_run_and_the_start_config_wins() -> None:
    settings = run_settings(
        {
            "stp-strategy": "rsi_reversion",
            "stp-params": "period=10,lower=25",
            "stp-cash": "5000",
            "STP-Mode": "Long-Short",
            "stp-trade-on-close": "yes",
            "content-type": "text/csv",
        },
        {"cash": 7_000},
    )
    assert settings.strategy == "rsi_reversion"
    assert settings.params == {"period": 10, "lower": 25.0, "upper": 70.0}
    assert (settings.cash, settings.mode, settings.trade_on_close) == (
        7_000.0,
        Mode.LONG_SHORT,
        True,
    )


def test_keys_without_the_prefix_are_not_settings_and_unknown_stp_keys_fail() -> None:
    assert settings_from_metadata({"content-type": "text/csv", "stp-cash": "1"}) == {"cash": "1"}
    with pytest.raises(InvalidRunConfigError, match="unknown run setting"):
        run_settings({"stp-strategi": "x"}, None)


def test_metadata_written_by_to_metadata_reads_back_as_the_same_settings() -> None:
    chosen = {
        "strategy": "rsi_reversion",
        "params": {"period": 7, "upper": 80},
        "cash": 2_500.5,
        "mode": "long-short",
        "trade_on_close": True,
        "symbol": "MSFT",
        "account": None,
    }
    metadata = to_metadata(chosen)
    assert metadata["stp-trade-on-close"] == "true" and "stp-account" not in metadata
    assert run_settings(metadata, None) == run_settings(None, chosen)
