"""`stp up` as a user runs it: a separate process serving one AWS endpoint, driven by the real
AWS CLI and by boto3, with the REST API beside it; a restart on the same ``--state-dir``
keeps everything. One `stp up` serves the whole module (starting it costs seconds)."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MOCK_CONFIG = ROOT / "tests" / "workflow" / "MockConfigFile.json"
READY = "Ctrl-C stops it"
KEY = "stp-up-test-key-0123456789"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("stp-up")]


@dataclass
class Up:
    """A running `stp up` process and the environment its banner told us to export."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def aws(self, *arguments: str) -> str:
        """Run the real AWS CLI against the endpoint; its standard output."""
        environment = {**os.environ, **self.env, "AWS_CONFIG_FILE": "/dev/null"}
        environment.pop("AWS_SESSION_TOKEN", None)
        done = command("aws", *arguments, env=environment)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=90)
        return code


def command(
    program: str, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a program of the project's environment (``aws``, ``stp``) to its end."""
    return subprocess.run(
        [str(BIN / program), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_up(*arguments: str) -> Up:
    """Start `stp up` on free ports; returns once its banner says it serves."""
    process = subprocess.Popen(
        [
            str(BIN / "stp"),
            "--project",
            str(ROOT),
            "up",
            "--port",
            "0",
            "--api-port",
            "0",
            *arguments,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STP_API_KEY": KEY},
    )
    up = Up(process, {})
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            up.lines.append(line.rstrip("\n"))
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                up.env[name] = value
            if READY in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(180) or process.poll() is not None:
        process.kill()
        raise AssertionError("stp up did not start:\n" + "\n".join(up.lines))
    return up


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stp-up-state")


@pytest.fixture(scope="module")
def up(state_dir: Path) -> Iterator[Up]:
    running = start_up("--state-dir", str(state_dir), "--mock-config", str(MOCK_CONFIG))
    yield running
    if running.process.poll() is None:
        running.stop()


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = (ROOT / "data" / "stocks.csv").read_text().splitlines()
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    path.write_text("\n".join(lines[:801]) + "\n")  # 200 days of four symbols
    return path


def run_of(up: Up, key: str) -> dict[str, Any]:
    """The finished execution the upload of ``key`` started (tests may run in any order, so
    each finds its own run by its input)."""
    stepfunctions = up.client("stepfunctions")
    machine = up.env["STP_STATE_MACHINE_ARN"]
    deadline = time.monotonic() + 120
    inputs: dict[str, str] = {}
    while True:
        for listed in stepfunctions.list_executions(stateMachineArn=machine)["executions"]:
            arn = listed["executionArn"]
            if arn not in inputs:
                described = stepfunctions.describe_execution(executionArn=arn)
                inputs[arn] = json.loads(described["input"]).get("key", "")
            if inputs[arn] == key and listed["status"] != "RUNNING":
                return dict(listed)
        assert time.monotonic() < deadline, f"no finished run of {key}: {up.lines[-20:]}"
        time.sleep(0.2)


def test_the_aws_cli_uploads_and_reads_the_run_its_upload_started(up: Up, bars: Path) -> None:
    bucket = up.env["STP_MARKET_DATA_BUCKET_NAME"]
    up.aws("s3", "cp", str(bars), f"s3://{bucket}/raw/bars.csv")
    execution = run_of(up, "raw/bars.csv")
    arn = execution["executionArn"]
    run_id = execution["name"]
    machine = up.env["STP_STATE_MACHINE_ARN"]

    listed = json.loads(up.aws("stepfunctions", "list-executions", "--state-machine-arn", machine))
    assert arn in [e["executionArn"] for e in listed["executions"]]
    described = json.loads(up.aws("stepfunctions", "describe-execution", "--execution-arn", arn))
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["input"])["key"] == "raw/bars.csv"
    history = json.loads(up.aws("stepfunctions", "get-execution-history", "--execution-arn", arn))
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in history["events"]
        if event["type"].endswith("StateEntered")
    ]
    assert entered[0] == "ProcessMarketData" and entered[-1] == "RunSucceeded"

    key = json.dumps({"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "META"}})
    table = up.env["STP_RUNS_TABLE_NAME"]
    record = json.loads(up.aws("dynamodb", "get-item", "--table-name", table, "--key", key))
    assert record["Item"]["status"]["S"] == "SUCCEEDED"

    reports = up.env["STP_REPORTS_BUCKET_NAME"]
    report = json.loads(up.aws("s3", "cp", f"s3://{reports}/reports/{run_id}/report.json", "-"))
    assert report["run_id"] == run_id
    assert report["data"]["bars_accepted"] == 800

    group = f"/aws/lambda/{up.env['STP_PROCESS_MARKET_DATA_FUNCTION_ARN'].rsplit(':', 1)[-1]}"
    logged = json.loads(up.aws("logs", "filter-log-events", "--log-group-name", group))
    messages = [event["message"] for event in logged["events"]]
    assert any(message.startswith("START RequestId: ") for message in messages)
    assert any("market data processed" in message for message in messages)


def test_boto3_and_presigned_links_of_the_api_use_the_endpoint(up: Up, bars: Path) -> None:
    api = up.env["STP_API_URL"]
    request = urllib.request.Request(
        f"{api}/market-data/uploads",
        data=json.dumps({"file_name": "bars.csv"}).encode(),
        headers={
            "x-api-key": KEY,
            "Authorization": up.env["STP_TOKEN"],
            "content-type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    assert target["upload_url"].startswith(up.endpoint + "/")
    # What `curl -T bars.csv <upload_url>` does.
    put = urllib.request.Request(
        target["upload_url"], data=bars.read_bytes(), headers=target["headers"], method="PUT"
    )
    with urllib.request.urlopen(put, timeout=30) as response:
        assert response.status == 200
    newest = run_of(up, target["key"])
    assert newest["status"] == "SUCCEEDED"

    report_request = urllib.request.Request(
        f"{api}/reports/{newest['name']}",
        headers={"x-api-key": KEY, "Authorization": up.env["STP_TOKEN"]},
    )
    with urllib.request.urlopen(report_request, timeout=30) as response:
        html_url = json.load(response)["html_url"]
    assert html_url.startswith(up.endpoint + "/")
    with urllib.request.urlopen(html_url, timeout=30) as response:  # a browser's open
        assert response.headers["Content-Type"].startswith("text/html")
        assert b"<html" in response.read(2000).lower()

    invoked = up.client("lambda").invoke(
        FunctionName=up.env["STP_API_FUNCTION_ARN"],
        Payload=(ROOT / "events" / "api.health.json").read_bytes(),
    )
    assert json.loads(invoked["Payload"].read())["statusCode"] == 200


def test_the_printed_bot_client_gets_a_token_from_the_token_url(up: Up) -> None:
    # As the banner's curl line: curl -u "$STP_BOT_CLIENT_ID:$STP_BOT_CLIENT_SECRET" ...
    form = b"grant_type=client_credentials&scope=trading%2Fread"
    request = urllib.request.Request(up.env["STP_TOKEN_URL"], data=form, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    pair = f"{up.env['STP_BOT_CLIENT_ID']}:{up.env['STP_BOT_CLIENT_SECRET']}"
    request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        token = json.load(response)["access_token"]
    account = urllib.request.Request(
        up.env["STP_API_URL"] + "/account", headers={"x-api-key": KEY, "Authorization": token}
    )
    with urllib.request.urlopen(account, timeout=30) as response:
        assert json.load(response)["account_id"] == "paper"  # the bot client was granted it


def test_health_check_and_a_taken_port_is_a_clear_error(up: Up) -> None:
    with urllib.request.urlopen(f"{up.endpoint}/_stp/health", timeout=10) as response:
        health = json.load(response)
    assert health["status"] == "running"
    assert "stepfunctions" in health["services"]
    port = up.endpoint.rsplit(":", 1)[-1]
    taken = command("stp", "--project", str(ROOT), "up", "--port", port)
    assert taken.returncode == 2
    assert f"--port {port}: 127.0.0.1:{port} is already in use" in taken.stderr


def test_a_mock_config_test_case_and_its_execution_view(
    up: Up, tmp_path: Path, open_page: Any
) -> None:
    # StartExecution on <arn>#<TestCase>, as on Step Functions Local.
    stepfunctions = up.client("stepfunctions")
    machine = up.env["STP_STATE_MACHINE_ARN"]
    arn = stepfunctions.start_execution(
        stateMachineArn=f"{machine}#PermanentFailure", name="mocked-failure", input="{}"
    )["executionArn"]
    deadline = time.monotonic() + 60
    while stepfunctions.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert stepfunctions.describe_execution(executionArn=arn)["error"] == "InvalidRunConfigError"

    environment = {**os.environ, **up.env}
    listed = command("stp", "executions", "list", env=environment)
    assert listed.returncode == 0, listed.stderr
    assert "mocked-failure" in listed.stdout and "FAILED" in listed.stdout
    page_file = tmp_path / "failed.html"
    shown = command(
        "stp", "executions", "show", "mocked-failure", "--html", str(page_file), env=environment
    )
    assert shown.returncode == 0, shown.stderr
    assert "ExecuteTrades         CAUGHT" in shown.stdout
    assert "InvalidRunConfigError: " in shown.stdout
    assert page_file.read_text().startswith("<!DOCTYPE html>")

    # The page stp up serves, in a real browser: no console error, the failed state shown.
    opened = open_page(f"{up.endpoint}/_stp/executions/{arn}")
    assert opened.errors == []
    page = opened.page
    assert (
        page.locator('g.state[data-state="ExecuteTrades"]').get_attribute("data-status") == "CAUGHT"
    )
    assert page.locator('g.state[data-state="RunFailed"]').get_attribute("data-status") == "FAILED"
    assert (
        page.locator('g.state[data-state="AnalyzePerformance"]').get_attribute("data-status")
        == "NOT RUN"
    )
    assert page.locator(".failure").inner_text().startswith("InvalidRunConfigError")
    row = page.locator('tr[data-state="ExecuteTrades"]')
    assert "InvalidRunConfigError" in row.inner_text()
    index = open_page(f"{up.endpoint}/_stp/executions")
    assert index.errors == []
    index.page.get_by_text("mocked-failure").click()
    index.page.wait_for_load_state()
    assert "mocked-failure" in index.page.title()


def test_a_restart_on_the_state_dir_keeps_objects_tables_and_executions(
    up: Up, state_dir: Path, bars: Path
) -> None:
    bucket = up.env["STP_MARKET_DATA_BUCKET_NAME"]
    up.client("s3").put_object(Bucket=bucket, Key="raw/kept.csv", Body=bars.read_bytes())
    kept = run_of(up, "raw/kept.csv")
    stepfunctions = up.client("stepfunctions")
    machine = up.env["STP_STATE_MACHINE_ARN"]
    before = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    ports = [int(url.rsplit(":", 1)[-1]) for url in (up.endpoint, up.env["STP_API_URL"])]
    assert up.stop(signal.SIGTERM) == 0
    assert any(line.startswith("stp up: state saved to") for line in up.lines)
    for port in ports:  # released: they can be bound again at once
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))

    again = start_up("--state-dir", str(state_dir), "--mock-config", str(MOCK_CONFIG))
    # The module's other tests go on with the restarted process, whatever their order.
    up.process, up.env, up.lines = again.process, again.env, again.lines
    assert any("restored from" in line for line in again.lines)
    assert again.env["STP_MARKET_DATA_BUCKET_NAME"] == bucket  # the exported names still hold
    stepfunctions = again.client("stepfunctions")
    after = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    assert [(e["executionArn"], e["status"]) for e in after] == [
        (e["executionArn"], e["status"]) for e in before
    ]
    history = stepfunctions.get_execution_history(executionArn=kept["executionArn"])["events"]
    assert history[-1]["type"] == "ExecutionSucceeded"
    record = again.client("dynamodb").get_item(
        TableName=again.env["STP_RUNS_TABLE_NAME"],
        Key={"PK": {"S": f"RUN#{kept['name']}"}, "SK": {"S": "META"}},
    )
    assert record["Item"]["status"]["S"] == "SUCCEEDED"
    raw = again.client("s3").get_object(Bucket=bucket, Key="raw/kept.csv")
    assert raw["Body"].read() == bars.read_bytes()
    group = f"/aws/lambda/{again.env['STP_PROCESS_MARKET_DATA_FUNCTION_ARN'].rsplit(':', 1)[-1]}"
    logged = again.client("logs").filter_log_events(logGroupName=group)["events"]
    assert any(event["message"].startswith("START RequestId: ") for event in logged)
    # A restored object started nothing again.
    time.sleep(0.5)
    assert len(stepfunctions.list_executions(stateMachineArn=machine)["executions"]) == len(before)
