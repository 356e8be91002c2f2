"""The capped body reader and conditional-request helpers, without a server."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from photosync.mailbox.http import check_upload_content_type, is_not_modified, read_limited_body
from photosync.web import ApiError
from tests.conftest import run_async

CHUNK = 64 * 1024


def streaming_request(chunks: int, content_length: int | None = None) -> tuple[Request, list[int]]:
    """A request whose body arrives in ``chunks`` pieces; ``pulled[0]`` counts those read."""
    pulled = [0]

    async def receive() -> Message:
        pulled[0] += 1
        more = pulled[0] < chunks
        return {"type": "http.request", "body": b"\xff" * CHUNK, "more_body": more}

    headers = [(b"content-type", b"image/jpeg")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "method": "PUT", "path": "/", "headers": headers, "query_string": b""}
    return Request(scope, receive), pulled


def test_body_within_the_limit_is_read_whole() -> None:
    request, _ = streaming_request(4)
    assert len(run_async(read_limited_body(request, 4 * CHUNK))) == 4 * CHUNK


def test_streamed_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    request, pulled = streaming_request(1000)  # 64 MB offered, no Content-Length
    with pytest.raises(ApiError) as caught:
        run_async(read_limited_body(request, 4 * CHUNK))
    assert caught.value.status == 413
    assert pulled[0] == 5  # one chunk past the limit, not the 1000 offered


def test_declared_length_is_refused_without_reading() -> None:
    request, pulled = streaming_request(1000, content_length=4 * 1024 * 1024 + 1)
    with pytest.raises(ApiError) as caught:
        run_async(read_limited_body(request, 4 * 1024 * 1024))
    assert caught.value.status == 413
    assert "4 MB" in caught.value.message and "4,194,305" in caught.value.message
    assert pulled[0] == 0


def test_malformed_content_length_is_a_bad_request() -> None:
    request, _ = streaming_request(1, content_length=None)
    request.scope["headers"].append((b"content-length", b"lots"))
    with pytest.raises(ApiError) as caught:
        run_async(read_limited_body(request, 100))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"A-96"', True),
        ('W/"A-96"', True),
        ('"B-96", "A-96"', True),
        ("*", True),
        ('"A-48"', False),
        ("A-96", False),
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert is_not_modified(header, '"A-96"') is expected


@pytest.mark.parametrize(
    "content_type",
    ["image/jpeg", "image/png; charset=binary", "IMAGE/GIF", "application/octet-stream"],
)
def test_upload_types_accepted(content_type: str) -> None:
    check_upload_content_type(content_type)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/json"])
def test_upload_types_refused(content_type: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        check_upload_content_type(content_type)
    assert caught.value.status == 415
