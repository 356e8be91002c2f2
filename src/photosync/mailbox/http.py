"""HTTP details of the photo API that are not about photos: a capped body, conditional GETs."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from photosync.mailbox.interfaces import PhotoInfo
from photosync.web import IMMUTABLE, JPEG, REVALIDATE, ApiError, is_not_modified

UPLOAD_TYPES = "image/jpeg, image/png (any image/*) or application/octet-stream"


def check_upload_content_type(content_type: str | None) -> None:
    """Graph takes image/* and application/octet-stream (msgraph-sdk sends the latter).

    The declared type is only a gate: the bytes are sniffed later, so "image/png" on a JPEG is
    fine and "image/svg+xml" still fails as an unsupported image.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("image/") or media == "application/octet-stream":
        return
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"Send the photo's bytes with Content-Type {UPLOAD_TYPES}; "
        + (f"this request said {media}." if media else "this request had no Content-Type."),
    )


def too_large(limit: int, length: int | None = None) -> ApiError:
    megabytes = limit / (1024 * 1024)
    size = f"{megabytes:g} MB" if megabytes >= 1 else f"{limit:,} bytes"
    got = f"{length:,} bytes" if length is not None else f"larger than {size}"
    return ApiError(
        413,
        "RequestEntityTooLarge",
        f"The file is {got}; photos can be at most {size} ({limit:,} bytes).",
    )


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes.

    Content-Length is checked first (nothing is read); a body without one (chunked) or one
    that lies is counted while it streams in, so at most ``limit`` + one chunk is ever held.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "BadRequest", "Content-Length must be a number of bytes.")
        if int(declared) > limit:
            raise too_large(limit, int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def image_headers(request: Request, info: PhotoInfo, size: int) -> tuple[dict[str, str], bool]:
    """The headers of ``info``'s image at ``size``, and whether the answer is 304."""
    # Strong: the bytes of one version at one size never change.
    etag = f'"{info.etag}-{size}"'
    # Immutable only when ?v= names the version actually served, never an older one.
    cache = IMMUTABLE if request.query_params.get("v") == info.etag else REVALIDATE
    headers = {"ETag": etag, "Cache-Control": cache}
    return headers, is_not_modified(request.headers.get("if-none-match"), etag)


def image_response(request: Request, headers: dict[str, str], data: bytes | None) -> Response:
    """304 when ``data`` is None (the caller has it), else the JPEG (headers only for HEAD)."""
    if data is None:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return Response(headers=headers, media_type=JPEG)
    return Response(data, headers=headers, media_type=JPEG)
