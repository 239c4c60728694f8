"""``stp test-workflow``: run Step Functions Local's mock-config test cases, without Docker.

The template is deployed to the emulation with the mock configuration loaded; every test
case (or ``--case``) starts as ``<stateMachineArn>#<TestCase>``, as on Step Functions Local,
and its path — the top-level states it entered, in order — its status, error and retries are
compared with the expectations file (``expected_paths.json`` beside the configuration):

    {"TradingStateMachine": {"HappyPath": {"status": "SUCCEEDED",
                                           "path": ["ProcessMarketData", ...],
                                           "retries": {"ProcessMarketData": 0},
                                           "error": null,
                                           "input": {...}}}}

``input`` is the execution input (default ``events/workflow_input.json``). A case without
expectations is run and printed. Exit 0 when every checked case went as expected, 1 when
one did not, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stp.cli import EXIT_FAILED, UsageError

DEFAULT_MOCK_CONFIG = Path("tests/workflow/MockConfigFile.json")
EXPECTATIONS_FILE = "expected_paths.json"
DEFAULT_INPUT = Path("events/workflow_input.json")
_EXPECTED_FIELDS = {"status", "path", "retries", "error", "input"}


@dataclass
class CaseResult:
    """One test case's run and how it compares with its expectations."""

    machine: str
    case: str
    status: str
    path: list[str]
    retries: dict[str, int]
    error: str | None
    execution_arn: str
    problems: list[str] = field(default_factory=list)
    checked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {
            "state_machine": self.machine,
            "test_case": self.case,
            "status": self.status,
            "path": self.path,
            "retries": self.retries,
            "error": self.error,
            "execution_arn": self.execution_arn,
            "checked": self.checked,
            "problems": self.problems,
        }


def test_workflow_command(
    project: Path,
    *,
    mock_config: Path | None,
    expectations: Path | None,
    case: str | None,
    as_json: bool,
) -> int:
    """Run the test cases; print one line each (or JSON); 1 when one went unexpectedly."""
    from stp.local.mock_config import MockConfigError, load_mock_config

    config_path = mock_config or project / DEFAULT_MOCK_CONFIG
    try:
        config = load_mock_config(config_path)
    except MockConfigError as error:
        raise UsageError(f"--mock-config {error}") from None
    expected = _load_expectations(expectations or config_path.parent / EXPECTATIONS_FILE)
    if case is not None and not any(case in cases for cases in config.test_cases.values()):
        raise UsageError(f"--case {case}: {config_path} defines no such test case")
    default_input = json.loads((project / DEFAULT_INPUT).read_text())
    from stp.local import LocalCloud

    with LocalCloud(mock_config=config) as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        results = run_cases(cloud, deployment, config, expected, case, default_input)
    if as_json:
        print(json.dumps([result.to_dict() for result in results], indent=2))
    else:
        _print(results)
    return EXIT_FAILED if any(result.problems for result in results) else 0


def run_cases(
    cloud: Any,
    deployment: Any,
    config: Any,
    expected: dict[str, dict[str, dict[str, Any]]],
    only: str | None,
    default_input: Any,
) -> list[CaseResult]:
    """Start every selected case (they run side by side), then compare each outcome."""
    from stp.local.aws_clients import internal_client

    stepfunctions = internal_client("stepfunctions", cloud.region)
    machines = _machines(stepfunctions, deployment, config)
    started: list[tuple[str, str, str, dict[str, Any] | None]] = []
    for machine, cases in config.test_cases.items():
        arn, _ = machines[machine]
        for case in cases:
            if only is not None and case != only:
                continue
            expectation = expected.get(machine, {}).get(case)
            execution_input = (expectation or {}).get("input", default_input)
            response = stepfunctions.start_execution(
                stateMachineArn=f"{arn}#{case}",
                name=f"{case}-{uuid.uuid4().hex[:8]}",
                input=json.dumps(execution_input),
            )
            started.append((machine, case, response["executionArn"], expectation))
    results = []
    for machine, case, execution_arn, expectation in started:
        outcome = cloud.wait(execution_arn, timeout=120)
        top_level = set(machines[machine][1].get("States", {}))
        states = sorted(outcome.states, key=lambda state: state.entered)
        retries: Counter[str] = Counter()
        for state in states:
            retries[state.name] += state.retries
        result = CaseResult(
            machine=machine,
            case=case,
            status=outcome.status,
            path=[state.name for state in states if state.name in top_level],
            retries={name: count for name, count in retries.items() if count},
            error=outcome.error,
            execution_arn=execution_arn,
        )
        if expectation is not None:
            result.checked = True
            result.problems = _compare(result, expectation)
        results.append(result)
    return results


