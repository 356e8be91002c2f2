"""The S3 store's own ways (prefix, metadata clock), and the garbage collector on a bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select

from photosync.blobs.choose import blob_store
from photosync.blobs.s3 import KEPT_AT, S3BlobStore
from photosync.context import Context
from photosync.mailbox.models import PhotoRendition
from photosync.services import Services, build_services
from tests.blobs.test_contract import backdate
from tests.conftest import MovableClock, make_settings
from tests.mailbox.conftest import jpeg

HOUR = 3600
SIZES = 5  # a 300 px photo is offered at 48, 64, 96, 120 and 240


def test_objects_live_under_the_prefix_and_other_objects_are_not_blobs(
    s3_endpoint: str, s3_bucket: str
) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.put_object(Bucket=s3_bucket, Key="elsewhere/" + "a" * 64, Body=b"not ours")
    client.put_object(Bucket=s3_bucket, Key="photos/readme.txt", Body=b"not a blob")
    store = S3BlobStore(s3_bucket, prefix="photos/", endpoint_url=s3_endpoint)
    key = store.put(b"bytes")
    head = client.head_object(Bucket=s3_bucket, Key=f"photos/{key}")
    assert head["ContentLength"] == 5 and KEPT_AT in head["Metadata"]
    assert list(store.keys()) == [key]
    assert not store.exists("a" * 64)


def test_an_object_without_our_clock_counts_from_last_modified(
    s3_endpoint: str, s3_bucket: str
) -> None:
    """A blob copied in by another tool (aws s3 sync) has no kept-at: it is as old as the object."""
    store = S3BlobStore(s3_bucket, endpoint_url=s3_endpoint)
    key = "b" * 64
    store.client.put_object(Bucket=s3_bucket, Key=key, Body=b"copied in")
    assert 0 <= store.age(key) < 60
    assert not store.collect(key, HOUR)


def test_a_missing_bucket_fails_the_check(s3_endpoint: str) -> None:
    with pytest.raises(Exception, match=r"404|Not Found|NoSuchBucket"):
        S3BlobStore("no-such-bucket-here", endpoint_url=s3_endpoint).check()


@pytest.fixture
def services(
    tmp_path: Path, sqlite_url: str, s3_endpoint: str, s3_bucket: str, clock: MovableClock
) -> Iterator[Services]:
    settings = make_settings(
        tmp_path / "data",
        sqlite_url,
        blob_store="s3",
        s3_bucket=s3_bucket,
        s3_endpoint_url=s3_endpoint,
        photo_history_keep=1,
    )
    ctx = Context.from_settings(settings, clock=clock)
    assert isinstance(ctx.blobs, S3BlobStore) and isinstance(blob_store(settings), S3BlobStore)
    yield build_services(ctx)
    ctx.db.dispose()


def age_blobs(services: Services) -> None:
    for key in list(services.ctx.blobs.keys()):
        backdate(services.ctx.blobs, key, 2 * HOUR)


def referenced(services: Services) -> set[str]:
    with services.ctx.db.session() as session:
        return set(session.scalars(select(PhotoRendition.sha256)))


def test_gc_on_s3_takes_old_unreferenced_blobs_and_leaves_young_ones(
    services: Services, clock: MovableClock
) -> None:
    alice = services.directory.add_user("alice@example.org", "Alice")
    for seed in range(2):
        clock.advance(minutes=1)
        services.mailbox.set_photo(alice.id, jpeg(300, 300, seed=seed), actor="t")
    orphan = services.ctx.blobs.put(b"an old orphan")
    age_blobs(services)
    on_its_way = services.ctx.blobs.put(b"renditions of a photo being uploaded")
    assert services.ctx.blobs.put(b"an old orphan") == orphan  # clock restarted

    report = services.mailbox.collect_garbage()
    assert report.versions == 1 and report.blobs == SIZES and report.young_blobs == 2
    assert set(services.ctx.blobs.keys()) == referenced(services) | {on_its_way, orphan}
    _, data = services.mailbox.photo_bytes(alice.id, 48)
    assert data[:2] == b"\xff\xd8"

    age_blobs(services)
    assert services.mailbox.collect_garbage().blobs == 2
    assert set(services.ctx.blobs.keys()) == referenced(services)
    assert not list((services.ctx.settings.data_dir).rglob("blobs"))  # nothing on local disk
