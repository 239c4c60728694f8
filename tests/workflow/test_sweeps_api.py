"""The sweeps API end to end on the local runtime: two accounts, each a trader with a token;
a sweep started through POST /sweeps runs the research workflow and its paginated results
equal the leaderboard `stp sweep` writes for the same request and data; another account can
neither see, read nor start a sweep on the first account's data; bad bodies are 400 in the
API's error shape."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stp.cli import main
from stp.local import Deployment, LocalCloud
from stp.local.api_gateway import HttpRequest, LocalApiGateway
from stp.local.traders import add_trader

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "stocks.csv"
KEY = "sweeps-api-key-0123456789"
DATA_A = "raw/desk-a/stocks.csv"
DATA_B = "raw/desk-b/stocks.csv"
GRID = {"fast": "10:20:10", "slow": "40:80:20"}
"""Two by three cells: a small sweep, in batches of two."""
CLI_GRID = [f"{name}={spec}" for name, spec in GRID.items()]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli_leaderboard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The leaderboard `stp sweep` writes for GRID on the bundled data (its own cloud)."""
    out = tmp_path_factory.mktemp("stp-sweep")
    argv = ["--project", str(ROOT), "sweep", "--data", str(DATA), "--strategy", "sma_cross"]
    for grid in CLI_GRID:
        argv += ["--grid", grid]
    assert main([*argv, "--batch-size", "2", "--out", str(out)]) == 0
    document: dict[str, Any] = json.loads((out / "leaderboard.json").read_text())
    return document


class Api:
    """The deployed API behind the local gateway, called as one account's trader."""

    def __init__(self, gateway: LocalApiGateway, token: str) -> None:
        self.gateway, self.token = gateway, token

    def call(self, method: str, path: str, body: Any = None, query: str = "") -> tuple[int, Any]:
        headers = [("x-api-key", KEY), ("Authorization", self.token)]
        if body is not None:
            headers.append(("content-type", "application/json"))
        response = self.gateway.handle(
            HttpRequest(
                method,
                path,
                query=query,
                headers=tuple(headers),
                body=b"" if body is None else json.dumps(body).encode(),
            )
        )
        return response.status, json.loads(response.body) if response.body else None


@pytest.fixture(scope="module")
def cloud(
    cli_leaderboard: dict[str, Any],
) -> Iterator[tuple[LocalCloud, Deployment, Api, Api]]:
    with LocalCloud() as local:
        deployment = local.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        gateway = local.api_gateway(deployment, api_keys=[KEY], throttle=False)
        alice = add_trader(local, deployment, "desk-a", "alice")
        bob = add_trader(local, deployment, "desk-b", "bob")
        bucket = deployment.outputs["MarketDataBucketName"]
        # Seeded, not uploaded: an upload would also start a run through the trigger.
        local.seed_object(bucket, DATA_A, DATA.read_bytes())
        local.seed_object(bucket, DATA_B, DATA.read_bytes())
        yield local, deployment, Api(gateway, alice.token), Api(gateway, bob.token)


def sweep_executions(deployment: Deployment) -> list[dict[str, Any]]:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    found: list[dict[str, Any]] = client.list_executions(
        stateMachineArn=deployment.outputs["ResearchStateMachineArn"]
    )["executions"]
    return found


def all_results(api: Api, sweep_id: str, limit: int) -> list[dict[str, Any]]:
    """Every page of the sweep's results, in order."""
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = f"limit={limit}" + (f"&next_token={token}" if token else "")
        status, page = api.call("GET", f"/sweeps/{sweep_id}/results", query=query)
        assert status == 200, page
        assert len(page["results"]) <= limit
        rows += page["results"]
        token = page["next_token"]
        if token is None:
            return rows


