"""The emulated state saved to and restored from one file: `stp up --state-dir`.

``<dir>/state.zip`` holds, in a ``manifest.json`` and one entry per object:

- every object of every bucket (its current version, metadata and content type), the deploy's
  own artifact bucket excepted (the next deploy writes it again);
- every DynamoDB table's items, and the table's keys and indexes (to recreate a table the
  template does not create);
- every finished Step Functions execution: its description and full event history;
- every CloudWatch Logs group's streams and events (what the handlers logged).

Saving writes a temporary file beside the snapshot, flushes it to disk and renames it over
the old one: a crash at any moment leaves the previous snapshot whole. Restoring happens
after the deploy, into the resources it created (their names are stable per stack and
logical id); objects are put without S3's event, so no workflow starts again.

Not kept: SQS messages, SNS subscriptions made by hand, non-current object versions.
"""

from __future__ import annotations

import base64
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus, GetExecutionHistoryOutput
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from stp.local.aws_clients import internal_client
from stp.local.deploy import ARTIFACT_BUCKET_PREFIX

SNAPSHOT_NAME = "state.zip"
FORMAT = 1
_MANIFEST = "manifest.json"
_BYTES = "__bytes__"
_BATCH = 25  # BatchWriteItem's limit
_RUNNING = "RUNNING"
STOPPED_ERROR = "stp.Stopped"


class SnapshotError(ValueError):
    """The snapshot cannot be read; the message says which file and why."""


@dataclass(frozen=True)
class StateSummary:
    """What a snapshot holds."""

    path: Path
    objects: int
    items: int
    executions: int
    log_events: int

    def describe(self) -> str:
        """``12 objects, 40 items, 3 executions, 210 log events``."""
        return (
            f"{self.objects} objects, {self.items} items, {self.executions} executions, "
            f"{self.log_events} log events"
        )


def snapshot_path(folder: Path) -> Path:
    """Where the snapshot of ``folder`` lives."""
    return folder / SNAPSHOT_NAME


def check_snapshot(folder: Path) -> None:
    """Raise `SnapshotError` when ``folder`` holds a snapshot that cannot be restored."""
    path = snapshot_path(folder)
    if path.exists():
        _read_manifest(path)


