"""``stp run``: deploy the template to the embedded emulation, upload the data as a user would,
let the deployed trigger start the workflow, show it state by state and collect the reports.

Whatever the outcome, what the run learnt reaches ``--out``: the execution history, the
function logs, and the rejected and repaired rows with their reasons. Bad input (a file that
is not market data, settings that select nothing) is one line and exit 2, naming local paths,
never the emulation's S3 keys.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from stp.cli import EXIT_FAILED, EXIT_USAGE, UsageError
from trading.core.marketdata import MarketDataError
from trading.core.marketdata.corporate_actions import (
    CorporateActionsError,
    parse_corporate_actions,
)
from trading.core.marketdata.reader import file_format
from trading.core.settings import SETTING_HELP, RunSettingsError, resolve_settings
from trading.core.strategies import StrategyConfigError, parse_param_pairs
from trading.errors import InvalidRunConfigError, MarketDataUnreadableError
from trading.service import keys
from trading.service.metadata import to_metadata

REJECTED_FILE = "rejected.jsonl"
REPAIRED_FILE = "repaired.jsonl"
HISTORY_FILE = "execution_history.json"
LOGS_FILE = "function_logs.txt"
INGEST_STATE = "ProcessMarketData"
# Errors of the ingestion step that mean the user's file or settings are at fault.
BAD_INPUT_ERRORS = frozenset({MarketDataUnreadableError.__name__, InvalidRunConfigError.__name__})
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


def chosen_settings(
    args: argparse.Namespace, corporate_actions: str | None = None
) -> dict[str, Any]:
    """The run settings given on the command line (validated), as setting name -> value;
    ``corporate_actions`` is the key ``--corporate-actions`` is uploaded to."""
    try:
        params = parse_param_pairs(args.param) if args.param else None
    except StrategyConfigError as error:
        raise UsageError(str(error)) from None
    chosen: dict[str, Any] = {}
    for name in SETTING_HELP:
        if name == "params":
            value: Any = params
        elif name == "symbol":
            value = ",".join(args.symbol) if args.symbol else None
        elif name == "corporate_actions":
            value = corporate_actions
        else:
            value = getattr(args, name)
        if value is not None:
            chosen[name] = value
    try:
        resolve_settings(chosen)
    except RunSettingsError as error:
        raise UsageError(str(error)) from None
    return chosen


def corporate_actions_file(path: Path | None) -> tuple[str, bytes] | None:
    """Where ``--corporate-actions`` goes in the market data bucket, and its bytes; checked
    here first, so a bad file is one line before anything is deployed."""
    if path is None:
        return None
    if not path.is_file():
        raise UsageError(f"--corporate-actions {path}: no such file")
    body = path.read_bytes()
    try:
        parse_corporate_actions(body, name=str(path))
    except CorporateActionsError as error:
        raise UsageError(str(error)) from None
    return keys.corporate_actions_key(hashlib.sha256(body).hexdigest()[:16], path.name), body


def prepare_out(out: Path) -> None:
    """Create ``out`` and check it takes files, before anything is deployed."""
    probe = out / f".stp-write-check-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write there ({error.strerror or error})") from None


def run_command(project: Path, args: argparse.Namespace, process_started: float) -> int:
    """Run the workflow on ``args.data``; 0 on success, 1 when the execution failed, 2 when
    the data or the settings were bad. ``process_started`` is when the process started, on
    the ``time.perf_counter`` clock (the wall time printed counts from it)."""
    data: Path = args.data
    if not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    try:
        file_format(data.name)
    except MarketDataError:
        raise UsageError(
            f"--data {data}: not a market data file name: name it .csv, .jsonl or .ndjson "
            "(optionally .gz)"
        ) from None
    actions = corporate_actions_file(args.corporate_actions)
    metadata = to_metadata(chosen_settings(args, None if actions is None else actions[0]))
    out: Path = args.out
    prepare_out(out)
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
        raw_key = f"raw/{data.name}"
        local_paths = {f"s3://{bucket}/{raw_key}": str(data)}
        if actions is not None:
            cloud.upload(bucket, actions[0], actions[1])  # outside raw/: it starts no run
            local_paths[f"s3://{bucket}/{actions[0]}"] = str(args.corporate_actions)
        executions = cloud.upload(bucket, raw_key, data.read_bytes(), metadata)
        if len(executions) != 1:
            print(f"stp: the upload started {len(executions)} executions, expected 1", file=log)
            return EXIT_FAILED
        arn = executions[0]
        run_id = arn.rsplit(":", 1)[-1]
        print(f"uploaded s3://{bucket}/{raw_key} -> execution {run_id}", file=log)
        print(f"  {'state':<22}{'status':<11}{'duration':>10}{'retries':>9}", file=log)
        for step in cloud.watch(arn):
            print(
                f"  {step.name:<22}{step.status:<11}{step.duration:>9.2f}s{step.retries:>9}",
                file=log,
            )
        outcome = cloud.wait(arn)
        finished = time.perf_counter()
        (out / HISTORY_FILE).write_text(json.dumps(cloud.history(arn), indent=2, default=str))
        (out / LOGS_FILE).write_text(
            "".join(f"{name}\t{line}\n" for name, line in cloud.function_logs())
        )
        handler_seconds = sum(seconds for _, seconds, _ in cloud.invocations())
        # Rows and their reasons reach --out whether the run succeeded or not.
        row_files = (
            (keys.rejected_key(run_id, raw_key), out / REJECTED_FILE),
            (keys.repaired_key(run_id, raw_key), out / REPAIRED_FILE),
        )
        for key, path in row_files:
            path.unlink(missing_ok=True)
            body = _read_if_exists(cloud, bucket, key)
            if body is not None:
                path.write_bytes(body)
                local_paths[f"s3://{bucket}/{key}"] = str(path)
        if outcome.status != "SUCCEEDED":
            message = _localised(_error_message(outcome.cause), local_paths)
            if outcome.failed_state == INGEST_STATE and outcome.error in BAD_INPUT_ERRORS:
                print(f"stp: error: {message}", file=sys.stderr)
                return EXIT_USAGE
            print(
                f"stp: execution {outcome.status}: state {outcome.failed_state}: "
                f"{outcome.error}: {message} (details in {out / LOGS_FILE})",
                file=sys.stderr,
            )
            return EXIT_FAILED
        reports_bucket = deployment.outputs["ReportsBucketName"]
        for name in keys.REPORT_FILES:  # copied to --out as they are
            body = cloud.read_object(reports_bucket, keys.report_key(run_id, name))
            (out / name).write_bytes(body)
        report = json.loads((out / keys.REPORT_JSON).read_text())
    print_row_notes(report.get("data", {}), out, log)
    if args.json:
        print(json.dumps(report, indent=2))
    print_headline(report, log)
    print_execution_path(report, log)
    print_warnings(report, sys.stderr)
    done = time.perf_counter()
    print(
        f"wall time {done - process_started:.2f} s (start-up {started - process_started:.2f} s, "
        f"deploy {deployed - started:.2f} s, workflow {finished - deployed:.2f} s of which "
        f"handlers {handler_seconds:.2f} s); files in {out}/",
        file=log,
    )
    return 0


def print_row_notes(data: dict[str, Any], out: Path, log: TextIO) -> None:
    """How many rows were rejected, repaired or left out of the run, and where they are."""
    accepted, rejected = data.get("bars_accepted", 0), data.get("bars_rejected", 0)
    total = accepted + rejected
    if rejected:
        print(
            f"  {rejected:,} of {total:,} rows rejected: each with its reasons in "
            f"{out / REJECTED_FILE}",
            file=log,
        )
    repaired = data.get("bars_repaired", 0)
    if repaired:
        print(
            f"  {repaired:,} of {total:,} rows repaired (float noise in high/low): each with "
            f"the change in {out / REPAIRED_FILE}",
            file=log,
        )
    applied = data.get("adjustments") or []
    skipped = data.get("adjustments_skipped") or []
    if applied or skipped:
        kinds = [item.get("action") for item in applied]
        symbols = {item.get("symbol") for item in applied}
        print(
            f"  corporate actions: {kinds.count('split')} split(s) and "
            f"{kinds.count('dividend')} cash dividend(s) of {len(symbols)} symbol(s) applied, "
            f"{data.get('bars_adjusted', 0):,} bars back-adjusted, {len(skipped)} not applied "
            f"(each in {out / keys.REPORT_JSON} data.adjustments)",
            file=log,
        )
    excluded = data.get("bars_excluded", 0)
    if excluded:
        print(
            f"  {excluded:,} of {accepted:,} valid bars outside the chosen symbols or period",
            file=log,
        )


def print_warnings(report: dict[str, Any], err: TextIO) -> None:
    """The report's ruin and warnings, one ``stp: warning:`` line each (the run succeeded:
    the exit status stays 0)."""
    ruin = report.get("ruin")
    if ruin:
        message = ruin.get("message") if isinstance(ruin, dict) else None
        print(f"stp: warning: {message or 'the account was ruined'}", file=err)
    for warning in report.get("warnings") or ():
        print(f"stp: warning: {warning}", file=err)


def print_execution_path(report: dict[str, Any], log: TextIO) -> None:
    """Which execution path ran the trades, and why the broker's when it did."""
    ran = report.get("execution_path")
    if not ran:
        return
    reason = f" ({ran['reason']})" if ran.get("reason") else ""
    print(f"  execution path: {ran['path']}{reason}", file=log)


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


def _read_if_exists(cloud: Any, bucket: str, key: str) -> bytes | None:
    from botocore.exceptions import ClientError

    try:
        body: bytes = cloud.read_object(bucket, key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise
    return body


def _error_message(cause: str | None) -> str:
    """The handler's message out of the cause (Lambda's error document, as JSON text)."""
    if not cause:
        return "no cause given"
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    message = document.get("errorMessage") if isinstance(document, dict) else None
    return message if isinstance(message, str) else cause


def _localised(message: str, local_paths: dict[str, str]) -> str:
    """``message`` with the emulation's S3 URIs replaced by the local files they came from or
    were copied to (the emulation is gone when the user reads it)."""
    for uri, path in sorted(local_paths.items(), key=lambda item: -len(item[0])):
        message = message.replace(uri, path)
    return message
