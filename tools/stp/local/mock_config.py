"""Step Functions Local's mock configuration (``MockConfigFile.json``), without Docker.

The file is AWS's documented format: ``StateMachines`` → state machine → ``TestCases`` →
test case → ``{state name: mocked response name}``, and ``MockedResponses`` → response name
→ ``{"0": {...}, "1-2": {...}}``, each entry a ``Return`` (the task's result: for a Lambda
task the Invoke response, ``{"StatusCode": 200, "Payload": ...}``) or a ``Throw``
(``Error``, ``Cause``). ``StartExecution`` on ``<stateMachineArn>#<TestCase>`` runs that test
case, as on Step Functions Local:

- a Task state the case lists never calls its service: each invocation of the state in the
  execution — every attempt, retries included, and every Map iteration, in the order they
  run — consumes the next response;
- a state the case does not list runs for real (the deployed handler, the emulated service);
- a mocked state with no response left fails the execution with ``States.Runtime``.

A state machine is named in the file by its name or by its logical id in the template
(``TradingStateMachine``), so one file serves every stack name.

This module is the only hook into moto's interpreter for mocking (moto carries LocalStack's
mocked-mode evaluation but never loads a configuration): `activate` installs it.

>>> config = load_mock_config(Path("tests/workflow/MockConfigFile.json"))  # doctest: +SKIP
>>> with LocalCloud(mock_config=config) as cloud:  # doctest: +SKIP
...     stepfunctions.start_execution(stateMachineArn=f"{arn}#HappyPath", input="{}")
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.stepfunctions.exceptions import InvalidArn
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

TEST_CASE_SEPARATOR = "#"
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_PATCHED = "_stp_mock_config_patched"


class MockConfigError(ValueError):
    """The mock configuration is not of AWS's format; the message names the place."""


@dataclass(frozen=True)
class MockConfig:
    """A parsed mock configuration: test cases per state machine, responses per name."""

    source: str
    test_cases: dict[str, dict[str, dict[str, str]]]
    responses: dict[str, tuple[MockedResponse, ...]]

    def machine_key(self, names: Iterable[str]) -> str | None:
        """The file's key of the state machine known by any of ``names``."""
        return next((name for name in names if name in self.test_cases), None)

    def check_states(self, machine: str, definition: Mapping[str, Any]) -> list[str]:
        """Problems of ``machine``'s test cases against its ASL ``definition``: states
        named that the state machine does not have."""
        known = set(state_names(definition))
        return [
            f"{self.source}: test case {machine}/{case} mocks state {state!r}, which "
            f"{machine} does not have"
            for case, states in self.test_cases[machine].items()
            for state in states
            if state not in known
        ]


@dataclass
class MockedExecution:
    """One execution's test case, as the interpreter sees it (``env.mock_test_case``).

    ``state_mocked_responses`` is what moto's ``is_mocked_mode`` looks states up in; the
    invocation counters are shared by every frame (Map iterations, Parallel branches).
    """

    machine: str
    case: str
    state_mocked_responses: dict[str, tuple[MockedResponse, ...]]
    invocations: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_response(self, env: Environment) -> MockedResponse:
        """The response of this invocation of the running state, or a ``States.Runtime``
        failure when the file has none left."""
        state = str(env.next_state_name)
        with self._lock:
            number = self.invocations[state]
            self.invocations[state] += 1
        responses = self.state_mocked_responses[state]
        if number < len(responses):
            return responses[number]
        cause = (
            f"test case {self.machine}/{self.case} has no mocked response for invocation "
            f"{number} of state {state!r} (it defines {len(responses)})"
        )
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=StatesErrorNameType.StatesRuntime.to_name(), cause=cause
                    )
                ),
            )
        )


def load_mock_config(path: Path) -> MockConfig:
    """Read and check a ``MockConfigFile.json``; `MockConfigError` names what is wrong."""
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise MockConfigError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:
        raise MockConfigError(f"{path}: not JSON ({error})") from None
    return parse_mock_config(document, str(path))


def parse_mock_config(document: Any, source: str = "mock config") -> MockConfig:
    """Check a mock configuration document (AWS's ``MockConfigFile.json`` format)."""
    top = _object(document, source)
    unknown = set(top) - {"StateMachines", "MockedResponses"}
    if unknown:
        raise MockConfigError(f"{source}: unknown top-level field(s) {sorted(unknown)}")
    responses = {
        name: _responses(value, f"{source}: MockedResponses.{name}")
        for name, value in _object(
            top.get("MockedResponses", {}), f"{source}: MockedResponses"
        ).items()
    }
    test_cases: dict[str, dict[str, dict[str, str]]] = {}
    machines = _object(top.get("StateMachines"), f"{source}: StateMachines")
    for machine, value in machines.items():
        where = f"{source}: StateMachines.{machine}"
        cases = _object(_object(value, where).get("TestCases"), f"{where}.TestCases")
        test_cases[machine] = {}
        for case, states in cases.items():
            mapping = _object(states, f"{where}.TestCases.{case}")
            for state, response in mapping.items():
                if not isinstance(response, str) or response not in responses:
                    raise MockConfigError(
                        f"{where}.TestCases.{case}.{state}: {response!r} is not a name in "
                        "MockedResponses"
                    )
            test_cases[machine][case] = dict(mapping)
    return MockConfig(source, test_cases, responses)


