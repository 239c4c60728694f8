"""The strategy registry: built-ins, a strategies/ folder, module paths and entry points;
a file that fails to load is named with its line, never a silent absence."""

from __future__ import annotations

import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from tests.builders import random_series
from trading.core import strategies as core_strategies
from trading.sdk import (
    ENTRY_POINT_GROUP,
    STRATEGY_PATH_ENV,
    SignalStrategy,
    StrategyConfigError,
    StrategyLoadError,
    available_strategies,
    create_strategy,
    describe_strategies,
    load_failures,
    registry,
    strategy_class,
)

BREAKOUT = '''
"""A user strategy file, as docs/strategies.md shows one."""
import numpy as np

from trading.sdk import BUY, SELL, Param, SignalStrategy


class Breakout(SignalStrategy):
    name = "breakout"
    description = "buy a new high, sell a new low"
    params = (Param("window", int, 20, 2, 500, "bars in the channel"),)

    def signals(self, bars):
        window = int(self["window"])
        out = np.zeros(len(bars), dtype=np.int8)
        for t in range(window, len(bars)):
            if bars.close[t] > bars.high[t - window : t].max():
                out[t] = BUY
            elif bars.close[t] < bars.low[t - window : t].min():
                out[t] = SELL
        return out
'''


def _folder(tmp_path: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    monkeypatch.setenv(STRATEGY_PATH_ENV, str(folder))
    monkeypatch.setattr(registry, "_entry_points", lambda: [])
    return folder


def test_a_strategy_file_in_the_folder_is_listed_built_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folder(tmp_path, {"breakout.py": BREAKOUT, "_helpers.py": "raise RuntimeError"}, monkeypatch)
    names = [entry.name for entry in available_strategies()]
    assert names == ["sma_cross", "rsi_reversion", "buy_and_hold", "momentum_rotation", "breakout"]
    strategy = create_strategy("breakout", {"window": "5"})
    assert isinstance(strategy, SignalStrategy) and strategy.values == {"window": 5}
    signals = strategy.signals(random_series(3, 120))
    assert signals.dtype.name == "int8" and set(signals.tolist()) <= {-1, 0, 1}
    assert (signals != 0).any()
    # The core's old lookup finds it too (the workflow's path).
    assert core_strategies.create_strategy("breakout").values == {"window": 20}
    listed = {s["name"]: s for s in describe_strategies()["strategies"]}
    assert listed["breakout"]["source"].endswith("breakout.py")
    assert listed["breakout"]["params"] == [
        {
            "name": "window",
            "type": "int",
            "default": 20,
            "minimum": 2,
            "maximum": 500,
            "description": "bars in the channel",
        }
    ]
    assert listed["sma_cross"]["source"] == "built-in"
    with pytest.raises(StrategyConfigError, match="parameter 'window' must be between 2 and 500"):
        create_strategy("breakout", {"window": 1})
    assert load_failures() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = 1\ndef broken(:\n", "bad.py line 2: SyntaxError"),
        ("import math\n\nvalue = undefined_name\n", "bad.py line 3: NameError"),
        ("import no_such_package_here\n", "bad.py line 1: ModuleNotFoundError"),
    ],
)
def test_a_file_that_fails_to_import_is_named_with_its_line(
    text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folder(tmp_path, {"bad.py": text, "breakout.py": BREAKOUT}, monkeypatch)
    failures = load_failures()
    assert len(failures) == 1 and failures[0].source.endswith("bad.py")
    assert message in failures[0].message
    # The other file's strategies still load; asking for the broken one names the line.
    assert strategy_class("breakout").name == "breakout"
    with pytest.raises(StrategyLoadError, match=r"strategy .bad. could not be loaded: .*line"):
        strategy_class("bad")
    with pytest.raises(StrategyConfigError, match=r"unknown strategy .nope.*bad.py failed"):
        strategy_class("nope")


def test_a_user_strategy_cannot_take_a_built_in_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folder(tmp_path, {"mine.py": BREAKOUT.replace('"breakout"', '"sma_cross"')}, monkeypatch)
    assert strategy_class("sma_cross").__module__ == "trading.sdk.builtin"
    [failure] = load_failures()
    assert "strategy name 'sma_cross' is taken (built-in)" in failure.message


def test_a_module_path_names_a_strategy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "acme_strategies"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "channel.py").write_text(BREAKOUT)
    (package / "two.py").write_text(
        BREAKOUT + BREAKOUT.split('"""', 2)[2].replace("Breakout", "B2")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(STRATEGY_PATH_ENV, raising=False)
    assert strategy_class("acme_strategies.channel").name == "breakout"
    assert strategy_class("acme_strategies.channel:Breakout").name == "breakout"
    with pytest.raises(StrategyConfigError, match=r"name the class as acme_strategies.two:Class"):
        strategy_class("acme_strategies.two")
    with pytest.raises(StrategyConfigError, match="defines no strategy class 'Nope'"):
        strategy_class("acme_strategies.channel:Nope")
    with pytest.raises(StrategyConfigError, match="no module named 'acme_nothing'"):
        strategy_class("acme_nothing.mod:X")


def test_an_installed_packages_entry_point_registers_its_strategy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_channel.py").write_text(BREAKOUT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(STRATEGY_PATH_ENV, str(tmp_path / "none"))
    points = [
        metadata.EntryPoint("breakout", "acme_channel:Breakout", ENTRY_POINT_GROUP),
        metadata.EntryPoint("broken", "acme_missing:Nope", ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "_entry_points", lambda: points)
    assert strategy_class("breakout").name == "breakout"
    [entry] = [e for e in available_strategies() if e.name == "breakout"]
    assert entry.source == "entry point breakout (acme_channel:Breakout)"
    [failure] = load_failures()
    assert failure.source.startswith("entry point broken") and "ModuleNotFoundError" in (
        failure.message
    )
