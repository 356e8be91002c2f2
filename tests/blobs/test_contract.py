"""The BlobStore contract, held by both stores: the folder and an S3 bucket (moto server).

Content-addressed, idempotent, a missing key is BlobNotFound, and the garbage collector's clock:
``put`` of stored bytes and ``keep`` restart it, ``collect`` deletes only what is older than the
grace period. Store-specific behaviour (files, inodes, renames) is in test_filesystem.py and
test_s3.py.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from photosync.blobs import BlobNotFound, BlobStore, FilesystemBlobStore
from photosync.blobs.choose import blob_store
from photosync.blobs.s3 import KEPT_AT, S3BlobStore
from photosync.settings import Settings
from tests.conftest import TEST_KEY

Backdate = Callable[[BlobStore, str, float], None]


def backdate(store: BlobStore, key: str, seconds: float) -> None:
    """Set the blob's clock ``seconds`` into the past, as a blob written long ago."""
    past = time.time() - seconds
    if isinstance(store, FilesystemBlobStore):
        os.utime(store.root / key[:2] / key[2:4] / key, (past, past))
        return
    assert isinstance(store, S3BlobStore)
    name = store.prefix + key
    store.client.copy_object(
        Bucket=store.bucket,
        Key=name,
        CopySource={"Bucket": store.bucket, "Key": name},
        Metadata={KEPT_AT: f"{past:.3f}"},
        MetadataDirective="REPLACE",
    )


def settings_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if kind == "filesystem":
        return Settings(data_dir=tmp_path)
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket: str = request.getfixturevalue("s3_bucket")
    return Settings(
        data_dir=tmp_path,
        secret_key=TEST_KEY,
        blob_store="s3",
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_prefix="blobs/",
    )


@pytest.fixture(params=["filesystem", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return settings_for(request.param, tmp_path, request)


@pytest.fixture
def store(settings: Settings) -> BlobStore:
    return blob_store(settings)


def test_the_settings_choose_the_store(settings: Settings, store: BlobStore) -> None:
    expected = S3BlobStore if settings.blob_store == "s3" else FilesystemBlobStore
    assert isinstance(store, expected)
    store.check()


def test_put_returns_sha256_and_get_returns_the_bytes(store: BlobStore) -> None:
    key = store.put(b"hello photo")
    assert key == hashlib.sha256(b"hello photo").hexdigest()
    assert store.get(key) == b"hello photo"
    assert store.exists(key)
    assert list(store.keys()) == [key]


def test_same_bytes_twice_is_one_blob(store: BlobStore) -> None:
    key = store.put(b"x" * 1000)
    assert store.put(b"x" * 1000) == key
    assert list(store.keys()) == [key]
    assert store.get(key) == b"x" * 1000


def test_unknown_and_malformed_keys(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("0" * 64)
    with pytest.raises(BlobNotFound):
        store.get("../../etc/passwd")
    assert not store.exists("../x")
    assert not store.exists("0" * 64)


def test_delete(store: BlobStore) -> None:
    key = store.put(b"bye")
    store.delete(key)
    store.delete(key)  # idempotent
    assert not store.exists(key)
    assert list(store.keys()) == []


def _writer(settings: Settings, payloads: list[bytes], barrier: object) -> None:
    store = blob_store(settings)
    barrier.wait()  # type: ignore[attr-defined]
    for data in payloads:
        assert store.get(store.put(data)) == data


def test_two_processes_writing_the_same_blobs_at_once(settings: Settings) -> None:
    payloads = [os.urandom(1024) * (i + 1) for i in range(30)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(settings, payloads, barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = blob_store(settings)
    assert sorted(store.keys()) == sorted(hashlib.sha256(d).hexdigest() for d in payloads)
    for data in payloads:
        assert store.get(hashlib.sha256(data).hexdigest()) == data


def test_age_keep_and_collect(store: BlobStore) -> None:
    key = store.put(b"photo")
    assert 0 <= store.age(key) < 60
    assert not store.collect(key, 3600)  # too new
    backdate(store, key, 7200)
    assert store.age(key) > 7000
    assert not store.collect(key, 3 * 3600)  # not old enough for this grace
    store.keep(key)  # a row is about to point to it again
    assert store.age(key) < 60 and not store.collect(key, 3600)
    backdate(store, key, 7200)
    assert store.put(b"photo") == key and store.age(key) < 60  # same bytes: clock restarted
    assert store.get(key) == b"photo"
    backdate(store, key, 7200)
    assert store.collect(key, 3600)
    assert not store.exists(key) and not store.collect(key, 3600)
    with pytest.raises(BlobNotFound):
        store.age(key)
    with pytest.raises(BlobNotFound):
        store.keep(key)


def test_sweep_leaves_every_blob(store: BlobStore) -> None:
    """``sweep`` clears only what interrupted writes left: stored blobs, old or new, stay."""
    new, old = store.put(b"new"), store.put(b"old")
    backdate(store, old, 7200)
    assert store.sweep(3600) == 0
    assert store.sweep(0) == 0
    assert (store.get(new), store.get(old)) == (b"new", b"old")
