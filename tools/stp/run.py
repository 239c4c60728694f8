"""``stp run``: deploy the template to the embedded emulation, upload the data as a user would,
let the deployed trigger start the workflow, show it state by state and collect the reports."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from stp.cli import EXIT_FAILED, UsageError
from trading.core.settings import RunSettingsError, resolve_settings
from trading.core.strategies import StrategyConfigError, parse_param_pairs
from trading.service import keys
from trading.service.metadata import to_metadata

REJECTED_FILE = "rejected.jsonl"
HEADLINE = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("trades", "Trades", "int"),
    ("stop_first_trades", "Stop-first", "int"),  # trades decided by stop-loss-first
    ("win_rate", "Win rate", "pct"),
    ("final_equity", "Final equity", "money"),
)


def chosen_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run settings given on the command line (validated), as setting name -> value."""
    try:
        params = parse_param_pairs(args.param) if args.param else None
    except StrategyConfigError as error:
        raise UsageError(str(error)) from None
    chosen = {
        "strategy": args.strategy,
        "params": params,
        "cash": args.cash,
        "commission": args.commission,
        "mode": args.mode,
        "cash_fraction": args.cash_fraction,
        "symbol": args.symbol,
    }
    chosen = {name: value for name, value in chosen.items() if value is not None}
    try:
        resolve_settings(None, chosen)
    except RunSettingsError as error:
        raise UsageError(str(error)) from None
    return chosen


def run_command(project: Path, args: argparse.Namespace) -> int:
    """Run the workflow on ``args.data``; 0 on success, 1 when the execution failed."""
    data: Path = args.data
    if not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    metadata = to_metadata(chosen_settings(args))
    log: TextIO = sys.stderr if args.json else sys.stdout
    from stp.local import LocalCloud

    started = time.perf_counter()
    with LocalCloud() as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        deployed = time.perf_counter()
        print(f"deployed {deployment.stack_name} in {deployed - started:.2f} s", file=log)
        if deployment.skipped:
            print(
                f"  {len(deployment.skipped)} resources the emulation lacks were skipped "
                "(alarms, policies, API keys...; `stp run --verbose` lists them)",
                file=log,
            )
            if args.verbose:
                for warning in deployment.skipped:
                    print(f"  skipped: {warning}", file=log)
        bucket = deployment.outputs["MarketDataBucketName"]
        executions = cloud.upload(bucket, f"raw/{data.name}", data.read_bytes(), metadata)
        if len(executions) != 1:
            print(f"stp: the upload started {len(executions)} executions, expected 1", file=log)
            return EXIT_FAILED
        arn = executions[0]
        print(
            f"uploaded s3://{bucket}/raw/{data.name} -> execution {arn.rsplit(':', 1)[-1]}",
            file=log,
        )
        print(f"  {'state':<22}{'status':<11}{'duration':>10}{'retries':>9}", file=log)
        for step in cloud.watch(arn):
            print(
                f"  {step.name:<22}{step.status:<11}{step.duration:>9.2f}s{step.retries:>9}",
                file=log,
            )
        outcome = cloud.wait(arn)
        finished = time.perf_counter()
        history = cloud.history(arn)
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        (out / "execution_history.json").write_text(json.dumps(history, indent=2, default=str))
        (out / "function_logs.txt").write_text(
            "".join(f"{name}\t{line}\n" for name, line in cloud.function_logs())
        )
        handler_seconds = sum(seconds for _, seconds, _ in cloud.invocations())
        if outcome.status != "SUCCEEDED":
            print(
                f"stp: execution {outcome.status}: state {outcome.failed_state}: "
                f"{outcome.error}: {outcome.cause}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        reports_bucket = deployment.outputs["ReportsBucketName"]
        run_id = arn.rsplit(":", 1)[-1]
        for name in keys.REPORT_FILES:  # copied to --out as they are
            body = cloud.read_object(reports_bucket, keys.report_key(run_id, name))
            (out / name).write_bytes(body)
        report = json.loads((out / keys.REPORT_JSON).read_text())
        ingested = report.get("data", {})
        rejected = out / REJECTED_FILE
        rejected.unlink(missing_ok=True)
        if ingested.get("rejected_key"):
            rejected.write_bytes(cloud.read_object(bucket, ingested["rejected_key"]))
            total = ingested["bars_accepted"] + ingested["bars_rejected"]
            print(
                f"  {ingested['bars_rejected']:,} of {total:,} rows rejected: each with its "
                f"reasons in {rejected}",
                file=log,
            )
    if args.json:
        print(json.dumps(report, indent=2))
    print_headline(report, log)
    print(
        f"wall time {finished - started:.2f} s (deploy {deployed - started:.2f} s, workflow "
        f"{finished - deployed:.2f} s of which handlers {handler_seconds:.2f} s); files in {out}/",
        file=log,
    )
    return 0


def print_headline(report: dict[str, Any], log: TextIO) -> None:
    """The headline metrics as an aligned table."""
    metrics = report.get("metrics", {})
    for key, label, kind in HEADLINE:
        value = metrics.get(key)
        if value is None:
            text = "—"
        elif kind == "pct":
            text = f"{value:.2%}"
        elif kind == "int":
            text = f"{int(value):,}"
        elif kind == "money":
            text = f"{value:,.2f}"
        else:
            text = f"{value:.3f}"
        print(f"  {label:<14}{text:>16}", file=log)
