"""Sweep records (RunsTable): ``PK=SWEEP#<sweep_id>``, ``SK=META``: the owning account,
status, request, item count, the best result so far, and once aggregated the summary (best
parameters, counts, where the leaderboard is)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

META = "META"
_JSON_FIELDS = ("request", "summary", "best_so_far")
_CONDITION_FAILED = "ConditionalCheckFailedException"


def sweep_key(sweep_id: str) -> dict[str, Any]:
    """The record's key."""
    return {"PK": {"S": f"SWEEP#{sweep_id}"}, "SK": {"S": META}}


class DynamoSweepRepository:
    """Sweep records in the runs table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def create(
        self, sweep_id: str, account: str, request: Mapping[str, Any], now: str
    ) -> str | None:
        """Record a sweep the API starts for ``account`` as RUNNING, unless the id has a
        record already; returns the account of the record that stands (None: it has none)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **sweep_key(sweep_id),
                    "sweep_id": {"S": sweep_id},
                    "account": {"S": account},
                    "status": {"S": "RUNNING"},
                    "request": {"S": json.dumps(request)},
                    "created_at": {"S": now},
                    "updated_at": {"S": now},
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            existing = self.get(sweep_id) or {}
            owner = existing.get("account")
            return str(owner) if owner is not None else None
        return account

    def forget(self, sweep_id: str, account: str) -> None:
        """Delete ``account``'s record of a sweep that never started (nothing else's)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=sweep_key(sweep_id),
                ConditionExpression="#account = :account AND attribute_not_exists(#items)",
                ExpressionAttributeNames={"#account": "account", "#items": "items"},
                ExpressionAttributeValues={":account": {"S": account}},
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise

    def start(self, sweep_id: str, request: Mapping[str, Any], items: int, now: str) -> None:
        """Record the planned sweep as RUNNING with its item count (a retried Plan writes the
        same again; the account the API recorded stays)."""
        self._client.update_item(
            TableName=self._table,
            Key=sweep_key(sweep_id),
            UpdateExpression=(
                "SET #sweep_id = :sweep_id, #status = :status, #request = :request, "
                "#items = :items, #created_at = if_not_exists(#created_at, :now), "
                "#updated_at = :now"
            ),
            ExpressionAttributeNames={
                "#sweep_id": "sweep_id",
                "#status": "status",
                "#request": "request",
                "#items": "items",
                "#created_at": "created_at",
                "#updated_at": "updated_at",
            },
            ExpressionAttributeValues={
                ":sweep_id": {"S": sweep_id},
                ":status": {"S": "RUNNING"},
                ":request": {"S": json.dumps(request)},
                ":items": {"N": str(items)},
                ":now": {"S": now},
            },
        )

    def offer_best(self, sweep_id: str, best: Mapping[str, Any], score: float) -> bool:
        """Keep ``best`` as the sweep's best result so far when its ``score`` beats the one
        kept (one conditional write a batch); False when it does not."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=sweep_key(sweep_id),
                UpdateExpression="SET #best = :best, #score = :score",
                ConditionExpression=(
                    "attribute_exists(PK) AND (attribute_not_exists(#score) OR #score < :score)"
                ),
                ExpressionAttributeNames={"#best": "best_so_far", "#score": "best_score"},
                ExpressionAttributeValues={
                    ":best": {"S": json.dumps(best)},
                    ":score": {"N": repr(float(score))},
                },
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            return False
        return True

    def finish(self, sweep_id: str, summary: Mapping[str, Any], now: str) -> None:
        """Mark the sweep SUCCEEDED with its summary (best, counts, leaderboard keys)."""
        self._client.update_item(
            TableName=self._table,
            Key=sweep_key(sweep_id),
            UpdateExpression="SET #status = :status, #summary = :summary, #updated_at = :now",
            ExpressionAttributeNames={
                "#status": "status",
                "#summary": "summary",
                "#updated_at": "updated_at",
            },
            ExpressionAttributeValues={
                ":status": {"S": "SUCCEEDED"},
                ":summary": {"S": json.dumps(summary)},
                ":now": {"S": now},
            },
        )

    def get(self, sweep_id: str) -> dict[str, Any] | None:
        """The record as plain values, or None."""
        item = self._client.get_item(
            TableName=self._table, Key=sweep_key(sweep_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        record: dict[str, Any] = {
            name: next(iter(value.values()))
            for name, value in item.items()
            if name not in ("PK", "SK")
        }
        for name in _JSON_FIELDS:
            if name in record:
                record[name] = json.loads(record[name])
        return record
