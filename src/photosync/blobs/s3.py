"""Blobs in an S3-compatible bucket: object ``PREFIX + sha256``, written once, never changed.

A put never exposes a partial object: an S3 PUT is atomic (readers see the whole object or
none), and the body carries its MD5 so the service refuses bytes damaged on the way. A put is
conditional (``If-None-Match: *``), so an object is never replaced, and a new blob costs one
request, not a HEAD and a PUT: when the object is already there the service answers 412 and the
put restarts the object's clock instead. (A service that ignores the condition overwrites the
object with the same bytes and a new clock, which comes to the same.)

A blob's clock (``age``, ``keep``, ``collect``) is the object's ``kept-at`` metadata (seconds
since the epoch, by the writer's clock), written by ``put``; an object without it (copied in by
another tool) counts from its ``LastModified``. ``keep`` restarts the clock by copying the object
onto itself with a new ``kept-at`` (``MetadataDirective=REPLACE``): the service copies it in
place, no bytes are sent again, and the object is never absent meanwhile. Metadata rather than
``LastModified`` because it can be set: the tests backdate a blob as they touch a file's time.

S3 has no rename, so ``collect`` cannot move a blob aside and read its clock again as the folder
store does: it reads the clock (HEAD) and then deletes. A ``put`` or ``keep`` of that very blob
landing between those two requests is lost; docs/operations.md says why that race is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from photosync.blobs.base import BlobNotFound, sha256_hex

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_KEY = re.compile(r"^[0-9a-f]{64}$")
KEPT_AT = "kept-at"
# 412: If-None-Match failed (the object exists); 409: another conditional PUT of it is under way.
_ALREADY_THERE = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_MISSING = {"404", "NoSuchKey", "NotFound"}
# Short enough that a dead endpoint fails a request (and /readyz) in seconds, not minutes.
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=20,
    retries={"max_attempts": 3, "mode": "standard"},
)


class S3BlobStore:
    def __init__(
        self, bucket: str, *, prefix: str = "", endpoint_url: str = "", client: Any = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client: S3Client = client or boto3.client(
            "s3", endpoint_url=endpoint_url or None, config=CLIENT_CONFIG
        )

    def _name(self, key: str) -> str:
        if not _KEY.match(key):
            raise BlobNotFound(key)
        return self.prefix + key

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        try:
            self._upload(key, data, only_new=True)
            return key
        except ClientError as exc:
            if _code(exc) not in _ALREADY_THERE:
                raise
        try:
            self.keep(key)  # already there: restart its clock, as a new row will point to it
        except BlobNotFound:  # a concurrent writer's PUT had not finished, or gc took it
            self._upload(key, data, only_new=False)  # the same bytes: replacing them is harmless
        return key

    def _upload(self, key: str, data: bytes, *, only_new: bool) -> None:
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if only_new else {}
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._name(key),
            Body=data,
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
            ContentType="application/octet-stream",
            Metadata={KEPT_AT: _now()},
            **extra,
        )

    def get(self, key: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        except ClientError as exc:
            raise _not_found(exc, key) from None
        data: bytes = body.read()
        return data

    def exists(self, key: str) -> bool:
        if not _KEY.match(key):
            return False
        try:
            self._head(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        # DELETE of a missing object succeeds in S3: idempotent as the protocol asks.
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if _KEY.match(key):
                    yield key

    def age(self, key: str) -> float:
        head = self._head(key)
        kept_at = head.get("Metadata", {}).get(KEPT_AT)
        since = float(kept_at) if kept_at else head["LastModified"].timestamp()
        return time.time() - since

    def keep(self, key: str) -> None:
        name = self._name(key)
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=name,
                CopySource={"Bucket": self.bucket, "Key": name},
                Metadata={KEPT_AT: _now()},
                MetadataDirective="REPLACE",
                ContentType="application/octet-stream",
            )
        except ClientError as exc:
            raise _not_found(exc, key) from None

    def collect(self, key: str, grace_seconds: float) -> bool:
        try:
            if self.age(key) < grace_seconds:
                return False
        except BlobNotFound:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        return True

    def sweep(self, grace_seconds: float) -> int:
        # A PUT to S3 stores the whole object or nothing, and ``collect`` moves nothing aside:
        # a crash leaves no partial files here.
        return 0

    def check(self) -> None:
        """Raise unless the bucket answers (for readiness): one HEAD of the bucket."""
        self.client.head_bucket(Bucket=self.bucket)

    def _head(self, key: str) -> Any:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            raise _not_found(exc, key) from None


def _now() -> str:
    return f"{time.time():.3f}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _not_found(exc: ClientError, key: str) -> Exception:
    """BlobNotFound for a missing object; any other S3 error as it is."""
    return BlobNotFound(key) if _code(exc) in _MISSING else exc
