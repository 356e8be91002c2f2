"""The one place a BlobStore is built from settings (PHOTOSYNC_BLOB_STORE)."""

from __future__ import annotations

from photosync.blobs.base import BlobStore
from photosync.blobs.filesystem import FilesystemBlobStore
from photosync.settings import Settings


def blob_store(settings: Settings) -> BlobStore:
    if settings.blob_store == "s3":
        # Imported here: the embedded default never pays for importing boto3.
        from photosync.blobs.s3 import S3BlobStore

        return S3BlobStore(
            settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url
        )
    return FilesystemBlobStore(settings.blob_dir)
