"""Bad uploads: each answered with a Graph error a person understands, and nothing stored.

"Nothing stored" is checked the hard way: the previous photo is still served with the same
ETag, and the blob folder's files and every table's row count are exactly as before.
"""

from __future__ import annotations

import functools
import io
import random
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from tests.mailbox.conftest import blob_files, jpeg, open_image, put_photo, row_counts

LIMIT = 4 * 1024 * 1024


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width×height, with (far too little) real pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def many_frame_gif(frames: int) -> bytes:
    palette = [Image.new("P", (2, 2), i % 2) for i in range(frames)]
    for image in palette:
        image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    out = io.BytesIO()
    palette[0].save(out, "GIF", save_all=True, append_images=palette[1:], duration=10, loop=0)
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "SECRET-PAYLOAD " * 50)
    return out.getvalue()


HTML = b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600">'
    b'<script>alert(1)</script><circle cx="300" cy="300" r="200"/></svg>'
)

# name → (body, status, Graph code, what the message must mention)
CASES: dict[str, tuple[Callable[[], bytes], int, str, str]] = {
    "empty body": (lambda: b"", 400, "ErrorInvalidImage", r"empty"),
    "4 MB + 1 byte": (
        lambda: b"\xff\xd8\xff\xe0" + b"\x00" * (LIMIT - 3),
        413,
        "RequestEntityTooLarge",
        r"4 MB",
    ),
    "truncated JPEG": (
        lambda: jpeg(400, 400)[:6000],
        400,
        "ErrorInvalidImage",
        r"damaged|incomplete",
    ),
    "random bytes": (
        lambda: random.Random(7).randbytes(20_000),
        415,
        "UnsupportedMediaType",
        r"not an image",
    ),
    "HTML": (lambda: HTML, 415, "UnsupportedMediaType", r"HTML"),
    "SVG": (lambda: SVG, 415, "UnsupportedMediaType", r"SVG"),
    "ZIP (with a JPEG after it)": (
        lambda: zip_bytes() + jpeg(200, 200),
        415,
        "UnsupportedMediaType",
        r"ZIP",
    ),
    "PNG declaring 30000x30000": (
        lambda: png_with_header(30000, 30000),
        400,
        "ErrorInvalidImage",
        r"30000×30000|megapixels",
    ),
    "GIF with thousands of frames": (
        lambda: many_frame_gif(2000),
        400,
        "ErrorInvalidImage",
        r"frames",
    ),
    "zero-width PNG": (
        lambda: png_with_header(0, 300),
        400,
        "ErrorInvalidImage",
        r"0×300|nothing to show|damaged",
    ),
}


@pytest.fixture
def with_photo(client: TestClient, alice_auth: dict[str, str]) -> str:
    """Alice has a photo; returns the ETag of its 96 px rendition."""
    assert put_photo(client, alice_auth, jpeg(300, 300)).status_code == 200
    etag: str = client.get("/v1.0/me/photos/96x96/$value", headers=alice_auth).headers["etag"]
    return etag


@pytest.mark.parametrize("case", list(CASES))
def test_bad_upload_is_refused_and_stores_nothing(
    client: TestClient, alice_auth: dict[str, str], ctx: Context, with_photo: str, case: str
) -> None:
    make, status, code, mentions = CASES[case]
    body = make()
    rows, files = row_counts(ctx), blob_files(ctx)

    r = put_photo(client, alice_auth, body, content_type="application/octet-stream")

    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert re.search(mentions, error["message"], re.I), error["message"]
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert row_counts(ctx) == rows
    assert blob_files(ctx) == files
    current = client.get("/v1.0/me/photos/96x96/$value", headers=alice_auth)
    assert current.status_code == 200 and current.headers["etag"] == with_photo


def test_oversized_body_without_content_length_is_cut_off(
    client: TestClient, alice_auth: dict[str, str], ctx: Context, with_photo: str
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 8 MB offered in 128 KB chunks, with no Content-Length
            yield b"\xff" * (128 * 1024)

    rows, files = row_counts(ctx), blob_files(ctx)
    r = client.put(
        "/v1.0/me/photo/$value",
        content=chunks(),
        headers={**alice_auth, "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "RequestEntityTooLarge"
    assert "4 MB" in r.json()["error"]["message"]
    assert (row_counts(ctx), blob_files(ctx)) == (rows, files)


def test_declared_content_length_over_the_limit_is_refused_before_reading(
    client: TestClient, alice_auth: dict[str, str], with_photo: str
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"\xff" * (128 * 1024)

    r = client.put(
        "/v1.0/me/photo/$value",
        content=chunks(),
        headers={
            **alice_auth,
            "Content-Type": "image/jpeg",
            "Content-Length": str(LIMIT + 1),
        },
    )
    assert r.status_code == 413
    assert "4,194,305 bytes" in r.json()["error"]["message"]


def test_exactly_the_limit_is_accepted(client: TestClient, alice_auth: dict[str, str]) -> None:
    # A real JPEG padded after its end marker to exactly 4 MB: the limit itself is allowed.
    data = jpeg(300, 300)
    data += b"\x00" * (LIMIT - len(data))
    assert len(data) == LIMIT
    assert put_photo(client, alice_auth, data).status_code == 200


def test_jpeg_zip_polyglot_is_accepted_but_only_the_image_is_stored(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], ctx: Context
) -> None:
    archive = zip_bytes()
    polyglot = jpeg(300, 300, seed=4) + archive
    assert zipfile.ZipFile(io.BytesIO(polyglot)).read("payload.txt").startswith(b"SECRET")
    files = blob_files(ctx)

    r = put_photo(client, alice_auth, polyglot, content_type="application/octet-stream")
    assert r.status_code == 200, r.text

    new_files = blob_files(ctx) - files
    assert new_files
    for path in new_files:
        data = path.read_bytes()
        assert b"PK\x03\x04" not in data and b"SECRET-PAYLOAD" not in data
        assert open_image(data).format == "JPEG"
    value = client.get("/v1.0/me/photo/$value", headers=alice_auth).content
    assert b"SECRET-PAYLOAD" not in value
    assert not zipfile.is_zipfile(io.BytesIO(value))


def test_refused_callers_store_nothing_either(
    client: TestClient,
    alice: UserInfo,
    ctx: Context,
    add_user: Callable[..., UserInfo],
    auth_for: Callable[[UserInfo], dict[str, str]],
) -> None:
    mallory = auth_for(add_user("mallory@example.org"))
    rows, files = row_counts(ctx), blob_files(ctx)
    photo = jpeg(300, 300)
    for r, status in (
        (put_photo(client, mallory, photo, owner=f"users/{alice.upn}"), 403),
        (put_photo(client, {}, photo, owner=f"users/{alice.upn}"), 401),
        (put_photo(client, mallory, photo, owner="users/ghost@example.org"), 404),
        (put_photo(client, mallory, photo, content_type="text/html"), 415),
    ):
        assert r.status_code == status, r.text
    assert (row_counts(ctx), blob_files(ctx)) == (rows, files)
