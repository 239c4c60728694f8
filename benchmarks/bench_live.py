"""Live paper trading under order flow: does a run make progress, and at what cost?

The handlers run in this process on emulated AWS (moto, one DynamoDB request at a time as
DynamoDB isolates them): a thread places market orders of one share through the API
function at ``--rate`` per second while ``--runs`` runs post one bar each, one after the
other, on an account that carries ``--open`` resting limit orders. Each run is
ProcessMarketData then ExecuteTrades, retried as the state machine retries it (the
``TransientStoreError`` policy of ``statemachine/trading_workflow.asl.json``: same attempts,
backoff and full jitter). Printed per run: whether it succeeded, ExecuteTrades' attempts,
its last attempt's duration and its fills; the baseline is the same runs with no placements.

Then the round trips of a quiet account: the DynamoDB requests of one ``POST /orders``, one
``DELETE /orders/{id}``, and one run (both steps) filling ``--quiet-orders`` orders.

``python -m benchmarks.bench_live`` (``--help`` for the knobs).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
SYMBOL = "AAPL"
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "MARKET_DATA_BUCKET": "bench-market-data",
    "REPORTS_BUCKET": "bench-reports",
    "RUNS_TABLE": "runs",
    "PORTFOLIO_TABLE": "portfolio",
    "QUOTES_TABLE": "quotes",
    "TRADING_ACCOUNT_ID": "paper",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "ServerlessTradingPlatform",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "LOG_LEVEL": "ERROR",
}
TABLES = {"RunsTable": "runs", "PortfolioTable": "portfolio", "QuotesTable": "quotes"}


@dataclass
class Context:
    """What Powertools reads of a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id: str = "bench"


@dataclass(frozen=True)
class RetryPolicy:
    """The state machine's retry of ExecuteTrades on TransientStoreError."""

    interval: float
    backoff: float
    attempts: int

    @classmethod
    def from_asl(cls) -> RetryPolicy:
        """Read from the workflow definition (the one place it is written)."""
        definition = json.loads((ROOT / "statemachine" / "trading_workflow.asl.json").read_text())
        for retry in definition["States"]["ExecuteTrades"]["Retry"]:
            if "TransientStoreError" in retry["ErrorEquals"]:
                return cls(retry["IntervalSeconds"], retry["BackoffRate"], retry["MaxAttempts"])
        raise LookupError("no TransientStoreError retry on ExecuteTrades")

    def delay(self, retry: int) -> float:
        """Full jitter before retry number ``retry`` (0-based)."""
        return random.uniform(0, self.interval * self.backoff**retry)


