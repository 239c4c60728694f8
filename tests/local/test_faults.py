"""Injected AWS faults: the caller sees AWS's error, and the emulator does not act."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stp.local import LocalCloud

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def _table(region: str) -> str:
    client = boto3.client("dynamodb", region_name=region)
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "t"


def test_an_injected_fault_fails_the_request_without_side_effects() -> None:
    with LocalCloud() as cloud:
        table = _table(cloud.region)
        client = boto3.client("dynamodb", region_name=cloud.region, config=NO_RETRIES)
        cloud.inject_fault("dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=1)
        with pytest.raises(ClientError) as caught:
            client.put_item(TableName=table, Item={"PK": {"S": "a"}})
        assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert "Item" not in client.get_item(TableName=table, Key={"PK": {"S": "a"}})
        client.put_item(TableName=table, Item={"PK": {"S": "a"}})  # the fault is used up
        assert "Item" in client.get_item(TableName=table, Key={"PK": {"S": "a"}})
        assert cloud.faults_injected() == 1


def test_botocore_retries_absorb_a_fault_shorter_than_its_attempts() -> None:
    with LocalCloud() as cloud:
        table = _table(cloud.region)
        retrying = Config(retries={"mode": "standard", "total_max_attempts": 3})
        client = boto3.client("dynamodb", region_name=cloud.region, config=retrying)
        cloud.inject_fault("dynamodb", "PutItem", "ThrottlingException", times=2)
        client.put_item(TableName=table, Item={"PK": {"S": "b"}})
        assert "Item" in client.get_item(TableName=table, Key={"PK": {"S": "b"}})
        assert cloud.request_counts()[("dynamodb", "PutItem")] == 3


def test_s3_faults_speak_xml() -> None:
    with LocalCloud() as cloud:
        s3 = boto3.client("s3", region_name=cloud.region, config=NO_RETRIES)
        s3.create_bucket(Bucket="fault-test-bucket")
        cloud.inject_fault("s3", "GetObject", "SlowDown", times=1, status=503)
        s3.put_object(Bucket="fault-test-bucket", Key="k", Body=b"x")
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket="fault-test-bucket", Key="k")
        assert caught.value.response["Error"]["Code"] == "SlowDown"
        assert s3.get_object(Bucket="fault-test-bucket", Key="k")["Body"].read() == b"x"