def save_state(cloud: Any, folder: Path) -> StateSummary:
    """Write the emulation's state to ``folder/state.zip``, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    final = snapshot_path(folder)
    temporary = folder / f".{SNAPSHOT_NAME}.{os.getpid()}.tmp"
    region = cloud.region
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            manifest = {
                "format": FORMAT,
                "saved_at": datetime.now(UTC).isoformat(),
                "buckets": _save_objects(archive, region),
                "tables": _save_tables(archive, region),
                "executions": _save_executions(region),
                "log_groups": _save_logs(region),
            }
            archive.writestr(_MANIFEST, json.dumps(manifest, default=_encode))
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_folder(folder)
    return _summary(final, manifest)


def restore_state(cloud: Any, folder: Path) -> StateSummary | None:
    """Put the snapshot of ``folder`` (if any) back into the emulation; what it held."""
    path = snapshot_path(folder)
    if not path.exists():
        return None
    manifest = _read_manifest(path)
    region = cloud.region
    with zipfile.ZipFile(path) as archive:
        _restore_objects(cloud, archive, manifest["buckets"], region)
        _restore_tables(archive, manifest["tables"], region)
    _restore_executions(manifest["executions"], cloud.account_id, region)
    _restore_logs(manifest["log_groups"], region)
    return _summary(path, manifest)


# --- S3 --------------------------------------------------------------------------------------


def _save_objects(archive: zipfile.ZipFile, region: str) -> dict[str, list[dict[str, Any]]]:
    s3 = internal_client("s3", region)
    buckets: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if name.startswith(ARTIFACT_BUCKET_PREFIX):
            continue
        buckets[name] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for summary in page.get("Contents", []):
                stored = s3.get_object(Bucket=name, Key=summary["Key"])
                entry = f"objects/{count}"
                count += 1
                archive.writestr(entry, stored["Body"].read())
                buckets[name].append(
                    {
                        "key": summary["Key"],
                        "entry": entry,
                        "metadata": stored.get("Metadata", {}),
                        "content_type": stored.get("ContentType"),
                    }
                )
    return buckets


def _restore_objects(
    cloud: Any, archive: zipfile.ZipFile, buckets: dict[str, list[dict[str, Any]]], region: str
) -> None:
    s3 = internal_client("s3", region)
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for name, objects in buckets.items():
        if name not in existing:  # made by hand through the endpoint, not by the template
            if region == "us-east-1":
                s3.create_bucket(Bucket=name)
            else:
                s3.create_bucket(
                    Bucket=name, CreateBucketConfiguration={"LocationConstraint": region}
                )
        for stored in objects:
            cloud.seed_object(
                name,
                stored["key"],
                archive.read(stored["entry"]),
                stored["metadata"],
                stored["content_type"],
            )


# --- DynamoDB --------------------------------------------------------------------------------


def _save_tables(archive: zipfile.ZipFile, region: str) -> dict[str, dict[str, Any]]:
    dynamodb = internal_client("dynamodb", region)
    tables: dict[str, dict[str, Any]] = {}
    for name in _table_names(dynamodb):
        description = dynamodb.describe_table(TableName=name)["Table"]
        entry = f"tables/{len(tables)}.jsonl"
        items = 0
        lines = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=name):
            for item in page["Items"]:
                lines.append(json.dumps(item, default=_encode))
                items += 1
        archive.writestr(entry, "\n".join(lines))
        tables[name] = {"entry": entry, "items": items, "definition": _definition(description)}
    return tables


def _restore_tables(
    archive: zipfile.ZipFile, tables: dict[str, dict[str, Any]], region: str
) -> None:
    dynamodb = internal_client("dynamodb", region)
    existing = set(_table_names(dynamodb))
    for name, saved in tables.items():
        if name not in existing:
            dynamodb.create_table(TableName=name, **saved["definition"])
        lines = archive.read(saved["entry"]).decode().splitlines()
        items = [json.loads(line, object_hook=_decode) for line in lines if line]
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
            pending: dict[str, Any] = {name: requests}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get(
                    "UnprocessedItems", {}
                )


def _table_names(dynamodb: Any) -> list[str]:
    return [
        name
        for page in dynamodb.get_paginator("list_tables").paginate()
        for name in page["TableNames"]
    ]


def _definition(description: dict[str, Any]) -> dict[str, Any]:
    """CreateTable's arguments (on demand) for a table like the one described."""
    definition: dict[str, Any] = {
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": description["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if description.get(kind):
            definition[kind] = [
                {
                    "IndexName": index["IndexName"],
                    "KeySchema": index["KeySchema"],
                    "Projection": index["Projection"],
                }
                for index in description[kind]
            ]
    return definition


# --- Step Functions --------------------------------------------------------------------------


class RestoredExecution(Execution):
    """A finished execution brought back from a snapshot: described, listed and its history
    read like any other, never run again."""

    def __init__(
        self, saved: dict[str, Any], state_machine: Any, account_id: str, region: str
    ) -> None:
        description = saved["description"]
        super().__init__(
            name=description["name"],
            sm_type=state_machine.sm_type,
            role_arn=state_machine.roleArn,
            exec_arn=description["executionArn"],
            account_id=account_id,
            region_name=region,
            state_machine=state_machine,
            start_date=_timestamp(description["startDate"]),
            cloud_watch_logging_session=None,
            activity_store={},
            input_data=description.get("input") or "{}",
        )
        self.exec_status = ExecutionStatus(description["status"])
        self.stop_date = _timestamp(description["stopDate"]) if "stopDate" in description else None
        output = description.get("output")
        self.output = json.loads(output) if output is not None else None
        self.error = description.get("error")
        self.cause = description.get("cause")
        self._events = [
            {**event, "timestamp": _timestamp(event["timestamp"])} for event in saved["history"]
        ]

    def to_history_output(self) -> GetExecutionHistoryOutput:
        """The saved event history."""
        return GetExecutionHistoryOutput(events=self._events)  # type: ignore[typeddict-item]


def _save_executions(region: str) -> list[dict[str, Any]]:
    stepfunctions = internal_client("stepfunctions", region)
    saved = []
    for machine in _state_machines(stepfunctions):
        pages = stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=machine["stateMachineArn"]
        )
        for page in pages:
            for listed in page["executions"]:
                arn = listed["executionArn"]
                description = stepfunctions.describe_execution(executionArn=arn)
                description.pop("ResponseMetadata", None)
                history = [
                    event
                    for history_page in stepfunctions.get_paginator(
                        "get_execution_history"
                    ).paginate(executionArn=arn)
                    for event in history_page["events"]
                ]
                if description["status"] == _RUNNING:
                    # The process ends it; it is kept as AWS would show an execution stopped.
                    description.update(
                        status="ABORTED",
                        stopDate=datetime.now(UTC),
                        error=STOPPED_ERROR,
                        cause="stp up stopped while the execution ran",
                    )
                saved.append(
                    {
                        "state_machine": machine["name"],
                        "description": description,
                        "history": history,
                    }
                )
    return saved


