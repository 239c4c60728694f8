"""What the API function does to a request body before Powertools reads it: plain JSON text
or a media type Powertools refuses, and a cap on how deeply JSON may nest."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have (no route needs more than 4);
Python's json module recurses once per level and fails near 1,000 with a RecursionError."""
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def nested_deeper_than(body: object, limit: int) -> bool:
    """True when the JSON text ``body`` opens more than ``limit`` arrays/objects at once
    (brackets inside strings do not count; malformed text is left to the JSON parser).

    >>> nested_deeper_than("[" * 65 + "]" * 65, 64), nested_deeper_than('["[[["]', 2)
    (True, False)
    """
    if not isinstance(body, str) or body.count("[") + body.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", body)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def json_only(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body made plain JSON text, or a media type Powertools refuses (400).

    Bodies are JSON, which is UTF-8 text: a base64 body is decoded here, its bytes that are not
    UTF-8 replaced, so they fail JSON parsing (400) instead of raising ``UnicodeDecodeError``
    (a 500). Powertools would parse forms and multipart bodies, and a multipart type without a
    boundary makes it raise a bare ``ValueError``: any media type but JSON is renamed to one it
    refuses as a validation error, answered 400 naming ``Content-Type``.
    """
    body = event.get("body")
    if not body:
        return event
    headers = event.get("headers") or {}
    name, value = next(
        ((key, str(val)) for key, val in headers.items() if key.lower() == "content-type"),
        ("", ""),
    )
    if not value or value.lower().startswith("application/json"):
        if not event.get("isBase64Encoded"):
            return event
        try:
            text = base64.b64decode(body, validate=True).decode("utf-8", errors="replace")
        except binascii.Error:
            text = body  # not base64 either: refused as invalid JSON
        return {**event, "body": text, "isBase64Encoded": False}
    refused = f"unsupported/{value}"
    multi = event.get("multiValueHeaders") or {}
    return {
        **event,
        "headers": {**headers, name: refused},
        "multiValueHeaders": {
            key: ([refused] if key.lower() == "content-type" else values)
            for key, values in multi.items()
        },
    }
