"""The emulation's DynamoDB never lets a read see half a write (moto_patches, patch 3).

moto's ``update_item`` of a new item inserts the bare key first and applies ``SET`` after;
a read in between saw ``{PK, SK}`` alone. The test widens that window (a sleep inside the
update) so the race is certain without the patch, and then shows that with the patch no
read, single or batched, ever returns the bare key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.responses import DynamoHandler

from stp.local.moto_patches import isolate_dynamodb_requests

REGION = "us-east-1"
TABLE = "isolation"
ITEMS = 40

pytestmark = pytest.mark.concurrency


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A table on moto, with every update held open 3 ms between its key and its SET."""
    original = dynamodb_models.UpdateExpressionExecutor.execute

    def slow_execute(self: Any, node: Any = None) -> None:
        if node is None:  # the top of the update, not each node it recurses into
            time.sleep(0.003)
        original(self, node)

    monkeypatch.setattr(dynamodb_models.UpdateExpressionExecutor, "execute", slow_execute)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def _key(n: int) -> dict[str, Any]:
    return {"PK": {"S": "ACCOUNT#a"}, "SK": {"S": f"STATE#{n}"}}


def _race(dynamodb: Any) -> int:
    """Create ITEMS items by update while readers poll them; count reads of a bare key."""
    done = threading.Event()
    half_seen: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(ITEMS):
                dynamodb.update_item(
                    TableName=TABLE,
                    Key=_key(n),
                    UpdateExpression="SET #s = :s",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={":s": {"S": f"state-{n}"}},
                )
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            done.set()

    def read(fetch: Callable[[], list[dict[str, Any]]]) -> None:
        try:
            while not done.is_set():
                half_seen.extend(item for item in fetch() if "state" not in item)
        except BaseException as error:  # reported below
            errors.append(error)

    def get_items() -> list[dict[str, Any]]:
        return [
            item
            for n in range(ITEMS)
            if (item := dynamodb.get_item(TableName=TABLE, Key=_key(n)).get("Item"))
        ]

    def batch_get_items() -> list[dict[str, Any]]:
        keys = [_key(n) for n in range(ITEMS)]
        found: list[dict[str, Any]] = []
        for start in range(0, ITEMS, 100):
            answer = dynamodb.batch_get_item(
                RequestItems={TABLE: {"Keys": keys[start : start + 100]}}
            )
            found.extend(answer["Responses"][TABLE])
        return found

    def query_items() -> list[dict[str, Any]]:
        answer = dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "ACCOUNT#a"}},
        )
        items: list[dict[str, Any]] = answer["Items"]
        return items

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(fetch,))
        for fetch in (get_items, batch_get_items, query_items)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return len(half_seen)


def test_without_isolation_a_read_sees_half_a_write(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: moto's own behaviour, which the patch exists to prevent."""
    unpatched = getattr(DynamoHandler.call_action, "__wrapped__", DynamoHandler.call_action)
    monkeypatch.setattr(DynamoHandler, "call_action", unpatched)
    assert _race(client) > 0


def test_with_isolation_no_read_sees_half_a_write(client: Any) -> None:
    isolate_dynamodb_requests()
    assert _race(client) == 0