@contextmanager
def emulated_aws() -> Iterator[Any]:
    """Buckets, tables (from the storage template) and a workflow that never executes."""
    from tests.integration.test_adapters import create_tables

    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            for bucket in (ENVIRONMENT["MARKET_DATA_BUCKET"], ENVIRONMENT["REPORTS_BUCKET"]):
                s3.create_bucket(Bucket=bucket)
            create_tables(boto3.client("dynamodb", region_name=REGION), TABLES)
            machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name="workflow",
                definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
                roleArn="arn:aws:iam::123456789012:role/workflow",
            )
            os.environ["STATE_MACHINE_ARN"] = machine["stateMachineArn"]
            yield machine["stateMachineArn"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Handlers:
    """The API, ProcessMarketData and ExecuteTrades handlers, and a DynamoDB request counter."""

    def __init__(self) -> None:
        from handlers import api, execute_trades, process_market_data
        from stp.local.moto_patches import isolate_dynamodb_requests
        from trading.bootstrap import get_api_platform, get_platform, reset_platform
        from trading.service.admin import create_account

        isolate_dynamodb_requests()
        reset_platform()
        self.api = api
        self.execute_trades = execute_trades
        self.process_market_data = process_market_data
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        # A request of the sample events' caller (its Cognito authorizer claims), who owns the
        # account, as an admin would have registered it.
        self._template = json.loads((ROOT / "events" / "api.place_order.json").read_text())
        self._template["body"] = None
        owner = self._template["requestContext"]["authorizer"]["claims"]["sub"]
        registry = get_api_platform().registry
        create_account(
            ENVIRONMENT["TRADING_ACCOUNT_ID"], owner=owner, settings=None, registry=registry
        )
        get_platform().dynamodb.meta.events.register_first("before-send.dynamodb", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.requests[event_name.rsplit(".", 1)[1]] += 1

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One API request, as API Gateway would send it."""
        event = copy.deepcopy(self._template)
        event.update(httpMethod=method, path=path, resource=path)
        event["requestContext"]["httpMethod"] = method
        if body is not None:
            event["body"] = json.dumps(body)
            event["headers"]["Content-Type"] = "application/json"
            event["multiValueHeaders"]["Content-Type"] = ["application/json"]
        response = self.api.lambda_handler(event, Context("Api"))
        return response["statusCode"], json.loads(response["body"] or "null")


@dataclass(frozen=True)
class RunFigures:
    """One market data run."""

    succeeded: bool
    attempts: int
    last_attempt: float  # seconds
    fills: int


def run_bar(handlers: Handlers, machine: str, day: int, policy: RetryPolicy) -> RunFigures:
    """Post one bar and run its two steps, retrying ExecuteTrades as the workflow does."""
    from trading.errors import TransientStoreError

    bar = {
        "symbol": SYMBOL,
        "timestamp": f"2024-03-{day:02d}T21:00:00Z",
        "open": 100.0,
        "high": 102.0,
        "low": 99.0,
        "close": 101.0,
        "volume": 1e9,
    }
    status, started = handlers.request("POST", "/market-data", {"bars": [bar]})
    if status != 202:
        raise SystemExit(f"POST /market-data: {status} {started}")
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    described = stepfunctions.describe_execution(executionArn=started["execution_arn"])
    start = {"run_id": started["run_id"], "input": json.loads(described["input"])}
    market_data = handlers.process_market_data.handler(start, Context("ProcessMarketData"))
    event = {"run_id": started["run_id"], "market_data": market_data}
    for attempt in range(policy.attempts + 1):
        began = time.perf_counter()
        try:
            summary = handlers.execute_trades.handler(event, Context("ExecuteTrades"))
        except TransientStoreError:
            if attempt == policy.attempts:
                return RunFigures(False, attempt + 1, time.perf_counter() - began, 0)
            time.sleep(policy.delay(attempt))
            continue
        return RunFigures(True, attempt + 1, time.perf_counter() - began, int(summary["fills"]))
    raise AssertionError("unreachable")


@dataclass
class Placements:
    """A thread placing market orders of one share at a fixed rate."""

    handlers: Handlers
    rate: float
    answers: Counter[int] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    seconds: list[float] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _began: float = 0.0
    _ended: float = 0.0

    def start(self) -> None:
        """Place in the background until :meth:`finish`."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def finish(self) -> float:
        """Stop; the placements per second achieved."""
        self.stop.set()
        assert self._thread is not None
        self._thread.join()
        return sum(self.answers.values()) / max(self._ended - self._began, 1e-9)

    def _run(self) -> None:
        self._began = due = time.perf_counter()
        while not self.stop.is_set():
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            due = max(due + 1.0 / self.rate, time.perf_counter() - 1.0)
            sent = time.perf_counter()
            status, _ = self.handlers.request(
                "POST", "/orders", {"symbol": SYMBOL, "side": "buy", "quantity": 1}
            )
            self.seconds.append(time.perf_counter() - sent)
            self.answers[status] += 1
        self._ended = time.perf_counter()


def show(counts: Counter[str], per: int = 1) -> str:
    """``total (operation count, ...)``, divided by ``per``."""
    detail = ", ".join(f"{op} {n / per:g}" for op, n in sorted(counts.items()))
    return f"{sum(counts.values()) / per:.2f} ({detail})"


def main(argv: list[str] | None = None) -> None:
    """Seed, measure the round trips, then the runs without and with order flow."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="placements per second")
    parser.add_argument("--runs", type=int, default=8, help="runs per phase")
    parser.add_argument("--open", type=int, default=50, help="resting limit orders")
    parser.add_argument("--quiet-orders", type=int, default=20, help="orders of the quiet run")
    args = parser.parse_args(argv)
    policy = RetryPolicy.from_asl()

    with emulated_aws() as machine:
        handlers = Handlers()
        day = 1
        run_bar(handlers, machine, day, policy)  # the symbol's first quote

        print("== round trips on a quiet account (DynamoDB requests) ==")
        handlers.requests.clear()
        status, placed = handlers.request(
            "POST", "/orders", {"symbol": SYMBOL, "side": "buy", "quantity": 1}
        )
        assert status == 201, placed
        print(f"POST /orders           {show(handlers.requests)}")
        handlers.requests.clear()
        status, _ = handlers.request("DELETE", f"/orders/{placed['order_id']}")
        assert status == 200
        print(f"DELETE /orders/{{id}}    {show(handlers.requests)}")
        for _ in range(args.quiet_orders):
            handlers.request("POST", "/orders", {"symbol": SYMBOL, "side": "buy", "quantity": 1})
        handlers.requests.clear()
        day += 1
        quiet = run_bar(handlers, machine, day, policy)
        assert quiet.succeeded and quiet.fills == args.quiet_orders, quiet
        print(
            f"a run filling {args.quiet_orders} orders {show(handlers.requests)}; per order "
            f"{sum(handlers.requests.values()) / args.quiet_orders:.2f}"
        )

        for _ in range(args.open):  # far below the market: they rest and never fill
            status, answer = handlers.request(
                "POST",
                "/orders",
                {"symbol": SYMBOL, "side": "buy", "quantity": 1, "type": "limit", "limit_price": 1},
            )
            if status != 201:
                raise SystemExit(f"a resting order: {status} {answer}")

        for rate in (0.0, args.rate):
            placements = Placements(handlers, rate) if rate else None
            if placements is not None:
                placements.start()
                time.sleep(1.0)  # the flow is steady before the first run
            figures = []
            for _ in range(args.runs):
                day += 1
                figures.append(run_bar(handlers, machine, day, policy))
            label = f"{rate:g} placements/s" if rate else "no placements (baseline)"
            print(f"== {args.runs} runs, {args.open} resting orders, {label} ==")
            for number, run in enumerate(figures, 1):
                print(
                    f"  run {number}: {'SUCCEEDED' if run.succeeded else 'FAILED   '} "
                    f"attempts {run.attempts}  last attempt {run.last_attempt * 1000:5.0f} ms  "
                    f"fills {run.fills}"
                )
            attempts = [run.last_attempt * 1000 for run in figures]
            print(
                f"  succeeded {sum(run.succeeded for run in figures)} of {len(figures)}; "
                f"failed all {policy.attempts + 1} attempts "
                f"{sum(not run.succeeded for run in figures)}; median attempt "
                f"{statistics.median(attempts):.0f} ms"
            )
            if placements is not None:
                achieved = placements.finish()
                latency = sorted(placements.seconds)
                print(
                    f"  placements {achieved:.1f}/s (asked {rate:g}/s), answers "
                    f"{dict(sorted(placements.answers.items()))}, p50 "
                    f"{latency[len(latency) // 2] * 1000:.0f} ms"
                )


if __name__ == "__main__":
    main()
