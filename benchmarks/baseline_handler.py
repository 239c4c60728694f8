"""The baseline of the handler import benchmark: the smallest real handler, boto3 only."""

from typing import Any

import boto3

S3 = boto3.client("s3", region_name="us-east-1")


def handler(event: dict[str, Any], context: object) -> list[str]:
    """List bucket names: one AWS call, nothing else."""
    return [b["Name"] for b in S3.list_buckets()["Buckets"]]
