"""boto3 clients of the local runtime's own bookkeeping (not counted as the app's requests)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from stp.local.request_counter import INTERNAL_ACCESS_KEY

# moto's Step Functions interpreter may run long; polls must not give up early.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=600)


def internal_client(service: str, region: str) -> Any:
    """A client of the emulated ``service`` signed with the uncounted internal key."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=region,
        aws_access_key_id=INTERNAL_ACCESS_KEY,
        aws_secret_access_key="stp-local-internal-secret",
        config=_CONFIG,
    )
