"""`--state-dir` snapshots: what a save holds comes back whole in a fresh emulation (objects
with their metadata, items with binary attributes, tables made by hand, executions with their
histories, logs), restoring starts nothing, and a save that dies leaves the last snapshot."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import boto3
import pytest

from stp.local import LocalCloud
from stp.local.snapshot import SnapshotError, check_snapshot, restore_state, save_state

APP = Path(__file__).parent / "fixtures" / "app"
PARAMETERS = {"Stage": "test"}

pytestmark = pytest.mark.slow


def test_a_snapshot_restores_everything_and_starts_nothing(tmp_path: Path) -> None:
    with LocalCloud() as cloud:
        deployment = cloud.deploy(APP / "template.yaml", parameters=PARAMETERS)
        bucket = deployment.outputs["DataBucketName"]
        [arn] = cloud.upload(bucket, "incoming/job.json", b'{"rows": [1, 2]}', {"owner": "ana"})
        assert cloud.wait(arn).succeeded
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="by-hand",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="by-hand", Item={"id": {"S": "a"}, "blob": {"B": b"\x00\xff"}})
        history = boto3.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
        saved = save_state(cloud, tmp_path)
    assert saved.executions == 1 and saved.items >= 2 and saved.log_events > 0

    with LocalCloud() as cloud:
        deployment = cloud.deploy(APP / "template.yaml", parameters=PARAMETERS)
        restored = restore_state(cloud, tmp_path)
        assert restored is not None and restored.describe() == saved.describe()
        s3 = boto3.client("s3")
        stored = s3.get_object(Bucket=bucket, Key="incoming/job.json")
        assert stored["Body"].read() == b'{"rows": [1, 2]}'
        assert stored["Metadata"] == {"owner": "ana"}
        item = boto3.client("dynamodb").get_item(TableName="by-hand", Key={"id": {"S": "a"}})
        assert item["Item"]["blob"]["B"] == b"\x00\xff"
        stepfunctions = boto3.client("stepfunctions")
        machine = deployment.state_machines["JobWorkflow"]
        [listed] = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
        assert (listed["executionArn"], listed["status"]) == (arn, "SUCCEEDED")
        described = stepfunctions.describe_execution(executionArn=arn)
        assert json.loads(described["input"])["key"] == "incoming/job.json"
        again = stepfunctions.get_execution_history(executionArn=arn)["events"]
        assert [(e["id"], e["type"], e["timestamp"]) for e in again] == [
            (e["id"], e["type"], e["timestamp"]) for e in history
        ]
        group = f"/aws/lambda/{deployment.functions['PrepareFunction'].name}"
        logged = boto3.client("logs").filter_log_events(logGroupName=group)["events"]
        assert any(event["message"].startswith("START RequestId: ") for event in logged)


def test_a_save_that_dies_leaves_the_last_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalCloud() as cloud:
        deployment = cloud.deploy(APP / "template.yaml", parameters=PARAMETERS)
        bucket = deployment.outputs["DataBucketName"]
        cloud.seed_object(bucket, "archive/first.json", b"{}")
        save_state(cloud, tmp_path)
        before = (tmp_path / "state.zip").read_bytes()
        cloud.seed_object(bucket, "archive/second.json", b"{}")

        def die(*args: object, **kwargs: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(zipfile.ZipFile, "writestr", die)
        with pytest.raises(OSError, match="disk full"):
            save_state(cloud, tmp_path)
    assert (tmp_path / "state.zip").read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["state.zip"]
    check_snapshot(tmp_path)


def test_an_unreadable_snapshot_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "state.zip").write_bytes(b"half a zip")
    with pytest.raises(SnapshotError, match=r"state\.zip: not a snapshot stp up wrote"):
        check_snapshot(tmp_path)
