"""Trading accounts (PortfolioTable): the one repository of the account aggregate.

One partition per account, ``PK=ACCOUNT#<account>``:

- ``SK=BOOK``: the root — ``version`` (changes that were not placements), ``sequence`` (the
  last order number given), ``ledger`` (cash, positions, P&L: JSON text, exact), ``clock``
  (per symbol the last bar processed and the bars seen, JSON), ``open_orders`` (how many),
  ``digest`` (a checksum of the open orders' revisions), ``runs`` (recent run ids) and, while
  a large change is being applied, ``journal``; the clock also names, per symbol, the object
  that keeps its recent bars;
- ``SK=BOOK!TURN#<arrived_at>#<run_id>``: a run waiting for, or holding, its turn (see
  ``service.turns``); ``!`` sorts between the root and the open orders, so the root and the
  queue are one ``Query`` of their own, and the full read skips them;
- ``SK=BOOK#<order_id>``: an open order, with the ``revision`` (account version) that last
  changed it; the root and the open orders are read together with ONE ``Query``;
- ``SK=ORDER#<order_id>``: a closed order (filled, cancelled, expired or rejected);
- ``SK=FILL#<fill_id>``, ``SK=CLIENT#<client_order_id>``, ``SK=RUN#<run_id>`` (the summary a
  run's execution returned), ``SK=JOURNAL#<run_id>#<n>`` (a large change, until applied).

Order items carry index keys: ``OrderAccountKey`` (all orders of the account), ``OrderStatusKey``
and ``OrderSymbolKey``, each sorted by ``order_id`` (see ``adapters.orders``).

Saving: a placement is one transaction — the root's ``sequence`` (conditional on the number it
read), the new ``BOOK#`` item and client order id (conditional on absence) and a condition
check that the quote it was priced on is still the latest; it leaves ``version`` alone, so it
never refuses a run. Every other change is conditional on ``version``: its order, fill and
execution items and the root in one transaction when they fit (100 items), otherwise written
as a journal first, committed by the root's transaction and applied right after (whoever
loads the account next finishes an interrupted one): all or nothing either way.

A ``Query`` is not a snapshot: a full read checks the open orders against the root's
``digest`` and reads again when a concurrent commit was seen half.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import Item, from_item, to_attribute, to_item
from trading.adapters.quotes import quote_from_item, quote_key
from trading.adapters.runs import run_key, step_item
from trading.core.model import Account, Order
from trading.errors import TransientStoreError
from trading.service.account import AccountChanges, TradingAccount, Turn, sorted_by_arrival
from trading.service.ports import (
    AccountVersionConflictError,
    ClientOrder,
    ClientOrderIdTakenError,
    DuplicateExecutionError,
    OrderNumbersTakenError,
    PlacementSnapshot,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Write = dict[str, Any]
"""One item of a TransactWriteItems request (``{"Put": {...}}``...)."""

ROOT = "BOOK"
TURN_PREFIX = "BOOK!TURN#"
_QUEUE_END = "BOOK!TURN$"  # the first key after every turn ("$" follows "#")
OPEN_PREFIX = "BOOK#"
ORDER_PREFIX = "ORDER#"
FILL_PREFIX = "FILL#"
CLIENT_PREFIX = "CLIENT#"
RUN_PREFIX = "RUN#"
JOURNAL_PREFIX = "JOURNAL#"
# Index keys of order items (every index sorts by order_id).
ACCOUNT_KEY = "OrderAccountKey"
STATUS_KEY = "OrderStatusKey"
SYMBOL_KEY = "OrderSymbolKey"
MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on the items of one TransactWriteItems."""
JOURNAL_CHUNK_CHARS = 300_000
"""Text of one journal item (DynamoDB items stop at 400 KB)."""
_READ_ATTEMPTS = 8
CONFLICT_ATTEMPTS = 8
_DIGEST_MODULUS = 2**61 - 1
# Cancellation reasons that mean "the same transaction may pass now".
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


