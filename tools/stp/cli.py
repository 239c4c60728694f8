"""The ``stp`` command line: run the workflow locally, invoke a function, validate, serve the API.

Bad input is one clear line on stderr and exit status 2; a failed workflow exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input; the message is shown as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), as the rest of the CLI."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def find_project(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding template.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder
    raise UsageError(f"no template.yaml in {here} or any parent; run stp inside the project")


def build_parser() -> _Parser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="stp", description=__doc__)
    parser.add_argument("--project", type=Path, help="project folder (default: found from cwd)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "run", help="run the trading workflow end to end on emulated AWS (no Docker, no account)"
    )
    run.add_argument("--data", type=Path, required=True, help="CSV or JSON Lines market data")
    run.add_argument("--symbol", help="symbol of a file without a symbol column")
    run.add_argument("--strategy", help="sma_cross (default), rsi_reversion or buy_and_hold")
    run.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter"
    )
    run.add_argument("--cash", help="initial cash (default 100000)")
    run.add_argument("--commission", help="commission rate of notional (default 0)")
    run.add_argument("--mode", help="long-only (default) or long-short")
    run.add_argument(
        "--cash-fraction", help="fraction of cash one entry uses (default 1; e.g. 0.25 for 4)"
    )
    run.add_argument("--out", type=Path, default=Path("out"), help="output folder (default ./out)")
    run.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    run.add_argument("--verbose", action="store_true", help="list the skipped resources")

    invoke = commands.add_parser("invoke", help="invoke one function like `sam local invoke`")
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
        "api", help="serve the API on 127.0.0.1 like API Gateway, over the emulation"
    )
    api.add_argument("--port", type=int, default=3000, help="TCP port (default 3000; 0: any)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument(
        "--api-key", help="the accepted x-api-key (default: $STP_API_KEY, else a new random one)"
    )
    api.add_argument("--data", type=Path, help="market data file to upload before serving")
    api.add_argument(
        "--no-throttle", action="store_true", help="ignore the usage plan's rate and burst limits"
    )

    up = commands.add_parser(
        "up",
        help="serve the platform as one local AWS endpoint (S3, DynamoDB, Step Functions...)",
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

    executions = commands.add_parser(
        "executions", help="list executions, or show one (states, graph page, history)"
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

    commands.add_parser("validate", help="cfn-lint, sam validate --lint and ASL checks")
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
        if args.command == "run":
            from stp.run import run_command

            return run_command(project, args)
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


if __name__ == "__main__":
    sys.exit(main())
