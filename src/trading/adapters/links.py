"""Presigned S3 URLs (no round trip: signed locally with the function's credentials).

>>> links = S3Links(boto3.client("s3"))  # doctest: +SKIP
>>> links.download_url("reports", "reports/r1/report.html", 300)  # doctest: +SKIP
'https://reports.s3.amazonaws.com/reports/r1/report.html?X-Amz-Signature=...'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Links:
    """The service's ``ObjectLinks`` over an S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def download_url(self, bucket: str, key: str, expires_in: int) -> str:
        """A GET URL of ``key`` valid ``expires_in`` seconds."""
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )

    def upload_url(
        self, bucket: str, key: str, expires_in: int, metadata: Mapping[str, str]
    ) -> str:
        """A PUT URL of ``key``; the signature covers ``metadata`` (x-amz-meta-* headers)."""
        return self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": key, "Metadata": dict(metadata)},
            ExpiresIn=expires_in,
        )
