"""The API's order lists over the PortfolioTable: the read side of the account's orders.

An order is an item of its account's partition (see ``adapters.accounts``): ``BOOK#<id>``
while open, ``ORDER#<id>`` once closed. Reading one is one consistent ``BatchGetItem`` of both
keys; a page of orders is one ``Query`` of an index — OrdersByAccount
(``OrderAccountKey=ORDERS#<account>``), OrdersByStatus (``ORDERS#<account>#<status>``) or
OrdersBySymbol (``ORDERS#<account>#<symbol>``), each sorted by ``order_id``. Indexes are
eventually consistent: an order shows in a list a moment after it is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.accounts import (
    ACCOUNT_KEY,
    OPEN_PREFIX,
    ORDER_PREFIX,
    STATUS_KEY,
    SYMBOL_KEY,
    batch_get,
    item_key,
)
from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import from_item
from trading.service.errors import InvalidPageTokenError
from trading.service.pages import Page, decode_token, encode_token

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ACCOUNT_INDEX = "OrdersByAccount"
STATUS_INDEX = "OrdersByStatus"
SYMBOL_INDEX = "OrdersBySymbol"
INDEX_SORT_KEY = "order_id"
_PREFIXES = (OPEN_PREFIX, ORDER_PREFIX)


class DynamoOrderReader:
    """The service's ``OrderReader`` over DynamoDB."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get_order(self, account: str, order_id: str) -> dict[str, Any] | None:
        """The order item (its plain values), open or closed, or ``None``."""
        keys = [item_key(account, prefix + order_id) for prefix in _PREFIXES]
        found = batch_get(
            self._client,
            {self._table: {"Keys": keys, "ConsistentRead": True}},
            f"reading order {order_id}",
        )
        # Both exist only for a moment while a large change is applied: closed is the newer.
        item = found.get((self._table, ORDER_PREFIX + order_id)) or found.get(
            (self._table, OPEN_PREFIX + order_id)
        )
        return from_item(item) if item else None

    def list_orders(
        self,
        account: str,
        *,
        status: str | None,
        symbol: str | None,
        limit: int,
        next_token: str | None,
    ) -> Page[dict[str, Any]]:
        """One ``Query`` of an index; see the module docstring."""
        if status is not None:
            index, name, value = STATUS_INDEX, STATUS_KEY, f"ORDERS#{account}#{status}"
        elif symbol is not None:
            index, name, value = SYMBOL_INDEX, SYMBOL_KEY, f"ORDERS#{account}#{symbol}"
        else:
            index, name, value = ACCOUNT_INDEX, ACCOUNT_KEY, f"ORDERS#{account}"
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "Limit": limit,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": name},
            "ExpressionAttributeValues": {":pk": {"S": value}},
        }
        if status is not None and symbol is not None:  # the status index, narrowed
            query["FilterExpression"] = "#symbol = :symbol"
            query["ExpressionAttributeNames"]["#symbol"] = "symbol"
            query["ExpressionAttributeValues"][":symbol"] = {"S": symbol}
        names = ("PK", "SK", name, INDEX_SORT_KEY)
        if next_token is not None:
            start = decode_token(next_token, names)
            sort_key = start["SK"]
            prefix = next((p for p in _PREFIXES if sort_key.startswith(p)), None)
            if (
                prefix is None
                or start["PK"] != f"ACCOUNT#{account}"
                or start[name] != value
                or start[INDEX_SORT_KEY] != sort_key.removeprefix(prefix)
            ):
                raise InvalidPageTokenError()
            query["ExclusiveStartKey"] = {key: {"S": text} for key, text in start.items()}
        response = _query(self._client, query, f"listing the orders of {account}")
        items = [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        token = encode_token({key: str(last[key]["S"]) for key in names}) if last else None
        return Page(items, token)


def _query(client: DynamoDBClient, query: dict[str, Any], action: str) -> Any:
    """One Query; a start key DynamoDB refuses (a forged token) is a bad token, not a 500."""
    try:
        with translate_errors(action):
            return client.query(**query)
    except ClientError as error:
        if "ExclusiveStartKey" in query and error_code(error) == "ValidationException":
            raise InvalidPageTokenError() from None
        raise
