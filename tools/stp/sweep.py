"""``stp sweep``: a parameter sweep (grid, random, walk-forward, universe) through the research
workflow's own ASL on the embedded emulation, with a progress line, the leaderboard and the
report in ``--out``, and what the same sweep would cost and take on AWS.

``--estimate`` plans the sweep, times a few of its backtests here and prints the AWS cost and
wall time without running it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from stp.cli import EXIT_FAILED, EXIT_USAGE, UsageError

LEADERBOARD_FILES = ("leaderboard.json", "leaderboard.csv", "report.html")
ESTIMATE_SAMPLE = 5  # backtests timed for --estimate
POLL_SECONDS = 0.25


def sweep_settings() -> tuple[str, ...]:
    """Run settings a sweep takes from the command line: a request's (its symbols are
    ``--symbols``). Imported when asked, so ``stp --help`` stays fast."""
    from trading.core.research.request import RUN_SETTING_KEYS

    return tuple(name for name in RUN_SETTING_KEYS if name != "symbol")


def add_sweep_arguments(sweep: argparse.ArgumentParser) -> None:
    """The options of ``stp sweep``."""
    from trading.core.research.objectives import OBJECTIVES
    from trading.core.settings import SETTING_HELP

    sweep.add_argument("--data", type=Path, required=True, help="CSV or JSON Lines market data")
    sweep.add_argument("--strategy", required=True, help="strategy name (see `stp run --help`)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=START:STOP:STEP|V1,V2,...",
        help="grid values of a parameter (repeatable; stop included)",
    )
    sweep.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH",
        help="random search: draw the parameter uniformly in [LOW, HIGH] (repeatable)",
    )
    sweep.add_argument("--samples", type=int, help="random search: parameter sets to draw")
    sweep.add_argument("--seed", type=int, help="random search: seed (same seed, same sets)")
    sweep.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a fixed parameter"
    )
    sweep.add_argument(
        "--objective", choices=sorted(OBJECTIVES), help="what ranks the results (sharpe)"
    )
    sweep.add_argument("--min-trades", type=int, help="results with fewer trades rank last")
    sweep.add_argument("--walk-forward", type=int, metavar="FOLDS", help="walk-forward folds")
    sweep.add_argument("--in-sample", type=float, help="walk-forward: in-sample share (0.7)")
    sweep.add_argument(
        "--anchored", action="store_true", help="walk-forward: in-sample grows from the start"
    )
    sweep.add_argument(
        "--universe", action="store_true", help="one run per symbol, plus the equal-weight mix"
    )
    sweep.add_argument(
        "--symbols", help="comma-separated symbols (default: every symbol of the data)"
    )
    sweep.add_argument("--max-concurrency", type=int, help="child executions at a time (40)")
    sweep.add_argument("--batch-size", type=int, help="backtests per child execution (10)")
    sweep.add_argument(
        "--tolerated-failure-percentage",
        type=float,
        help="share of items that may fail before the sweep fails (0)",
    )
    for name in sweep_settings():
        flag = "--" + name.replace("_", "-")
        if name == "trade_on_close":
            sweep.add_argument(flag, action="store_const", const=True, help=SETTING_HELP[name])
        else:
            sweep.add_argument(flag, metavar=name.split("_")[-1].upper(), help=SETTING_HELP[name])
    sweep.add_argument("--out", type=Path, default=Path("out/sweep"), help="output folder")
    sweep.add_argument(
        "--estimate", action="store_true", help="print the AWS cost and time, do not run"
    )
    sweep.add_argument("--json", action="store_true", help="print the leaderboard JSON")


def sweep_request(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep request of the command line (not yet validated)."""
    request: dict[str, Any] = {"strategy": args.strategy}
    grid = _pairs(args.grid, "--grid")
    if grid:
        request["grid"] = {
            name: spec if ":" in spec else [_number(v, f"--grid {name}") for v in spec.split(",")]
            for name, spec in grid.items()
        }
    ranges = _pairs(args.range, "--range")
    if ranges:
        request["ranges"] = ranges
        request["mode"] = "random"
    fixed = _pairs(args.param, "--param")
    if fixed:
        request["params"] = {
            name: _number(value, f"--param {name}") for name, value in fixed.items()
        }
    if args.walk_forward is not None:
        request["mode"] = "walk-forward"
        request["walk_forward"] = {
            "folds": args.walk_forward,
            "in_sample": 0.7 if args.in_sample is None else args.in_sample,
            "anchored": args.anchored,
        }
    if args.universe:
        if "mode" in request:
            raise UsageError("--universe cannot be combined with --walk-forward or --range")
        request["mode"] = "universe"
    if args.symbols:
        request["symbols"] = [s.strip() for s in args.symbols.split(",") if s.strip()]
    for field, name in (
        ("samples", "samples"),
        ("seed", "seed"),
        ("objective", "objective"),
        ("min_trades", "min_trades"),
        ("max_concurrency", "max_concurrency"),
        ("batch_size", "batch_size"),
        ("tolerated_failure_percentage", "tolerated_failure_percentage"),
    ):
        value = getattr(args, field)
        if value is not None:
            request[name] = value
    settings = {
        name: getattr(args, name) for name in sweep_settings() if getattr(args, name) is not None
    }
    if settings:
        request["settings"] = settings
    return request


