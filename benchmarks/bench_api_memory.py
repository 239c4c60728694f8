"""`stp api` under a long stream of requests: does the server's memory stay bounded?

Starts ``stp api`` in a child process (its own interpreter, as a user runs it) and drives it
over HTTP in rounds: each round places ``--orders`` market orders, reads the portfolio and a
page of orders as often, and posts one bar (``POST /market-data``: the workflow runs in the
server and fills every order). After each round it prints the server's resident memory
(``VmRSS``) and, at the end, the growth per 1,000 requests over the second half (after the
warm-up: imports, the first workflow), which is what an unbounded holder shows.

What the server keeps on purpose grows with the data (the account's orders and fills, every
run's objects); the figure to watch is the growth per request beyond that.

``python -m benchmarks.bench_api_memory [--rounds 12] [--orders 100]``
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.api_client import TOKEN_LINE, ApiClient

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-memory-key-0123456789"
DAY0 = datetime(2024, 1, 2, tzinfo=UTC)


def bar(day: int) -> dict[str, Any]:
    """A daily AAPL bar ``day`` days after DAY0."""
    stamp = (DAY0 + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
    price = 100.0 + day % 7
    return {
        "symbol": "AAPL",
        "timestamp": stamp,
        "open": price,
        "high": price + 2,
        "low": price - 1,
        "close": price + 1,
        "volume": 1_000_000,
    }


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def signed_in(base_url: str, server: subprocess.Popen[str]) -> ApiClient:
    """A client with the token ``stp api`` prints once it serves (it signs its user in)."""
    assert server.stdout is not None
    deadline = time.monotonic() + 120
    for line in server.stdout:  # the server's output, line by line, until the token
        found = TOKEN_LINE.search(line)
        if found:
            client = ApiClient(base_url, KEY, found.group(1), timeout=300)
            if client.call("GET", "/health")[0] == 200:
                return client
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"stp api printed no access token (exit code {server.poll()})")


def one_round(api: ApiClient, day: int, orders: int) -> int:
    """Place ``orders`` orders, read the views as often, post the next bar; requests sent."""
    for _ in range(orders):
        status, _ = api.call("POST", "/orders", {"symbol": "AAPL", "side": "buy", "quantity": 1})
        assert status == 201, status
        assert api.call("GET", "/portfolio")[0] == 200
        assert api.call("GET", "/orders?status=new&limit=20")[0] == 200
    status, started = api.call("POST", "/market-data", {"bars": [bar(day)]})
    assert status == 202, (status, started)
    run_id = started["run_id"]
    for _ in range(600):  # the workflow runs in the server
        status, run = api.call("GET", f"/runs/{run_id}")
        if run.get("status") in ("SUCCEEDED", "FAILED"):
            assert run["status"] == "SUCCEEDED", run
            break
        time.sleep(0.1)
    return 3 * orders + 1


def measure(rounds: int, orders: int) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "stp.cli", "api", "--port", str(port), "--api-key", KEY]
    server = subprocess.Popen(
        [*command, "--no-throttle"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        api = signed_in(base_url, server)
        # What the server prints after the token is not read: let it go nowhere, not fill a pipe.
        threading.Thread(target=server.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        one_round(api, 0, 0)  # the symbol's first quote
        print(f"{'requests':>9} {'RSS MB':>8} {'seconds':>8}")
        sent, started = 1, time.monotonic()
        samples = [(sent, rss_mb(server.pid))]
        print(f"{sent:>9} {samples[-1][1]:>8.1f} {0.0:>8.1f}")
        for day in range(1, rounds + 1):
            sent += one_round(api, day, orders)
            samples.append((sent, rss_mb(server.pid)))
            print(f"{sent:>9} {samples[-1][1]:>8.1f} {time.monotonic() - started:>8.1f}")
        half = samples[len(samples) // 2]
        last = samples[-1]
        slope = (last[1] - half[1]) / max(1, last[0] - half[0]) * 1000
        print(f"growth over the second half: {slope:.2f} MB per 1,000 requests")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds of orders and a bar")
    parser.add_argument("--orders", type=int, default=100, help="orders placed per round")
    args = parser.parse_args()
    measure(args.rounds, args.orders)


if __name__ == "__main__":
    main()
