"""The hot read paths switch to DAX by configuration (DAX_ENDPOINT), and stay on DynamoDB
without it; the DAX client library loads only when a cluster is configured."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from trading.bootstrap import build_platform

ENVIRONMENT = {
    "MARKET_DATA_BUCKET": "market",
    "REPORTS_BUCKET": "reports",
    "RUNS_TABLE": "runs",
    "PORTFOLIO_TABLE": "portfolio",
    "QUOTES_TABLE": "quotes",
}
ENDPOINT = "daxs://stp-dev.abc123.dax-clusters.us-east-1.amazonaws.com"


class FakeDaxClient:
    """Stands in for amazondax.AmazonDaxClient (which needs a reachable cluster)."""

    def __init__(self, session: Any, region_name: str, endpoint_url: str) -> None:
        self.session = session
        self.region_name = region_name
        self.endpoint_url = endpoint_url


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_without_an_endpoint_reads_use_the_dynamodb_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "amazondax", None)  # importing it would fail
    platform = build_platform({**ENVIRONMENT, "DAX_ENDPOINT": ""})
    assert platform.dynamodb_reads is platform.dynamodb
    assert platform.environment.dax_endpoint == ""


def test_with_an_endpoint_reads_go_to_the_dax_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("amazondax")
    fake.AmazonDaxClient = FakeDaxClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "amazondax", fake)
    platform = build_platform({**ENVIRONMENT, "DAX_ENDPOINT": ENDPOINT})
    reads: Any = platform.dynamodb_reads
    assert isinstance(reads, FakeDaxClient)
    assert reads.endpoint_url == ENDPOINT
    assert reads.region_name == "us-east-1"
    # Writes and transactions stay on DynamoDB itself.
    assert type(platform.dynamodb).__name__ == "DynamoDB"


def test_the_real_dax_client_accepts_the_cluster_endpoint() -> None:
    from amazondax import AmazonDaxClient

    assert "endpoint_url" in AmazonDaxClient.__init__.__code__.co_varnames


class RecordingReads:
    """A hot-read client that records the reads it serves (as a DAX client would serve them)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("GetItem", request))
        return {}

    def query(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("Query", request))
        return {"Items": []}


def test_the_apis_quote_and_account_views_read_through_the_hot_read_client() -> None:
    from trading.adapters.accounts import DynamoAccountRepository
    from trading.adapters.quotes import DynamoQuoteStore

    reads: Any = RecordingReads()
    writes: Any = object()  # any use of the DynamoDB client itself would fail
    quotes = DynamoQuoteStore(writes, "quotes", hot_reads=reads)
    accounts = DynamoAccountRepository(
        writes, "portfolio", quotes_table="quotes", runs_table="runs", hot_reads=reads
    )
    assert quotes.get_latest("AAPL") is None
    assert not accounts.get("paper", orders=(), consistent=False).exists  # the portfolio
    assert not accounts.get("paper", consistent=False).exists  # positions, with their exits
    assert [(kind, request["TableName"]) for kind, request in reads.calls] == [
        ("GetItem", "quotes"),
        ("GetItem", "portfolio"),
        ("Query", "portfolio"),
    ]
    # Eventually consistent: DAX would pass a strongly consistent read through to DynamoDB.
    assert not any(request.get("ConsistentRead") for _, request in reads.calls)