def _pairs(pairs: list[str], flag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"{flag} {pair!r}: write NAME=VALUE")
        values[name.strip()] = value.strip()
    return values


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{where}: {text!r} is not a number") from None


def sweep_command(project: Path, args: argparse.Namespace) -> int:
    """Run (or estimate) the sweep; 0 on success, 1 when the workflow failed, 2 on bad input."""
    from trading.core.research.plan import PlanError
    from trading.core.research.request import SweepRequestError, parse_sweep_request

    data: Path = args.data
    if not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    raw = sweep_request(args)
    try:
        request = parse_sweep_request(raw)
    except SweepRequestError as error:
        raise UsageError(str(error)) from None
    log: TextIO = sys.stderr if args.json else sys.stdout
    try:
        items = _local_plan(request, data)
    except (PlanError, ValueError) as error:
        raise UsageError(str(error)) from None
    if args.estimate:
        return _print_estimate(project, request, items, data, log)
    out: Path = args.out
    from stp.run import prepare_out

    prepare_out(out)
    return _run_sweep(project, raw, request, items, data, out, log, args.json)


def _local_plan(request: Any, data: Path) -> list[dict[str, Any]]:
    """The sweep's items, planned here as PlanSweep will (for the estimate and the count)."""
    import numpy as np

    from trading.core.marketdata.reader import parse_market_data
    from trading.core.research.plan import plan_items

    series = parse_market_data(data).series
    if not series:
        raise UsageError(f"--data {data}: no valid bar")
    missing = [s for s in request.symbols if s not in series]
    if missing:
        raise UsageError(
            f"--symbols: {', '.join(missing)} not in {data} (it has {', '.join(sorted(series))})"
        )
    chosen = [series[s] for s in (request.symbols or sorted(series))]
    timeline = np.unique(np.concatenate([bars.ts for bars in chosen]))
    return plan_items(request, timeline=timeline, data_symbols=sorted(series))


