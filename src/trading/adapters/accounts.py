"""Trading accounts (PortfolioTable), one partition per account ``PK=ACCOUNT#<account>``:

- ``SK=STATE``: the engine state (JSON text, exact) and its ``version``;
- ``SK=RUN#<run_id>``: the execution record of a run, holding the summary it returned;
- ``SK=ORDER#<order_id>``, ``FILL#<fill_id>``, ``POSITION#<symbol>``: per-item read models of
  live steps (large backtests keep orders and fills in their S3 ledger only).

An execution is committed in ONE ``TransactWriteItems`` (the unit of work): the state guarded
by its version, the execution record guarded by its absence, the run's step record, and the
order, fill and position items. Two round trips per execution in all: one ``BatchGetItem``
(state + execution record) and the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import Item, from_item, to_item
from trading.adapters.runs import step_item
from trading.errors import TransientStoreError
from trading.service.ports import (
    AccountSnapshot,
    AccountVersionConflictError,
    DuplicateExecutionError,
    ExecutionCommit,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

STATE = "STATE"
# Index keys of ORDER items (the OrdersByStatus and OrdersBySymbol indexes; sort: order_id).
STATUS_KEY = "OrderStatusKey"
SYMBOL_KEY = "OrderSymbolKey"
_MAX_READ_ATTEMPTS = 5
# Position of each guarded item in the transaction, to read its cancellation reason.
_STATE_INDEX = 0
_EXECUTION_INDEX = 1
# Cancellation reasons that mean "try again": throttled or raced by another transaction.
_TRANSIENT_REASONS = frozenset(
    {
        "ThrottlingError",
        "TransactionConflict",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)


def account_pk(account: str) -> dict[str, str]:
    """The partition key value of an account."""
    return {"S": f"ACCOUNT#{account}"}


def order_index_keys(account: str, order: Mapping[str, Any]) -> dict[str, str]:
    """The index attributes of an order item: by status and by symbol, within the account."""
    return {
        STATUS_KEY: f"ORDERS#{account}#{order['status']}",
        SYMBOL_KEY: f"ORDERS#{account}#{order['symbol']}",
    }


def _key(account: str, sort_key: str) -> dict[str, Any]:
    return {"PK": account_pk(account), "SK": {"S": sort_key}}


class DynamoAccountRepository:
    """The service's ``AccountRepository`` over DynamoDB; step records go to ``runs_table``."""

    def __init__(self, client: DynamoDBClient, table: str, runs_table: str) -> None:
        self._client = client
        self._table = table
        self._runs_table = runs_table

    def load(self, account: str, run_id: str) -> AccountSnapshot:
        """The state and this run's execution record, in one consistent batch read."""
        wanted: dict[str, Any] = {
            self._table: {
                "Keys": [_key(account, STATE), _key(account, f"RUN#{run_id}")],
                "ConsistentRead": True,
            }
        }
        found: dict[str, dict[str, Any]] = {}
        for _ in range(_MAX_READ_ATTEMPTS):
            with translate_errors(f"loading account {account}"):
                response = self._client.batch_get_item(RequestItems=wanted)
            for item in response.get("Responses", {}).get(self._table, []):
                found[str(item["SK"]["S"])] = from_item(item)
            wanted = dict(response.get("UnprocessedKeys") or {})
            if not wanted:
                break
        else:
            raise TransientStoreError(f"loading account {account}: reads kept being throttled")
        state_item = found.get(STATE)
        execution = found.get(f"RUN#{run_id}")
        return AccountSnapshot(
            account=account,
            state=json.loads(state_item["state"]) if state_item else None,
            version=int(state_item["version"]) if state_item else 0,
            execution=json.loads(execution["summary"]) if execution else None,
        )

    def commit(self, commit: ExecutionCommit) -> None:
        """Write the execution atomically; see the port for the errors raised."""
        items = self._transaction(commit)
        try:
            with translate_errors(f"committing run {commit.run_id} on {commit.account}"):
                self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            self._explain(error, commit)

    def _transaction(self, commit: ExecutionCommit) -> list[TransactWriteItemTypeDef]:
        account, run_id = commit.account, commit.run_id
        if commit.expected_version:
            state_condition: dict[str, Any] = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(commit.expected_version)}},
            }
        else:
            state_condition = {"ConditionExpression": "attribute_not_exists(PK)"}
        ended_at = commit.step.ended_at
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_key(account, STATE),
                        **to_item(
                            {
                                "state": json.dumps(commit.state, separators=(",", ":")),
                                "version": commit.expected_version + 1,
                                "last_run_id": run_id,
                                "updated_at": ended_at,
                            }
                        ),
                    },
                    **state_condition,  # type: ignore[typeddict-item]
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_key(account, f"RUN#{run_id}"),
                        **to_item(
                            {
                                "run_id": run_id,
                                "summary": json.dumps(commit.summary, separators=(",", ":")),
                                "version": commit.expected_version + 1,
                                "committed_at": ended_at,
                            }
                        ),
                    },
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {"Put": {"TableName": self._runs_table, "Item": step_item(run_id, commit.step)}},
        ]
        for order in commit.orders:
            indexed = {**order, **order_index_keys(account, order)}
            items.append(self._record(account, f"ORDER#{order['order_id']}", indexed, run_id, True))
        for order in commit.updated_orders:  # booked earlier (a run or the API): replaced
            indexed = {**order, **order_index_keys(account, order)}
            items.append(self._record(account, f"ORDER#{order['order_id']}", indexed, run_id))
        for fill in commit.fills:
            items.append(self._record(account, f"FILL#{fill['fill_id']}", fill, run_id, True))
        for symbol, position in commit.positions.items():
            items.append(self._record(account, f"POSITION#{symbol}", position, run_id))
        return items

    def _record(
        self,
        account: str,
        sort_key: str,
        values: Mapping[str, Any],
        run_id: str,
        once: bool = False,
    ) -> TransactWriteItemTypeDef:
        """A read-model item; ``once``: refused if it exists (booked exactly once)."""
        item: Item = {**_key(account, sort_key), **to_item({**values, "run_id": run_id})}
        put: dict[str, Any] = {"TableName": self._table, "Item": item}
        if once:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        return {"Put": put}  # type: ignore[typeddict-item]

    def _explain(self, error: ClientError, commit: ExecutionCommit) -> None:
        """Turn a cancelled transaction into the port's errors; always raises."""
        cancellations: list[Any] = list(error.response.get("CancellationReasons", []))
        reasons = [str(reason.get("Code", "None")) for reason in cancellations]
        if reasons[_EXECUTION_INDEX : _EXECUTION_INDEX + 1] == ["ConditionalCheckFailed"]:
            old = cancellations[_EXECUTION_INDEX].get("Item")  # ALL_OLD: the stored record
            if old and "summary" in old:
                raise DuplicateExecutionError(json.loads(old["summary"]["S"])) from None
            stored = self.load(commit.account, commit.run_id).execution
            if stored is not None:
                raise DuplicateExecutionError(stored) from None
        if reasons and reasons[_STATE_INDEX] == "ConditionalCheckFailed":
            raise AccountVersionConflictError(
                f"account {commit.account} is no longer at version {commit.expected_version}"
            ) from None
        if _TRANSIENT_REASONS.intersection(reasons):
            raise TransientStoreError(
                f"committing run {commit.run_id} on {commit.account}: {', '.join(reasons)}"
            ) from error
        raise error
