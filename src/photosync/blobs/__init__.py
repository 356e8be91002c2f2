"""Content-addressed blob storage for photo bytes (sha256 keys)."""

from photosync.blobs.base import BlobNotFound, BlobStore, sha256_hex
from photosync.blobs.filesystem import FilesystemBlobStore
from photosync.blobs.lru import BlobLRU

__all__ = ["BlobLRU", "BlobNotFound", "BlobStore", "FilesystemBlobStore", "sha256_hex"]
