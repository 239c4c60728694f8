"""The API's market data use cases: a small batch of bars posted as JSON, and a presigned
upload URL for files too large for a request.

A batch is validated by the core exactly like an uploaded file
(:func:`~trading.core.marketdata.validate_records`: same rules, same codes, a bar stamped in
the future beyond the tolerance included); a batch with a bad bar is refused whole, naming
each bad bar. A good batch is stored as JSON Lines and a run
of the trading account starts on it, so the account's pending orders (placed through
``POST /orders``) fill on their symbol's next bar, by the workflow's own broker.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trading.service import keys
from trading.service.access import ACCOUNT_SETTINGS, AccountProfile
from trading.service.errors import AccountHaltedError, InvalidMarketDataError, InvalidRequestError
from trading.service.metadata import to_metadata
from trading.service.ports import (
    AccountRepository,
    ObjectLinks,
    ObjectStore,
    RunRepository,
    WorkflowStarter,
)
from trading.service.runs import StartedRun, check_config, launch_run
from trading.service.steps import Clock, utc_now

MAX_BATCH_BARS = 1000
"""Bars one ``POST /market-data`` accepts; larger files go through an upload URL."""
UPLOAD_URL_SECONDS = 900
FILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
JSONL_TYPE = "application/x-ndjson"


def account_config(config: Mapping[str, Any] | None, account: AccountProfile) -> dict[str, Any]:
    """Run settings of a live run of ``account``: the client's strategy and costs, the
    account's id, opening cash and mode.

    Raises ``InvalidRequestError`` when the client sets what the account fixes (its id, cash
    or mode), :class:`AccountHaltedError` when its kill switch is on, and
    ``InvalidRunSettingError`` naming a bad setting.
    """
    settings = dict(config or {})
    fixed = sorted(set(settings) & set(ACCOUNT_SETTINGS))
    if fixed:
        raise InvalidRequestError(
            f"config.{fixed[0]} cannot be set: it is the account's (an admin sets it)",
            f"config.{fixed[0]}",
        )
    if account.halted:
        raise AccountHaltedError(f"trading is halted in account {account.account_id!r}")
    settings.update(account.run_settings())
    check_config(settings)
    return settings


def ingest_bars(
    bars: Sequence[Mapping[str, Any]],
    *,
    account: AccountProfile,
    bucket: str,
    config: Mapping[str, Any] | None,
    run_id: str | None,
    objects: ObjectStore,
    workflow: WorkflowStarter,
    runs: RunRepository,
    accounts: AccountRepository | None = None,
    new_run_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    clock: Clock = utc_now,
) -> StartedRun:
    """Validate ``bars``, store them and start the account's run on them (see the module);
    the run takes its turn in the account as it arrives (with ``accounts``).

    Raises :class:`InvalidMarketDataError` listing the bad bars; ``RunExistsError`` when
    ``run_id`` was started on other bars.
    """
    # numpy comes with the validator: only this route pays for it, not the API's cold start.
    from trading.core.marketdata import validate_records
    from trading.service.ingest import latest_allowed

    settings = account_config(config, account)
    result = validate_records(bars, not_after=latest_allowed(int(clock().timestamp() * 10**9)))
    if result.errors:
        rows = [
            {
                "index": error.line - 1,
                "field": error.field,
                "code": error.code,
                "message": error.message,
            }
            for error in result.errors
        ]
        raise InvalidMarketDataError(
            f"{result.rows_rejected} of {len(bars)} bars break the market data rules", rows
        )
    body = "".join(json.dumps(dict(bar), separators=(",", ":")) + "\n" for bar in bars).encode()
    run = run_id or new_run_id()
    key = keys.batch_key(account.account_id, run, hashlib.sha256(body).hexdigest()[:16])
    objects.write(bucket, key, body, JSONL_TYPE)
    return launch_run(
        bucket,
        key,
        settings,
        run,
        account=account.account_id,
        workflow=workflow,
        runs=runs,
        accounts=accounts,
        clock=clock,
    )


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where and how a client uploads a file: PUT ``url`` with ``headers``."""

    key: str
    url: str
    headers: dict[str, str]
    expires_in: int

    def to_dict(self) -> dict[str, Any]:
        """The ``POST /market-data/uploads`` response body."""
        return {
            "key": self.key,
            "upload_url": self.url,
            "method": "PUT",
            "headers": dict(self.headers),
            "expires_in": self.expires_in,
        }


def upload_target(
    file_name: str,
    *,
    account: AccountProfile,
    bucket: str,
    config: Mapping[str, Any] | None,
    links: ObjectLinks,
    new_upload_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> UploadTarget:
    """A presigned PUT of one key under the account's folder of ``raw/``: the upload trigger
    starts the account's run on it, with the run settings carried as the object's metadata.
    The signature covers the key and the metadata, so the link writes nothing else."""
    if not FILE_NAME_PATTERN.fullmatch(file_name):
        raise InvalidRequestError(
            "file_name must be 1-100 letters, digits, '.', '-' or '_'", "file_name"
        )
    metadata = to_metadata(account_config(config, account))
    key = keys.upload_key(account.account_id, new_upload_id(), file_name)
    url = links.upload_url(bucket, key, UPLOAD_URL_SECONDS, metadata)
    headers = {f"x-amz-meta-{name}": value for name, value in metadata.items()}
    return UploadTarget(key, url, headers, UPLOAD_URL_SECONDS)
