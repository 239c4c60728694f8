"""Pages of a list and their opaque ``next_token``: where the next page starts, as the store
said (DynamoDB's LastEvaluatedKey), encoded so the client cannot read or forge it usefully.

A token is URL-safe base64 of compact JSON ``{"k": {name: text}}``. Decoding checks the shape
and the key names the query uses; the adapter also checks that it belongs to the same query
(same partition), so a garbage or foreign token is a 400, never a 500.

>>> token = encode_token({"PK": "ACCOUNT#paper", "SK": "ORDER#p-000001"})
>>> decode_token(token, ("PK", "SK"))
{'PK': 'ACCOUNT#paper', 'SK': 'ORDER#p-000001'}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from trading.service.errors import InvalidPageTokenError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_TOKEN_CHARS = 2048
"""Longer than any token this API issues: refused before decoding."""
MAX_KEY_BYTES = 1024
"""DynamoDB's limit on a key attribute (a longer start key could only be forged)."""

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    """One page of a list and the token of the next page (``None``: this is the last)."""

    items: Sequence[Item] = field(default_factory=tuple)
    next_token: str | None = None


def encode_token(key: Mapping[str, str]) -> str:
    """The opaque token of a start key (string attributes only)."""
    document = json.dumps({"k": dict(key)}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def decode_token(token: str, names: Sequence[str]) -> dict[str, str]:
    """The start key of ``token``; raises :class:`InvalidPageTokenError` unless it is a key
    with exactly the attributes ``names``, all strings."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidPageTokenError()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidPageTokenError() from None
    key = document.get("k") if isinstance(document, dict) else None
    if (
        not isinstance(key, dict)
        or sorted(key) != sorted(names)
        or not all(
            isinstance(value, str) and value and len(value.encode()) <= MAX_KEY_BYTES
            for value in key.values()
        )
    ):
        raise InvalidPageTokenError()
    return key
