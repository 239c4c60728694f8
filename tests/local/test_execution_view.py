"""The execution page draws any ASL: loops, Map and Parallel states, names that need escaping;
each state carries its outcome (what the browser test and a reader rely on)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from stp.local.execution_view import ExecutionView, execution_page, graph_svg
from stp.local.models import StateProgress

T0 = datetime(2026, 1, 2, tzinfo=UTC)
DEFINITION = {
    "StartAt": "Poll",
    "States": {
        "Poll": {"Type": "Task", "Resource": "arn:aws:lambda:::function:poll", "Next": "Done?"},
        "Done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.done", "BooleanEquals": False, "Next": "Poll"}],
            "Default": "Each <item>",
        },
        "Each <item>": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}},
            ],
            "End": True,
        },
        "Failed": {"Type": "Fail"},
    },
}


def record(name: str, kind: str, status: str, second: int, retries: int = 0) -> StateProgress:
    entered = T0 + timedelta(seconds=second)
    return StateProgress(name, kind, status, entered, entered, retries=retries)


def view() -> ExecutionView:
    states = (
        record("Poll", "Task", "SUCCEEDED", 0, retries=2),
        record("Done?", "Choice", "SUCCEEDED", 1),
        record("Poll", "Task", "SUCCEEDED", 2),
        record("Done?", "Choice", "SUCCEEDED", 3),
        record("Work", "Pass", "FAILED", 4),
        record("Each <item>", "Map", "CAUGHT", 4),
        record("Failed", "Fail", "FAILED", 5),
    )
    description = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:run-1",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "name": "run-1",
        "status": "FAILED",
        "startDate": T0,
        "stopDate": T0 + timedelta(seconds=5),
        "error": "States.BranchFailed",
        "cause": "<b>not markup</b>",
    }
    return ExecutionView(description, DEFINITION, [], states)


def test_every_state_is_drawn_once_with_its_outcome() -> None:
    svg = graph_svg(view())
    drawn = dict(re.findall(r'data-state="([^"]+)" data-status="([^"]+)"', svg))
    assert drawn == {
        "Poll": "SUCCEEDED",
        "Done?": "SUCCEEDED",
        "Each &lt;item&gt;": "CAUGHT",
        "Work": "FAILED",
        "Both": "NOT RUN",
        "Left": "NOT RUN",
        "Right": "NOT RUN",
        "Failed": "FAILED",
    }
    assert "Task · succeeded · 2 retries" in svg  # retries over both visits of the loop
    assert 'class="edge catch"' in svg


def test_the_page_escapes_what_the_execution_says() -> None:
    page = execution_page(view())
    assert "<b>not markup</b>" not in page
    assert "&lt;b&gt;not markup&lt;/b&gt;" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
