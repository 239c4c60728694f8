"""The stp command line: bad input is one clear line and exit 2; runs and invokes end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stp.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--data", "no/such.csv"], "--data no/such.csv: no such file"),
        (["run", "--data", "data/stocks.csv", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["run", "--data", "data/stocks.csv", "--param", "fast"], "not of the form key=value"),
        (["run", "--data", "data/stocks.csv", "--param", "fast=50"], "needs fast < slow"),
        (
            ["run", "--data", "data/stocks.csv", "--param", "stop_loss=2"],
            "parameter 'stop_loss' must be between",
        ),
        (["run", "--data", "data/stocks.csv", "--cash", "-5"], "cash must be in"),
        (["run", "--data", "data/stocks.csv", "--mode", "both"], "mode must be one of"),
        (["run", "--data", "data/stocks.csv", "--cash-fraction", "2"], "cash_fraction must be"),
        (["run"], "the following arguments are required: --data"),
        (["fly"], "invalid choice: 'fly'"),
        (["invoke", "Nope", "--event", "events/api.health.json"], "no function 'Nope'"),
        (["invoke", "ApiFunction", "--event", "missing.json"], "--event missing.json: no such"),
        (["invoke", "ApiFunction", "--event", "x", "--before", "y"], "--before 'y' is not of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stp: error: ")
    assert message in err


@pytest.mark.slow
def test_run_writes_the_report_files_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(
        [
            "run",
            "--data",
            "data/samples/stocks_small.jsonl",
            "--param",
            "fast=3",
            "--param",
            "slow=8",
            "--param",
            "stop_loss=0.01",
            "--param",
            "take_profit=0.02",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["settings"]["params"] == {
        "fast": 3,
        "slow": 8,
        "stop_loss": 0.01,
        "take_profit": 0.02,
    }
    assert report["metrics"]["bars"] > 0
    assert report["metrics"]["stop_first_trades"] >= 0  # the report states the count
    for name in (
        "report.json",
        "report.html",
        "trades.csv",
        "equity.csv",
        "execution_history.json",
        "function_logs.txt",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "ProcessMarketData" in captured.err and "SUCCEEDED" in captured.err


@pytest.mark.slow
def test_a_failed_run_exits_1_naming_state_error_and_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02 not market data \xff")
    assert main(["run", "--data", str(garbage), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "execution FAILED: state ProcessMarketData: MarketDataUnreadableError" in err
    assert (tmp_path / "out" / "execution_history.json").exists()


@pytest.mark.slow
def test_invoke_runs_one_function_like_sam_local_invoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert (
        main(["invoke", "ProcessMarketDataFunction", "--event", "events/process_market_data.json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["bars_accepted"] == 8_592 and result["signal_count"] > 0


@pytest.mark.slow
def test_rejected_rows_are_reported_and_saved_with_their_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["run", "--data", "data/samples/bad_rows.csv", "--out", str(tmp_path)]) == 0
    assert "13 of 16 rows rejected" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert len(rows) == 13 and all(row["reasons"][0]["code"] for row in rows)
