"""The API function on the local runtime: handler-side latency and DynamoDB round trips of
``POST /orders`` and ``GET /portfolio`` (p50/p99 over 1,000 requests each).

Handler-side means the time inside the function (what the local runtime measures around the
handler), not the emulator's transport. It includes moto answering in-process: moto copies a
whole table for every item of a ``TransactWriteItems`` (its rollback), so the placement figure
grows with the table; the first 100 requests (a small table) are shown apart. Round trips are
counted with the runtime's botocore request counter (``tools/stp/local/request_counter.py``).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from stp.local import LocalCloud

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 1000
BASE_EVENT = json.loads((ROOT / "events" / "api.health.json").read_text())


def event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A REST proxy event of ``method path`` with a JSON ``body``."""
    built = copy.deepcopy(BASE_EVENT)
    built.update(httpMethod=method, path=path, resource=path)
    if body is not None:
        built["body"] = json.dumps(body)
    return built


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, round(fraction * (len(ranked) - 1)))]


def measure(
    cloud: LocalCloud,
    label: str,
    requests: list[dict[str, Any]],
    status: int,
    after: Any = None,
) -> None:
    """Invoke the API with each request (then, untimed, ``after(answer)``); print handler
    p50/p99 and the DynamoDB requests of each."""
    seconds: list[float] = []
    dynamodb: Counter[str] = Counter()
    began = time.perf_counter()
    for number, request in enumerate(requests):
        cloud.reset_request_counts()
        payload = cloud.invoke("ApiFunction", request).payload
        _, handler_seconds, _ = cloud.invocations()[-1]
        seconds.append(handler_seconds * 1000)
        for (service, operation), count in cloud.request_counts().items():
            if service == "dynamodb":
                dynamodb[operation] += count
        if payload["statusCode"] != status:
            logs = "\n".join(line for _, line in cloud.function_logs()[-3:])
            raise SystemExit(
                f"{label} #{number}: {payload['statusCode']} {payload['body']}\n{logs}"
            )
        if after is not None:
            after(json.loads(payload["body"]))
    wall = time.perf_counter() - began
    per_request = {op: n / len(requests) for op, n in sorted(dynamodb.items())}
    first = seconds[:100]
    print(
        f"{label:<16} p50 {percentile(seconds, 0.5):6.2f} ms  p99 {percentile(seconds, 0.99):6.2f}"
        f" ms  mean {statistics.fmean(seconds):6.2f} ms  (first 100: p50 "
        f"{percentile(first, 0.5):6.2f} ms, p99 {percentile(first, 0.99):6.2f} ms; wall "
        f"{wall:5.1f} s incl. untimed)  DynamoDB/request {sum(per_request.values()):.2f} "
        f"{per_request}"
    )


def main() -> None:
    """Deploy, seed one bar, then time the two routes."""
    with LocalCloud() as cloud:
        cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        bar = {
            "symbol": "AAPL",
            "timestamp": "2024-01-02T00:00:00Z",
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.0,
            "volume": 1e6,
        }
        started = cloud.invoke("ApiFunction", event("POST", "/market-data", {"bars": [bar]}))
        arn = json.loads(started.payload["body"])["execution_arn"]
        if not cloud.wait(arn, timeout=60).succeeded:
            raise SystemExit("seeding the quote failed")
        print(f"== API on the local runtime, handler-side, {REQUESTS} requests each ==")
        orders = [
            event(
                "POST",
                "/orders",
                {"symbol": "AAPL", "side": "buy", "quantity": 1, "client_order_id": f"bench-{n}"},
            )
            for n in range(REQUESTS)
        ]

        # Each order is cancelled (untimed) so the account stays under its open-order limit.
        def cancel(order: dict[str, Any]) -> None:
            cloud.invoke("ApiFunction", event("DELETE", f"/orders/{order['order_id']}"))

        measure(cloud, "POST /orders", orders, 201, after=cancel)
        measure(cloud, "GET /portfolio", [event("GET", "/portfolio")] * REQUESTS, 200)


if __name__ == "__main__":
    main()
