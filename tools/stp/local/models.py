"""The records the local runtime hands back: deployments, invocations, execution progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FunctionInfo:
    """A deployed function's configuration, as Lambda reports it."""

    name: str
    arn: str
    handler: str
    environment: dict[str, str]


@dataclass
class Deployment:
    """What `LocalCloud.deploy` created.

    ``resources`` maps logical ids to physical ids; resources of nested stacks are keyed
    ``<NestedStackLogicalId>/<LogicalId>``, as are their functions and state machines.
    ``outputs`` holds the root stack's outputs, plus each nested stack's outputs keyed
    ``<NestedStackLogicalId>.Outputs.<Name>``. ``skipped`` lists the warnings of resources
    the emulation could not create. ``template`` and ``parameters`` are what was deployed.
    """

    stack_name: str
    template: Path | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InvocationResult:
    """The answer of the Lambda Invoke API to one synchronous invocation.

    ``payload`` is the handler's return value, or the error document when ``function_error``
    is set (then ``error_type`` is the exception class name, as Step Functions matches it).
    """

    status_code: int
    payload: Any
    function_error: str | None = None
    executed_version: str | None = None

    @property
    def ok(self) -> bool:
        """True when the handler returned normally."""
        return self.function_error is None and self.status_code < 300

    @property
    def error_type(self) -> str | None:
        """The ``errorType`` of a failed invocation."""
        return self._error_field("errorType")

    @property
    def error_message(self) -> str | None:
        """The ``errorMessage`` of a failed invocation."""
        return self._error_field("errorMessage")

    def _error_field(self, name: str) -> str | None:
        if self.ok or not isinstance(self.payload, dict):
            return None
        value = self.payload.get(name)
        return None if value is None else str(value)


@dataclass(frozen=True)
class StateProgress:
    """One state's run within an execution, as the console's execution view shows it.

    ``status`` is SUCCEEDED, FAILED (the error ended the execution or was not handled) or
    CAUGHT (a Catch routed the error onwards); ``retries`` counts the failed attempts that a
    Retry absorbed before the final attempt.
    """

    name: str
    type: str
    status: str
    entered: datetime
    exited: datetime | None
    retries: int = 0
    error: str | None = None
    cause: str | None = None

    @property
    def duration(self) -> float:
        """Seconds from entering to leaving the state (0 while it still runs)."""
        return 0.0 if self.exited is None else (self.exited - self.entered).total_seconds()


@dataclass(frozen=True)
class ExecutionOutcome:
    """How an execution ended.

    On success ``output`` is the execution's output. On failure ``failed_state`` is the state
    whose error ended the run (the task that failed, even when a Catch routed its error to a
    Fail state), and ``error``/``cause`` are the execution's (falling back to that state's).
    """

    execution_arn: str
    status: str
    output: Any = None
    failed_state: str | None = None
    error: str | None = None
    cause: str | None = None
    states: tuple[StateProgress, ...] = ()

    @property
    def succeeded(self) -> bool:
        """True when the execution SUCCEEDED."""
        return self.status == "SUCCEEDED"
