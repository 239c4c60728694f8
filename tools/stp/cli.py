"""The ``stp`` command line: run the workflow locally, invoke a function, validate, serve the API.

Bad input is one clear line on stderr and exit status 2; a failed workflow exits 1.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# Where the wall time `stp run` prints starts when the kernel cannot say when the process did.
_IMPORTED = time.perf_counter()

EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input; the message is shown as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), as the rest of the CLI."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def process_started() -> float:
    """When this process started, on the ``time.perf_counter`` clock: from the kernel's
    record where there is one (Linux), else when this module was imported."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 of proc(5): start time since boot
        with open("/proc/uptime", encoding="ascii") as uptime:
            since_boot = float(uptime.read().split()[0])
        age = since_boot - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _IMPORTED
    return time.perf_counter() - max(0.0, age)


def find_project(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding template.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder
    raise UsageError(f"no template.yaml in {here} or any parent; run stp inside the project")


STRATEGIES_LAYER = "StrategiesLayer"
"""The template's layer of user strategies: its ``ContentUri`` is the strategies folder."""


def strategies_folder(project: Path) -> Path:
    """The project's strategies folder: the strategies layer's ``ContentUri`` in
    template.yaml (what ``sam build`` packages), ``strategies/`` without one."""
    from stp.cfn_yaml import load_template

    resources = load_template(project / "template.yaml").get("Resources", {})
    layer = resources.get(STRATEGIES_LAYER, {}).get("Properties", {})
    content = layer.get("ContentUri")
    return project / (content if isinstance(content, str) else "strategies")


def use_project_strategies(project: Path) -> None:
    """Let the registry find the project's strategies folder, as Lambda finds the layer
    (unless $STP_STRATEGIES names the folders already)."""
    from trading.sdk import STRATEGY_PATH_ENV

    if STRATEGY_PATH_ENV not in os.environ:
        os.environ[STRATEGY_PATH_ENV] = str(strategies_folder(project))


RUN_EXAMPLES = """\
examples:
  stp run --data data/stocks.csv --cash-fraction 0.25
  stp run --data data/stocks.csv --symbol AAPL --start 2008-01-01 --end 2010-12-31
  stp run --data data/stocks.csv --strategy rsi_reversion --param period=14 \\
      --mode long-short --commission 0.001 --commission-minimum 1 --slippage-bps 5
  stp run --data data/stocks.csv --param stop_loss=0.02 --param take_profit=0.04 --json
  stp run --data data/stocks.csv --corporate-actions data/corporate_actions.csv \
      --cash-fraction 0.25        # split- and dividend-adjusted (make demo)
"""
INVOKE_EXAMPLES = """\
examples:
  stp invoke ProcessMarketDataFunction --event events/process_market_data.json
  stp invoke ExecuteTradesFunction --event events/execute_trades.json \\
      --before ProcessMarketDataFunction=events/process_market_data.json
  stp invoke ApiFunction --event events/api.health.json
"""
SWEEP_EXAMPLES = """\
examples:
  stp sweep --data data/stocks.csv --strategy sma_cross --grid fast=5:50:5 \\
      --grid slow=20:200:10 --objective sharpe --batch-size 20
  stp sweep --data data/stocks.csv --strategy sma_cross --range fast=5:50 \\
      --range slow=20:200 --samples 200 --seed 7
  stp sweep --data data/stocks.csv --strategy sma_cross --grid fast=10,20 --grid slow=50,100 \\
      --walk-forward 5 --in-sample 0.7
  stp sweep --data data/stocks.csv --strategy rsi_reversion --universe
  stp sweep --data data/stocks.csv --strategy sma_cross --grid fast=5:50:5 --estimate
"""
API_EXAMPLES = """\
examples:
  stp api --data data/stocks.csv --api-key "$STP_API_KEY" --account desk-a --user alice
  export STP_TOKEN=...   # the access token it prints
  curl -H "x-api-key: $STP_API_KEY" -H "Authorization: $STP_TOKEN" \\
      http://127.0.0.1:3000/quotes/AAPL
"""
UP_EXAMPLES = """\
examples:
  stp up --state-dir .stp --env-file .stp/env.sh     # make up; Ctrl-C saves and stops
  source .stp/env.sh && aws s3 cp data/stocks.csv s3://$STP_MARKET_DATA_BUCKET_NAME/raw/
  stp up --port 4567 --api-port 3001 --mock-config tests/workflow/MockConfigFile.json
"""
EXECUTIONS_EXAMPLES = """\
examples:
  stp executions list                                # against $AWS_ENDPOINT_URL (stp up)
  stp executions show <run id or execution ARN> --html page.html
  stp executions list --endpoint-url http://127.0.0.1:4566 --json
"""
TEST_WORKFLOW_EXAMPLES = """\
examples:
  stp test-workflow
  stp test-workflow --case PermanentFailure --json
"""
STRATEGIES_EXAMPLES = """\
examples:
  stp strategies
  STP_STRATEGIES=~/my_strategies stp strategies --json
"""


class _WrappedDescription(argparse.RawDescriptionHelpFormatter):
    """The description wrapped to the terminal; the epilog (lists, examples) as written."""

    def add_text(self, text: str | None) -> None:
        if text and text is not argparse.SUPPRESS and "\n" not in text:
            text = textwrap.fill(text, width=min(self._width, 100))
        super().add_text(text)


def _strategy_help() -> str:
    """The built-in strategies with their parameters, then the exit parameters."""
    from stp.strategies import exit_lines, strategy_lines
    from trading.sdk.builtin import BUILT_IN
    from trading.sdk.registry import BUILT_IN_SOURCE, StrategyEntry

    lines = ["built-in strategies (--param NAME=VALUE; type, default; range):"]
    lines += strategy_lines(StrategyEntry(c.name, c, BUILT_IN_SOURCE) for c in BUILT_IN)
    lines.append("user strategies (your strategies/ folder...): listed by `stp strategies`")
    return "\n".join([*lines, *exit_lines()])


def _validate_help() -> str:
    """The checks ``stp validate`` runs, from its own list."""
    from stp.validate import CHECKS

    lines = ["checks, in order (any finding fails):"]
    for check in CHECKS:
        summary = " ".join((check.__doc__ or check.__name__).replace("``", "").split())
        lines.append(f"  {check.__name__}: {summary}")
    return "\n".join(lines)


def _add_run_settings(run: argparse.ArgumentParser) -> None:
    """One flag per run setting (``--slippage-bps`` sets ``slippage_bps``), with its help."""
    from trading.core.settings import SETTING_HELP

    for name, text in SETTING_HELP.items():
        flag = "--" + name.replace("_", "-")
        if name == "params":
            run.add_argument(
                "--param",
                action="append",
                default=[],
                metavar="NAME=VALUE",
                help="a strategy or exit parameter (repeatable; listed below)",
            )
        elif name == "trade_on_close":
            run.add_argument(flag, action="store_const", const=True, help=text)
        elif name == "symbol":
            run.add_argument(flag, action="append", metavar="SYMBOL[,SYMBOL]", help=text)
        elif name == "corporate_actions":
            run.add_argument(flag, type=Path, metavar="FILE", help=text)
        else:
            run.add_argument(flag, metavar=name.split("_")[-1].upper(), help=text)


def build_parser() -> _Parser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="stp", description=__doc__)
    parser.add_argument("--project", type=Path, help="project folder (default: found from cwd)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    raw = _WrappedDescription

    run = commands.add_parser(
        "run",
        help="run the trading workflow end to end on emulated AWS (no Docker, no account)",
        description="Deploy template.yaml to emulated AWS in this process, upload --data "
        "under raw/ with the run settings as its metadata, let the deployed trigger start the "
        "workflow, show each state, and write report.json, report.html, trades.csv, "
        "equity.csv, rejected.jsonl and repaired.jsonl (when rows were), execution_history.json "
        "and function_logs.txt to --out. Exit 0 on success, 1 when the workflow failed, 2 on "
        "bad input.",
        epilog=_strategy_help() + "\n\n" + RUN_EXAMPLES,
        formatter_class=raw,
    )
    run.add_argument("--data", type=Path, required=True, help="CSV or JSON Lines market data")
    _add_run_settings(run)
    run.add_argument("--out", type=Path, default=Path("out"), help="output folder (default ./out)")
    run.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    run.add_argument("--verbose", action="store_true", help="list the skipped resources")

    sweep = commands.add_parser(
        "sweep",
        help="run a parameter sweep (grid, random, walk-forward, universe) through the "
        "research workflow's Distributed Map on emulated AWS",
        description="Deploy template.yaml to emulated AWS, upload --data, start the research "
        "workflow (statemachine/research.asl.json) on the sweep, show its progress, and write "
        "leaderboard.json, leaderboard.csv and report.html to --out; print the best result "
        "and what the same sweep would cost and take on AWS. --estimate prints only that. "
        "Exit 0 on success, 1 when the workflow failed, 2 on bad input.",
        epilog=SWEEP_EXAMPLES,
        formatter_class=raw,
    )
    from stp.sweep import add_sweep_arguments

    add_sweep_arguments(sweep)

    invoke = commands.add_parser(
        "invoke",
        help="invoke one function like `sam local invoke`",
        description="Run one function of template.yaml on one event in a fresh local "
        "deployment and print its result JSON, like `sam local invoke` without Docker. The "
        "events' placeholder bucket example-market-data is the deployment's market data "
        "bucket; raw/<file> keys an event names are seeded from data/<file>. Exit 1 when the "
        "handler failed.",
        epilog=INVOKE_EXAMPLES,
        formatter_class=raw,
    )
    invoke.add_argument("function", metavar="LOGICAL_ID", help="e.g. ProcessMarketDataFunction")
    invoke.add_argument("--event", type=Path, required=True, help="event JSON file")
    invoke.add_argument(
        "--before",
        action="append",
        default=[],
        metavar="LOGICAL_ID=EVENT",
        help="run this step first (repeatable), e.g. ProcessMarketDataFunction=events/x.json",
    )

    api = commands.add_parser(
        "api",
        help="serve the API on 127.0.0.1 like API Gateway, over the emulation",
        description="Deploy template.yaml to emulated AWS and serve its REST API on loopback "
        "as API Gateway would: unknown routes 404, other methods of a route 405, a missing or "
        "wrong x-api-key 403, a missing, forged or expired access token 401, the usage plan's "
        "throttle 429, then the API function. It registers an account, creates a user granted "
        "it and prints a ready access token. Ctrl-C stops it.",
        epilog=API_EXAMPLES,
        formatter_class=raw,
    )
    api.add_argument("--port", type=int, default=3000, help="TCP port (default 3000; 0: any)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument(
        "--api-key",
        help="the accepted x-api-key, at least 20 characters as API Gateway requires "
        "(default: $STP_API_KEY, else a new random one)",
    )
    api.add_argument(
        "--data", type=Path, help="market data file to upload (into the account) before serving"
    )
    api.add_argument(
        "--no-throttle", action="store_true", help="ignore the usage plan's rate and burst limits"
    )
    api.add_argument("--account", default="paper", help="account to register (default paper)")
    api.add_argument(
        "--user", default="trader", help="user to create and grant it (default trader)"
    )

    up = commands.add_parser(
        "up",
        help="serve the platform as one local AWS endpoint (S3, DynamoDB, Step Functions...)",
        description="Deploy template.yaml once and serve it as one AWS endpoint (S3, "
        "DynamoDB, Step Functions, SNS, SQS, Lambda, CloudFormation, Logs, EventBridge) for the "
        "AWS CLI, boto3 and any SDK, with the REST API beside it: an upload under raw/ starts "
        "the workflow as on AWS. Prints the export lines to use it; Ctrl-C or SIGTERM stops it "
        "cleanly (and saves --state-dir). Exit 2 when a port is taken.",
        epilog=UP_EXAMPLES,
        formatter_class=raw,
    )
    up.add_argument("--port", type=int, default=4566, help="AWS endpoint port (default 4566)")
    up.add_argument("--api-port", type=int, default=3000, help="REST API port (default 3000)")
    up.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)"
    )
    up.add_argument("--state-dir", type=Path, help="keep the state here: restored, saved on exit")
    up.add_argument("--data", type=Path, help="market data file to upload before serving")
    up.add_argument("--mock-config", type=Path, help="Step Functions Local MockConfigFile.json")
    up.add_argument(
        "--api-key", help="the accepted x-api-key (default: $STP_API_KEY, else a new random one)"
    )
    up.add_argument(
        "--no-throttle", action="store_true", help="ignore the usage plan's rate and burst limits"
    )
    up.add_argument("--verbose", action="store_true", help="log every request the endpoint serves")
    up.add_argument("--account", default="paper", help="account to register (default paper)")
    up.add_argument("--user", default="trader", help="user to create, granted it")
    up.add_argument(
        "--env-file", type=Path, help="also write the export lines here (`source` it elsewhere)"
    )

    executions = commands.add_parser(
        "executions",
        help="list executions, or show one (states, graph page, history)",
        description="List the Step Functions executions of an endpoint (stp up's, or AWS), or "
        "show one: each state with its status, duration, retries, error and cause, and a page "
        "with the state machine's graph coloured by outcome and the event history.",
        epilog=EXECUTIONS_EXAMPLES,
        formatter_class=raw,
    )
    executions.add_argument("action", choices=["list", "show"])
    executions.add_argument("execution", nargs="?", help="show: execution ARN or name (run id)")
    executions.add_argument("--state-machine", help="only this state machine's (ARN)")
    executions.add_argument(
        "--endpoint-url", help="Step Functions endpoint (default: $AWS_ENDPOINT_URL, else AWS)"
    )
    executions.add_argument(
        "--html", type=Path, help="show: page to write (default out/executions/<name>.html)"
    )
    executions.add_argument("--json", action="store_true", help="list: print JSON")

    test_workflow = commands.add_parser(
        "test-workflow",
        help="run Step Functions Local's mock-config test cases and check their paths",
        description="Run every test case of a Step Functions Local MockConfigFile.json on the "
        "local runtime (mocked states take their responses, the others run for real) and "
        "check each against the expected path, status, error and retries. Exit 1 when a case "
        "strays.",
        epilog=TEST_WORKFLOW_EXAMPLES,
        formatter_class=raw,
    )
    test_workflow.add_argument(
        "--mock-config",
        type=Path,
        help="MockConfigFile.json (default tests/workflow/MockConfigFile.json)",
    )
    test_workflow.add_argument(
        "--expect", type=Path, help="expected paths (default expected_paths.json beside it)"
    )
    test_workflow.add_argument("--case", help="run only this test case")
    test_workflow.add_argument("--json", action="store_true", help="print the results as JSON")

    strategies = commands.add_parser(
        "strategies",
        help="list the strategies (built-in and yours) with their parameters",
        description="List the built-in strategies, the user strategies of the project's "
        "strategies/ folder (or the folders in $STP_STRATEGIES) and of installed packages' "
        "trading.strategies entry points, each with its parameters. Exit 1 when a strategy "
        "file failed to load (named with its line on stderr).",
        epilog=STRATEGIES_EXAMPLES,
        formatter_class=raw,
    )
    strategies.add_argument("--json", action="store_true", help="print JSON")

    check = commands.add_parser(
        "check-strategy",
        help="check a strategy for look-ahead: do its decisions change once later bars exist?",
        description="Run the strategy on the whole history and on truncated ones (cut at "
        "evenly spaced bars, then bar by bar before the first change) and compare its "
        "decisions (signals, targets, weights, or the orders an event-driven strategy places) "
        "on every bar both runs saw. Exit 0 when none changed, 1 naming the first bar that "
        "did, 2 on bad input.",
        epilog="examples:\n  stp check-strategy sma_cross\n"
        "  stp check-strategy channel --data data/stocks.csv --param window=20 --symbol AAPL",
        formatter_class=raw,
    )
    check.add_argument("strategy", metavar="NAME", help="a strategy `stp strategies` lists")
    check.add_argument(
        "--data", type=Path, help="CSV or JSON Lines market data (default data/stocks.csv)"
    )
    check.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter"
    )
    check.add_argument(
        "--symbol", action="append", default=[], metavar="SYMBOL", help="only this symbol"
    )
    check.add_argument("--cuts", type=int, default=50, help="truncated histories (default 50)")
    check.add_argument(
        "--long-short", action="store_true", help="event-driven: run in long/short mode"
    )

    commands.add_parser(
        "validate",
        help="every template and workflow check: structure, least privilege, asl-validator, "
        "actionlint, checkov, cfn-lint, sam validate --lint",
        description="Lint the templates and the state machine and check they agree with the "
        "code. Exit 0 when valid, 1 on any finding.",
        epilog=_validate_help() + "\n\nexample:\n  stp validate",
        formatter_class=raw,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stp`` console script."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "executions":  # a client of an endpoint: no project needed
            from stp.executions import executions_command

            if args.action == "show" and not args.execution:
                raise UsageError("executions show: name the execution (ARN or run id)")
            return executions_command(
                args.action,
                execution=args.execution,
                state_machine=args.state_machine,
                endpoint_url=args.endpoint_url,
                html=args.html,
                as_json=args.json,
            )
        project = args.project.resolve() if args.project else find_project()
        use_project_strategies(project)
        if args.command == "strategies":
            from stp.strategies import strategies_command

            return strategies_command(as_json=args.json)
        if args.command == "check-strategy":
            from stp.check_strategy import check_strategy_command

            return check_strategy_command(
                project,
                args.strategy,
                data=args.data,
                params=args.param,
                symbols=args.symbol,
                cuts=args.cuts,
                long_short=args.long_short,
            )
        if args.command == "run":
            from stp.run import run_command

            return run_command(project, args, process_started())
        if args.command == "sweep":
            from stp.sweep import sweep_command

            return sweep_command(project, args)
        if args.command == "invoke":
            from stp.invoke import invoke_command

            return invoke_command(project, args.function, args.event, args.before)
        if args.command == "api":
            from stp.api import api_command

            return api_command(
                project,
                host=args.host,
                port=args.port,
                api_key=args.api_key,
                data=args.data,
                throttle=not args.no_throttle,
                account=args.account,
                user=args.user,
            )
        if args.command == "up":
            from stp.up import UpOptions, up_command

            return up_command(
                project,
                UpOptions(
                    host=args.host,
                    port=args.port,
                    api_port=args.api_port,
                    state_dir=args.state_dir,
                    data=args.data,
                    mock_config=args.mock_config,
                    api_key=args.api_key,
                    throttle=not args.no_throttle,
                    verbose=args.verbose,
                    env_file=args.env_file,
                    account=args.account,
                    user=args.user,
                ),
            )
        if args.command == "test-workflow":
            from stp.test_workflow import test_workflow_command

            return test_workflow_command(
                project,
                mock_config=args.mock_config,
                expectations=args.expect,
                case=args.case,
                as_json=args.json,
            )
        from stp.validate import validate_command

        return validate_command(project)
    except UsageError as error:
        print(f"stp: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def entry() -> NoReturn:
    """The console script: :func:`main`, then exit without tearing the interpreter down.

    The emulation loads thousands of modules; freeing them one by one at exit took about a
    second that the user waited for nothing. Exit handlers still run and output is flushed.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`stp run | head`)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
