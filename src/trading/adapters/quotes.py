"""The latest bar per symbol (QuotesTable, ``PK=QUOTE#<symbol>``, ``SK=LATEST``).

A quote is replaced only by a strictly newer bar, checked by DynamoDB itself (a conditional
write), so a late or replayed older file never overwrites a newer quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import to_item
from trading.service.ports import Quote

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LATEST = "LATEST"


def quote_key(symbol: str) -> dict[str, dict[str, str]]:
    """The key of ``symbol``'s latest quote."""
    return {"PK": {"S": f"QUOTE#{symbol}"}, "SK": {"S": LATEST}}


class DynamoQuoteStore:
    """The service's ``QuoteStore`` over DynamoDB: one conditional put per symbol."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def put_latest(self, quotes: Sequence[Quote]) -> int:
        """Store each quote unless one at the same or a later time is there; returns how many
        were stored."""
        stored = 0
        for quote in quotes:
            item = {
                **quote_key(quote.symbol),
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