def state_names(definition: Mapping[str, Any]) -> Iterator[str]:
    """Every state of an ASL definition, those inside Parallel branches and Maps too."""
    for name, state in definition.get("States", {}).items():
        yield name
        for branch in state.get("Branches", []):
            yield from state_names(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from state_names(state[key])


# --- the hook into moto's interpreter ------------------------------------------------------


@dataclass
class _Active:
    """The configuration in use and the names each state machine ARN is known by."""

    config: MockConfig | None = None
    aliases: dict[str, set[str]] = field(default_factory=dict)


_ACTIVE = _Active()
_starting = threading.local()


def activate(config: MockConfig | None) -> None:
    """Use ``config`` for ``<arn>#<TestCase>`` starts from now on (None: no mocking)."""
    _install()
    _ACTIVE.config = config
    _ACTIVE.aliases.clear()


def add_alias(state_machine_arn: str, name: str) -> None:
    """Let the mock configuration name the state machine ``name`` (its logical id)."""
    _ACTIVE.aliases.setdefault(state_machine_arn, set()).add(name)


def _install() -> None:
    if getattr(StepFunctionsParserBackend, _PATCHED, False):
        return
    StepFunctionsParserBackend.start_execution = _start_test_case(  # type: ignore[method-assign]
        StepFunctionsParserBackend.start_execution
    )
    Execution._get_start_execution_worker = _with_test_case(  # type: ignore[method-assign, assignment]
        Execution._get_start_execution_worker
    )
    Environment.get_current_mocked_response = _counted(  # type: ignore[method-assign]
        Environment.get_current_mocked_response
    )
    setattr(StepFunctionsParserBackend, _PATCHED, True)


def _start_test_case(start: Callable[..., Execution]) -> Callable[..., Execution]:
    @functools.wraps(start)
    def start_execution(
        backend: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Execution:
        arn, separator, case = state_machine_arn.partition(TEST_CASE_SEPARATOR)
        if not separator:
            return start(backend, state_machine_arn, name, execution_input, trace_header)
        config = _ACTIVE.config
        if config is None:
            raise InvalidArn(
                f"Invalid arn: '{state_machine_arn}': no mock configuration is loaded "
                "(start with `stp up --mock-config FILE`)"
            )
        machine = backend.describe_state_machine(arn)
        key = config.machine_key([machine.name, *sorted(_ACTIVE.aliases.get(arn, ()))])
        if key is None or case not in config.test_cases[key]:
            raise InvalidArn(
                f"Invalid mock test case name '{case}' for state machine '{machine.name}': "
                f"{config.source} does not define it"
            )
        states = config.test_cases[key][case]
        _starting.test_case = MockedExecution(
            key, case, {state: config.responses[response] for state, response in states.items()}
        )
        try:
            return start(backend, arn, name, execution_input, trace_header)
        finally:
            _starting.test_case = None

    return start_execution


def _with_test_case(make_worker: Callable[[Execution], Any]) -> Callable[[Execution], Any]:
    @functools.wraps(make_worker)
    def worker_of(execution: Execution) -> Any:
        worker = make_worker(execution)
        test_case = getattr(_starting, "test_case", None)
        if test_case is not None:
            worker._mock_test_case = test_case
        return worker

    return worker_of


def _counted(original: Callable[[Environment], MockedResponse]) -> Callable[..., MockedResponse]:
    @functools.wraps(original)
    def current_response(env: Environment) -> MockedResponse:
        test_case = env.mock_test_case
        if isinstance(test_case, MockedExecution):
            return test_case.next_response(env)
        return original(env)

    return current_response


# --- parsing helpers -------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MockConfigError(f"{where}: expected a JSON object")
    return value


def _responses(value: Any, where: str) -> tuple[MockedResponse, ...]:
    """The responses of one name, one per invocation, from ``"0"``, ``"1-2"``... keys."""
    entries: list[tuple[int, int, MockedResponse]] = []
    for key, entry in _object(value, where).items():
        match = _RANGE.fullmatch(key.strip())
        if match is None:
            raise MockConfigError(f"{where}: {key!r} is not an invocation number or range")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise MockConfigError(f"{where}: range {key!r} ends before it starts")
        entries.append((first, last, _response(entry, first, last, f"{where}.{key}")))
    entries.sort(key=lambda item: item[0])
    expected = 0
    expanded: list[MockedResponse] = []
    for first, last, response in entries:
        if first != expected:
            raise MockConfigError(
                f"{where}: invocations must be numbered from 0 without gaps or overlaps; "
                f"expected {expected}, found {first}"
            )
        expanded.extend([response] * (last - first + 1))
        expected = last + 1
    if not expanded:
        raise MockConfigError(f"{where}: no responses")
    return tuple(expanded)


def _response(entry: Any, first: int, last: int, where: str) -> MockedResponse:
    fields = _object(entry, where)
    if set(fields) == {"Return"}:
        return MockedResponseReturn(first, last, fields["Return"])
    if set(fields) == {"Throw"}:
        throw = _object(fields["Throw"], f"{where}.Throw")
        error, cause = throw.get("Error"), throw.get("Cause", "")
        if (
            not isinstance(error, str)
            or not isinstance(cause, str)
            or set(throw)
            - {
                "Error",
                "Cause",
            }
        ):
            raise MockConfigError(f"{where}.Throw: needs string fields Error and Cause only")
        return MockedResponseThrow(first, last, error, cause)
    raise MockConfigError(f"{where}: needs exactly one field, Return or Throw")
