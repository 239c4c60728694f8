"""The API's run use cases: start a run of the trading workflow, describe a run and its steps.

Plain Python over ports (no AWS imports)::

    request = StartRunRequest.checked(key="raw/desk-a/bars.csv", bucket=None, config=None,
                                      run_id=None, market_data_bucket="market-data")
    started = start_run(request, account="desk-a", objects=catalog, workflow=starter)
    started.to_dict()  # {"run_id", "execution_arn", "status"}
    describe_run("run-1", account="desk-a", runs=reader).to_dict()  # status, steps...

Bad input raises a :class:`~trading.errors.PlatformError` whose ``code`` the API returns.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trading.core.settings import RunSettingsError, resolve_settings
from trading.errors import InvalidRunConfigError, PlatformError, RunNotFoundError
from trading.service import keys
from trading.service.account import Turn
from trading.service.ports import (
    AccountRepository,
    ExecutionExistsError,
    NewRun,
    ObjectCatalog,
    RunReader,
    RunRepository,
    WorkflowStarter,
)
from trading.service.steps import Clock, iso, utc_now

RAW_PREFIX = "raw/"
"""Where uploads land in the market data bucket; a run reads only objects under it."""
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,80}")
"""A client-chosen run id: a valid Step Functions execution name and DynamoDB key part."""
MAX_KEY_BYTES = 1024
"""S3's limit on an object key (UTF-8)."""
API_SOURCE = "api"
"""The run record's ``source`` for runs started through the API."""


class InvalidRunRequestError(PlatformError):
    """The request is malformed: a field is missing, of the wrong type or out of range."""

    code: ClassVar[str] = "INVALID_REQUEST"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class SourceObjectNotFoundError(PlatformError):
    """The market data object a run should process does not exist."""

    code: ClassVar[str] = "OBJECT_NOT_FOUND"


class RunExistsError(PlatformError):
    """A run with this id was already started with another input."""

    code: ClassVar[str] = "RUN_EXISTS"


@dataclass(frozen=True, slots=True)
class StartRunRequest:
    """A ``POST /runs`` command; ``run_id`` is ``None`` when the client chose none.

    The API's model has checked the body's shape (types, lengths, the run id pattern) at the
    edge; :meth:`checked` adds what only the platform knows: the bucket, the run settings.
    """

    bucket: str
    key: str
    config: Mapping[str, Any] | None = None
    run_id: str | None = None

    @classmethod
    def checked(
        cls,
        *,
        key: str,
        bucket: str | None,
        config: Mapping[str, Any] | None,
        run_id: str | None,
        market_data_bucket: str,
    ) -> StartRunRequest:
        """The command, or :class:`InvalidRunRequestError` / ``InvalidRunSettingError``
        naming the bad field. A run's account is the caller's: ``config.account`` is refused."""
        check_source(key, bucket, market_data_bucket)
        if config is not None:
            if "account" in config:
                raise InvalidRunRequestError(
                    "config.account cannot be set: a run's account is the caller's",
                    "config.account",
                )
            check_config(config)
        return cls(bucket=market_data_bucket, key=key, config=config, run_id=run_id)


def check_source(key: str, bucket: str | None, market_data_bucket: str) -> None:
    """Raise :class:`InvalidRunRequestError` naming ``key`` or ``bucket`` unless they name an
    upload (an object under ``raw/``) of the market data bucket: what a run or a sweep reads."""
    if not key.startswith(RAW_PREFIX) or key == RAW_PREFIX:
        raise InvalidRunRequestError(f"key must be the key of an object under {RAW_PREFIX}", "key")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidRunRequestError(f"key must be at most {MAX_KEY_BYTES} bytes", "key")
    if bucket is not None and bucket != market_data_bucket:
        raise InvalidRunRequestError(
            f"bucket must be the market data bucket ({market_data_bucket})", "bucket"
        )


class InvalidRunSettingError(InvalidRunConfigError):
    """``InvalidRunConfigError`` that also names the offending field (``config.cash``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_config(config: Mapping[str, Any]) -> None:
    """Validate run settings as ProcessMarketData will; raises ``InvalidRunSettingError``."""
    try:
        resolve_settings(None, config)
    except RunSettingsError as error:
        field = f"config.{error.setting}" if error.setting else "config"
        raise InvalidRunSettingError(str(error), field) from None


@dataclass(frozen=True, slots=True)
class StartedRun:
    """A started run: its id (the execution name), its execution and the execution's status."""

    run_id: str
    execution_arn: str
    status: str

    def to_dict(self) -> dict[str, str]:
        """The ``POST /runs`` response body."""
        return {"run_id": self.run_id, "execution_arn": self.execution_arn, "status": self.status}


