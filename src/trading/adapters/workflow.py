"""Starting the trading workflow: Step Functions StartExecution, and HeadObject on its input.

>>> workflow = StepFunctionsWorkflow(boto3.client("stepfunctions"), arn)  # doctest: +SKIP
>>> workflow.start("run-1", {"bucket": "b", "key": "raw/a.csv", "source": "api"})  # doctest: +SKIP
WorkflowExecution(name='run-1', execution_arn='arn:...:execution:...:run-1', status='RUNNING')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.service.ports import ExecutionExistsError, WorkflowExecution

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

RUNNING = "RUNNING"
_ALREADY_EXISTS = "ExecutionAlreadyExists"
_MISSING_OBJECT = frozenset({"404", "NoSuchKey", "NotFound"})


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of ``state_machine_arn``.

    >>> execution_arn("arn:aws:states:us-east-1:123456789012:stateMachine:wf", "r1")
    'arn:aws:states:us-east-1:123456789012:execution:wf:r1'
    """
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def encode_input(payload: Mapping[str, Any]) -> str:
    """The execution input: canonical JSON, so the same payload is always the same text
    (Step Functions' idempotency compares the input it was given)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


class StepFunctionsWorkflow:
    """The service's ``WorkflowStarter`` over a Step Functions state machine."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn

    def start(self, name: str, payload: Mapping[str, Any]) -> WorkflowExecution:
        """Start the execution ``name``; a repeat with the same payload returns the same one.

        Step Functions itself returns a *running* execution for the same name and input, but
        refuses a finished one (``ExecutionAlreadyExists``); that case is looked up, so a
        client retrying a start after its run ended still gets its run back. Another input
        under the same name raises :class:`ExecutionExistsError`.
        """
        document = encode_input(payload)
        try:
            with translate_errors(f"starting run {name}"):
                response = self._client.start_execution(
                    stateMachineArn=self._state_machine_arn, name=name, input=document
                )
        except ClientError as error:
            if error_code(error) != _ALREADY_EXISTS:
                raise
            return self._existing(name, document)
        return WorkflowExecution(name=name, execution_arn=response["executionArn"], status=RUNNING)

    def _existing(self, name: str, document: str) -> WorkflowExecution:
        arn = execution_arn(self._state_machine_arn, name)
        with translate_errors(f"reading run {name}"):
            described = self._client.describe_execution(executionArn=arn)
        if json.loads(described.get("input") or "null") != json.loads(document):
            raise ExecutionExistsError(name, arn)
        return WorkflowExecution(name=name, execution_arn=arn, status=described["status"])


class S3ObjectCatalog:
    """The service's ``ObjectCatalog`` over S3: HeadObject, never a read of the body."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def exists(self, bucket: str, key: str) -> bool:
        """True when ``s3://bucket/key`` exists."""
        try:
            with translate_errors(f"checking s3://{bucket}/{key}"):
                self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING_OBJECT:
                return False
            raise
        return True


def map_run_counts(client: SFNClient, state_machine_arn: str, name: str) -> dict[str, int] | None:
    """The item counts of the Distributed Map run of execution ``name`` (``succeeded``,
    ``failed``, ``running``, ``total``...), or None before the map has started (or when the
    execution does not exist)."""
    arn = execution_arn(state_machine_arn, name)
    try:
        with translate_errors(f"reading the map run of {name}"):
            runs = client.list_map_runs(executionArn=arn).get("mapRuns", [])
            if not runs:
                return None
            described = client.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise
    counts: Mapping[str, Any] = described["itemCounts"]
    return {field: int(value) for field, value in counts.items()}
