"""The latest bar per symbol and data source (QuotesTable, ``SK=LATEST``): ``PK=QUOTE#<account>#
<symbol>`` for an account's feed (its uploads and batches), ``PK=QUOTE#<symbol>`` for the
operator's (files under ``raw/`` of no account). A symbol never holds ``#``, so keys never meet.

A quote is replaced only by a strictly newer bar, checked by DynamoDB itself (a conditional
write), so a late or replayed older file never overwrites a newer quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import from_item, to_item
from trading.core.model import Bar
from trading.service.ports import Quote

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LATEST = "LATEST"


def quote_key(symbol: str, feed: str | None = None) -> dict[str, dict[str, str]]:
    """The key of ``symbol``'s latest quote in ``feed`` (an account; None: the operator's)."""
    partition = f"QUOTE#{feed}#{symbol}" if feed else f"QUOTE#{symbol}"
    return {"PK": {"S": partition}, "SK": {"S": LATEST}}


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


class DynamoQuoteStore:
    """The service's ``QuoteStore`` and ``QuoteReader`` over DynamoDB: one conditional put
    per symbol; reads through ``hot_reads`` (the DAX cluster when there is one)."""

    def __init__(
        self, client: DynamoDBClient, table: str, hot_reads: DynamoDBClient | None = None
    ) -> None:
        self._client = client
        self._hot_reads = hot_reads or client
        self._table = table

    def get_latest(self, symbol: str, feed: str | None = None) -> Quote | None:
        """The latest quote of ``symbol`` in ``feed`` (one eventually consistent ``GetItem``),
        or None."""
        with translate_errors(f"reading the quote of {symbol}"):
            response = self._hot_reads.get_item(TableName=self._table, Key=quote_key(symbol, feed))
        item = response.get("Item")
        return quote_from_item(item) if item else None

    def put_latest(self, quotes: Sequence[Quote], feed: str | None = None) -> int:
        """Store each quote in ``feed`` unless one at the same or a later time is there;
        returns how many were stored."""
        stored = 0
        for quote in quotes:
            item = {
                **quote_key(quote.symbol, feed),
                **to_item({**quote.bar.to_dict(), "ts": quote.ts, "run_id": quote.run_id}),
            }
            try:
                with translate_errors(f"storing the quote of {quote.symbol}"):
                    self._client.put_item(
                        TableName=self._table,
                        Item=item,
                        ConditionExpression="attribute_not_exists(PK) OR #ts < :ts",
                        ExpressionAttributeNames={"#ts": "ts"},
                        ExpressionAttributeValues={":ts": {"N": str(quote.ts)}},
                    )
                stored += 1
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        return stored
