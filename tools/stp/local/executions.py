"""Reads a Step Functions execution as the console's execution view shows it.

`watch_execution` polls ``DescribeExecution`` and ``GetExecutionHistory`` and yields one
`StateProgress` per state as the state finishes; `wait_for_execution` returns the outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stp.local.models import ExecutionOutcome, StateProgress

RUNNING = "RUNNING"
_ENTERED = "StateEntered"
_EXITED = "StateExited"
# History events of one failed attempt of a task (Lambda or service integration).
_ATTEMPT_FAILURES = (
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
)
_ATTEMPT_SUCCESSES = ("LambdaFunctionSucceeded", "TaskSucceeded")


def execution_history(client: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of the execution, oldest first."""
    pages = client.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def watch_execution(
    client: Any, execution_arn: str, poll_seconds: float = 0.05
) -> Iterator[StateProgress]:
    """Yield each state's record when it finishes, in order, until the execution ends.

    States still open when the execution stops (a Fail state, a task whose error ended the
    run) are yielded last, as FAILED.
    """
    tracker = _StateTracker()
    seen = 0
    while True:
        # Describe first: a history read after the stop then holds every event.
        status = client.describe_execution(executionArn=execution_arn)["status"]
        events = execution_history(client, execution_arn)
        for event in events[seen:]:
            yield from tracker.feed(event)
        seen = len(events)
        if status != RUNNING:
            yield from tracker.close(events)
            return
        time.sleep(poll_seconds)


def wait_for_execution(client: Any, execution_arn: str, timeout: float = 300) -> ExecutionOutcome:
    """Block until the execution stops (TimeoutError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        description = client.describe_execution(executionArn=execution_arn)
        if description["status"] != RUNNING:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s")
        time.sleep(0.05)
    events = execution_history(client, execution_arn)
    states = list(execution_states(events, finished=True))
    status = str(description["status"])
    if status == "SUCCEEDED":
        return ExecutionOutcome(
            execution_arn, status, output=_json(description.get("output")), states=tuple(states)
        )
    error, cause = description.get("error"), description.get("cause")
    failed = _root_failure(states, error, cause)
    return ExecutionOutcome(
        execution_arn,
        status,
        failed_state=failed.name if failed else None,
        error=error or (failed.error if failed else None),
        cause=cause or (failed.cause if failed else None),
        states=tuple(states),
    )


def execution_states(events: list[dict[str, Any]], *, finished: bool) -> tuple[StateProgress, ...]:
    """Every state's record from a history, in the order they finished; the states of a
    ``finished`` execution still open at its end are closed as FAILED (a running
    execution's open states are left out)."""
    tracker = _StateTracker()
    states = [record for event in events for record in tracker.feed(event)]
    if finished:
        states.extend(tracker.close(events))
    return tuple(states)


@dataclass
class _OpenState:
    name: str
    type: str
    entered: datetime
    # One entry per task attempt: (succeeded, error, cause).
    attempts: list[tuple[bool, str | None, str | None]] = field(default_factory=list)


class _StateTracker:
    """Folds history events into per-state records."""

    def __init__(self) -> None:
        self._open: list[_OpenState] = []

    def feed(self, event: dict[str, Any]) -> Iterator[StateProgress]:
        """The records the event completes (at most one)."""
        kind: str = event["type"]
        if kind.endswith(_ENTERED):
            name = event["stateEnteredEventDetails"]["name"]
            self._open.append(_OpenState(name, kind[: -len(_ENTERED)], event["timestamp"]))
        elif kind.endswith(_EXITED):
            state = self._pop(event["stateExitedEventDetails"]["name"])
            if state is not None:
                yield _record(state, event["timestamp"], stopped_run=False)
        elif self._open and (kind in _ATTEMPT_FAILURES or kind in _ATTEMPT_SUCCESSES):
            # Attempts belong to the innermost open state (the task that is running).
            error, cause = _error_and_cause(event)
            self._open[-1].attempts.append((kind in _ATTEMPT_SUCCESSES, error, cause))

    def close(self, events: list[dict[str, Any]]) -> Iterator[StateProgress]:
        """Records of the states the execution stopped in, innermost first."""
        stopped = events[-1]["timestamp"] if events else None
        error, cause = _error_and_cause(events[-1]) if events else (None, None)
        while self._open:
            state = self._open.pop()
            if state.type == "Fail" or not state.attempts:
                # A Fail state's (or an interrupted state's) error is the execution's.
                state.attempts.append((False, error, cause))
            yield _record(state, stopped, stopped_run=True)

    def _pop(self, name: str) -> _OpenState | None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].name == name:
                return self._open.pop(index)
        return None


def _record(state: _OpenState, exited: datetime | None, *, stopped_run: bool) -> StateProgress:
    """The record of a finished state.

    Every failed attempt followed by another attempt was retried. A state that left normally
    although its last attempt failed had that error caught; a state the run stopped in
    failed.
    """
    last_failed = bool(state.attempts) and not state.attempts[-1][0]
    retries = sum(1 for succeeded, _, _ in state.attempts[:-1] if not succeeded)
    status = "FAILED" if stopped_run else ("CAUGHT" if last_failed else "SUCCEEDED")
    error, cause = (state.attempts[-1][1], state.attempts[-1][2]) if last_failed else (None, None)
    return StateProgress(
        name=state.name,
        type=state.type,
        status=status,
        entered=state.entered,
        exited=exited,
        retries=retries,
        error=error,
        cause=cause,
    )


def _error_and_cause(event: dict[str, Any]) -> tuple[str | None, str | None]:
    for key, details in event.items():
        details_with_error = isinstance(details, dict) and (
            "error" in details or "cause" in details
        )
        if key.endswith("EventDetails") and details_with_error:
            return details.get("error"), details.get("cause")
    return None, None


def _root_failure(
    states: list[StateProgress], error: str | None, cause: str | None
) -> StateProgress | None:
    """The state whose error ended the run.

    A Fail state only reports an error, so the origin is the caught or failed state whose
    error and cause the execution reports (a Fail state's ErrorPath/CausePath usually pass
    the caught error on), else the first caught or failed state, else the Fail state.
    """
    origins = [s for s in states if s.status in ("CAUGHT", "FAILED") and s.type != "Fail"]
    for state in origins:
        if state.error == error and state.cause == cause:
            return state
    if origins:
        return origins[0]
    failed = [state for state in states if state.status == "FAILED"]
    return failed[-1] if failed else None


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
