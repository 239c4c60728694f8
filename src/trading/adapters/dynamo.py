"""Plain JSON values to DynamoDB attribute values and back, without Decimal round trips.

Numbers travel as their shortest exact text: an ``int`` comes back an ``int``, a ``float`` a
``float`` (DynamoDB may drop a trailing ``.0``, so integral floats can come back as ints, which
compare equal). NaN and infinity have no DynamoDB form and are stored as null.

>>> from_attribute(to_attribute({"qty": 5, "price": 10.25, "open": None}))
{'qty': 5, 'price': 10.25, 'open': None}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
else:
    AttributeValueTypeDef = dict

Item = dict[str, "AttributeValueTypeDef"]


def to_attribute(value: object) -> AttributeValueTypeDef:
    """The attribute value of a plain JSON-compatible ``value``."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)} if math.isfinite(value) else {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """The plain value of one attribute value."""
    kind, value = next(iter(attribute.items()))
    if kind == "S":
        return value
    if kind == "N":
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def to_item(values: Mapping[str, object]) -> Item:
    """An item from plain values (``None`` values are left out: absent, not null)."""
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values of an item."""
    return {name: from_attribute(value) for name, value in item.items()}
