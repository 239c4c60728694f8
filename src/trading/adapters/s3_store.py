"""Objects in S3: the service's :class:`~trading.service.ports.ObjectStore` over a boto3 client.

>>> store = S3ObjectStore(boto3.client("s3"))  # doctest: +SKIP
>>> store.write("bucket", "curated/r1/bars.csv", b"...", "text/csv")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trading.adapters.aws_errors import error_code, translate_errors
from trading.service.ports import ObjectNotFoundError, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})


class S3ObjectStore:
    """Read, stream and write objects; a missing object raises ``ObjectNotFoundError``."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def open(self, bucket: str, key: str) -> StoredObject:
        """Open ``key`` for streaming, with its user metadata (keys lower-case)."""
        response = self._get(bucket, key)
        metadata = {name.lower(): value for name, value in response.get("Metadata", {}).items()}
        return StoredObject(_TranslatedBody(response["Body"], f"s3://{bucket}/{key}"), metadata)

    def read(self, bucket: str, key: str) -> bytes:
        """The whole body of ``key``."""
        body = self._get(bucket, key)["Body"]
        with translate_errors(f"reading s3://{bucket}/{key}"):
            data: bytes = body.read()
        return data

    def write(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        """Create or replace ``key`` (S3 writes are atomic: readers see old or new, whole)."""
        with translate_errors(f"writing s3://{bucket}/{key}"):
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def _get(self, bucket: str, key: str) -> Any:
        try:
            with translate_errors(f"reading s3://{bucket}/{key}"):
                return self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING:
                raise ObjectNotFoundError(f"s3://{bucket}/{key}") from None
            raise


class _TranslatedBody:
    """An S3 body whose read errors (a dropped connection mid-file) are transient errors."""

    def __init__(self, body: Any, where: str) -> None:
        self._body = body
        self._where = where

    def read(self, size: int = -1, /) -> bytes:
        with translate_errors(f"reading {self._where}"):
            data: bytes = self._body.read(None if size < 0 else size)
        return data
