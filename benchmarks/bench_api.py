"""The API on the local server (`stp api`): handler-side latency and DynamoDB round trips of
``POST /orders`` and ``GET /portfolio`` (p50/p99 over 1,000 HTTP requests each).

Handler-side means the time inside the function (what the local runtime measures around the
handler); the client's round trip through the local gateway and Invoke API is shown beside it.
It includes moto answering in-process: moto copies a whole table for every item of a
``TransactWriteItems`` (its rollback), so the placement figure grows with the table; the first
100 requests (a small table) are shown apart. Round trips are counted with the runtime's
botocore request counter (``tools/stp/local/request_counter.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.api_client import ApiClient, served_api
from stp.local import LocalCloud

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 1000
KEY = "bench-api-key-0123456789"
Request = tuple[str, str, Any]  # method, path, JSON body


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, round(fraction * (len(ranked) - 1)))]


def measure(
    cloud: LocalCloud,
    api: ApiClient,
    label: str,
    requests: list[Request],
    status: int,
    after: Any = None,
) -> None:
    """Send each request over HTTP (then, untimed, ``after(answer)``); print handler and
    round-trip p50/p99 and the DynamoDB requests of each."""
    seconds: list[float] = []
    round_trips: list[float] = []
    dynamodb: Counter[str] = Counter()
    began = time.perf_counter()
    for number, (method, path, body) in enumerate(requests):
        cloud.reset_request_counts()
        sent = time.perf_counter()
        answered, answer = api.call(method, path, body)
        round_trips.append((time.perf_counter() - sent) * 1000)
        _, handler_seconds, _ = cloud.invocations()[-1]
        seconds.append(handler_seconds * 1000)
        for (service, operation), count in cloud.request_counts().items():
            if service == "dynamodb":
                dynamodb[operation] += count
        if answered != status:
            logs = "\n".join(line for _, line in cloud.function_logs()[-3:])
            raise SystemExit(f"{label} #{number}: {answered} {answer}\n{logs}")
        if after is not None:
            after(answer)
    wall = time.perf_counter() - began
    per_request = {op: n / len(requests) for op, n in sorted(dynamodb.items())}
    first = seconds[:100]  # a small table (see above)
    print(
        f"{label:<16} p50 {percentile(seconds, 0.5):6.2f} ms  p99 {percentile(seconds, 0.99):6.2f}"
        f" ms  mean {statistics.fmean(seconds):6.2f} ms  (first 100: p50 "
        f"{percentile(first, 0.5):6.2f} ms, p99 {percentile(first, 0.99):6.2f} ms; wall "
        f"{wall:5.1f} s incl. untimed)  DynamoDB/request {sum(per_request.values()):.2f} "
        f"{per_request}"
    )
    print(
        f"{'':<16} HTTP round trip p50 {percentile(round_trips, 0.5):6.2f} ms  p99 "
        f"{percentile(round_trips, 0.99):6.2f} ms (local gateway + Invoke API + handler)"
    )


def main(argv: list[str] | None = None) -> None:
    """Deploy, seed one bar, then time the two routes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per route")
    args = parser.parse_args(argv)
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        with served_api(cloud, deployment, KEY) as api:
            _time_routes(cloud, api, args.requests)


def _time_routes(cloud: LocalCloud, api: ApiClient, requests: int) -> None:
    """Seed one bar of AAPL (its quote), then time each route."""
    bar = {
        "symbol": "AAPL",
        "timestamp": "2024-01-02T00:00:00Z",
        "open": 10.0,
        "high": 11.0,
        "low": 9.0,
        "close": 10.0,
        "volume": 1e6,
    }
    _, started = api.call("POST", "/market-data", {"bars": [bar]})
    arn = started["execution_arn"]
    if not cloud.wait(arn, timeout=60).succeeded:
        raise SystemExit("seeding the quote failed")
    print(f"== API on the local server, {requests} HTTP requests each ==")
    orders: list[Request] = [
        (
            "POST",
            "/orders",
            {"symbol": "AAPL", "side": "buy", "quantity": 1, "client_order_id": f"bench-{n}"},
        )
        for n in range(requests)
    ]

    # Each order is cancelled (untimed) so the account stays under its open-order limit.
    def cancel(order: dict[str, Any]) -> None:
        api.call("DELETE", f"/orders/{order['order_id']}")

    measure(cloud, api, "POST /orders", orders, 201, after=cancel)
    measure(cloud, api, "GET /portfolio", [("GET", "/portfolio", None)] * requests, 200)


if __name__ == "__main__":
    main()
