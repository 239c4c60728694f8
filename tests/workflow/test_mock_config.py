"""Step Functions Local's mock configuration on the local runtime: the shipped test cases of
the trading workflow (run by `stp test-workflow`), and the file's semantics on the fixture
app — an unlisted state runs for real, each attempt and each Map iteration consumes the next
response, a missing response fails the execution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stp.cli import main
from stp.local import Deployment, LocalCloud
from stp.local.mock_config import MockConfigError, parse_mock_config

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "local" / "fixtures" / "app"
MOCK_CONFIG = ROOT / "tests" / "workflow" / "MockConfigFile.json"

pytestmark = pytest.mark.slow


def test_the_shipped_test_cases_take_their_expected_paths(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--project", str(ROOT), "test-workflow"]) == 0
    out = capsys.readouterr().out
    assert "8 test cases: 8 of 8 checked as expected" in out
    assert "RecordFailure → NotifyFailure → RunFailed" in out
    # The research map's tolerated failures, under and over the threshold.
    assert "ResearchStateMachine/FailuresUnderThreshold  SUCCEEDED" in out
    assert "FAILED (States.ExceedToleratedFailureThreshold) ok" in out


def test_an_unexpected_path_fails_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = {"TradingStateMachine": {"NoSignals": {"path": ["ProcessMarketData"]}}}
    wrong = tmp_path / "expected.json"
    wrong.write_text(json.dumps(expected))
    argv = ["--project", str(ROOT), "test-workflow", "--case", "NoSignals", "--expect", str(wrong)]
    assert main([*argv, "--json"]) == 1
    [result] = json.loads(capsys.readouterr().out)
    assert result["test_case"] == "NoSignals"
    assert result["path"][1:3] == ["HasSignals?", "NoSignals"]
    assert result["problems"] == [f"path {' → '.join(result['path'])}, expected ProcessMarketData"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"StateMachines": {}, "Mocked": {}}, "unknown top-level field"),
        ({"StateMachines": {"M": {"TestCases": {"C": {"S": "Nope"}}}}}, "'Nope' is not a name"),
        ({"StateMachines": {}, "MockedResponses": {"R": {"1": {"Return": 1}}}}, "expected 0"),
        ({"StateMachines": {}, "MockedResponses": {"R": {"0-1": {}}}}, "Return or Throw"),
        ({"StateMachines": {}, "MockedResponses": {"R": {"x": {"Return": 1}}}}, "'x' is not"),
        (
            {"StateMachines": {}, "MockedResponses": {"R": {"0": {"Throw": {"Cause": "c"}}}}},
            "Error and Cause",
        ),
    ],
)
def test_a_malformed_configuration_is_refused_naming_the_place(
    document: dict[str, Any], message: str
) -> None:
    with pytest.raises(MockConfigError, match=message):
        parse_mock_config(document, "cfg")


# --- the semantics, on the fixture app -------------------------------------------------------

MAP_MACHINE = "MapOfWork"
SEMANTICS = {
    "StateMachines": {
        "JobWorkflow": {
            "TestCases": {
                # Summarize is not listed: the deployed handler runs.
                "HybridPath": {"Prepare": "PreparedTwoRows"},
                "RetryThenNothingLeft": {"Prepare": "TransientOnce"},
            }
        },
        MAP_MACHINE: {"TestCases": {"Iterations": {"Work": "ThreeIterations"}}},
    },
    "MockedResponses": {
        "PreparedTwoRows": {
            "0": {"Return": {"StatusCode": 200, "Payload": {"key": "mocked.json", "rows": 2}}}
        },
        "TransientOnce": {"0": {"Throw": {"Error": "TransientJobError", "Cause": "try again"}}},
        "ThreeIterations": {
            "0": {"Return": {"StatusCode": 200, "Payload": "first"}},
            "1": {"Throw": {"Error": "ItemError", "Cause": "the second item"}},
            "2": {"Return": {"StatusCode": 200, "Payload": "third"}},
        },
    },
}


@pytest.fixture(scope="module")
def mocked() -> Iterator[tuple[LocalCloud, Deployment]]:
    with LocalCloud(mock_config=parse_mock_config(SEMANTICS)) as cloud:
        yield cloud, cloud.deploy(APP / "template.yaml", parameters={"Stage": "test"})


def _start(arn: str, case: str, execution_input: Any) -> str:
    response = boto3.client("stepfunctions").start_execution(
        stateMachineArn=f"{arn}#{case}", input=json.dumps(execution_input)
    )
    execution: str = response["executionArn"]
    return execution


def test_a_state_the_case_does_not_list_runs_its_real_handler(
    mocked: tuple[LocalCloud, Deployment],
) -> None:
    cloud, deployment = mocked
    before = len(cloud.invocations())
    arn = _start(deployment.state_machines["JobWorkflow"], "HybridPath", {"key": "x.json"})
    outcome = cloud.wait(arn)
    assert outcome.succeeded, outcome
    invoked = [name for name, _, _ in cloud.invocations()[before:]]
    assert invoked == [deployment.functions["SummarizeFunction"].name]
    assert outcome.output["summary_key"] == "summaries/mocked.json"


def test_each_attempt_consumes_a_response_and_a_missing_one_fails_the_execution(
    mocked: tuple[LocalCloud, Deployment],
) -> None:
    cloud, deployment = mocked
    arn = _start(deployment.state_machines["JobWorkflow"], "RetryThenNothingLeft", {})
    outcome = cloud.wait(arn)
    # The retry is the second invocation; the file has one response: States.Runtime, which
    # no Catch takes (the JobFailed path is never entered), as on AWS.
    assert outcome.status == "FAILED"
    assert outcome.error == "States.Runtime"
    assert "no mocked response for invocation 1 of state 'Prepare'" in (outcome.cause or "")
    assert [state.name for state in outcome.states] == ["Prepare"]
    assert outcome.states[0].retries == 1


def test_map_iterations_consume_the_responses_in_order(
    mocked: tuple[LocalCloud, Deployment],
) -> None:
    cloud, deployment = mocked
    work = {
        "Type": "Task",
        "Resource": deployment.functions["PrepareFunction"].arn,
        "Catch": [{"ErrorEquals": ["ItemError"], "Next": "Recovered"}],
        "End": True,
    }
    recovered = {"Type": "Pass", "Result": "recovered", "End": True}
    definition = {
        "StartAt": "EachItem",
        "States": {
            "EachItem": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {"Work": work, "Recovered": recovered},
                },
                "End": True,
            }
        },
    }
    stepfunctions = boto3.client("stepfunctions")
    machine = stepfunctions.create_state_machine(
        name=MAP_MACHINE,
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/map-of-work",
    )["stateMachineArn"]
    outcome = cloud.wait(_start(machine, "Iterations", {"items": [1, 2, 3]}))
    assert outcome.succeeded, outcome
    assert outcome.output == ["first", "recovered", "third"]


def test_a_test_case_the_file_lacks_is_an_invalid_arn(
    mocked: tuple[LocalCloud, Deployment],
) -> None:
    _, deployment = mocked
    with pytest.raises(ClientError) as raised:
        _start(deployment.state_machines["JobWorkflow"], "NoSuchCase", {})
    assert raised.value.response["Error"]["Code"] == "InvalidArn"
    assert "NoSuchCase" in raised.value.response["Error"]["Message"]
