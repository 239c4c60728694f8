"""Delivers S3 "Object Created" events to the Step Functions targets of EventBridge rules.

moto's EventBridge does not deliver to Step Functions, so the runtime does EventBridge's part:
it builds the event S3 sends, lets each deployed rule's own pattern decide (moto's matcher),
shapes the target's input (its Input, InputPath or InputTransformer) and starts the target.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.events.models import events_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from stp.local.aws_clients import internal_client
from stp.local.input_transformer import target_input

_LOG = logging.getLogger(__name__)
DEFAULT_EVENT_BUS = "default"


def object_created_event(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    version_id: str | None,
    account_id: str,
    region: str,
) -> dict[str, Any]:
    """The EventBridge event S3 emits for a PutObject, field for field."""
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
            "reason": "PutObject",
        },
    }


def bucket_sends_events(bucket: str, account_id: str, region: str) -> bool:
    """True when the bucket's notification configuration turns EventBridge delivery on.

    Read from moto's S3 model: its GetBucketNotificationConfiguration answer drops the empty
    ``EventBridgeConfiguration`` element that is the whole setting.
    """
    configuration = (
        s3_backends[account_id][get_partition(region)].get_bucket(bucket).notification_configuration
    )
    return configuration is not None and configuration.event_bridge is not None


def route_event(event: dict[str, Any], *, account_id: str, region: str) -> list[str]:
    """Start the state machines the default bus's enabled, matching rules target.

    Returns the started execution ARNs in rule order. Targets of other kinds are left to
    moto's own delivery.
    """
    backend = events_backends[account_id][region]
    bus = backend.event_buses.get(DEFAULT_EVENT_BUS)
    if bus is None:
        return []
    stepfunctions = internal_client("stepfunctions", region)
    started: list[str] = []
    for rule in list(bus.rules.values()):
        # The rule's own pattern decides, with moto's EventBridge matcher.
        matches = rule.event_pattern.matches_event(event)  # type: ignore[arg-type]
        if rule.state != "ENABLED" or not matches:
            continue
        for target in rule.targets:
            if ":states:" not in target["Arn"] or ":stateMachine:" not in target["Arn"]:
                continue
            execution_input = target_input(target, event, rule.arn)
            # EventBridge names each execution it starts with a fresh id.
            response = stepfunctions.start_execution(
                stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=execution_input
            )
            _LOG.info("rule %s started %s", rule.name, response["executionArn"])
            started.append(response["executionArn"])
    return started
