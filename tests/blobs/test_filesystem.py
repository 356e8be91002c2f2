"""The filesystem blob store's own ways: files named by key, written atomically, never
overwritten, moved aside by gc. The contract both stores keep is test_contract.py."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from photosync.blobs import FilesystemBlobStore


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


def _backdate(store: FilesystemBlobStore, key: str, seconds: float) -> None:
    path = store.root / key[:2] / key[2:4] / key
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_collect_loses_no_blob_to_a_put_of_the_same_bytes_at_the_same_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc has decided the blob is old and unreferenced; an upload of the same bytes puts it
    just before (or just after) gc moves it aside. Either way the blob is there afterwards."""
    from photosync.blobs import filesystem

    store = FilesystemBlobStore(tmp_path)
    real_rename = os.rename
    for put_first in (True, False):
        key = store.put(b"same bytes")
        _backdate(store, key, 7200)

        def racing_rename(src: Path, dst: Path, put_first: bool = put_first) -> None:
            if put_first:
                store.put(b"same bytes")
                real_rename(src, dst)
            else:
                real_rename(src, dst)
                store.put(b"same bytes")  # finds no file, so writes it anew

        monkeypatch.setattr(filesystem.os, "rename", racing_rename)
        store.collect(key, 3600)
        monkeypatch.setattr(filesystem.os, "rename", real_rename)
        assert store.get(key) == b"same bytes", put_first
        assert list(tmp_path.rglob(".gc-*")) == []


def test_sweep_clears_what_a_killed_write_or_collection_left(tmp_path: Path) -> None:
    """A process killed mid-``put`` leaves a ``.tmp-`` file, one killed mid-``collect`` a blob
    moved aside (``.gc-``): old temporary files go, a blob moved aside goes back under its key,
    and a temporary file a live ``put`` may still be writing stays."""
    store = FilesystemBlobStore(tmp_path / "blobs")
    kept = store.put(b"kept")
    folder = store.root / kept[:2] / kept[2:4]
    stale = folder / ".tmp-0123456789abcdef-000000"
    stale.write_bytes(b"half a pho")
    past = time.time() - 7200
    os.utime(stale, (past, past))
    live = folder / ".tmp-fedcba9876543210-111111"
    live.write_bytes(b"being written")
    moved = store.put(b"moved aside")
    original = store.root / moved[:2] / moved[2:4] / moved
    os.rename(original, original.parent / f".gc-{moved[:16]}-222222")

    assert store.sweep(3600) == 2
    assert not stale.exists() and live.exists()
    assert store.get(moved) == b"moved aside" and store.get(kept) == b"kept"
    assert sorted(p.name for p in original.parent.iterdir()) == [moved]
    assert store.sweep(3600) == 0
