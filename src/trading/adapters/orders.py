"""The API's order book over the PortfolioTable (and the QuotesTable for reference prices).

Items of an account's partition ``PK=ACCOUNT#<account>`` (see ``adapters.accounts``):
``SK=STATE`` (engine state and version), ``SK=ORDER#<order_id>`` (one per order, with the
index keys below) and ``SK=CLIENT#<client_order_id>`` (which order a client order id placed,
and the fingerprint of its request).

Order lists are Queries only: the partition (all orders), the OrdersByStatus index
(``OrderStatusKey=ORDERS#<account>#<status>``) or the OrdersBySymbol index
(``OrderSymbolKey=ORDERS#<account>#<symbol>``), both sorted by ``order_id``.

Round trips: placing an order is one ``BatchGetItem`` (state, client order id, quote) and one
``TransactWriteItems`` (state guarded by version, order and client order id guarded by
absence); reading an order one ``GetItem``; a page of orders one ``Query``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.accounts import (
    STATE,
    STATUS_KEY,
    SYMBOL_KEY,
    account_pk,
    order_index_keys,
)
from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import Item, from_item, to_attribute, to_item
from trading.adapters.quotes import quote_key
from trading.core.model import Bar
from trading.errors import TransientStoreError
from trading.service.errors import InvalidPageTokenError
from trading.service.pages import Page, decode_token, encode_token
from trading.service.ports import (
    AccountState,
    AccountVersionConflictError,
    ClientOrder,
    ClientOrderIdTakenError,
    OrderChange,
    PlacementSnapshot,
    Quote,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ORDER_PREFIX = "ORDER#"
CLIENT_PREFIX = "CLIENT#"
STATUS_INDEX = "OrdersByStatus"
SYMBOL_INDEX = "OrdersBySymbol"
INDEX_SORT_KEY = "order_id"
_MAX_READ_ATTEMPTS = 5
# Positions of the guarded items in a placement's transaction.
_STATE_INDEX = 0
_ORDER_INDEX = 1
_CLIENT_INDEX = 2


def _key(account: str, sort_key: str) -> dict[str, Any]:
    return {"PK": account_pk(account), "SK": {"S": sort_key}}


def quote_from_item(item: Mapping[str, Any]) -> Quote:
    """The quote a QuotesTable item holds."""
    values = from_item(item)
    bar = Bar(
        str(values["symbol"]),
        int(values["ts"]),
        float(values["open"]),
        float(values["high"]),
        float(values["low"]),
        float(values["close"]),
        float(values["volume"]),
    )
    return Quote(bar, str(values.get("run_id", "")))


class DynamoOrderBook:
    """The service's ``OrderBook`` and ``QuoteReader`` over DynamoDB."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        quotes_table: str,
        hot_reads: DynamoDBClient | None = None,
    ) -> None:
        self._client = client
        # Eventually consistent reads of what the API serves most (quotes, the account's
        # views): the DAX cluster when there is one (see ``bootstrap.read_client``).
        self._hot_reads = hot_reads or client
        self._table = table
        self._quotes_table = quotes_table

    # -- reads ---------------------------------------------------------------------------------

    def load_for_placement(
        self, account: str, symbol: str, client_order_id: str | None
    ) -> PlacementSnapshot:
        """State, client order id record and quote in one consistent ``BatchGetItem``."""
        keys = [_key(account, STATE)]
        if client_order_id is not None:
            keys.append(_key(account, CLIENT_PREFIX + client_order_id))
        wanted: dict[str, Any] = {
            self._table: {"Keys": keys, "ConsistentRead": True},
            self._quotes_table: {"Keys": [quote_key(symbol)], "ConsistentRead": True},
        }
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for _ in range(_MAX_READ_ATTEMPTS):
            with translate_errors(f"loading account {account}"):
                response = self._client.batch_get_item(RequestItems=wanted)
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    found[(table, str(item["SK"]["S"]))] = dict(item)
            wanted = dict(response.get("UnprocessedKeys") or {})
            if not wanted:
                break
        else:
            raise TransientStoreError(f"loading account {account}: reads kept being throttled")
        client = None
        if client_order_id is not None:
            record = found.get((self._table, CLIENT_PREFIX + client_order_id))
            if record is not None:
                values = from_item(record)
                client = ClientOrder(
                    client_order_id, str(values["order_id"]), str(values["fingerprint"])
                )
        quote_item = found.get((self._quotes_table, quote_key(symbol)["SK"]["S"]))
        return PlacementSnapshot(
            account=_account_state(account, found.get((self._table, STATE))),
            client_order=client,
            quote=quote_from_item(quote_item) if quote_item else None,
        )

    def load_state(self, account: str) -> AccountState:
        """The account's state and version (one consistent ``GetItem``)."""
        with translate_errors(f"loading account {account}"):
            response = self._client.get_item(
                TableName=self._table, Key=_key(account, STATE), ConsistentRead=True
            )
        return _account_state(account, response.get("Item"))

    def view_state(self, account: str) -> AccountState:
        """The account's state as the positions and portfolio views show it: one eventually
        consistent ``GetItem`` on the hot-read client (a write may show a moment later)."""
        with translate_errors(f"reading account {account}"):
            response = self._hot_reads.get_item(TableName=self._table, Key=_key(account, STATE))
        return _account_state(account, response.get("Item"))

    def get_order(self, account: str, order_id: str) -> dict[str, Any] | None:
        """The order item (its plain values), or ``None``."""
        with translate_errors(f"reading order {order_id}"):
            response = self._client.get_item(
                TableName=self._table, Key=_key(account, ORDER_PREFIX + order_id)
            )
        item = response.get("Item")
        return from_item(item) if item else None

    def get_latest(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol`` (one ``GetItem``), or ``None``."""
        with translate_errors(f"reading the quote of {symbol}"):
            response = self._hot_reads.get_item(TableName=self._quotes_table, Key=quote_key(symbol))
        item = response.get("Item")
        return quote_from_item(item) if item else None

    def list_orders(
        self,
        account: str,
        *,
        status: str | None,
        symbol: str | None,
        limit: int,
        next_token: str | None,
    ) -> Page[dict[str, Any]]:
        """One ``Query`` of the partition or of an index; see the module docstring."""
        partition = account_pk(account)["S"]
        query: dict[str, Any] = {"TableName": self._table, "Limit": limit}
        expected: dict[str, str] = {"PK": partition}
        if status is not None:
            index_key = f"ORDERS#{account}#{status}"
            query.update(
                IndexName=STATUS_INDEX,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": STATUS_KEY},
                ExpressionAttributeValues={":pk": {"S": index_key}},
            )
            expected[STATUS_KEY] = index_key
            names: tuple[str, ...] = ("PK", "SK", STATUS_KEY, INDEX_SORT_KEY)
            if symbol is not None:  # both: the status index, narrowed to the symbol
                query["FilterExpression"] = "#symbol = :symbol"
                query["ExpressionAttributeNames"]["#symbol"] = "symbol"
                query["ExpressionAttributeValues"][":symbol"] = {"S": symbol}
        elif symbol is not None:
            index_key = f"ORDERS#{account}#{symbol}"
            query.update(
                IndexName=SYMBOL_INDEX,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": SYMBOL_KEY},
                ExpressionAttributeValues={":pk": {"S": index_key}},
            )
            expected[SYMBOL_KEY] = index_key
            names = ("PK", "SK", SYMBOL_KEY, INDEX_SORT_KEY)
        else:
            query.update(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :order)",
                ExpressionAttributeValues={
                    ":pk": {"S": partition},
                    ":order": {"S": ORDER_PREFIX},
                },
                ConsistentRead=True,
            )
            names = ("PK", "SK")
        if next_token is not None:
            start = decode_token(next_token, names)
            order_id = start["SK"].removeprefix(ORDER_PREFIX)
            if (
                any(start[name] != value for name, value in expected.items())
                or not start["SK"].startswith(ORDER_PREFIX)
                or start.get(INDEX_SORT_KEY, order_id) != order_id
            ):
                raise InvalidPageTokenError()
            query["ExclusiveStartKey"] = {name: {"S": value} for name, value in start.items()}
        response = _query(self._client, query, f"listing the orders of {account}")
        items = [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        token = encode_token({name: str(last[name]["S"]) for name in names}) if last else None
        return Page(items, token)

    # -- writes --------------------------------------------------------------------------------

    def commit(self, change: OrderChange) -> None:
        """Write the change in one transaction; see the port for the errors raised."""
        try:
            with translate_errors(f"writing order {change.order['order_id']}"):
                self._client.transact_write_items(TransactItems=self._transaction(change))
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = [
                str(reason.get("Code", "None"))
                for reason in error.response.get("CancellationReasons", [])
            ]
            # The state moved on, or (seen mid-race) its new order id exists already: either
            # way a concurrent request committed first, and a retry sees its state.
            raced = {reasons[i] for i in (_STATE_INDEX, _ORDER_INDEX) if i < len(reasons)}
            if "ConditionalCheckFailed" in raced:
                raise AccountVersionConflictError(
                    f"account {change.account} is no longer at version {change.expected_version}"
                ) from None
            if reasons[_CLIENT_INDEX : _CLIENT_INDEX + 1] == ["ConditionalCheckFailed"]:
                raise ClientOrderIdTakenError(str(change.order["order_id"])) from None
            if "TransactionConflict" in reasons:  # raced by another transaction: retry
                raise AccountVersionConflictError(f"account {change.account}: conflict") from None
            raise TransientStoreError(
                f"writing order {change.order['order_id']}: {', '.join(reasons)}"
            ) from error

    def _transaction(self, change: OrderChange) -> list[TransactWriteItemTypeDef]:
        account, order = change.account, change.order
        version = change.expected_version
        state_values = {
            ":state": to_attribute(json.dumps(change.state, separators=(",", ":"))),
            ":version": to_attribute(version + 1),
            ":updated": to_attribute(change.updated_at),
        }
        if version:
            condition = "version = :expected"
            state_values[":expected"] = to_attribute(version)
        else:
            condition = "attribute_not_exists(PK)"
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(account, STATE),
                    "UpdateExpression": "SET #state = :state, version = :version, "
                    "updated_at = :updated",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": state_values,
                }
            }
        ]
        values = {**order, **order_index_keys(account, order), "updated_at": change.updated_at}
        order_key = _key(account, ORDER_PREFIX + str(order["order_id"]))
        if change.created:
            item: Item = {**order_key, **to_item(values)}
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        else:  # an order booked earlier (maybe by a run, with its run_id): its fields change
            names = {f"#f{i}": name for i, name in enumerate(values)}
            attributes = {f":v{i}": to_attribute(value) for i, value in enumerate(values.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": order_key,
                        "UpdateExpression": "SET "
                        + ", ".join(f"#f{i} = :v{i}" for i in range(len(values))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": attributes,
                    }
                }
            )
        if change.client_order is not None:
            record = change.client_order
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_key(account, CLIENT_PREFIX + record.client_order_id),
                            **to_item(
                                {
                                    "order_id": record.order_id,
                                    "fingerprint": record.fingerprint,
                                    "created_at": change.updated_at,
                                }
                            ),
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        transaction: list[TransactWriteItemTypeDef] = items
        return transaction


def _query(client: DynamoDBClient, query: dict[str, Any], action: str) -> Any:
    """One Query; a start key DynamoDB refuses (a forged token) is a bad token, not a 500."""
    try:
        with translate_errors(action):
            return client.query(**query)
    except ClientError as error:
        if "ExclusiveStartKey" in query and error_code(error) == "ValidationException":
            raise InvalidPageTokenError() from None
        raise


def _account_state(account: str, item: Mapping[str, Any] | None) -> AccountState:
    if not item:
        return AccountState(account, None, 0)
    values = from_item(item)
    return AccountState(account, json.loads(values["state"]), int(values["version"]))
