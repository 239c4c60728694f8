"""Sweep records (RunsTable): ``PK=SWEEP#<sweep_id>``, ``SK=META``: status, request, item
count, and once aggregated the best parameters and where the leaderboard is."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

META = "META"


def sweep_key(sweep_id: str) -> dict[str, Any]:
    """The record's key."""
    return {"PK": {"S": f"SWEEP#{sweep_id}"}, "SK": {"S": META}}


class DynamoSweepRepository:
    """Sweep records in the runs table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def start(self, sweep_id: str, request: Mapping[str, Any], items: int, now: str) -> None:
        """Record the sweep as RUNNING (a retried Plan writes the same record again)."""
        self._client.put_item(
            TableName=self._table,
            Item={
                **sweep_key(sweep_id),
                "sweep_id": {"S": sweep_id},
                "status": {"S": "RUNNING"},
                "request": {"S": json.dumps(request)},
                "items": {"N": str(items)},
                "created_at": {"S": now},
                "updated_at": {"S": now},
            },
        )

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
        for name in ("request", "summary"):
            if name in record:
                record[name] = json.loads(record[name])
        return record
