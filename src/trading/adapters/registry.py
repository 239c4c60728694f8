"""Registered accounts and grants (PortfolioTable): the service's ``AccountRegistry``.

- ``PK=ACCOUNT#<account>``, ``SK=PROFILE``: owner, settings (JSON), kill switch, created_at.
  It sits in the account's own partition beside the book, which a load never reads (the
  book's ``Query`` takes ``SK`` beginning with ``BOOK``).
- ``PK=PRINCIPAL#<principal>``, ``SK=GRANT#<account>``: one grant. A caller's accounts are
  one ``Query`` of its partition, so resolving a request's account costs one read.

Creating an account writes its profile and its owner's grant in one transaction, conditional
on the profile's absence; a grant is conditional on the profile's existence.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.accounts import item_key
from trading.adapters.aws_errors import error_code, translate_errors
from trading.adapters.dynamo import from_item, to_item
from trading.service.access import (
    AccountExistsError,
    AccountNotFoundError,
    AccountProfile,
    AccountSettings,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE = "PROFILE"
GRANT_PREFIX = "GRANT#"


def grant_key(principal: str, account_id: str) -> dict[str, Any]:
    """The key of ``principal``'s grant on ``account_id``."""
    return {"PK": {"S": f"PRINCIPAL#{principal}"}, "SK": {"S": f"{GRANT_PREFIX}{account_id}"}}


def _profile_item(profile: AccountProfile) -> dict[str, Any]:
    settings = profile.settings.to_dict()
    return {
        **item_key(profile.account_id, PROFILE),
        **to_item(
            {
                "account_id": profile.account_id,
                "owner": profile.owner,
                "settings": json.dumps(settings, sort_keys=True),
                "halted": profile.halted,
                "created_at": profile.created_at,
            }
        ),
    }


def _profile_of(item: dict[str, Any]) -> AccountProfile:
    values = from_item(item)
    settings = json.loads(str(values.get("settings") or "{}"))
    symbols = settings.get("allowed_symbols")
    settings["allowed_symbols"] = tuple(symbols) if symbols is not None else None
    return AccountProfile(
        account_id=str(values["account_id"]),
        owner=str(values.get("owner", "")),
        settings=AccountSettings(**settings),
        halted=bool(values.get("halted")),
        created_at=str(values.get("created_at", "")),
    )


class DynamoAccountRegistry:
    """``AccountRegistry`` over the portfolio table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def create(self, profile: AccountProfile) -> None:
        """Register ``profile`` and grant its owner, atomically."""
        grant = {
            **grant_key(profile.owner, profile.account_id),
            **to_item({"account_id": profile.account_id, "granted_at": profile.created_at}),
        }
        try:
            with translate_errors(f"creating account {profile.account_id}"):
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": _profile_item(profile),
                                "ConditionExpression": "attribute_not_exists(PK)",
                            }
                        },
                        {"Put": {"TableName": self._table, "Item": grant}},
                    ]
                )
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            raise AccountExistsError(f"account {profile.account_id!r} exists already") from None

    def profile(self, account_id: str) -> AccountProfile | None:
        """The account's profile (one consistent ``GetItem``), or None."""
        with translate_errors(f"reading account {account_id}"):
            response = self._client.get_item(
                TableName=self._table, Key=item_key(account_id, PROFILE), ConsistentRead=True
            )
        item = response.get("Item")
        return _profile_of(dict(item)) if item else None

    def grant(self, account_id: str, principal: str, at: str) -> None:
        """Let ``principal`` use ``account_id``; raises ``AccountNotFoundError``."""
        grant = {
            **grant_key(principal, account_id),
            **to_item({"account_id": account_id, "granted_at": at}),
        }
        try:
            with translate_errors(f"granting account {account_id}"):
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "ConditionCheck": {
                                "TableName": self._table,
                                "Key": item_key(account_id, PROFILE),
                                "ConditionExpression": "attribute_exists(PK)",
                            }
                        },
                        {"Put": {"TableName": self._table, "Item": grant}},
                    ]
                )
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            raise AccountNotFoundError(f"no account {account_id!r}") from None

    def accounts_of(self, principal: str) -> tuple[str, ...]:
        """The accounts ``principal`` may use (one ``Query``, paginated past 1 MB)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :grant)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"PRINCIPAL#{principal}"},
                ":grant": {"S": GRANT_PREFIX},
            },
            "ProjectionExpression": "SK",
        }
        accounts: list[str] = []
        while True:
            with translate_errors("reading the caller's accounts"):
                response = self._client.query(**query)
            accounts.extend(
                str(item["SK"]["S"]).removeprefix(GRANT_PREFIX) for item in response["Items"]
            )
            last = response.get("LastEvaluatedKey")
            if not last:
                return tuple(sorted(accounts))
            query["ExclusiveStartKey"] = last

    def set_halted(self, account_id: str, halted: bool) -> AccountProfile:
        """Turn the kill switch on or off; returns the profile as it is now."""
        try:
            with translate_errors(f"setting the kill switch of {account_id}"):
                response = self._client.update_item(
                    TableName=self._table,
                    Key=item_key(account_id, PROFILE),
                    UpdateExpression="SET halted = :halted",
                    ConditionExpression="attribute_exists(PK)",
                    ExpressionAttributeValues={":halted": {"BOOL": halted}},
                    ReturnValues="ALL_NEW",
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            raise AccountNotFoundError(f"no account {account_id!r}") from None
        return _profile_of(dict(response["Attributes"]))
