"""The upload contract: run settings carried as an object's S3 user metadata (``stp-*`` keys).

Any S3 client starts a run by uploading under ``raw/`` with metadata such as
``x-amz-meta-stp-strategy: rsi_reversion``; the CLI and the API's presigned uploads write the
same keys with :func:`to_metadata`, and ProcessMarketData reads them back with
:func:`settings_from_metadata`::

    to_metadata({"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}})
    # {"stp-strategy": "sma_cross", "stp-params": "fast=5,slow=20"}
    settings_from_metadata({"stp-cash": "5000", "content-type": "text/csv"})  # {"cash": "5000"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METADATA_PREFIX = "stp-"
"""Prefix of the metadata keys that are run settings (sent as ``x-amz-meta-stp-...``)."""


def settings_from_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The run settings an object's metadata carries, by setting name (values are text).

    ``stp-trade-on-close`` becomes ``trade_on_close``; keys without the prefix are not
    settings and are left out. Unknown ``stp-*`` keys are kept, so resolving them fails
    loudly instead of a typo running silently.
    """
    values: dict[str, str] = {}
    for key, raw in (metadata or {}).items():
        name = key.lower()
        if name.startswith(METADATA_PREFIX):
            values[name[len(METADATA_PREFIX) :].replace("-", "_")] = raw
    return values


def to_metadata(values: Mapping[str, Any]) -> dict[str, str]:
    """S3 user metadata (``stp-*`` keys, text values) carrying the given settings.

    The inverse of :func:`settings_from_metadata`, so a client that uploads with this
    metadata gets exactly these settings. ``None`` values are left out (the default applies).
    """
    metadata: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name == "params":
            text = ",".join(f"{k}={v}" for k, v in dict(value).items())
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        metadata[METADATA_PREFIX + name.replace("_", "-")] = text
    return metadata
