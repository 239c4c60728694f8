"""``stp invoke``: run one function on one event like ``sam local invoke``, without Docker.

The function runs in a fresh local deployment of the template. Sample events name the
placeholder bucket ``example-market-data``; it is pointed at the deployment's market data
bucket, and every ``raw/<file>`` the event names is seeded from ``data/<file>`` (without S3's
event: no workflow starts). Steps a function depends on run first with ``--before``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from stp.cli import EXIT_FAILED, UsageError

PLACEHOLDER_BUCKET = "example-market-data"
_RAW_KEY = re.compile(r'"(raw/[^"]+)"')


def load_event(path: Path) -> str:
    """The event file's text, checked to be JSON."""
    if not path.is_file():
        raise UsageError(f"--event {path}: no such file")
    text = path.read_text()
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--event {path}: not JSON ({error.msg} at line {error.lineno})") from None
    return text


def parse_before(pairs: list[str]) -> list[tuple[str, Path]]:
    """``LOGICAL_ID=EVENT`` pairs of the steps to run first."""
    steps = []
    for pair in pairs:
        function, sep, event = pair.partition("=")
        if not sep or not function or not event:
            raise UsageError(f"--before {pair!r} is not of the form LOGICAL_ID=EVENT_FILE")
        steps.append((function, Path(event)))
    return steps


def invoke_command(project: Path, function: str, event: Path, before: list[str]) -> int:
    """Invoke ``function`` with ``event``; print its result JSON. 1 when the handler failed."""
    steps = [*parse_before(before), (function, event)]
    texts = [(name, load_event(path)) for name, path in steps]
    from stp.local import LocalCloud

    with LocalCloud() as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        for name, _ in texts:
            if name not in deployment.functions:
                known = ", ".join(sorted(deployment.functions))
                raise UsageError(f"no function {name!r} in template.yaml (functions: {known})")
        bucket = deployment.outputs["MarketDataBucketName"]
        for name, text in texts:
            text = text.replace(PLACEHOLDER_BUCKET, bucket)
            seed_raw_objects(cloud, bucket, text, project / "data")
            event = json.loads(text)
            register_caller(cloud, deployment, event)
            result = cloud.invoke(name, event)
            print(json.dumps(result.payload, indent=2, default=str))
            if not result.ok:
                print(
                    f"stp: {name} failed: {result.error_type}: {result.error_message}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
    return 0


SAMPLE_ACCOUNT = "paper"
"""The account of the sample API events (their keys are under ``raw/paper/``)."""


def register_caller(cloud: Any, deployment: Any, event: Any) -> None:
    """Grant an API event's caller (the ``sub`` of its authorizer claims, as API Gateway
    passes them) the sample account, registering it on first use, as an admin would."""
    from stp.local.traders import registry_of
    from trading.service.admin import create_account, grant_account

    context = event.get("requestContext") if isinstance(event, dict) else None
    claims = ((context or {}).get("authorizer") or {}).get("claims") or {}
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str):
        return
    registry = registry_of(cloud, deployment)
    if SAMPLE_ACCOUNT in registry.accounts_of(subject):
        return
    if registry.profile(SAMPLE_ACCOUNT) is None:
        create_account(SAMPLE_ACCOUNT, owner=subject, settings=None, registry=registry)
    else:
        grant_account(SAMPLE_ACCOUNT, subject, registry=registry)


def seed_raw_objects(cloud: Any, bucket: str, event_text: str, data_dir: Path) -> None:
    """Put ``data/<file>`` under every ``raw/<file>`` key the event names (when it exists),
    without the event that would start a workflow."""
    for key in set(_RAW_KEY.findall(event_text)):
        source = data_dir / Path(key).name
        if source.is_file():
            cloud.seed_object(bucket, key, source.read_bytes())
