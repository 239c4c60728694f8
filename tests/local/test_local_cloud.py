"""The local runtime end to end on its fixture app: deploy, invoke, upload trigger, workflow
executions with Retry and Catch, request counts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stp.local import Deployment, LocalCloud
from stp.local.triggers import started_executions

APP = Path(__file__).parent / "fixtures" / "app"
TRIGGER_PREFIX = "incoming/"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def deployment(cloud: LocalCloud) -> Deployment:
    started = time.perf_counter()
    deployed = cloud.deploy(APP / "template.yaml", parameters={"Stage": "test"})
    print(f"fixture app deployed in {time.perf_counter() - started:.2f} s")
    return deployed


def _upload_job(cloud: LocalCloud, deployment: Deployment, key: str, job: dict[str, Any]) -> str:
    """Upload a job file under the trigger prefix; the one execution it started."""
    bucket = deployment.outputs["DataBucketName"]
    executions = cloud.upload(bucket, key, json.dumps(job).encode())
    assert len(executions) == 1, executions
    return executions[0]


# --- deploy -------------------------------------------------------------------------------


def test_deploy_creates_the_nested_stack_and_its_storage(deployment: Deployment) -> None:
    assert deployment.stack_name == "stp-local"
    cloudformation = boto3.client("cloudformation")
    nested = cloudformation.describe_stacks(StackName=deployment.resources["StorageStack"])
    assert nested["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    bucket = deployment.resources["StorageStack/DataBucket"]
    table = deployment.resources["StorageStack/JobsTable"]
    boto3.client("s3").head_bucket(Bucket=bucket)
    key_schema = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
    assert key_schema == [{"AttributeName": "job", "KeyType": "HASH"}]
    assert deployment.outputs["DataBucketName"] == bucket
    assert deployment.outputs["StorageStack.Outputs.JobsTableName"] == table


def test_functions_get_the_deployed_names_in_their_environment(deployment: Deployment) -> None:
    prepare = deployment.functions["PrepareFunction"]
    summarize = deployment.functions["SummarizeFunction"]
    assert prepare.name == "stp-local-Prepare"
    assert prepare.handler == "demo_jobs.prepare.handler"
    for function in (prepare, summarize):
        assert (
            function.environment["DATA_BUCKET"] == deployment.resources["StorageStack/DataBucket"]
        )
        assert function.environment["JOBS_TABLE"] == deployment.resources["StorageStack/JobsTable"]
        assert function.environment["STAGE"] == "test"
    assert summarize.environment["SUMMARY_PREFIX"] == "summaries/"


def test_state_machine_definition_has_the_function_arns(deployment: Deployment) -> None:
    arn = deployment.state_machines["JobWorkflow"]
    definition = json.loads(
        boto3.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
    )
    states = definition["States"]
    assert states["Prepare"]["Resource"] == deployment.functions["PrepareFunction"].arn
    assert states["Summarize"]["Resource"] == deployment.functions["SummarizeFunction"].arn
    assert states["JobFailed"]["CausePath"] == "$.error.Cause"


def test_unsupported_resources_are_skipped_with_warnings(deployment: Deployment) -> None:
    assert "PrepareErrorsAlarm" not in deployment.resources
    assert any("PrepareErrorsAlarm (AWS::CloudWatch::Alarm)" in w for w in deployment.skipped)
    assert any("Outputs.PrepareAlarmName" in w for w in deployment.skipped)
    assert deployment.outputs["PrepareAlarmName"] == "stp-local-skipped:PrepareErrorsAlarm"


# --- invoke -------------------------------------------------------------------------------


def test_invoke_runs_the_handler_with_its_environment(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    result = cloud.invoke("SummarizeFunction", {"key": "incoming/direct.json", "rows": 3})
    assert result.ok
    assert result.status_code == 200
    assert result.payload["summary_key"] == "summaries/direct.json"
    assert result.payload["request_id"]
    summary = cloud.read_object(deployment.outputs["DataBucketName"], "summaries/direct.json")
    assert json.loads(summary) == {"rows": 3, "stage": "test"}


def test_invoke_reports_a_handler_exception_like_lambda(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    # By function name this time (the logical id works too).
    result = cloud.invoke(deployment.functions["PrepareFunction"].name, {"explode": "boom"})
    assert not result.ok
    assert result.status_code == 200
    assert result.function_error == "Unhandled"
    assert result.error_type == "ValueError"
    assert result.error_message == "cannot prepare boom"
    assert "demo_jobs/prepare.py" in "".join(result.payload["stackTrace"])


def test_invoke_of_an_unknown_function_is_resource_not_found(cloud: LocalCloud) -> None:
    with pytest.raises(ClientError) as raised:
        cloud.invoke("NoSuchFunction", {})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


# --- trigger ------------------------------------------------------------------------------


def test_upload_under_the_prefix_starts_one_execution_with_the_transformed_input(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    body = json.dumps({"rows": []}).encode()
    bucket = deployment.outputs["DataBucketName"]
    executions = cloud.upload(bucket, f"{TRIGGER_PREFIX}empty.json", body)
    assert len(executions) == 1
    described = boto3.client("stepfunctions").describe_execution(executionArn=executions[0])
    assert json.loads(described["input"]) == {
        "bucket": bucket,
        "key": "incoming/empty.json",
        "size": len(body),
        "note": f"uploaded incoming/empty.json ({len(body)} bytes)",
        "source": "s3-upload",
    }
    assert cloud.wait(executions[0]).status == "SUCCEEDED"


def test_upload_elsewhere_starts_nothing(cloud: LocalCloud, deployment: Deployment) -> None:
    machine = deployment.state_machines["JobWorkflow"]
    stepfunctions = boto3.client("stepfunctions")
    before = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    bucket = deployment.outputs["DataBucketName"]
    assert cloud.upload(bucket, "archive/old.json", b"{}") == []
    after = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    assert len(after) == len(before)


def test_a_copy_into_the_prefix_starts_the_workflow_like_a_put(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    # The trigger is S3's own event, whatever created the object (here CopyObject).
    bucket = deployment.outputs["DataBucketName"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="archive/job.json", Body=json.dumps({"rows": [1]}))
    with started_executions() as started:
        s3.copy_object(
            Bucket=bucket,
            Key=f"{TRIGGER_PREFIX}copied.json",
            CopySource={"Bucket": bucket, "Key": "archive/job.json"},
        )
    assert len(started) == 1
    described = boto3.client("stepfunctions").describe_execution(executionArn=started[0])
    assert json.loads(described["input"])["key"] == f"{TRIGGER_PREFIX}copied.json"
    assert cloud.wait(started[0]).succeeded


def test_put_events_reaches_the_state_machine_target(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    # An event sent with PutEvents is matched by the same rule (moto alone raises
    # NotImplementedError for a Step Functions target).
    bucket = deployment.outputs["DataBucketName"]
    boto3.client("s3").put_object(Bucket=bucket, Key="archive/sent.json", Body=b'{"rows": []}')
    detail = {"bucket": {"name": bucket}, "object": {"key": "incoming/sent.json", "size": 12}}
    with started_executions() as started:
        boto3.client("events").put_events(
            Entries=[
                {"Source": "aws.s3", "DetailType": "Object Created", "Detail": json.dumps(detail)}
            ]
        )
    assert len(started) == 1
    described = boto3.client("stepfunctions").describe_execution(executionArn=started[0])
    assert json.loads(described["input"])["key"] == "incoming/sent.json"


# --- executions ---------------------------------------------------------------------------


def test_happy_execution_succeeds_state_by_state(cloud: LocalCloud, deployment: Deployment) -> None:
    arn = _upload_job(cloud, deployment, "incoming/happy.json", {"rows": [1, 2, 3]})
    states = list(cloud.watch(arn))
    assert [(s.name, s.status, s.retries) for s in states] == [
        ("Prepare", "SUCCEEDED", 0),
        ("HasRows?", "SUCCEEDED", 0),
        ("Summarize", "SUCCEEDED", 0),
    ]
    assert all(s.exited is not None and s.duration >= 0 for s in states)
    outcome = cloud.wait(arn)
    assert outcome.succeeded
    assert outcome.output["summary_key"] == "summaries/happy.json"
    assert outcome.output["rows"] == 3


def test_transient_error_is_absorbed_by_retry(cloud: LocalCloud, deployment: Deployment) -> None:
    arn = _upload_job(cloud, deployment, "incoming/flaky.json", {"rows": [1], "fail_first": 1})
    states = {state.name: state for state in cloud.watch(arn)}
    assert states["Prepare"].status == "SUCCEEDED"
    assert states["Prepare"].retries == 1
    # The Retry's IntervalSeconds (1 s) is really waited.
    assert states["Prepare"].duration >= 1.0
    assert cloud.wait(arn).succeeded
    item = boto3.client("dynamodb").get_item(
        TableName=deployment.outputs["JobsTableName"], Key={"job": {"S": "incoming/flaky.json"}}
    )["Item"]
    assert item["attempts"] == {"N": "2"}
    assert item["job_status"] == {"S": "DONE"}


def test_permanent_error_is_caught_and_fails_the_run(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    arn = _upload_job(
        cloud, deployment, "incoming/broken.json", {"permanent_error": "row 3 is garbage"}
    )
    states = list(cloud.watch(arn))
    assert [(s.name, s.status) for s in states] == [("Prepare", "CAUGHT"), ("JobFailed", "FAILED")]
    assert states[0].error == "PermanentJobError"
    outcome = cloud.wait(arn)
    assert outcome.status == "FAILED"
    assert outcome.failed_state == "Prepare"
    assert outcome.error == "PermanentJobError"
    assert outcome.cause is not None
    assert json.loads(outcome.cause)["errorMessage"] == "row 3 is garbage"


@pytest.mark.concurrency
def test_concurrent_executions_each_see_their_own_run(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    arns = [
        _upload_job(cloud, deployment, f"incoming/parallel-{n}.json", {"rows": list(range(n))})
        for n in (1, 2, 3)
    ]
    outcomes = [cloud.wait(arn) for arn in arns]
    assert [outcome.output["rows"] for outcome in outcomes] == [1, 2, 3]


def test_request_counts_are_the_apps_requests_only(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    cloud.reset_request_counts()
    arn = _upload_job(cloud, deployment, "incoming/counted.json", {"rows": [1]})
    assert cloud.wait(arn).succeeded
    # The upload, Prepare's read and counter, Summarize's object and status; Step Functions'
    # own Lambda invocations and the runtime's bookkeeping are not requests of the app.
    assert cloud.request_counts() == {
        ("s3", "PutObject"): 2,
        ("s3", "GetObject"): 1,
        ("dynamodb", "UpdateItem"): 2,
    }


def test_handler_output_is_in_cloudwatch_logs_like_lambdas(
    cloud: LocalCloud, deployment: Deployment
) -> None:
    function = deployment.functions["PrepareFunction"].name
    result = cloud.invoke("PrepareFunction", {"explode": "logged"})
    assert result.error_type == "ValueError"
    logs = boto3.client("logs")
    group = f"/aws/lambda/{function}"
    messages = [event["message"] for event in logs.filter_log_events(logGroupName=group)["events"]]
    request = next(m for m in reversed(messages) if m.startswith("START RequestId: "))
    request_id = request.split()[2]
    last = messages[messages.index(request) :]
    assert last[-3] == "[ERROR] ValueError: cannot prepare logged"
    assert last[-2] == f"END RequestId: {request_id}"
    assert last[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


def test_an_object_keeps_its_bytes_whatever_its_content_type(deployment: Deployment) -> None:
    # A form content type (what urllib sends with any body) must not turn the body into
    # form fields: S3 stores the bytes.
    bucket = deployment.outputs["DataBucketName"]
    s3 = boto3.client("s3")
    body = b"a=1&b=2 are bytes, not fields"
    s3.put_object(
        Bucket=bucket,
        Key="archive/form.txt",
        Body=body,
        ContentType="application/x-www-form-urlencoded",
    )
    stored = s3.get_object(Bucket=bucket, Key="archive/form.txt")
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "application/x-www-form-urlencoded"
