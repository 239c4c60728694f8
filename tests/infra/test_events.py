"""The sample events in events/: one per function and case, in the shapes the workflow and
API Gateway really send (shape only; the handlers' tests run them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
MARKET_DATA_KEYS = {
    "run_id",
    "bucket",
    "curated_key",
    "rejected_key",
    "signals_key",
    "signal_count",
    "bars_accepted",
    "bars_rejected",
    "symbols",
    "config",
    "repaired_key",
    "bars_repaired",
    "bars_excluded",
    "adjustments_key",
}
EXECUTION_KEYS = {
    "run_id",
    "account",
    "orders_key",
    "fills_key",
    "orders_placed",
    "orders_rejected",
    "fills",
    "equity_key",
    "trades_key",
    "final_equity",
    "execution_path",
    "execution_path_reason",
    "margin_calls",
    "first_margin_call",
    "ruin",
}


def _event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_every_event_is_json_named_after_its_function() -> None:
    names = sorted(path.name for path in EVENTS.glob("*.json"))
    assert names == [
        "analyze_performance.json",
        "api.cancel_order.json",
        "api.get_portfolio.json",
        "api.get_quote.json",
        "api.get_run.json",
        "api.health.json",
        "api.list_orders.json",
        "api.place_order.json",
        "api.post_market_data.json",
        "api.start_run.json",
        "execute_trades.duplicate.json",
        "execute_trades.json",
        "process_market_data.json",
        "s3_upload.eventbridge.json",
        "workflow_input.json",
    ]
    for name in names:
        assert isinstance(_event(name), dict), name


def test_workflow_input_is_an_s3_reference() -> None:
    workflow_input = _event("workflow_input.json")
    assert set(workflow_input) <= {"bucket", "key", "source", "config"}
    assert workflow_input["bucket"] == "example-market-data"
    assert workflow_input["key"].startswith("raw/")


def test_step_events_are_what_the_state_machine_sends() -> None:
    process = _event("process_market_data.json")
    assert set(process) == {"run_id", "input"}
    assert process["input"]["bucket"] == "example-market-data"
    assert process["input"]["key"] == "raw/stocks.csv"
    trades = _event("execute_trades.json")
    assert set(trades) == {"run_id", "market_data"}
    assert set(trades["market_data"]) == MARKET_DATA_KEYS
    assert isinstance(trades["market_data"]["signal_count"], int)
    assert trades["market_data"]["signal_count"] > 0
    analyze = _event("analyze_performance.json")
    assert set(analyze) == {"run_id", "market_data", "execution"}
    assert set(analyze["execution"]) == EXECUTION_KEYS
    run_ids = {process["run_id"], trades["run_id"], analyze["run_id"]}
    run_ids |= {trades["market_data"]["run_id"], analyze["execution"]["run_id"]}
    assert len(run_ids) == 1


def test_the_duplicate_delivery_is_the_same_event() -> None:
    assert _event("execute_trades.duplicate.json") == _event("execute_trades.json")


@pytest.mark.parametrize(
    ("name", "method", "resource", "api_key"),
    [
        ("api.health.json", "GET", "/health", False),
        ("api.start_run.json", "POST", "/runs", True),
        ("api.get_run.json", "GET", "/runs/{run_id}", True),
        ("api.place_order.json", "POST", "/orders", True),
        ("api.list_orders.json", "GET", "/orders", True),
        ("api.cancel_order.json", "DELETE", "/orders/{order_id}", True),
        ("api.get_portfolio.json", "GET", "/portfolio", True),
        ("api.get_quote.json", "GET", "/quotes/{symbol}", True),
        ("api.post_market_data.json", "POST", "/market-data", True),
    ],
)
def test_api_events_are_rest_proxy_v1_events(
    name: str, method: str, resource: str, api_key: bool
) -> None:
    event = _event(name)
    assert event["httpMethod"] == method
    assert event["resource"] == resource
    assert event["requestContext"]["resourcePath"] == resource
    assert event["requestContext"]["stage"] == "dev"
    assert event["isBase64Encoded"] is False
    assert ("x-api-key" in event["headers"]) is api_key
    path = resource
    for name, value in (event["pathParameters"] or {}).items():
        path = path.replace("{" + name + "}", value)
    assert event["path"] == path and "{" not in path
    if method == "POST":
        body = json.loads(event["body"])
        assert isinstance(body, dict)
        if resource == "/runs":
            assert body["key"].startswith("raw/")


def test_the_upload_event_is_what_s3_sends_to_eventbridge() -> None:
    event = _event("s3_upload.eventbridge.json")
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == "example-market-data"
    assert event["detail"]["object"]["key"].startswith("raw/")
