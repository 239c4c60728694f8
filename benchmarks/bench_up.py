"""`stp up` as a user meets it: start-up time (process spawn to the banner, and to the first
health answer) against `stp api`'s in the same run, and the latency of an upload through the
endpoint to its execution SUCCEEDED, against the same upload in-process (`LocalCloud.upload`,
what `stp run` does), both polled every 20 ms. Median of 5 uploads of each file.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTS = 3
UPLOADS = 5
POLL = 0.02


def spawn(
    arguments: list[str], ready_marker: str
) -> tuple[subprocess.Popen[str], float, list[str]]:
    """Start an `stp` command; seconds until it printed ``ready_marker``, and its lines."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "stp"), "--project", str(ROOT), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STP_API_KEY": "bench-up-key-0123456789"},
    )
    lines: list[str] = []
    ready = threading.Event()
    took: list[float] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if ready_marker in line and not ready.is_set():
                took.append(time.perf_counter() - began)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(300) or not took:
        process.kill()
        raise SystemExit("did not start:\n" + "\n".join(lines))
    return process, took[0], lines


def stop(process: subprocess.Popen[str]) -> float:
    """SIGTERM; seconds until the process exited."""
    began = time.perf_counter()
    process.terminate()
    process.wait(timeout=120)
    return time.perf_counter() - began


def exports(lines: list[str]) -> dict[str, str]:
    """The banner's ``export NAME=value`` lines."""
    found = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            found[name] = value
    return found


def until_succeeded(stepfunctions: Any, machine: str, known: set[str]) -> float:
    """Poll until an execution not in ``known`` has SUCCEEDED; returns when it did."""
    while True:
        for execution in stepfunctions.list_executions(stateMachineArn=machine)["executions"]:
            if execution["executionArn"] in known:
                continue
            if execution["status"] == "SUCCEEDED":
                known.add(execution["executionArn"])
                return time.perf_counter()
            if execution["status"] != "RUNNING":
                raise SystemExit(f"run {execution['name']}: {execution['status']}")
        time.sleep(POLL)


def files() -> dict[str, bytes]:
    """The bundled sample (8,592 bars of four symbols) and one symbol's first 250 days."""
    whole = (ROOT / "data" / "stocks.csv").read_bytes()
    lines = whole.decode().splitlines()
    header, rows = lines[0], [line for line in lines[1:] if ",AAPL," in line][:250]
    return {"stocks.csv (8,592 bars)": whole, "AAPL 250 bars": "\n".join([header, *rows]).encode()}


def through_endpoint(env: dict[str, str], body: bytes) -> list[float]:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    stepfunctions = session.client("stepfunctions", endpoint_url=env["AWS_ENDPOINT_URL"])
    machine = env["STP_STATE_MACHINE_ARN"]
    known = {
        e["executionArn"]
        for e in stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    }
    seconds = []
    for number in range(UPLOADS):
        began = time.perf_counter()
        s3.put_object(
            Bucket=env["STP_MARKET_DATA_BUCKET_NAME"],
            Key=f"raw/bench-{number}-{began}.csv",
            Body=body,
        )
        seconds.append(until_succeeded(stepfunctions, machine, known) - began)
    return seconds


def in_process(body: bytes) -> list[float]:
    from stp.local import LocalCloud

    seconds = []
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        stepfunctions = boto3.client("stepfunctions", region_name=cloud.region)
        machine = deployment.state_machines["TradingStateMachine"]
        known: set[str] = set()
        for number in range(UPLOADS):
            began = time.perf_counter()
            cloud.upload(
                deployment.outputs["MarketDataBucketName"], f"raw/bench-{number}.csv", body
            )
            seconds.append(until_succeeded(stepfunctions, machine, known) - began)
    return seconds


def main() -> None:
    print("== stp up: start-up and upload-to-SUCCEEDED latency ==")
    up_starts, api_starts, healthy, stops = [], [], [], []
    for _ in range(STARTS):
        process, took, lines = spawn(["api", "--port", "0"], "Ctrl-C stops it")
        api_starts.append(took)
        stop(process)
        process, took, lines = spawn(["up", "--port", "0", "--api-port", "0"], "Ctrl-C stops it")
        up_starts.append(took)
        endpoint = exports(lines)["AWS_ENDPOINT_URL"]
        with urllib.request.urlopen(f"{endpoint}/_stp/health", timeout=30) as response:
            assert response.status == 200
        healthy.append(took)
        stops.append(stop(process))
    up_median, api_median = statistics.median(up_starts), statistics.median(api_starts)
    print(
        f"start-up, spawn to banner (median of {STARTS}): stp up {up_median:.2f} s, "
        f"stp api {api_median:.2f} s -> {up_median / api_median:.2f}x; "
        f"stop on SIGTERM {statistics.median(stops):.2f} s"
    )
    process, _, lines = spawn(["up", "--port", "0", "--api-port", "0"], "Ctrl-C stops it")
    try:
        env = exports(lines)
        for label, body in files().items():
            endpoint = through_endpoint(env, body)
            local = in_process(body)
            print(
                f"upload -> SUCCEEDED, {label}: through the endpoint "
                f"p50 {statistics.median(endpoint):.2f} s (max {max(endpoint):.2f}), in-process "
                f"p50 {statistics.median(local):.2f} s -> "
                f"{statistics.median(endpoint) / statistics.median(local):.2f}x"
            )
    finally:
        stop(process)


if __name__ == "__main__":
    main()