def start_run(
    request: StartRunRequest,
    *,
    account: str,
    objects: ObjectCatalog,
    workflow: WorkflowStarter,
    runs: RunRepository,
    accounts: AccountRepository | None = None,
    new_run_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    clock: Clock = utc_now,
) -> StartedRun:
    """Start the workflow on ``request``'s object, named by its run id.

    Starting the same run id with the same request again returns the same run; with another
    request it raises :class:`RunExistsError`. Raises :class:`SourceObjectNotFoundError` when
    the object does not exist (checked first, so a run never starts on nothing). The run's
    record is created as RUNNING once the execution exists, so ``GET /runs/{id}`` finds it at
    once (ProcessMarketData then reuses it).

    The run is ``account``'s: its object must be in the account's folder (``raw/<account>/``);
    any other key is answered as a missing object, whether it exists or not.
    """
    if keys.account_of(request.key) != account or not objects.exists(request.bucket, request.key):
        raise SourceObjectNotFoundError(
            f"s3://{request.bucket}/{request.key} does not exist "
            f"(a run reads objects under {keys.RAW_PREFIX}{account}/)"
        )
    return launch_run(
        request.bucket,
        request.key,
        request.config,
        request.run_id or new_run_id(),
        account=account,
        workflow=workflow,
        runs=runs,
        accounts=accounts,
        clock=clock,
    )


def launch_run(
    bucket: str,
    key: str,
    config: Mapping[str, Any] | None,
    run_id: str,
    *,
    account: str | None,
    workflow: WorkflowStarter,
    runs: RunRepository,
    accounts: AccountRepository | None = None,
    clock: Clock = utc_now,
) -> StartedRun:
    """Start the workflow on ``s3://bucket/key`` as run ``run_id`` of ``account`` and record
    it RUNNING.

    A run of a live account (``config["account"]``, with ``accounts``) takes its turn in the
    account now, as it arrives, so it goes before every run that arrives after it
    (:mod:`trading.service.turns`); its record is created first, to stamp the turn.

    Idempotent like :func:`start_run`: raises :class:`RunExistsError` when ``run_id`` was
    started on another input.
    """
    payload: dict[str, Any] = {"bucket": bucket, "key": key, "source": API_SOURCE}
    if config is not None:
        payload["config"] = dict(config)
    new_run = NewRun(
        run_id=run_id,
        source_bucket=bucket,
        source_key=key,
        source=API_SOURCE,
        config=payload.get("config"),
        created_at=iso(clock()),
        account=account,
    )
    live_account = (config or {}).get("account")
    turn = None
    if accounts is not None and isinstance(live_account, str):
        record = runs.start(new_run)
        turn = Turn(str(record.get("created_at") or new_run.created_at), run_id)
        accounts.take_turn(live_account, turn)
    try:
        execution = workflow.start(run_id, payload)
    except ExecutionExistsError:
        raise RunExistsError(f"run {run_id} was already started with another request") from None
    except Exception:
        if turn is not None and accounts is not None and isinstance(live_account, str):
            accounts.drop_turn(live_account, turn)  # never started: the turn must not block
        raise
    if turn is None:
        runs.start(new_run)
    return StartedRun(run_id, execution.execution_arn, execution.status)


def owned_run(run_id: str, *, account: str, runs: RunReader) -> Mapping[str, Any]:
    """The record of run ``run_id`` when it is ``account``'s; else ``RunNotFoundError``."""
    record = runs.get(run_id) if RUN_ID_PATTERN.fullmatch(run_id) else None
    if record is None or record.get("account") != account:
        raise RunNotFoundError(f"no run {run_id}")
    return record


def run_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run record as ``GET /runs`` lists it."""
    return {
        "run_id": str(record.get("run_id")),
        "status": record.get("status"),
        "source": record.get("source"),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "headline": record.get("headline"),
    }


@dataclass(frozen=True, slots=True)
class RunStep:
    """One finished step of a run, as ``GET /runs/{id}`` shows it."""

    name: str
    started_at: str | None
    ended_at: str | None
    duration_ms: int | None
    summary: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_ms": self.duration_ms,
            "summary": dict(self.summary),
        }


@dataclass(frozen=True, slots=True)
class RunDescription:
    """A run's record and its steps; fields a run has not reached yet are ``None``."""

    run_id: str
    status: str | None
    source: str | None
    settings: Mapping[str, Any] | None
    created_at: str | None
    updated_at: str | None
    error: str | None
    cause: str | None
    headline: Mapping[str, Any] | None
    steps: tuple[RunStep, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()
    committed: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /runs/{id}`` response body."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "source": self.source,
            "settings": dict(self.settings) if self.settings is not None else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "error": self.error,
            "cause": self.cause,
            "headline": dict(self.headline) if self.headline is not None else None,
            "warnings": list(self.warnings),
            "committed": dict(self.committed) if self.committed is not None else None,
            "steps": [step.to_dict() for step in self.steps],
        }


def describe_run(run_id: str, *, account: str, runs: RunReader) -> RunDescription:
    """The run ``run_id`` of ``account`` with its steps; raises ``RunNotFoundError`` when
    there is none, or it is another account's (the same answer: nothing leaks)."""
    record = owned_run(run_id, account=account, runs=runs)
    steps = tuple(
        RunStep(
            name=str(item.get("step")),
            started_at=item.get("started_at"),
            ended_at=item.get("ended_at"),
            duration_ms=item.get("duration_ms"),
            summary=item.get("summary") or {},
        )
        for item in runs.steps(run_id)
    )
    return RunDescription(
        run_id=run_id,
        status=record.get("status"),
        source=record.get("source"),
        settings=record.get("settings"),
        created_at=record.get("created_at"),
        updated_at=record.get("updated_at"),
        error=record.get("error"),
        cause=record.get("cause"),
        headline=record.get("headline"),
        steps=steps,
        warnings=tuple(str(warning) for warning in record.get("warnings") or ()),
        committed=record.get("committed"),
    )
