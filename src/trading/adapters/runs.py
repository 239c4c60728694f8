"""Run records (RunsTable): ``PK=RUN#<run_id>``, ``SK=META`` per run, plus one step item each
(``SK=STEP#<nn>#<StepName>``). The RunsByTime index lists an account's runs newest first
(``GSI1PK=RUNS#<account>``, ``GSI1SK=created_at``; ``GSI1PK=RUNS`` for the operator's runs,
those of no account): a page never holds another account's run, and its token names the
account's partition, so it cannot be replayed by another.

The state machine's failure path writes ``status``, ``error`` and ``cause`` on the META item.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import Item, from_item, to_attribute, to_item
from trading.service.errors import InvalidPageTokenError
from trading.service.pages import Page, decode_token, encode_token
from trading.service.ports import NewRun, StepRecord
from trading.service.steps import RUNNING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

META = "META"
STEP_PREFIX = "STEP#"
RUNS_INDEX_KEY = "RUNS"


def runs_index_key(account: str | None) -> str:
    """The RunsByTime partition of ``account``'s runs (None: the operator's)."""
    return f"{RUNS_INDEX_KEY}#{account}" if account else RUNS_INDEX_KEY


RUNS_INDEX = "RunsByTime"
_RUNS_PAGE_KEYS = ("PK", "SK", "GSI1PK", "GSI1SK")
_TERMINAL = frozenset({"SUCCEEDED", "FAILED"})


def run_key(run_id: str) -> dict[str, Any]:
    """The key of a run's META item."""
    return {"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": META}}


def step_item(run_id: str, step: StepRecord) -> Item:
    """The item recording one step of a run (also written inside other transactions)."""
    return {
        "PK": {"S": f"RUN#{run_id}"},
        "SK": {"S": f"{STEP_PREFIX}{step.number:02d}#{step.name}"},
        **to_item(
            {
                "run_id": run_id,
                "step": step.name,
                "number": step.number,
                "started_at": step.started_at,
                "ended_at": step.ended_at,
                "duration_ms": step.duration_ms,
                "summary": dict(step.summary),
            }
        ),
    }


class DynamoRunRepository:
    """The service's ``RunRepository`` over DynamoDB."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def start(self, run: NewRun) -> dict[str, Any]:
        """Create the run's META item as RUNNING; a retry finds and reuses the existing one."""
        values = {
            "run_id": run.run_id,
            "status": RUNNING,
            "source_bucket": run.source_bucket,
            "source_key": run.source_key,
            "source": run.source,
            "config": dict(run.config) if run.config is not None else None,
            "created_at": run.created_at,
            "updated_at": run.created_at,
            "account": run.account,
            "GSI1PK": runs_index_key(run.account),
            "GSI1SK": run.created_at,
        }
        try:
            with translate_errors(f"creating run {run.run_id}"):
                self._client.put_item(
                    TableName=self._table,
                    Item={**run_key(run.run_id), **to_item(values)},
                    ConditionExpression="attribute_not_exists(PK)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            old: Any = error.response.get("Item")  # ALL_OLD: the record as it is
            existing = from_item(old or {})
            if not existing:  # an emulator that does not return the item: read it
                existing = self._get(run.run_id)
            if existing.get("status") not in {RUNNING, *_TERMINAL}:
                # Created ahead of the workflow (e.g. by the API): now it is running.
                return self._update(run.run_id, {"status": RUNNING, "updated_at": run.created_at})
            return existing
        return values

    def record_step(
        self, run_id: str, step: StepRecord, run_updates: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Store the step item and set ``run_updates`` on the META item; returns the latter."""
        with translate_errors(f"recording step {step.name} of run {run_id}"):
            self._client.put_item(TableName=self._table, Item=step_item(run_id, step))
        return self._update(run_id, run_updates)

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run's META record, or ``None`` when no run has this id (a consistent read)."""
        return self._get(run_id) or None

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's step items, in step order (their sort keys carry the step number)."""
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :step)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"RUN#{run_id}"},
                ":step": {"S": STEP_PREFIX},
            },
            "ConsistentRead": True,
        }
        while True:  # one page in practice: a run has a handful of steps
            with translate_errors(f"reading the steps of run {run_id}"):
                response = self._client.query(**query)
            found.extend(from_item(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            query["ExclusiveStartKey"] = last

    def list_runs(
        self, *, limit: int, next_token: str | None, account: str | None = None
    ) -> Page[dict[str, Any]]:
        """One page of ``account``'s run records, newest first (one ``Query`` of the
        RunsByTime index; None: the operator's runs)."""
        partition = runs_index_key(account)
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": RUNS_INDEX,
            "KeyConditionExpression": "GSI1PK = :runs",
            "ExpressionAttributeValues": {":runs": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token is not None:
            start = decode_token(next_token, _RUNS_PAGE_KEYS)
            if start["GSI1PK"] != partition or start["SK"] != META:
                raise InvalidPageTokenError()
            query["ExclusiveStartKey"] = {name: {"S": value} for name, value in start.items()}
        try:
            with translate_errors("listing runs"):
                response = self._client.query(**query)
        except ClientError as error:  # a start key DynamoDB refuses: a forged token
            if "ExclusiveStartKey" in query and error_code(error) == "ValidationException":
                raise InvalidPageTokenError() from None
            raise
        last = response.get("LastEvaluatedKey")
        token = encode_token({k: str(last[k]["S"]) for k in _RUNS_PAGE_KEYS}) if last else None
        return Page([from_item(item) for item in response.get("Items", [])], token)

    def _update(self, run_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        names = {f"#f{i}": name for i, name in enumerate(values)}
        attributes = {f":v{i}": to_attribute(value) for i, value in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        with translate_errors(f"updating run {run_id}"):
            response = self._client.update_item(
                TableName=self._table,
                Key=run_key(run_id),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attributes,
                ReturnValues="ALL_NEW",
            )
        return from_item(response.get("Attributes", {}))

    def _get(self, run_id: str) -> dict[str, Any]:
        with translate_errors(f"reading run {run_id}"):
            response = self._client.get_item(
                TableName=self._table, Key=run_key(run_id), ConsistentRead=True
            )
        return from_item(response.get("Item", {}))