def _print_estimate(
    project: Path, request: Any, items: list[dict[str, Any]], data: Path, log: TextIO
) -> int:
    from trading.core.marketdata.reader import parse_market_data
    from trading.core.research.evaluate import evaluate_batch

    series = parse_market_data(data).series
    sample = items[:: max(1, len(items) // ESTIMATE_SAMPLE)][:ESTIMATE_SAMPLE]
    started = time.perf_counter()
    evaluate_batch(series, request.to_dict(), sample)
    per_backtest = (time.perf_counter() - started) / len(sample)
    estimate = _estimate(project, request, items, per_backtest)
    print(
        f"{len(items):,} backtests planned; {per_backtest * 1000:.1f} ms each measured here "
        f"on {len(sample)}",
        file=log,
    )
    for line in estimate.lines():
        print(line, file=log)
    return 0


def _estimate(project: Path, request: Any, items: list[dict[str, Any]], per_backtest: float) -> Any:
    from stp.cfn_yaml import load_template
    from stp.cost import estimate_sweep, function_memory
    from trading.core.research.evaluate import needs_curve

    document = request.to_dict()
    return estimate_sweep(
        items=len(items),
        batch_size=request.batch_size,
        max_concurrency=request.max_concurrency,
        seconds_per_backtest=per_backtest,
        memory_mb=function_memory(load_template(project / "template.yaml")),
        curves=sum(1 for item in items if needs_curve(document, item)),
    )


def _run_sweep(
    project: Path,
    raw: dict[str, Any],
    request: Any,
    items: list[dict[str, Any]],
    data: Path,
    out: Path,
    log: TextIO,
    as_json: bool,
) -> int:
    from stp.local import LocalCloud
    from stp.local.aws_clients import internal_client

    sweep_id = f"sweep-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    with LocalCloud() as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        deployed = time.perf_counter()
        print(f"deployed {deployment.stack_name} in {deployed - started:.2f} s", file=log)
        bucket = deployment.outputs["MarketDataBucketName"]
        key = f"research/{sweep_id}/{data.name}"
        cloud.seed_object(bucket, key, data.read_bytes())
        stepfunctions = internal_client("stepfunctions", cloud.region)
        arn = stepfunctions.start_execution(
            stateMachineArn=deployment.outputs["ResearchStateMachineArn"],
            name=sweep_id,
            input=json.dumps({"request": raw, "data": {"bucket": bucket, "key": key}}),
        )["executionArn"]
        print(
            f"sweep {sweep_id}: {len(items):,} backtests in batches of {request.batch_size}, "
            f"at most {request.max_concurrency} at a time",
            file=log,
        )
        _show_progress(stepfunctions, arn, len(items), log)
        outcome = cloud.wait(arn)
        finished = time.perf_counter()
        if outcome.status != "SUCCEEDED":
            from stp.run import _error_message

            print(
                f"stp: sweep {outcome.status}: state {outcome.failed_state}: {outcome.error}: "
                f"{_error_message(outcome.cause)}",
                file=sys.stderr,
            )
            bad_input = outcome.failed_state == "PlanSweep" and outcome.error == "InvalidSweepError"
            return EXIT_USAGE if bad_input else EXIT_FAILED
        keys = outcome.output["leaderboard"]["keys"]
        reports = deployment.outputs["ReportsBucketName"]
        for name, key_name in zip(
            LEADERBOARD_FILES, ("leaderboard_json", "leaderboard_csv", "report_html"), strict=True
        ):
            (out / name).write_bytes(cloud.read_object(reports, keys[key_name]))
        handler_seconds = sum(seconds for _, seconds, _ in cloud.invocations())
    document = json.loads((out / "leaderboard.json").read_text())
    if as_json:
        print(json.dumps(document, indent=2))
    _print_best(document, log)
    per_backtest = document["seconds"] / max(1, document["succeeded"])
    for line in _estimate(project, request, items, per_backtest).lines():
        print(line, file=log)
    print(
        f"wall time {finished - started:.2f} s (deploy {deployed - started:.2f} s, sweep "
        f"{finished - deployed:.2f} s of which handlers {handler_seconds:.2f} s, backtests "
        f"{document['seconds']:.2f} s); files in {out}/",
        file=log,
    )
    return 0


def _show_progress(stepfunctions: Any, arn: str, total: int, log: TextIO) -> None:
    """One line, rewritten: items done of total, failed, and the ETA, from the map run."""
    started = time.perf_counter()
    while True:
        status = stepfunctions.describe_execution(executionArn=arn)["status"]
        runs = stepfunctions.list_map_runs(executionArn=arn).get("mapRuns", [])
        if runs:
            counts = stepfunctions.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
            done = counts["succeeded"] + counts["failed"]
            elapsed = time.perf_counter() - started
            eta = f"{elapsed / done * (total - done):.0f} s" if done else "—"
            line = f"\r  {done:,}/{total:,} items done, {counts['failed']:,} failed, ETA {eta}   "
            print(line, end="", file=log, flush=True)
        if status != "RUNNING":
            print(file=log)
            return
        time.sleep(POLL_SECONDS)


def _print_best(document: dict[str, Any], log: TextIO) -> None:
    best = document.get("best")
    print(
        f"  {document['succeeded']:,} of {document['items']:,} backtests succeeded, "
        f"{document['failed']:,} failed; objective {document['objective']}",
        file=log,
    )
    if best is None:
        print("  no result met the objective's conditions", file=log)
        return
    params = ", ".join(f"{name}={value:g}" for name, value in sorted(best["params"].items()))
    if best.get("symbols"):
        params = f"{' '.join(best['symbols'])} {params or 'defaults'}"
    metrics = best["metrics"]
    print(
        f"  best: {params or 'defaults'}: {document['objective']} {best['score']:.4f}, total "
        f"return {_pct(metrics.get('total_return'))}, max drawdown "
        f"{_pct(metrics.get('max_drawdown'))}, {metrics.get('trades')} trades",
        file=log,
    )
    walk_forward = document.get("walk_forward")
    if walk_forward:
        stitched = (walk_forward.get("stitched") or {}).get("metrics") or {}
        efficiency = walk_forward.get("efficiency")
        print(
            f"  walk-forward efficiency {'—' if efficiency is None else f'{efficiency:.3f}'}; "
            f"stitched out-of-sample total return {_pct(stitched.get('total_return'))}",
            file=log,
        )
    universe = document.get("universe")
    if universe and universe.get("portfolio"):
        metrics = universe["portfolio"]["metrics"]
        print(
            f"  equal-weight portfolio of {len(universe['per_symbol'])} symbols: total return "
            f"{_pct(metrics.get('total_return'))}, Sharpe {_num(metrics.get('sharpe'))}",
            file=log,
        )


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value:.2%}"