def test_a_sweep_started_through_the_api_runs_and_pages_the_cli_s_leaderboard(
    cloud: tuple[LocalCloud, Deployment, Api, Api], cli_leaderboard: dict[str, Any]
) -> None:
    local, deployment, alice, _ = cloud
    request = {"strategy": "sma_cross", "grid": GRID, "batch_size": 2}
    status, started = alice.call(
        "POST", "/sweeps", {"key": DATA_A, "request": request, "sweep_id": "alice-1"}
    )
    assert status == 202, started
    assert (started["sweep_id"], started["status"]) == ("alice-1", "RUNNING")
    # Readable at once, before PlanSweep has counted the items.
    status, sweep = alice.call("GET", "/sweeps/alice-1")
    assert status == 200 and sweep["status"] in {"RUNNING", "SUCCEEDED"}, sweep
    # Polled while it runs: the progress only grows, and never passes the total.
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while sweep["status"] == "RUNNING" and time.monotonic() < deadline:
        seen.append(sweep["progress"])
        time.sleep(0.05)
        sweep = alice.call("GET", "/sweeps/alice-1")[1]
    assert local.wait(started["execution_arn"], timeout=120).status == "SUCCEEDED"
    for before, after in itertools.pairwise(seen):
        assert after["succeeded"] >= before["succeeded"] and after["failed"] >= before["failed"]
        assert after["succeeded"] + after["failed"] <= max(after["total"], 6)

    status, sweep = alice.call("GET", "/sweeps/alice-1")
    assert status == 200, sweep
    assert sweep["status"] == "SUCCEEDED"
    assert sweep["progress"] == {"total": 6, "succeeded": 6, "failed": 0}
    assert sweep["request"]["strategy"] == "sma_cross"

    rows = all_results(alice, "alice-1", limit=4)
    assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows == cli_leaderboard["ranking"]
    assert sweep["best"] == rows[0] == cli_leaderboard["best"]
    assert all_results(alice, "alice-1", limit=1) == rows  # pages of one: the same list
    # Each batch offered its best while the sweep ran: the best so far is the winner.
    best_so_far = {key: value for key, value in rows[0].items() if key != "rank"}
    record = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=deployment.outputs["RunsTableName"],
        Key={"PK": {"S": "SWEEP#alice-1"}, "SK": {"S": "META"}},
    )["Item"]
    assert (record["account"]["S"], json.loads(record["best_so_far"]["S"])) == (
        "desk-a",
        best_so_far,
    )

    status, error = alice.call("GET", "/sweeps/alice-1/results", query="next_token=999")
    assert (status, error["code"], error["details"]) == (
        400,
        "INVALID_REQUEST",
        {"field": "next_token"},
    )


def test_another_account_cannot_see_read_or_start_a_sweep_on_the_first_s_data(
    cloud: tuple[LocalCloud, Deployment, Api, Api],
) -> None:
    local, deployment, alice, bob = cloud
    request = {"strategy": "sma_cross", "grid": {"fast": [10], "slow": [40]}}
    status, started = alice.call(
        "POST", "/sweeps", {"key": DATA_A, "request": request, "sweep_id": "alice-2"}
    )
    assert status == 202, started
    assert local.wait(started["execution_arn"], timeout=120).status == "SUCCEEDED"
    bucket = deployment.outputs["MarketDataBucketName"]
    before = local.read_object(bucket, DATA_A)
    executions = len(sweep_executions(deployment))

    for path in ("/sweeps/alice-2", "/sweeps/alice-2/results"):
        status, error = bob.call("GET", path)
        # Exactly the answer for a sweep that does not exist: nothing leaks.
        missing = bob.call("GET", path.replace("alice-2", "nobody"))
        assert (status, json.dumps(error).replace("alice-2", "nobody")) == (
            missing[0],
            json.dumps(missing[1]),
        )
        assert (status, error["code"]) == (404, "SWEEP_NOT_FOUND")
    status, error = bob.call("POST", "/sweeps", {"key": DATA_A, "request": request})
    assert (status, error["code"]) == (404, "OBJECT_NOT_FOUND")
    # Another account's sweep id is taken, whoever asks: a 409, and the sweep stays Alice's.
    status, error = bob.call(
        "POST", "/sweeps", {"key": DATA_B, "request": request, "sweep_id": "alice-2"}
    )
    assert (status, error["code"]) == (409, "SWEEP_EXISTS")
    assert len(sweep_executions(deployment)) == executions  # nothing started
    assert local.read_object(bucket, DATA_A) == before  # the data unchanged
    status, sweep = alice.call("GET", "/sweeps/alice-2")
    assert (status, sweep["status"], sweep["progress"]["total"]) == (200, "SUCCEEDED", 1)
    # Starting the same sweep again is idempotent: the same execution.
    status, again = alice.call(
        "POST", "/sweeps", {"key": DATA_A, "request": request, "sweep_id": "alice-2"}
    )
    assert (status, again["execution_arn"]) == (202, started["execution_arn"])


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"key": DATA_A}, "request", "Field required"),
        ({"key": DATA_A, "request": {"strategy": "nope"}}, "request", "unknown strategy 'nope'"),
        (
            {"key": DATA_A, "request": {"strategy": "sma_cross", "grid": {"fast": [0]}}},
            "request",
            "must be between",
        ),
        ({"key": "stocks.csv", "request": {"strategy": "sma_cross"}}, "key", "under raw/"),
        (
            {"key": DATA_A, "request": {"strategy": "sma_cross"}, "bucket": "elsewhere"},
            "bucket",
            "market data bucket",
        ),
        (
            {"key": DATA_A, "request": {"strategy": "sma_cross"}, "sweep_id": "a b"},
            "sweep_id",
            "",
        ),
        ({"key": DATA_A, "request": [1, 2]}, "request", ""),
    ],
)
def test_a_bad_body_is_400_naming_the_field(
    cloud: tuple[LocalCloud, Deployment, Api, Api], body: Any, field: str, message: str
) -> None:
    _, deployment, alice, _ = cloud
    executions = len(sweep_executions(deployment))
    status, error = alice.call("POST", "/sweeps", body)
    assert status == 400, error
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "INVALID_REQUEST" and error["details"]["field"] == field, error
    assert message in error["message"]
    assert len(sweep_executions(deployment)) == executions