def item_key(account: str, sort_key: str) -> dict[str, Any]:
    """The key of one item of an account's partition."""
    return {"PK": account_pk(account), "SK": {"S": sort_key}}


def order_index_keys(account: str, order: Mapping[str, Any]) -> dict[str, str]:
    """The index attributes of an order item: all, by status and by symbol, in the account."""
    return {
        ACCOUNT_KEY: f"ORDERS#{account}",
        STATUS_KEY: f"ORDERS#{account}#{order['status']}",
        SYMBOL_KEY: f"ORDERS#{account}#{order['symbol']}",
    }


def revision_mark(order_id: str, revision: int) -> int:
    """One open order's share of the root's ``digest``: a hash of its id and revision."""
    digest = hashlib.blake2b(f"{order_id}@{revision}".encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big")


def book_digest(revisions: Mapping[str, int]) -> int:
    """The checksum of a book: orders as placed (revision 0) do not count, so placing an order
    never has to change the root."""
    return sum(revision_mark(o, r) for o, r in revisions.items() if r) % _DIGEST_MODULUS


def batch_get(
    client: DynamoDBClient, wanted: dict[str, Any], action: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of a ``BatchGetItem`` by (table, sort key), retrying unprocessed keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(_READ_ATTEMPTS):
        with translate_errors(action):
            response = client.batch_get_item(RequestItems=wanted)
        for table, items in response.get("Responses", {}).items():
            for item in items:
                found[(table, str(item["SK"]["S"]))] = dict(item)
        wanted = dict(response.get("UnprocessedKeys") or {})
        if not wanted:
            return found
        time.sleep(random.uniform(0, 0.05))
    raise TransientStoreError(f"{action}: reads kept being throttled")


def _pause(attempt: int) -> None:
    """Full jitter, growing to 50 ms: racing writers spread out."""
    time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))


