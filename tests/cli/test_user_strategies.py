"""User strategies through the command line: `stp strategies` lists them, `stp run` runs them
through the local workflow, and one that raises fails the run naming the strategy and line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from stp.cli import main
from tests.builders import CHANNEL_STRATEGY
from trading.sdk import STRATEGY_PATH_ENV

ROOT = Path(__file__).resolve().parents[2]

CHANNEL = (
    CHANNEL_STRATEGY
    + """

class Peek(SignalStrategy):
    name = "peek"

    def signals(self, bars):
        out = np.zeros(len(bars), dtype=np.int8)
        out[:-1][bars.close[1:] > bars.close[:-1]] = BUY
        return out


class Explodes(SignalStrategy):
    name = "explodes"

    def signals(self, bars):
        ratio = 1 / 0
        return ratio
"""
)


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "channel.py").write_text(textwrap.dedent(CHANNEL))
    monkeypatch.setenv(STRATEGY_PATH_ENV, str(folder))
    monkeypatch.chdir(ROOT)
    return folder


def test_stp_strategies_lists_built_in_and_user_strategies_with_parameters(
    user_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "  sma_cross (signals): moving-average crossover" in out
    assert "    fast          bars in the fast average (int, 10; 1..10000)" in out
    assert "  channel (signals): buy above the last N closes, sell below them [" in out
    assert "    window        bars in the channel (int, 5; 2..100)" in out
    assert "exit parameters, any strategy" in out
    assert main(["strategies", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"channel", "explodes", "sma_cross"} <= {s["name"] for s in listed["strategies"]}


def test_stp_strategies_names_a_broken_file_and_exits_1(
    user_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (user_folder / "broken.py").write_text("import numpy\n\nx = numpy.nope\n")
    assert main(["strategies"]) == 1
    err = capsys.readouterr().err
    assert "broken.py failed to load: " in err and "broken.py line 3: AttributeError" in err


def test_check_strategy_passes_a_clean_strategy_and_names_the_first_peeking_bar(
    user_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "data/samples/stocks_small.jsonl"
    assert main(["check-strategy", "channel", "--data", data, "--cuts", "10"]) == 0
    assert capsys.readouterr().out.startswith("no look-ahead in channel: its decisions on ")
    assert main(["check-strategy", "peek", "--data", data, "--symbol", "AAPL"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("look-ahead in peek: AAPL ") and "1 with the whole history" in out
    assert main(["check-strategy", "momentum_rotation", "--data", data, "--cuts", "5"]) == 0
    capsys.readouterr()
    assert main(["check-strategy", "peek", "--data", "no/such.csv"]) == 2
    assert "--data no/such.csv: no such file" in capsys.readouterr().err
    assert main(["check-strategy", "channel", "--param", "window=1"]) == 2
    assert "parameter 'window' must be between 2 and 100" in capsys.readouterr().err


@pytest.mark.slow
def test_a_user_strategy_runs_through_the_local_workflow(
    user_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "data/samples/stocks_small.jsonl"
    code = main(
        [
            "run",
            "--data",
            data,
            "--strategy",
            "channel",
            "--param",
            "window=3",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["settings"]["strategy"] == "channel"
    assert report["settings"]["params"] == {"window": 3}
    assert report["metrics"]["trades"] > 0


@pytest.mark.slow
def test_a_user_strategy_that_raises_fails_the_run_naming_it_and_its_line(
    user_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "data/samples/stocks_small.jsonl"
    code = main(["run", "--data", data, "--strategy", "explodes", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "StrategyFailedError" in err
    line = CHANNEL.splitlines().index("        ratio = 1 / 0") + 1
    assert "strategy explodes raised in signals(" in err
    assert f"channel.py line {line}: ZeroDivisionError: division by zero" in err