def _machines(
    stepfunctions: Any, deployment: Any, config: Any
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The file's state machine keys → (deployed ARN, ASL definition); bad keys are errors."""
    deployed: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, arn in deployment.state_machines.items():
        described = stepfunctions.describe_state_machine(stateMachineArn=arn)
        definition = json.loads(described["definition"])
        deployed[logical_id.rsplit("/", 1)[-1]] = (arn, definition)
        deployed[described["name"]] = (arn, definition)
    found = {}
    problems = []
    for machine in config.test_cases:
        if machine not in deployed:
            known = ", ".join(sorted(deployed))
            raise UsageError(
                f"{config.source}: state machine {machine!r} is not in the template "
                f"(state machines: {known})"
            )
        found[machine] = deployed[machine]
        problems.extend(config.check_states(machine, deployed[machine][1]))
    if problems:
        raise UsageError(problems[0])
    return found


def _compare(result: CaseResult, expectation: dict[str, Any]) -> list[str]:
    problems = []
    if "status" in expectation and expectation["status"] != result.status:
        problems.append(f"status {result.status}, expected {expectation['status']}")
    if "path" in expectation and expectation["path"] != result.path:
        problems.append(
            f"path {' → '.join(result.path)}, expected {' → '.join(expectation['path'])}"
        )
    if "error" in expectation and expectation["error"] != result.error:
        problems.append(f"error {result.error}, expected {expectation['error']}")
    for state, count in expectation.get("retries", {}).items():
        if result.retries.get(state, 0) != count:
            problems.append(f"{state} retried {result.retries.get(state, 0)}, expected {count}")
    return problems


def _load_expectations(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The expectations file (none: nothing is checked); its mistakes are usage errors."""
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
    except ValueError as error:
        raise UsageError(f"--expect {path}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise UsageError(f"--expect {path}: expected an object of state machines")
    for machine, cases in document.items():
        if not isinstance(cases, dict):
            raise UsageError(f"--expect {path}: {machine}: expected an object of test cases")
        for case, expectation in cases.items():
            unknown = set(expectation) - _EXPECTED_FIELDS if isinstance(expectation, dict) else {}
            if not isinstance(expectation, dict) or unknown:
                raise UsageError(
                    f"--expect {path}: {machine}/{case}: fields are {sorted(_EXPECTED_FIELDS)}"
                )
    return document


def _print(results: list[CaseResult]) -> None:
    width = max((len(f"{r.machine}/{r.case}") for r in results), default=0)
    for result in results:
        verdict = (
            "ok"
            if result.checked and not result.problems
            else ("UNEXPECTED" if result.problems else "(not checked)")
        )
        status = result.status + (f" ({result.error})" if result.error else "")
        print(f"  {result.machine + '/' + result.case:<{width}}  {status:<34} {verdict}")
        print(f"  {'':<{width}}  {' → '.join(result.path)}")
        for problem in result.problems:
            print(f"  {'':<{width}}  ! {problem}", file=sys.stderr)
    failed = sum(1 for result in results if result.problems)
    checked = sum(1 for result in results if result.checked)
    print(f"{len(results)} test cases: {checked - failed} of {checked} checked as expected")
