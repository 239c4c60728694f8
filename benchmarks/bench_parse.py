"""Market data parsing throughput and peak memory: parse_market_data on a 1M-row CSV.

Writes synthetic CSV files (minute bars of several symbols, sorted by symbol, like an export),
then times each parse in a fresh subprocess and reads that process's peak RSS (ru_maxrss).
The baseline, measured in the same run on the same file, is the least a pure-Python reader
does: ``csv.reader`` plus ``float()`` of the five numbers per row, no validation, no dates.
Goals (issue): >= 1,000,000 rows/s and <= 300 MB peak RSS for 1M rows.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROWS = 1_000_000
SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT")
GOAL_ROWS_PER_SECOND = 1_000_000
GOAL_PEAK_MB = 300
REPEATS = 3
MINUTE_NS = 60 * 1_000_000_000
START_NS = 1_577_957_400 * 1_000_000_000  # 2020-01-02T09:30:00Z

# Each measurement runs in a fresh interpreter so that ru_maxrss is that parse's own peak.
_PARSE = """
import json, resource, sys, time
from trading.core.marketdata import parse_market_data
start = time.perf_counter()
result = parse_market_data(sys.argv[1])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": result.rows_read, "kept": result.rows_kept,
                  "errors": len(result.errors),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
_BASELINE = """
import csv, json, resource, sys, time
start = time.perf_counter()
rows = 0
with open(sys.argv[1], newline="") as handle:
    reader = csv.reader(handle)
    next(reader)
    for row in reader:
        values = (float(row[2]), float(row[3]), float(row[4]), float(row[5]), float(row[6]))
        rows += 1
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": rows, "kept": rows, "errors": 0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_csv(path: Path, rows: int, *, bad_every: int = 0, seed: int = 7) -> None:
    """A random-walk minute-bar CSV of ``rows`` rows over :data:`SYMBOLS`, sorted by symbol.

    ``bad_every`` > 0 makes every n-th row invalid (a negative volume) to exercise the
    per-chunk fallback paths.
    """
    generator = random.Random(seed)
    per_symbol = rows // len(SYMBOLS)
    with path.open("w") as handle:
        handle.write("timestamp,symbol,open,high,low,close,volume\n")
        written = 0
        for index, symbol in enumerate(SYMBOLS):
            count = per_symbol if index < len(SYMBOLS) - 1 else rows - written
            price = 100.0
            lines = []
            for minute in range(count):
                open_ = price
                close = max(1.0, open_ + generator.gauss(0.0, 0.2))
                high = max(open_, close) + generator.random() * 0.1
                low = min(open_, close) - generator.random() * 0.1
                volume = generator.randint(100, 100_000)
                written += 1
                if bad_every and written % bad_every == 0:
                    volume = -volume
                seconds = (START_NS + minute * MINUTE_NS) // 1_000_000_000
                stamp = _iso(seconds)
                lines.append(
                    f"{stamp},{symbol},{open_:.4f},{high:.4f},{low:.4f},{close:.4f},{volume}\n"
                )
                price = close
            handle.writelines(lines)


def _iso(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    # Civil date from days since the epoch (H. Hinnant), to avoid datetime per row.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


def measure(script: str, path: Path) -> dict[str, float]:
    """Best time (and its peak RSS) of ``REPEATS`` fresh-process runs of ``script``."""
    runs = []
    for _ in range(REPEATS):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout))
    best: dict[str, float] = min(runs, key=lambda run: run["seconds"])
    best["peak_mb"] = max(run["peak_mb"] for run in runs)
    return best


def main() -> int:
    """Write the files, measure, print the figures; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        clean = Path(directory) / "bars.csv"
        dirty = Path(directory) / "bars_1pct_bad.csv"
        write_csv(clean, args.rows)
        write_csv(dirty, args.rows, bad_every=100)
        size_mb = clean.stat().st_size / 1e6
        print(f"file: {args.rows:,} rows, {len(SYMBOLS)} symbols, {size_mb:.0f} MB")
        baseline = measure(_BASELINE, clean)
        baseline_rate = baseline["rows"] / baseline["seconds"]
        print(
            f"baseline csv.reader + float(): {baseline_rate:>12,.0f} rows/s  "
            f"peak {baseline['peak_mb']:.0f} MB"
        )
        for label, path in (("clean", clean), ("1% bad rows", dirty)):
            run = measure(_PARSE, path)
            rate = run["rows"] / run["seconds"]
            print(
                f"parse_market_data ({label}): {rate:>12,.0f} rows/s  "
                f"peak {run['peak_mb']:.0f} MB  {rate / baseline_rate:.1f}x baseline  "
                f"kept {run['kept']:,.0f}  errors {run['errors']:,.0f}"
            )
            if label == "clean":
                failed = rate < GOAL_ROWS_PER_SECOND or run["peak_mb"] > GOAL_PEAK_MB
    verdict = "MISSED" if failed else "met"
    print(
        f"goals (clean file: >= {GOAL_ROWS_PER_SECOND:,} rows/s, <= {GOAL_PEAK_MB} MB): {verdict}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