def _restore_executions(executions: list[dict[str, Any]], account_id: str, region: str) -> None:
    backend = stepfunctions_parser_backends[account_id][region]
    machines = {machine.name: machine for machine in backend.state_machines}
    for saved in executions:
        machine = machines.get(saved["state_machine"])
        if machine is None:
            continue  # the template no longer has it
        known = {execution.execution_arn for execution in machine.executions}
        if saved["description"]["executionArn"] not in known:
            machine.executions.append(RestoredExecution(saved, machine, account_id, region))  # type: ignore[arg-type]


def _state_machines(stepfunctions: Any) -> Iterator[dict[str, Any]]:
    for page in stepfunctions.get_paginator("list_state_machines").paginate():
        yield from page["stateMachines"]


# --- CloudWatch Logs -------------------------------------------------------------------------


def _save_logs(region: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    logs = internal_client("logs", region)
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            name = group["logGroupName"]
            groups[name] = {}
            streams = logs.get_paginator("describe_log_streams").paginate(logGroupName=name)
            for stream_page in streams:
                for stream in stream_page["logStreams"]:
                    groups[name][stream["logStreamName"]] = _stream_events(
                        logs, name, stream["logStreamName"]
                    )
    return groups


def _stream_events(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        arguments = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        if token:
            arguments["nextToken"] = token
        page = logs.get_log_events(**arguments)
        events.extend(
            {"timestamp": e["timestamp"], "message": e["message"]} for e in page["events"]
        )
        if not page["events"] or page.get("nextForwardToken") == token:
            return events
        token = page.get("nextForwardToken")


def _restore_logs(groups: dict[str, dict[str, list[dict[str, Any]]]], region: str) -> None:
    logs = internal_client("logs", region)
    existing = {
        group["logGroupName"]
        for page in logs.get_paginator("describe_log_groups").paginate()
        for group in page["logGroups"]
    }
    for name, streams in groups.items():
        if name not in existing:
            logs.create_log_group(logGroupName=name)
        for stream, events in streams.items():
            logs.create_log_stream(logGroupName=name, logStreamName=stream)
            if events:
                ordered = sorted(events, key=lambda event: event["timestamp"])
                logs.put_log_events(logGroupName=name, logStreamName=stream, logEvents=ordered)


# --- the file --------------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            manifest: dict[str, Any] = json.loads(archive.read(_MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise SnapshotError(
            f"{path}: not a snapshot stp up wrote ({error}); move it away to start empty"
        ) from None
    if manifest.get("format") != FORMAT:
        raise SnapshotError(
            f"{path}: snapshot format {manifest.get('format')!r}, this stp reads {FORMAT}"
        )
    return manifest


def _summary(path: Path, manifest: dict[str, Any]) -> StateSummary:
    return StateSummary(
        path=path,
        objects=sum(len(objects) for objects in manifest["buckets"].values()),
        items=sum(table["items"] for table in manifest["tables"].values()),
        executions=len(manifest["executions"]),
        log_events=sum(
            len(events)
            for streams in manifest["log_groups"].values()
            for events in streams.values()
        ),
    )


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (the folder's entry)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {_BYTES: base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"cannot save {type(value).__name__}")


def _decode(value: dict[str, Any]) -> Any:
    if set(value) == {_BYTES}:
        return base64.b64decode(value[_BYTES])
    return value


def _timestamp(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
