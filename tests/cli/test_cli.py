"""The stp command line: bad input is one clear line and exit 2; runs and invokes end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stp.cli import build_parser, main
from stp.run import chosen_settings
from trading.core.settings import SETTING_HELP, resolve_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--data", "no/such.csv"], "--data no/such.csv: no such file"),
        (
            ["run", "--data", "README.md"],
            "--data README.md: not a market data file name: name it .csv, .jsonl or .ndjson "
            "(optionally .gz)",
        ),
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
        (["run", "--data", "data/stocks.csv", "--slippage-bps", "-1"], "slippage_bps must be"),
        (
            ["run", "--data", "data/stocks.csv", "--commission-minimum", "x"],
            "commission_minimum must be a number",
        ),
        (["run", "--data", "data/stocks.csv", "--quantity-step", "0"], "quantity_step must be"),
        (["run", "--data", "data/stocks.csv", "--account", "a b"], "account must be 1-64"),
        (["run", "--data", "data/stocks.csv", "--symbol", "A B"], "symbol must be symbols"),
        (["run", "--data", "data/stocks.csv", "--start", "June"], "start must be an ISO 8601"),
        (
            ["run", "--data", "data/stocks.csv", "--end", "2262-05-01"],
            "end 2262-05-01 is outside the supported dates, 1678-01-01 to 2261-12-31",
        ),
        (
            ["run", "--data", "data/stocks.csv", "--start", "2010-01-02", "--end", "2010-01-01"],
            "start 2010-01-02 is after end 2010-01-01",
        ),
        (["run", "--data", "data/stocks.csv", "--out", "/proc/nope"], "--out /proc/nope: cannot"),
        (
            ["run", "--data", "data/stocks.csv", "--corporate-actions", "no/such.csv"],
            "--corporate-actions no/such.csv: no such file",
        ),
        (
            ["run", "--data", "data/stocks.csv", "--corporate-actions", "data/stocks.csv"],
            "corporate actions data/stocks.csv: the header lacks action, value",
        ),
        (
            [
                *("run", "--data", "data/stocks.csv", "--account", "paper"),
                *("--corporate-actions", "data/corporate_actions.csv"),
            ],
            "corporate_actions back-adjust a backtest's bars and cannot be used with a live "
            "account (paper)",
        ),
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


@pytest.mark.parametrize(
    ("flags", "setting", "value"),
    [
        (["--strategy", "rsi_reversion"], "strategy", "rsi_reversion"),
        (["--param", "fast=5", "--param", "slow=9"], "params", {"fast": 5, "slow": 9}),
        (["--cash", "5000"], "cash", 5_000.0),
        (["--commission", "0.001"], "commission", 0.001),
        (["--commission-minimum", "1.5"], "commission_minimum", 1.5),
        (["--slippage-bps", "5"], "slippage_bps", 5.0),
        (["--mode", "long-short"], "mode", "long-short"),
        (["--cash-fraction", "0.25"], "cash_fraction", 0.25),
        (["--trade-on-close"], "trade_on_close", True),
        (["--volume-limit", "0.1"], "volume_limit", 0.1),
        (["--repeat-signal", "reopen"], "repeat_signal", "reopen"),
        (["--quantity-step", "0.001"], "quantity_step", 0.001),
        (["--min-quantity", "0.01"], "min_quantity", 0.01),
        (["--account", "paper-2"], "account", "paper-2"),
        (["--leverage", "2"], "leverage", 2.0),
        (["--short-margin", "1.4"], "short_margin", 1.4),
        (["--maintenance-margin", "1.25"], "maintenance_margin", 1.25),
        (["--symbol", "AAPL", "--symbol", "MSFT,IBM"], "symbol", "AAPL,MSFT,IBM"),
        (["--start", "2008-01-01"], "start", "2008-01-01"),
        (["--end", "2010-12-31T16:00Z"], "end", "2010-12-31T16:00Z"),
    ],
)
def test_every_run_setting_has_a_flag_that_reaches_the_run(
    flags: list[str], setting: str, value: object
) -> None:
    args = build_parser().parse_args(["run", "--data", "x.csv", *flags])
    settings = resolve_settings(chosen_settings(args)).to_dict()
    assert settings[setting] == value


def test_every_subcommand_has_a_description_and_examples() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        assert command.description, name
        assert "example" in (command.epilog or ""), name
        assert f"stp {name}" in (command.epilog or ""), name


def test_corporate_actions_reach_the_run_as_the_key_the_file_is_uploaded_to() -> None:
    args = build_parser().parse_args(
        ["run", "--data", "x.csv", "--corporate-actions", "data/corporate_actions.csv"]
    )
    assert args.corporate_actions == Path("data/corporate_actions.csv")
    settings = resolve_settings(chosen_settings(args, "corporate-actions/ab12/ca.csv"))
    assert settings.corporate_actions == "corporate-actions/ab12/ca.csv"


def test_the_flags_cover_every_setting_and_the_help_lists_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    covered = {"params"} | {
        action.dest
        for action in build_parser()._subparsers._group_actions[0].choices["run"]._actions  # type: ignore[union-attr]
    }
    assert set(SETTING_HELP) <= covered
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    for expected in ("--slippage-bps", "rsi_reversion", "period", "stop_loss", "examples:"):
        assert expected in help_text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["validate", "--help"])
    help_text = capsys.readouterr().out
    for expected in ("checkov", "least_privilege", "actionlint", "cfn-lint", "asl-validator"):
        assert expected in help_text


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
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02 not market data \xff", "BINARY_FILE"),
        (b"date,symbol,open,high,low,close,volume\n2020-01-02,AAA,x,2,1,2,10\n", "no valid bar"),
    ],
)
def test_bad_data_is_one_line_exit_2_with_the_rows_and_logs_kept(
    content: bytes,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    out = tmp_path / "out"
    assert main(["run", "--data", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"stp: error: {bad}: ")
    assert message in err and "s3://" not in err and "Traceback" not in err
    assert (out / "execution_history.json").exists()
    logs = (out / "function_logs.txt").read_text()
    assert "[ERROR] MarketDataUnreadableError" in logs and "REPORT RequestId" in logs
    if message == "no valid bar":
        assert f"see {out / 'rejected.jsonl'}" in err
        (row,) = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
        assert row["reasons"][0]["code"] == "BAD_NUMBER"


@pytest.mark.slow
def test_a_failed_execution_exits_1_naming_state_error_and_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stp.local import LocalCloud

    deploy = LocalCloud.deploy

    def deploy_then_break_the_portfolio(cloud: LocalCloud, *args: object, **kw: object) -> object:
        deployment = deploy(cloud, *args, **kw)  # type: ignore[arg-type]
        cloud.inject_fault("dynamodb", "TransactWriteItems", "ValidationException", times=100)
        return deployment

    monkeypatch.setattr(LocalCloud, "deploy", deploy_then_break_the_portfolio)
    monkeypatch.chdir(ROOT)
    code = main(["run", "--data", "data/samples/stocks_small.jsonl", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "stp: execution FAILED: state ExecuteTrades: " in err
    assert "ValidationException" in err and "{" not in err  # the message, not the JSON
    assert (tmp_path / "execution_history.json").exists()


@pytest.mark.slow
def test_run_settings_reach_the_run_and_symbol_and_dates_select_the_bars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    argv = [
        "run",
        "--data",
        "data/stocks.csv",
        "--symbol",
        "AAPL",
        "--start",
        "2008-01-01",
        "--end",
        "2009-12-31",
        "--commission-minimum",
        "7",
        "--slippage-bps",
        "10",
        "--quantity-step",
        "0.5",
        "--trade-on-close",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["data"]["symbols"] == ["AAPL"]
    assert report["data"]["start"] == "2008-01-02T00:00:00Z"
    assert report["data"]["end"] == "2009-12-31T00:00:00Z"
    assert report["data"]["bars_excluded"] == 8_592 - 505  # 253 + 252 trading days
    assert "8,087 of 8,592 valid bars outside the chosen symbols or period" in out
    trades = (tmp_path / "trades.csv").read_text().splitlines()[1:]
    assert trades and all(line.startswith("AAPL,") for line in trades)
    columns = (tmp_path / "trades.csv").read_text().splitlines()[0].split(",")
    for line in trades:
        row = dict(zip(columns, line.split(","), strict=True))
        assert float(row["commission"]) >= 7  # the minimum, on the entry at least
        assert (float(row["quantity"]) * 2).is_integer()  # the 0.5 quantity step
    assert "wall time" in out and "start-up" in out


@pytest.mark.slow
def test_the_readme_long_short_example_says_it_met_a_margin_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's long/short RSI run used to end at −59,036 of equity in silence (short
    proceeds sized the next entries); on buying power it meets a margin call and says so on
    stderr, and the run still succeeds."""
    monkeypatch.chdir(ROOT)
    argv = ["run", "--data", "data/stocks.csv", "--strategy", "rsi_reversion"]
    argv += ["--param", "period=14", "--cash", "50000", "--commission", "0.001"]
    assert main([*argv, "--mode", "long-short", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "stp: warning: 1 margin call (the first on 2004-10-25)" in err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["metrics"]["final_equity"] > 0 and "ruin" not in report
    assert ",margin_call," in (tmp_path / "trades.csv").read_text()


@pytest.mark.slow
def test_corporate_actions_adjust_the_run_and_the_report_records_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AAPL's 2:1 split of 2005-02-28 inside the small sample: held through it on adjusted
    prices, buy-and-hold has no -50 % step; the bundled file's other actions are outside."""
    monkeypatch.chdir(ROOT)
    argv = ["run", "--data", "data/samples/stocks_small.jsonl", "--strategy", "buy_and_hold"]
    argv += ["--symbol", "AAPL", "--corporate-actions", "data/corporate_actions.csv"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "corporate actions: 1 split(s) and 0 cash dividend(s) of 1 symbol(s) applied" in out
    report = json.loads((tmp_path / "report.json").read_text())
    data = report["data"]
    assert data["corporate_actions"].startswith("corporate-actions/")
    assert [(a["symbol"], a["date"], a["action"]) for a in data["adjustments"]] == [
        ("AAPL", "2005-02-28", "split"),
    ]
    assert data["bars_adjusted"] == 38  # 2005-01-03 to 2005-02-25
    reasons = {(a["symbol"], a["reason"]) for a in data["adjustments_skipped"]}
    assert reasons == {
        ("AAPL", "no bar of the data is on or after it"),  # the 2012-13 dividends
        ("IBM", "IBM has no bars in this run"),
        ("MSFT", "MSFT has no bars in this run"),
    }
    assert report["metrics"]["max_drawdown"] > -0.3  # raw prices: -62 %, half of it the split
    html = (tmp_path / "report.html").read_text()
    assert "AAPL: split 2:1 on 2005-02-28" in html
    assert "Not applied: 35 actions of MSFT, 2004-08-23 to 2013-02-19" in html


@pytest.mark.slow
def test_a_corporate_action_the_bars_contradict_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    actions = tmp_path / "actions.csv"
    actions.write_text("date,symbol,action,value\n2005-03-01,AAPL,dividend,500\n")
    argv = ["run", "--data", "data/samples/stocks_small.jsonl", "--corporate-actions"]
    assert main([*argv, str(actions), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s3://" not in err
    assert err.startswith("stp: error: corporate actions line 2: AAPL dividend 500 on 2005-03-01")


@pytest.mark.slow
def test_float_noise_is_repaired_and_counted_real_inconsistencies_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    argv = ["run", "--data", "data/samples/noisy_rows.csv", "--strategy", "buy_and_hold"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 of 8 rows repaired" in out and "1 of 8 rows rejected" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["data"]["bars_repaired"], report["data"]["bars_rejected"]) == (2, 1)
    repaired = [
        json.loads(line) for line in (tmp_path / "repaired.jsonl").read_text().split("\n")[:-1]
    ]
    assert [(row["line"], row["repairs"][0]["field"]) for row in repaired] == [
        (3, "low"),
        (5, "high"),
    ]
    assert repaired[0]["repairs"][0]["repaired"] == 0.12297222763299942
    (rejected,) = (tmp_path / "rejected.jsonl").read_text().splitlines()
    assert json.loads(rejected)["reasons"][0]["code"] == "LOW_ABOVE_OPEN_CLOSE"


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
def test_invoke_prints_the_result_of_every_step_even_when_a_workflow_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["invoke", "ApiFunction", "--event", "events/api.post_market_data.json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["statusCode"] == 202 and "run_id" in json.loads(result["body"])
    before = "ProcessMarketDataFunction=events/process_market_data.json"
    argv = ["invoke", "ExecuteTradesFunction", "--event", "events/execute_trades.json"]
    assert main([*argv, "--before", before]) == 0
    printed = capsys.readouterr().out
    assert printed.count('"run_id"') >= 2  # both steps' results, in order
    assert printed.index('"bars_accepted"') < printed.index('"orders_placed"')


@pytest.mark.slow
def test_rejected_rows_are_reported_and_saved_with_their_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["run", "--data", "data/samples/bad_rows.csv", "--out", str(tmp_path)]) == 0
    assert "14 of 17 rows rejected" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert len(rows) == 14 and all(row["reasons"][0]["code"] for row in rows)