class DynamoAccountRepository:
    """The service's ``AccountRepository`` over DynamoDB (see the module docstring).

    ``hot_reads`` serves the eventually consistent reads of the API's views (the DAX cluster
    when there is one); step records of runs go to ``runs_table``.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        quotes_table: str,
        runs_table: str,
        hot_reads: DynamoDBClient | None = None,
    ) -> None:
        self._client = client
        self._hot_reads = hot_reads or client
        self._table = table
        self._quotes_table = quotes_table
        self._runs_table = runs_table

    # -- reading -------------------------------------------------------------------------------

    def get(
        self, account: str, *, orders: Collection[str] | None = None, consistent: bool = True
    ) -> TradingAccount:
        """The account with every open order (one ``Query``) or only the named ones."""
        for attempt in range(_READ_ATTEMPTS):
            if orders is None:
                root, items = self._read_book(account, consistent)
            else:
                root, items = self._read_orders(account, orders, consistent)
            if root is not None and "journal" in root and consistent:
                self._roll_forward(account, root["journal"])
                continue
            loaded = _account(account, root, items, complete=orders is None)
            if (
                orders is not None
                or not consistent
                or loaded.digest == book_digest(loaded.revisions)
            ):
                return loaded
            _pause(attempt)  # a commit landed while the book was being read: read it again
        raise TransientStoreError(f"account {account} kept changing while being read")

    def load_for_placement(
        self, account: str, symbol: str, client_order_id: str | None
    ) -> PlacementSnapshot:
        """Root, client order id record and quote in one consistent ``BatchGetItem``."""
        keys = [item_key(account, ROOT)]
        if client_order_id is not None:
            keys.append(item_key(account, CLIENT_PREFIX + client_order_id))
        found = batch_get(
            self._client,
            {
                self._table: {"Keys": keys, "ConsistentRead": True},
                self._quotes_table: {
                    "Keys": [quote_key(symbol, account)],  # the account's own feed
                    "ConsistentRead": True,
                },
            },
            f"loading account {account}",
        )
        client = None
        if client_order_id is not None:
            record = found.get((self._table, CLIENT_PREFIX + client_order_id))
            if record is not None:
                values = from_item(record)
                client = ClientOrder(
                    client_order_id, str(values["order_id"]), str(values["fingerprint"])
                )
        root = found.get((self._table, ROOT))
        quote_item = found.get((self._quotes_table, quote_key(symbol, account)["SK"]["S"]))
        return PlacementSnapshot(
            account=_account(account, from_item(root) if root else None, [], complete=False),
            client_order=client,
            quote=quote_from_item(quote_item) if quote_item else None,
        )

    def execution(self, account: str, run_id: str) -> dict[str, Any] | None:
        """The summary run ``run_id`` returned, from its execution record (``GetItem``)."""
        with translate_errors(f"reading run {run_id} of {account}"):
            response = self._client.get_item(
                TableName=self._table,
                Key=item_key(account, RUN_PREFIX + run_id),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return json.loads(item["summary"]["S"]) if item else None

    def take_turn(self, account: str, turn: Turn) -> None:
        """Put the turn's item (the same item again when the step is retried)."""
        with translate_errors(f"queueing run {turn.run_id} in {account}"):
            self._client.put_item(
                TableName=self._table,
                Item={
                    **item_key(account, _turn_key(turn)),
                    **to_item({"run_id": turn.run_id, "arrived_at": turn.arrived_at}),
                },
            )

    def queue(self, account: str) -> tuple[TradingAccount, list[Turn]]:
        """The root and the turns: one consistent ``Query`` of the keys between them."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :root AND :end",
            "ExpressionAttributeValues": {
                ":pk": account_pk(account),
                ":root": {"S": ROOT},
                ":end": {"S": _QUEUE_END},
            },
            "ConsistentRead": True,
        }
        root: dict[str, Any] | None = None
        turns: list[Turn] = []
        while True:
            with translate_errors(f"reading the queue of {account}"):
                response = self._client.query(**query)
            for item in response.get("Items", []):
                values = from_item(item)
                if values["SK"] == ROOT:
                    root = values
                else:
                    turns.append(Turn(str(values["arrived_at"]), str(values["run_id"])))
            if not response.get("LastEvaluatedKey"):
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if root is not None and "journal" in root:
            self._roll_forward(account, root["journal"])
            return self.queue(account)
        return _account(account, root, [], complete=False), sorted(turns)

    def drop_turn(self, account: str, turn: Turn) -> None:
        """Delete the turn's item (gone already: nothing to do)."""
        with translate_errors(f"dropping the turn of run {turn.run_id} in {account}"):
            self._client.delete_item(TableName=self._table, Key=item_key(account, _turn_key(turn)))

    def _read_book(
        self, account: str, consistent: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The root and every open order: one ``Query`` (more pages past 1 MB)."""
        client = self._client if consistent else self._hot_reads
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :book)",
            "ExpressionAttributeValues": {":pk": account_pk(account), ":book": {"S": ROOT}},
            "ConsistentRead": consistent,
        }
        root: dict[str, Any] | None = None
        items: list[dict[str, Any]] = []
        while True:
            with translate_errors(f"loading account {account}"):
                response = client.query(**query)
            for item in response.get("Items", []):
                values = from_item(item)
                if values["SK"] == ROOT:
                    root = values
                elif values["SK"].startswith(OPEN_PREFIX):
                    items.append(values)
            last = response.get("LastEvaluatedKey")
            if not last:
                return root, items
            query["ExclusiveStartKey"] = last

    def _read_orders(
        self, account: str, orders: Collection[str], consistent: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The root and the named open orders (one ``BatchGetItem``; the root alone: one
        ``GetItem``)."""
        client = self._client if consistent else self._hot_reads
        if not orders:
            with translate_errors(f"loading account {account}"):
                response = client.get_item(
                    TableName=self._table, Key=item_key(account, ROOT), ConsistentRead=consistent
                )
            item = response.get("Item")
            return (from_item(item) if item else None), []
        keys = [item_key(account, ROOT), *(item_key(account, OPEN_PREFIX + o) for o in orders)]
        found = batch_get(
            client,
            {self._table: {"Keys": keys, "ConsistentRead": consistent}},
            f"loading account {account}",
        )
        root = found.pop((self._table, ROOT), None)
        return (from_item(root) if root else None), [from_item(item) for item in found.values()]

    # -- writing -------------------------------------------------------------------------------

    def save(self, account: TradingAccount, changes: AccountChanges) -> None:
        """Commit ``changes``; see the module docstring and the port for the errors."""
        if changes.placement:
            self._save_placement(account, changes)
        else:
            self._save_change(account, changes)

    def reserve_order_numbers(self, account: TradingAccount, count: int) -> int:
        """``ADD`` to the saved account's sequence (never refused); returns the first number."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with translate_errors(f"numbering orders of {account.account_id}"):
                    response = self._client.update_item(
                        TableName=self._table,
                        Key=item_key(account.account_id, ROOT),
                        UpdateExpression="ADD #sequence :count",
                        ConditionExpression="attribute_exists(PK)",
                        ExpressionAttributeNames={"#sequence": "sequence"},
                        ExpressionAttributeValues={":count": {"N": str(count)}},
                        ReturnValues="UPDATED_NEW",
                    )
            except ClientError as error:
                if error_code(error) != "TransactionConflictException":
                    raise
                _pause(attempt)
                continue
            return int(response["Attributes"]["sequence"]["N"]) - count + 1
        raise TransientStoreError(f"numbering orders of {account.account_id}: kept conflicting")

    def _save_placement(self, account: TradingAccount, changes: AccountChanges) -> None:
        account_id = account.account_id
        created = changes.created
        if account.exists:
            root: Write = {
                "Update": {
                    "TableName": self._table,
                    "Key": item_key(account_id, ROOT),
                    "UpdateExpression": "SET #sequence = :next, open_orders = open_orders + :n, "
                    "updated_at = :at",
                    "ConditionExpression": "#sequence = :read",
                    "ExpressionAttributeNames": {"#sequence": "sequence"},
                    "ExpressionAttributeValues": {
                        ":next": to_attribute(changes.sequence),
                        ":read": to_attribute(changes.numbered_from),
                        ":n": to_attribute(len(created)),
                        ":at": to_attribute(changes.at),
                    },
                }
            }
        else:
            root = self._new_root(account, changes, open_orders=len(created), digest=0, version=0)
        items: list[Write] = [root]
        items += [self._put(account_id, OPEN_PREFIX, o, 0, None, changes.at) for o in created]
        order_items = range(1, len(items))
        client_index = None
        if changes.client_order is not None:
            client_index = len(items)
            items.append(self._client_record(account_id, changes.client_order, changes.at))
        quote_index = None
        if changes.priced_on is not None:
            quote_index = len(items)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._quotes_table,
                        "Key": quote_key(changes.priced_on.symbol, account_id),
                        "ConditionExpression": "#ts = :ts",
                        "ExpressionAttributeNames": {"#ts": "ts"},
                        "ExpressionAttributeValues": {":ts": to_attribute(changes.priced_on.ts)},
                    }
                }
            )
        reasons = self._transact(items, f"placing an order in {account_id}")
        if reasons is None:
            return
        failed = {i for i, (code, _) in enumerate(reasons) if code == "ConditionalCheckFailed"}
        if client_index in failed:
            raise ClientOrderIdTakenError(str(created[0].order_id))
        if failed & {0, quote_index, *order_items}:
            # The numbering moved on (another order, a run's orders) or a new bar was
            # published: the caller reads again and prices on what it finds.
            raise AccountVersionConflictError(f"account {account_id} changed while placing")
        raise TransientStoreError(f"placing an order in {account_id}: {_codes(reasons)}")

    def _save_change(self, account: TradingAccount, changes: AccountChanges) -> None:
        account_id = account.account_id
        version = account.version + 1
        run_id = changes.run.run_id if changes.run is not None else None
        revisions = dict(account.revisions)
        open_orders = account.open_order_count
        ops: list[Write] = []
        for order in changes.changed:
            revision = account.revisions.get(order.order_id, 0)
            written_by = run_id or account.order_runs.get(order.order_id)
            if order.is_open:
                revisions[order.order_id] = version
                put = self._put(
                    account_id, OPEN_PREFIX, order, version, written_by, changes.at, new=False
                )
                _require_revision(put["Put"], revision)
                ops.append(put)
                continue
            revisions.pop(order.order_id, None)
            open_orders -= 1
            delete: dict[str, Any] = {
                "TableName": self._table,
                "Key": item_key(account_id, OPEN_PREFIX + order.order_id),
            }
            _require_revision(delete, revision)
            ops.append({"Delete": delete})
            ops.append(self._put(account_id, ORDER_PREFIX, order, None, written_by, changes.at))
        for order in changes.created:
            if order.is_open:
                revisions[order.order_id] = version
                open_orders += 1
                ops.append(self._put(account_id, OPEN_PREFIX, order, version, run_id, changes.at))
            else:
                ops.append(self._put(account_id, ORDER_PREFIX, order, None, run_id, changes.at))
        for fill in changes.fills:
            values = {**fill.to_dict(), "run_id": run_id}
            ops.append(self._new_item(account_id, FILL_PREFIX + fill.fill_id, values))
        digest = book_digest(revisions)
        if account.exists:
            root = self._root_update(
                account, changes, open_orders - account.open_order_count, digest
            )
        else:
            root = self._new_root(
                account, changes, open_orders=open_orders, digest=digest, version=version
            )
        fixed: list[Write] = [root]
        if changes.run is not None:
            fixed.append(self._execution_record(account_id, changes, version))
            fixed.append(
                {
                    "Put": {
                        "TableName": self._runs_table,
                        "Item": step_item(changes.run.run_id, changes.run.step),
                    }
                }
            )
            fixed.append(self._run_committed(account_id, changes, version))
            if changes.run.turn is not None:
                key = item_key(account_id, _turn_key(changes.run.turn))
                fixed.append({"Delete": {"TableName": self._table, "Key": key}})
        action = f"saving account {account_id}" + (f" for run {run_id}" if run_id else "")
        if len(fixed) + len(ops) <= MAX_TRANSACTION_ITEMS:
            reasons = self._transact(fixed + ops, action)
            self._explain(account, changes, reasons, action)
            return
        journal = run_id or f"v{version}"
        chunks = self._write_journal(account_id, journal, ops)
        marker = {"run_id": journal, "chunks": len(chunks)}
        update = root.get("Update")
        if update is not None:
            update["UpdateExpression"] += ", journal = :journal"
            update["ExpressionAttributeValues"][":journal"] = to_attribute(marker)
        else:
            root["Put"]["Item"]["journal"] = to_attribute(marker)
        reasons = self._transact(fixed, action)
        self._explain(account, changes, reasons, action)
        self._roll_forward(account_id, marker, chunks)

    def _explain(
        self,
        account: TradingAccount,
        changes: AccountChanges,
        reasons: list[tuple[str, dict[str, Any] | None]] | None,
        action: str,
    ) -> None:
        """Turn a cancelled transaction into the port's errors (nothing when it committed)."""
        if reasons is None:
            return
        codes = [code for code, _ in reasons]
        if changes.run is not None and codes[1:2] == ["ConditionalCheckFailed"]:
            old = reasons[1][1]  # ALL_OLD: the stored record
            if old and "summary" in old:
                raise DuplicateExecutionError(json.loads(old["summary"]["S"]))
            stored = self.execution(account.account_id, changes.run.run_id)
            if stored is not None:
                raise DuplicateExecutionError(stored)
        root, old_root = reasons[0]
        if (
            root == "ConditionalCheckFailed"
            and old_root is not None
            and int(old_root["version"]["N"]) == account.version
            and "journal" not in old_root
            and codes.count("ConditionalCheckFailed") == 1
        ):
            raise OrderNumbersTakenError(
                f"account {account.account_id}: orders were numbered meanwhile"
            )
        if "ConditionalCheckFailed" in codes:
            raise AccountVersionConflictError(
                f"account {account.account_id} is no longer at version {account.version}"
            )
        raise TransientStoreError(f"{action}: {_codes(reasons)}")

    def _transact(
        self, items: list[Write], action: str
    ) -> list[tuple[str, dict[str, Any] | None]] | None:
        """Run the transaction; None when it committed, else each item's cancellation reason
        (code, old item). Raced by another transaction, it tries again: the conditions still
        say whether it may pass."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with translate_errors(action):
                    self._client.transact_write_items(
                        TransactItems=cast("list[TransactWriteItemTypeDef]", items)
                    )
                return None
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons: list[tuple[str, dict[str, Any] | None]] = [
                    (
                        str(reason.get("Code", "None")),
                        cast("dict[str, Any] | None", reason.get("Item")),
                    )
                    for reason in error.response.get("CancellationReasons", [])
                ]
            codes = {code for code, _ in reasons} - {"None"}
            if not codes or not codes <= _TRANSIENT_REASONS:
                return reasons
            _pause(attempt)
        raise TransientStoreError(f"{action}: kept conflicting with other transactions")

    # -- large changes: journal and roll forward -------------------------------------------------

    def _write_journal(
        self, account: str, journal: str, ops: list[Write]
    ) -> list[list[dict[str, Any]]]:
        """Write the change's item operations (conditions dropped: the root's version check
        stands for all of them) as journal items; returns them in chunks."""
        chunks: list[list[dict[str, Any]]] = [[]]
        size = 0
        for op in ops:
            plain = _unconditional(op)
            length = len(json.dumps(plain))
            if chunks[-1] and size + length > JOURNAL_CHUNK_CHARS:
                chunks.append([])
                size = 0
            chunks[-1].append(plain)
            size += length
        for number, chunk in enumerate(chunks):
            with translate_errors(f"journaling a change of {account}"):
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **item_key(account, f"{JOURNAL_PREFIX}{journal}#{number:05d}"),
                        "ops": {"S": json.dumps(chunk, separators=(",", ":"))},
                    },
                )
        return chunks

    def _roll_forward(
        self,
        account: str,
        journal: Mapping[str, Any],
        chunks: list[list[dict[str, Any]]] | None = None,
    ) -> None:
        """Apply a committed journal's operations, then remove it. Idempotent: each step is
        conditional on the journal still being pending, so a late copy changes nothing."""
        run = str(journal["run_id"])
        if chunks is None:
            chunks = self._read_journal(account, run)
        pending: Write = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": item_key(account, ROOT),
                "ConditionExpression": "journal.run_id = :run",
                "ExpressionAttributeValues": {":run": {"S": run}},
            }
        }
        ops = [op for chunk in chunks for op in chunk]
        step = MAX_TRANSACTION_ITEMS - 1
        for start in range(0, len(ops), step):
            batch: list[Any] = [pending, *ops[start : start + step]]
            reasons = self._transact(batch, f"applying a change of {account}")
            if reasons is not None:
                if reasons[0][0] == "ConditionalCheckFailed":
                    return  # applied and removed by another reader meanwhile
                raise TransientStoreError(f"applying a change of {account}: {_codes(reasons)}")
        clear: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": item_key(account, ROOT),
                    "UpdateExpression": "REMOVE journal",
                    "ConditionExpression": "journal.run_id = :run",
                    "ExpressionAttributeValues": {":run": {"S": run}},
                }
            },
            *(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": item_key(account, f"{JOURNAL_PREFIX}{run}#{number:05d}"),
                    }
                }
                for number in range(len(chunks))
            ),
        ]
        self._transact(clear, f"closing a change of {account}")

    def _read_journal(self, account: str, run: str) -> list[list[dict[str, Any]]]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :journal)",
            "ExpressionAttributeValues": {
                ":pk": account_pk(account),
                ":journal": {"S": f"{JOURNAL_PREFIX}{run}#"},
            },
            "ConsistentRead": True,
        }
        chunks: list[list[dict[str, Any]]] = []
        while True:
            with translate_errors(f"reading a change of {account}"):
                response = self._client.query(**query)
            chunks += [json.loads(item["ops"]["S"]) for item in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return chunks
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- items -----------------------------------------------------------------------------------

    def _put(
        self,
        account: str,
        prefix: str,
        order: Order,
        revision: int | None,
        run_id: str | None,
        at: str,
        *,
        new: bool = True,
    ) -> Write:
        """An order item (``revision`` None for a closed order); ``new``: only if absent."""
        values = order.to_dict()
        item: Item = {
            **item_key(account, prefix + order.order_id),
            **to_item(
                {
                    **values,
                    **order_index_keys(account, values),
                    "revision": revision,
                    "run_id": run_id,
                    "updated_at": at,
                }
            ),
        }
        put: dict[str, Any] = {"TableName": self._table, "Item": item}
        if new:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        return {"Put": put}

    def _new_item(self, account: str, sort_key: str, values: Mapping[str, Any]) -> Write:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {**item_key(account, sort_key), **to_item(values)},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _client_record(self, account: str, record: ClientOrder, at: str) -> Write:
        values = {"order_id": record.order_id, "fingerprint": record.fingerprint, "created_at": at}
        return self._new_item(account, CLIENT_PREFIX + record.client_order_id, values)

    def _execution_record(self, account: str, changes: AccountChanges, version: int) -> Write:
        assert changes.run is not None
        put = self._new_item(
            account,
            RUN_PREFIX + changes.run.run_id,
            {
                "run_id": changes.run.run_id,
                "summary": json.dumps(dict(changes.run.summary), separators=(",", ":")),
                "version": version,
                "committed_at": changes.at,
            },
        )
        put["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return put

    def _run_committed(self, account: str, changes: AccountChanges, version: int) -> Write:
        """The run record's note that the run's trades stand (and its warnings): whatever
        happens to the run after this commit, its record says what it changed."""
        assert changes.run is not None
        committed = {"account": account, "version": version, "at": changes.at}
        return {
            "Update": {
                "TableName": self._runs_table,
                "Key": run_key(changes.run.run_id),
                "UpdateExpression": "SET committed = :committed, "
                "warnings = list_append(if_not_exists(warnings, :none), :warnings)",
                "ExpressionAttributeValues": {
                    ":committed": to_attribute(committed),
                    ":none": {"L": []},
                    ":warnings": to_attribute(list(changes.run.warnings)),
                },
            }
        }

    def _new_root(
        self,
        account: TradingAccount,
        changes: AccountChanges,
        *,
        open_orders: int,
        digest: int,
        version: int,
    ) -> Write:
        """The root of an account saved for the first time (refused if one exists)."""
        ledger = changes.ledger or account.ledger
        last_ts, bars_seen = changes.clock or (account.last_ts, account.bars_seen)
        history = {**account.history, **(changes.history or {})}
        values = {
            "version": version,
            "sequence": changes.sequence,
            "id_prefix": account.id_prefix,
            "open_orders": open_orders,
            "digest": digest,
            "ledger": _json(ledger.to_dict()),
            "clock": _json({"last_ts": last_ts, "bars_seen": bars_seen, "history": history}),
            "runs": list(changes.run_ids),
            "updated_at": changes.at,
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": {**item_key(account.account_id, ROOT), **to_item(values)},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _root_update(
        self, account: TradingAccount, changes: AccountChanges, opened: int, digest: int
    ) -> Write:
        """The root's update by a change: conditional on the version it was loaded at, and on
        no journal pending (a reader finishes it first)."""
        values: dict[str, Any] = {
            ":version": account.version + 1,
            ":read": account.version,
            ":digest": digest,
            ":opened": opened,
            ":at": changes.at,
        }
        sets = [
            "version = :version",
            "digest = :digest",
            "open_orders = open_orders + :opened",
            "updated_at = :at",
        ]
        if changes.ledger is not None:
            sets.append("ledger = :ledger")
            values[":ledger"] = _json(changes.ledger.to_dict())
        if changes.clock is not None:
            last_ts, bars_seen = changes.clock
            history = {**account.history, **(changes.history or {})}
            sets.append("clock = :clock")
            values[":clock"] = _json(
                {"last_ts": last_ts, "bars_seen": bars_seen, "history": history}
            )
        if changes.run is not None:
            sets.append("runs = :runs")
            values[":runs"] = list(changes.run_ids)
        condition = "version = :read AND attribute_not_exists(journal)"
        names: dict[str, str] = {}
        if changes.created and changes.numbered_from is not None:
            # Numbered after the sequence as read: only if no order took a number since.
            sets.append("#sequence = :sequence")
            condition += " AND #sequence = :numbered"
            values[":sequence"] = changes.sequence
            values[":numbered"] = changes.numbered_from
            names["#sequence"] = "sequence"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": item_key(account.account_id, ROOT),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {k: to_attribute(v) for k, v in values.items()},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}


def _account(
    account_id: str,
    root: Mapping[str, Any] | None,
    items: Iterable[Mapping[str, Any]],
    *,
    complete: bool,
) -> TradingAccount:
    """The aggregate from its root and open order items (a never-saved account: no root)."""
    if root is None:
        return TradingAccount(account_id, Account(cash=0.0, initial_cash=0.0), f"{account_id}-")
    clock = json.loads(root["clock"])
    prefix = str(root["id_prefix"])
    orders: list[Order] = []
    revisions: dict[str, int] = {}
    runs: dict[str, str] = {}
    for values in items:
        order = Order.from_dict({k: values[k] for k in _ORDER_FIELDS if k in values})
        orders.append(order)
        revisions[order.order_id] = int(values.get("revision") or 0)
        if values.get("run_id"):
            runs[order.order_id] = str(values["run_id"])
    return TradingAccount(
        account_id=account_id,
        ledger=Account.from_dict(json.loads(root["ledger"])),
        id_prefix=prefix,
        last_ts={k: int(v) for k, v in clock["last_ts"].items()},
        bars_seen={k: int(v) for k, v in clock["bars_seen"].items()},
        history={k: str(v) for k, v in clock.get("history", {}).items()},
        sequence=int(root["sequence"]),
        open_order_count=int(root["open_orders"]),
        open_orders={o.order_id: o for o in sorted_by_arrival(orders, prefix)},
        revisions=revisions,
        complete=complete,
        version=int(root["version"]),
        exists=True,
        recent_runs=tuple(str(run) for run in root.get("runs") or ()),
        order_runs=runs,
        digest=int(root["digest"]),
    )


_ORDER_FIELDS = tuple(Order.__dataclass_fields__)


def _turn_key(turn: Turn) -> str:
    return f"{TURN_PREFIX}{turn.arrived_at}#{turn.run_id}"


def _require_revision(request: dict[str, Any], revision: int) -> None:
    """Make a write of an open order conditional on the revision that was loaded."""
    request["ConditionExpression"] = "revision = :revision"
    request["ExpressionAttributeValues"] = {":revision": to_attribute(revision)}


def _unconditional(op: Write) -> dict[str, Any]:
    """A journal operation: the write without its condition."""
    kind, request = next(iter(op.items()))
    plain = {
        k: v
        for k, v in dict(request).items()
        if k not in ("ConditionExpression", "ExpressionAttributeValues")
    }
    return {kind: plain}


def _codes(reasons: list[tuple[str, Any]]) -> str:
    return ", ".join(code for code, _ in reasons)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
