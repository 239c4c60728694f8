"""The workflow on the local runtime: `stp run` wall time on the bundled data and AWS requests.

Prints what a user waits for `make demo`'s command (``stp run`` as a new process, from the
spawn to its exit: interpreter start-up and imports included; median of 3), then the wall
time of a run on data/stocks.csv (about 8.5 years of daily bars x 4 symbols; goal < 10 s)
split into deploy, emulator and handler time, and the AWS requests the handlers made per run,
per step and per order, counted with a botocore event hook (goal <= 2 DynamoDB round trips per
order).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from stp.local import LocalCloud
from trading.service.metadata import to_metadata

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "stocks.csv"
DEMO = (
    "run",
    "--data",
    "data/stocks.csv",
    "--corporate-actions",
    "data/corporate_actions.csv",
    "--cash-fraction",
    "0.25",
)
"""``make demo``'s ``stp run`` arguments."""
CLI_RUNS = 3


def cli_wall_times() -> None:
    """``stp run`` as a user runs it: spawn to exit, against the wall time it prints, and
    the CPU time it used (user + system: what it waits on an otherwise idle machine, as it
    runs on one core; on a busy one the wall time grows with the load)."""
    stp = Path(sys.executable).parent / "stp"
    waited, printed, cpu = [], [], []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(CLI_RUNS):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            done = subprocess.run(
                [str(stp), *DEMO, "--out", out], cwd=ROOT, capture_output=True, text=True
            )
            waited.append(time.perf_counter() - began)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if done.returncode:
                raise SystemExit(f"stp run failed: {done.stderr.strip()}")
            line = next(x for x in done.stdout.splitlines() if x.startswith("wall time"))
            printed.append(line)
            print(f"  {line}")
    seconds = [float(re.findall(r"[0-9.]+", line)[0]) for line in printed]
    print(
        f"stp run (make demo), spawn to exit, median of {CLI_RUNS}: "
        f"{statistics.median(waited):.2f} s; the wall time it prints: "
        f"{statistics.median(seconds):.2f} s; CPU time {statistics.median(cpu):.2f} s "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def main() -> None:
    """Time ``make demo``'s command; run the workflow once cold and once warm; print."""
    print("== stp run as a user waits for it ==")
    cli_wall_times()
    started = time.perf_counter()
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        deployed = time.perf_counter()
        bucket = deployment.outputs["MarketDataBucketName"]
        print("== workflow on the local runtime, data/stocks.csv (8,592 bars, 4 symbols) ==")
        print(f"deploy (4 stacks)         {deployed - started:7.2f} s")
        for label, settings in (
            ("cold (first run)", {"cash_fraction": 0.25}),
            ("warm (second run)", {"cash_fraction": 0.25}),
            ("live step, few orders", {"account": "bench-live", "params": {"fast": 2, "slow": 3}}),
        ):
            body = DATA.read_bytes() if "account" not in settings else _last_bars(12)
            cloud.reset_request_counts()
            calls_before = len(cloud.invocations())
            began = time.perf_counter()
            (arn,) = cloud.upload(
                bucket, f"raw/{label.split()[0]}.csv", body, to_metadata(settings)
            )
            outcome = cloud.wait(arn, timeout=300)
            wall = time.perf_counter() - began
            if not outcome.succeeded:
                raise SystemExit(
                    f"{label}: {outcome.failed_state}: {outcome.error}: {outcome.cause}"
                )
            handler = sum(s for _, s, _ in cloud.invocations()[calls_before:])
            counts = cloud.request_counts()
            execution = outcome.output.get("execution") or {}
            orders = int(execution.get("orders_placed", 0))
            print(
                f"{label:<26}{wall:7.2f} s  (handlers {handler:.2f} s, emulator "
                f"{wall - handler:.2f} s)  orders={orders}"
            )
            _print_counts(counts, orders)
    total = time.perf_counter() - started
    print(f"whole benchmark {total:.2f} s (goal for one `stp run` incl. deploy: < 10 s)")


def _last_bars(days: int) -> bytes:
    """A small live upload: the header and the last ``days`` rows of each symbol."""
    lines = DATA.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    by_symbol: dict[str, list[str]] = {}
    for row in rows:
        by_symbol.setdefault(row.split(",")[1], []).append(row)
    chosen = [r for symbol in sorted(by_symbol)[:1] for r in by_symbol[symbol][-days:]]
    return ("\n".join([header, *chosen]) + "\n").encode()


def _print_counts(counts: Counter[tuple[str, str]], orders: int) -> None:
    per_service: Counter[str] = Counter()
    for (service, _), n in counts.items():
        per_service[service] += n
    detail = ", ".join(f"{op} {n}" for (svc, op), n in sorted(counts.items()) if svc == "dynamodb")
    print(f"    AWS requests: {dict(per_service)}")
    print(f"    DynamoDB: {detail}")
    if orders:
        ratio = per_service["dynamodb"] / orders
        print(f"    DynamoDB round trips per order (whole run): {ratio:.2f}")


if __name__ == "__main__":
    main()
