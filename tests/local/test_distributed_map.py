"""Distributed Map in the local runtime as AWS runs it: JSONL items from S3, ItemBatcher,
tolerated failures below and above the threshold, MaxConcurrency, and the ResultWriter's
manifest and result files. The child is Pass/Choice/Fail states, so no function is needed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from stp.local import LocalCloud
from stp.local.distributed_map import DistributedMapDefinitionError, batches, map_specs

BUCKET = "map-items"
ROLE = "arn:aws:iam::123456789012:role/map"


def _definition(**map_fields: Any) -> dict[str, Any]:
    """A Distributed Map over JSONL items; an item (or batch item) with ``fail`` fails."""
    child = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fails", "BooleanEquals": True, "Next": "Broken"}],
                "Default": "Done",
            },
            "Broken": {"Type": "Fail", "Error": "ItemBroken", "Cause": "the item says so"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    if "ItemBatcher" in map_fields:
        # A batch fails when its first item does.
        child["StartAt"] = "First"
        child["States"]["First"] = {
            "Type": "Pass",
            "Parameters": {"fail.$": "States.ArrayGetItem($.Items, 0)"},
            "OutputPath": "$.fail",
            "Next": "Check",
        }
        child["States"]["Check"]["Choices"][0]["Variable"] = "$.fail"
    else:
        child["States"]["Check"]["Choices"][0]["Variable"] = "$.fail"
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSONL"},
                    "Parameters": {"Bucket": BUCKET, "Key": "items.jsonl"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    **child,
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": BUCKET, "Prefix": "results"},
                },
                "MaxConcurrency": 2,
                **map_fields,
                "End": True,
            }
        },
    }


def _run(definition: dict[str, Any], items: list[dict[str, Any]], run_input: Any = None) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    body = "\n".join(json.dumps(item) for item in items) + "\n"
    s3.put_object(Bucket=BUCKET, Key="items.jsonl", Body=body.encode())
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(name="map", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(run_input or {}))[
        "executionArn"
    ]
    return s3, arn


def _results(s3: Any, output: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    details = output["ResultWriterDetails"]
    manifest = json.loads(
        s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read()
    )
    files = {
        status: [
            execution
            for entry in entries
            for execution in json.loads(
                s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
            )
        ]
        for status, entries in manifest["ResultFiles"].items()
    }
    return manifest, files


def test_batches_hold_items_and_batch_input_up_to_the_limits() -> None:
    items = [{"n": n} for n in range(5)]
    grouped = batches(
        items,
        {"MaxItemsPerBatchPath": "$.size", "BatchInput": {"run.$": "$.id"}},
        {"size": 2, "id": "r"},
    )
    assert [count for _, count in grouped] == [2, 2, 1]
    assert grouped[0][0] == {"Items": [{"n": 0}, {"n": 1}], "BatchInput": {"run": "r"}}
    by_bytes = batches(items, {"MaxInputBytesPerBatch": 16}, {})
    assert [count for _, count in by_bytes] == [2, 2, 1]  # {"n":0} is 7 bytes


def test_a_batcher_the_runtime_cannot_run_is_refused_at_parse() -> None:
    with pytest.raises(DistributedMapDefinitionError, match="MaxItemsPerBatch"):
        map_specs({"States": {"M": {"Type": "Map", "ItemBatcher": {"BatchInput": {}}}}})
    with pytest.raises(DistributedMapDefinitionError, match="ItemSelector"):
        map_specs(
            {
                "States": {
                    "M": {"Type": "Map", "ItemSelector": {}, "ItemBatcher": {"MaxItemsPerBatch": 2}}
                }
            }
        )


def test_every_item_succeeds_and_the_result_writer_writes_them_as_aws_does() -> None:
    with LocalCloud() as cloud:
        items = [{"n": n} for n in range(5)]
        s3, arn = _run(_definition(), items)
        outcome = cloud.wait(arn, timeout=60)
        assert outcome.status == "SUCCEEDED", outcome
        manifest, files = _results(s3, outcome.output)
        key_prefix = f"results/{manifest['MapRunArn'].split(':')[-1]}/"
        assert manifest["ResultFiles"]["SUCCEEDED"][0]["Key"] == key_prefix + "SUCCEEDED_0.json"
        assert manifest["ResultFiles"]["FAILED"] == [] and manifest["ResultFiles"]["PENDING"] == []
        inputs = sorted(json.loads(execution["Input"])["n"] for execution in files["SUCCEEDED"])
        assert inputs == list(range(5))
        assert {execution["Status"] for execution in files["SUCCEEDED"]} == {"SUCCEEDED"}
        assert all(":express:" in execution["ExecutionArn"] for execution in files["SUCCEEDED"])


def test_failures_under_the_tolerated_percentage_let_the_map_succeed() -> None:
    with LocalCloud() as cloud:
        items = [{"n": n, "fail": n == 3} for n in range(10)]  # 10 % fail
        s3, arn = _run(_definition(ToleratedFailurePercentage=20), items)
        outcome = cloud.wait(arn, timeout=60)
        assert outcome.status == "SUCCEEDED", outcome
        _, files = _results(s3, outcome.output)
        assert len(files["SUCCEEDED"]) == 9
        [failed] = files["FAILED"]
        assert (failed["Status"], failed["Error"], failed["Cause"]) == (
            "FAILED",
            "ItemBroken",
            "the item says so",
        )
        assert json.loads(failed["Input"]) == {"n": 3, "fail": True}


def test_failures_over_the_tolerated_percentage_fail_the_map() -> None:
    with LocalCloud() as cloud:
        items = [{"n": n, "fail": n % 3 == 0} for n in range(10)]  # 40 % fail
        s3, arn = _run(_definition(ToleratedFailurePercentage=20), items)
        outcome = cloud.wait(arn, timeout=60)
        assert outcome.status == "FAILED"
        assert outcome.error == "States.ExceedToleratedFailureThreshold"
        # As on AWS, the ResultWriter still exports every child that ran, by status.
        keys = [
            entry["Key"]
            for entry in s3.list_objects_v2(Bucket=BUCKET, Prefix="results/")["Contents"]
        ]
        [manifest_key] = [key for key in keys if key.endswith("/manifest.json")]
        bucket_details = {"Bucket": BUCKET, "Key": manifest_key}
        manifest, files = _results(s3, {"ResultWriterDetails": bucket_details})
        assert manifest["MapRunArn"].split(":")[-1] in manifest_key
        ran = [json.loads(execution["Input"]) for status in files for execution in files[status]]
        assert len(ran) == len({item["n"] for item in ran}) <= len(items)
        assert {item["n"] for item in ran} >= {0, 1, 2, 3}  # 2 at a time: the 3rd failure stops it
        assert all(not json.loads(execution["Input"])["fail"] for execution in files["SUCCEEDED"])
        assert len(files["FAILED"]) >= 3  # over 20 % of 10 items
        assert {execution["Error"] for execution in files["FAILED"]} == {"ItemBroken"}


def test_without_a_threshold_one_failure_fails_the_map() -> None:
    with LocalCloud() as cloud:
        items = [{"n": n, "fail": n == 4} for n in range(6)]
        _, arn = _run(_definition(), items)
        assert cloud.wait(arn, timeout=60).error == "States.ExceedToleratedFailureThreshold"


def test_a_failed_batch_counts_all_its_items_against_the_count_threshold() -> None:
    with LocalCloud() as cloud:
        # Batches of 3: the first batch fails, so 3 items failed; 2 are tolerated.
        items = [{"n": n, "fail": n == 0} for n in range(9)]
        batcher = {"MaxItemsPerBatch": 3, "BatchInput": {"sweep.$": "$.sweep"}}
        _, arn = _run(
            _definition(ItemBatcher=batcher, ToleratedFailureCount=2), items, {"sweep": "s"}
        )
        assert cloud.wait(arn, timeout=60).error == "States.ExceedToleratedFailureThreshold"


def test_each_child_of_a_batched_map_receives_items_and_batch_input() -> None:
    with LocalCloud() as cloud:
        items = [{"n": n} for n in range(7)]
        batcher = {"MaxItemsPerBatch": 3, "BatchInput": {"sweep.$": "$.sweep"}}
        s3, arn = _run(_definition(ItemBatcher=batcher), items, {"sweep": "s"})
        outcome = cloud.wait(arn, timeout=60)
        assert outcome.status == "SUCCEEDED", outcome
        _, files = _results(s3, outcome.output)
        inputs = sorted(
            (json.loads(execution["Input"]) for execution in files["SUCCEEDED"]),
            key=lambda batch: batch["Items"][0]["n"],
        )
        assert [[item["n"] for item in batch["Items"]] for batch in inputs] == [
            [0, 1, 2],
            [3, 4, 5],
            [6],
        ]
        assert {json.dumps(batch["BatchInput"]) for batch in inputs} == {'{"sweep": "s"}'}
