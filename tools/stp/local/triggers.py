"""Delivers EventBridge events to Step Functions targets, whoever sends them.

moto's EventBridge does not deliver to Step Functions, and the event moto's S3 sends to
EventBridge differs from S3's. The runtime therefore does EventBridge's part (installed by
`stp.local.moto_patches`): every object created in a bucket that sends events to EventBridge
(a PutObject through boto3 in this process, a ``curl -T`` of a presigned URL or an
``aws s3 cp`` through `stp up`'s endpoint) emits the event S3 sends, field for field; each
rule's own pattern decides (moto's matcher); a state machine target receives its input
(``Input``, ``InputPath`` or ``InputTransformer``) and is started. Other targets (queues, log
groups) stay with moto's own delivery, and so does ``PutEvents``'s own event.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from moto.events.models import Rule, events_backends

from stp.local.aws_clients import internal_client
from stp.local.input_transformer import target_input

_LOG = logging.getLogger(__name__)
DEFAULT_EVENT_BUS = "default"
ENABLED = "ENABLED"
# The ``reason`` S3 gives each kind of object creation (moto's notification event names).
CREATED_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "PostObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}

_collectors = threading.local()
# Events of the S3 request this thread is serving, sent once it is done.
_requests = threading.local()


def object_created_event(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    version_id: str | None,
    account_id: str,
    region: str,
    reason: str = "PutObject",
) -> dict[str, Any]:
    """The EventBridge event S3 emits for a created object, field for field."""
    detail_object: dict[str, Any] = {
        "key": key,
        "size": size,
        "etag": etag.strip('"'),
        "sequencer": secrets.token_hex(9).upper(),
    }
    if version_id and version_id != "null":
        detail_object["version-id"] = version_id
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": detail_object,
            "request-id": secrets.token_hex(8).upper(),
            "requester": account_id,
            "source-ip-address": "127.0.0.1",
            "reason": reason,
        },
    }


@contextlib.contextmanager
def started_executions() -> Iterator[list[str]]:
    """Collect the ARNs of the executions events start in this thread while in the block.

    >>> with started_executions() as started:  # doctest: +SKIP
    ...     s3.put_object(Bucket=bucket, Key="raw/bars.csv", Body=body)
    >>> started  # doctest: +SKIP
    ['arn:aws:states:...:execution:...']
    """
    collected: list[str] = []
    stack: list[list[str]] = getattr(_collectors, "stack", [])
    _collectors.stack = [*stack, collected]
    try:
        yield collected
    finally:
        _collectors.stack = stack


def send_s3_event(account_id: str, bucket: Any, event_name: str, key: Any) -> bool:
    """Route the event S3 sends for ``event_name`` on ``key`` of ``bucket`` (moto models).

    Inside an S3 request (`after_the_request`) the event waits until the request is done:
    moto announces a put before it sets the object's metadata, and the run settings travel
    in that metadata. Returns False for an event this runtime does not shape (not an object
    creation): moto then sends its own.
    """
    reason = CREATED_REASONS.get(event_name)
    if reason is None or key is None:
        return False
    pending: list[tuple[str, Any, str, Any]] | None = getattr(_requests, "pending", None)
    if pending is not None:
        pending.append((account_id, bucket, reason, key))
    else:
        _send(account_id, bucket, reason, key)
    return True


def after_the_request(respond: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an S3 request handler of moto so the events it causes leave once it returns."""

    @functools.wraps(respond)
    def responding(*args: Any, **kwargs: Any) -> Any:
        if getattr(_requests, "pending", None) is not None:  # a request within a request
            return respond(*args, **kwargs)
        _requests.pending = []
        try:
            return respond(*args, **kwargs)
        finally:
            pending, _requests.pending = _requests.pending, None
            for account_id, bucket, reason, key in pending:
                _send(account_id, bucket, reason, key)

    return responding


def _send(account_id: str, bucket: Any, reason: str, key: Any) -> None:
    event = object_created_event(
        bucket=bucket.name,
        key=key.name,
        size=key.size,
        etag=key.etag,
        version_id=key.version_id,
        account_id=account_id,
        region=bucket.region_name,
        reason=reason,
    )
    route_event(event, account_id=account_id, region=bucket.region_name)


def route_event(event: dict[str, Any], *, account_id: str, region: str) -> list[str]:
    """Deliver ``event`` to the default bus's rules, as EventBridge does with an event S3
    sends; the ARNs of the executions it started, in rule order."""
    backend = events_backends[account_id][region]
    bus = backend.event_buses.get(DEFAULT_EVENT_BUS)
    if bus is None:
        return []
    with started_executions() as started:
        for rule in list(bus.rules.values()):
            rule.send_to_targets(event)  # type: ignore[arg-type]
    return started


def deliver_to_targets(
    deliver_elsewhere: Callable[..., None],
) -> Callable[..., None]:
    """``Rule.send_to_targets`` that starts state machine targets itself and hands the other
    targets to moto's own delivery (``deliver_elsewhere``)."""

    def send_to_targets(
        rule: Rule, original_event: dict[str, Any], transform_input: bool = True
    ) -> None:
        # EventBridge delivers nothing for a disabled rule or an event its pattern rejects.
        if rule.state != ENABLED or not rule.event_pattern.matches_event(original_event):  # type: ignore[arg-type]
            return
        others = [target for target in rule.targets if not _is_state_machine(target["Arn"])]
        for target in rule.targets:
            if _is_state_machine(target["Arn"]):
                _start(rule, target, original_event)
        if others:
            view = copy.copy(rule)
            view.targets = others
            deliver_elsewhere(view, original_event, transform_input)

    return send_to_targets


def _is_state_machine(arn: str) -> bool:
    return ":states:" in arn and ":stateMachine:" in arn


def _start(rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    region = target["Arn"].split(":")[3]
    execution_input = target_input(target, event, rule.arn)
    # EventBridge names each execution it starts with a fresh id.
    response = internal_client("stepfunctions", region).start_execution(
        stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=execution_input
    )
    arn: str = response["executionArn"]
    _LOG.info("rule %s started %s", rule.name, arn)
    for collected in getattr(_collectors, "stack", []):
        collected.append(arn)
