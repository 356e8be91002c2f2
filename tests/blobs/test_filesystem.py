"""The filesystem blob store: content-addressed, atomic, never overwrites, two writers at once."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

import pytest

from photosync.blobs import BlobNotFound, FilesystemBlobStore


def test_put_returns_sha256_and_get_returns_the_bytes(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"hello photo")
    assert key == hashlib.sha256(b"hello photo").hexdigest()
    assert store.get(key) == b"hello photo"
    assert store.exists(key)
    assert list(store.keys()) == [key]
    assert (tmp_path / key[:2] / key[2:4] / key).is_file()


def test_same_bytes_twice_is_one_blob_and_never_rewritten(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"x" * 1000)
    path = tmp_path / key[:2] / key[2:4] / key
    inode = path.stat().st_ino
    assert store.put(b"x" * 1000) == key
    assert path.stat().st_ino == inode
    assert [p.name for p in path.parent.iterdir()] == [key]  # no temp files left


def test_unknown_and_malformed_keys(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.get("0" * 64)
    with pytest.raises(BlobNotFound):
        store.get("../../etc/passwd")
    assert not store.exists("../x")


def test_delete(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"bye")
    store.delete(key)
    store.delete(key)  # idempotent
    assert not store.exists(key)


def _writer(root: str, payloads: list[bytes], barrier: multiprocessing.synchronize.Barrier) -> None:
    store = FilesystemBlobStore(Path(root))
    barrier.wait()
    for data in payloads:
        assert store.get(store.put(data)) == data


def test_two_processes_writing_the_same_blobs_at_once(tmp_path: Path) -> None:
    payloads = [os.urandom(1024) * (i + 1) for i in range(60)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), payloads, barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    store = FilesystemBlobStore(tmp_path)
    assert sorted(store.keys()) == sorted(hashlib.sha256(d).hexdigest() for d in payloads)
    for data in payloads:
        assert store.get(hashlib.sha256(data).hexdigest()) == data
    leftovers = [p for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []
