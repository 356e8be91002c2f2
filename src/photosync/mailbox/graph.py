"""Microsoft Graph's profilePhoto API under /v1.0, for ``/me/…`` and ``/users/{id-or-upn}/…``.

A sub-application of its own: every error it gives is a Graph error body. Views parse the
request and shape the answer; the mailbox service resolves, authorises and reads or writes.
Each read has one path (``_readable``), called through ``web.memory_first``: on the event loop
when the caller, the user, the current version and the bytes were all seen a moment ago (most
requests), else once in a worker thread. Uploads are authorised the same way before a byte of
the body is read, then stored in one worker-thread call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from photosync.directory.access import Principal
from photosync.directory.auth import authenticate, count_upload, require
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.imaging import GRAPH_SIZES, ImageRejected
from photosync.mailbox.errors import (
    AccessDenied,
    MailboxNotEnabled,
    PhotoNotFound,
    SizeNotOffered,
    UserNotFound,
)
from photosync.mailbox.http import (
    check_upload_content_type,
    image_headers,
    image_response,
    read_limited_body,
)
from photosync.mailbox.interfaces import PhotoInfo
from photosync.mailbox.services import MailboxService, StoredPhoto
from photosync.settings import Settings
from photosync.web import JPEG, ApiError, PlainRoute, graph_error, memory_first, service, sub_app

PREFIX = "/v1.0"
TAG = "mailbox (Microsoft Graph)"
router = APIRouter(prefix=PREFIX, tags=[TAG])

F = TypeVar("F", bound=Callable[..., Any])
# /users/{user} first: routes are tried in order, and pages listing people ask for others' photos.
OWNERS = ("/users/{user}", "/me")


# Exchange answers this for a mailbox-less user (inactive, on-premises or no licence). Graph has
# also been seen to answer ErrorNonExistentMailbox; we pick the REST-API one because it is what
# Graph's photo endpoints return for a user without an Exchange Online mailbox.
def no_mailbox() -> ApiError:
    return ApiError(
        404,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )


def image_not_found() -> ApiError:
    return ApiError(
        404,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' "
        "was thrown.",
    )


def size_not_offered(side: int, offered: tuple[int, ...]) -> ApiError:
    """Graph's code (clients key on it), with a message that says what is offered instead of
    Exchange's exception name."""
    return ApiError(404, "ImageNotFound", SizeNotOffered(side, offered).sentence() + ".")


def access_denied() -> ApiError:
    return ApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


# Graph does not document codes for refused photo bytes; these name what went wrong.
REJECTED_CODES = {
    400: "ErrorInvalidImage",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
}


def _on_both(path: str, methods: list[str], **options: Any) -> Callable[[F], F]:
    """Register one handler for /me{path} and /users/{user}{path}, one route per method (a
    route of two methods has one operation id for both in /openapi.json)."""

    def register(handler: F) -> F:
        for owner in OWNERS:
            for method in methods:
                router.add_api_route(
                    owner + path, handler, methods=[method], response_model=None, **options
                )
        return handler

    return register


def _target(request: Request, principal: Principal) -> str | None:
    """The id or UPN in the path, or None for /me (read from the path, never from the query)."""
    user: str | None = request.path_params.get("user")
    if user is None and principal.user is None:
        raise ApiError(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    return user


@contextmanager
def _graph_errors(target: str | None = None) -> Iterator[None]:
    """The service's reasons, answered as Graph answers them."""
    try:
        yield
    except UserNotFound as exc:
        raise ApiError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{target or exc}' does not exist or one of its queried reference-property "
            "objects are not present.",
        ) from exc
    except MailboxNotEnabled as exc:
        raise no_mailbox() from exc
    except SizeNotOffered as exc:
        raise size_not_offered(exc.size, exc.offered) from exc
    except PhotoNotFound as exc:
        raise image_not_found() from exc
    except AccessDenied as exc:
        raise access_denied() from exc
    except ImageRejected as exc:
        raise ApiError(
            exc.status, REJECTED_CODES.get(exc.status, "BadRequest"), exc.message
        ) from exc


def parse_size(text: str) -> int:
    """'240x240' (Graph's ids; 'X' also seen) → 240; a size nobody offers is "no image"."""
    width, sep, height = text.lower().partition("x")
    if not sep or width != height or not width.isdigit() or int(width) not in GRAPH_SIZES:
        sizes = ", ".join(f"{side}x{side}" for side in GRAPH_SIZES)
        raise ApiError(404, "ImageNotFound", f"No photo has the size '{text}'; sizes: {sizes}.")
    return int(width)


def _caller(request: Request, *, memory_only: bool) -> Principal:
    directory = service(request, DirectoryService)
    return require(authenticate(request, directory, memory_only=memory_only))


# --- reading ---------------------------------------------------------------------------------


def _readable(request: Request, *, memory_only: bool = False) -> tuple[UserInfo, StoredPhoto]:
    """THE read of this API: who asks, whose photo, may they, and its current version."""
    principal = _caller(request, memory_only=memory_only)
    mailbox = service(request, MailboxService)
    target = _target(request, principal)
    with _graph_errors(target):
        user = mailbox.check_read(principal, target, memory_only=memory_only)
        stored = mailbox.current_stored(
            user.id, etag=request.query_params.get("v"), memory_only=memory_only
        )
    if stored is None:
        raise image_not_found()
    return user, stored


def _base(request: Request) -> str:
    configured = service(request, Settings).base_url
    return (configured or str(request.base_url)).rstrip("/")


def _entity(info: PhotoInfo, size: int) -> dict[str, Any]:
    return {
        "@odata.mediaContentType": JPEG,
        "@odata.mediaEtag": f'"{info.etag}"',
        "id": f"{size}x{size}",
        "height": size,
        "width": size,
    }


def metadata_headers(info: PhotoInfo) -> dict[str, str]:
    """Headers of a metadata answer: never cached, and a ``Warning`` (RFC 7234's header, code
    199, "miscellaneous warning") when the photo is too small to look sharp. Graph has no
    field for it, and a header leaves Graph's JSON as clients expect it."""
    headers = {"Cache-Control": "no-cache"}
    if info.size_warning:
        text = info.size_warning.replace("×", "x").replace('"', "'")
        headers["Warning"] = f'199 photosync "{text}"'
    return headers


def _metadata(request: Request, user: UserInfo, info: PhotoInfo, size: int, path: str) -> Response:
    context = f"{_base(request)}/v1.0/$metadata#users('{user.id}')/{path}/$entity"
    return JSONResponse(
        {"@odata.context": context, **_entity(info, size)}, headers=metadata_headers(info)
    )


def _requested_size(request: Request, stored: StoredPhoto) -> int:
    """The size in the path (``…/photos/240x240…``), or the master's; 404 if not offered."""
    size_text: str | None = request.path_params.get("size")
    size = stored.info.master_size if size_text is None else parse_size(size_text)
    if size not in stored.info.sizes:
        raise size_not_offered(size, tuple(stored.info.sizes))
    return size


def _read_image(request: Request, *, memory_only: bool = False) -> Response:
    _, stored = _readable(request, memory_only=memory_only)
    size = _requested_size(request, stored)
    headers, not_modified = image_headers(request, stored.info, size)
    if not_modified:
        return image_response(request, headers, None)
    data = service(request, MailboxService).rendition(stored, size, memory_only=memory_only)
    return image_response(request, headers, data)


async def get_image(request: Request) -> Response:
    """``…/photo/$value`` and ``…/photos/{size}/$value``: the JPEG (200, HEAD, or 304)."""
    return await memory_first(_read_image, request)


def _read_metadata(request: Request, *, memory_only: bool = False) -> Response:
    user, stored = _readable(request, memory_only=memory_only)
    side = _requested_size(request, stored)
    path = "photo" if "size" not in request.path_params else "photos"
    return _metadata(request, user, stored.info, side, path)


def _read_list(request: Request, *, memory_only: bool = False) -> Response:
    user, stored = _readable(request, memory_only=memory_only)
    return JSONResponse(
        {
            "@odata.context": f"{_base(request)}/v1.0/$metadata#users('{user.id}')/photos",
            "value": [_entity(stored.info, size) for size in stored.info.sizes],
        },
        headers=metadata_headers(stored.info),
    )


@_on_both("/photo", ["GET"])
async def get_photo(request: Request) -> Response:
    """Metadata of the largest offered size."""
    return await memory_first(_read_metadata, request)


@_on_both("/photos", ["GET"])
async def list_photos(request: Request) -> Response:
    """Metadata of every offered size."""
    return await memory_first(_read_list, request)


# The sizes Graph names (``240x240``): any other is "no image" (404), never a 400.
SIZE_SCHEMA: dict[str, Any] = {"type": "string", "enum": [f"{s}x{s}" for s in GRAPH_SIZES]}


@_on_both("/photos/{size}", ["GET"])
async def get_photo_size(
    request: Request, size: Annotated[str, Path(json_schema_extra=SIZE_SCHEMA)]
) -> Response:
    """Metadata of one size, e.g. ``240x240``."""
    return await memory_first(_read_metadata, request)


# --- writing ---------------------------------------------------------------------------------


def _writable(request: Request, *, memory_only: bool = False) -> tuple[Principal, UserInfo]:
    principal = _caller(request, memory_only=memory_only)
    target = _target(request, principal)
    with _graph_errors(target):
        user = service(request, MailboxService).check_write(
            principal, target, memory_only=memory_only
        )
    return principal, user


@_on_both("/photo/$value", ["PUT", "PATCH"])
async def put_photo_value(request: Request) -> Response:
    """Upload a new photo (body = the image bytes); answers the new photo's metadata."""
    mailbox = service(request, MailboxService)
    # Authorise before reading a byte of the body: a refused caller must not cost 4 MB.
    principal, user = await memory_first(_writable, request)
    check_upload_content_type(request.headers.get("content-type"))
    await count_upload(request, principal)
    data = await read_limited_body(request, service(request, Settings).max_upload_bytes)
    with _graph_errors():
        # Decoding and resizing are CPU work: in the thread pool, never on the event loop.
        info = await run_in_threadpool(
            lambda: mailbox.store_photo(user, data, actor=principal.actor)
        )
    return _metadata(request, user, info, info.master_size, "photo")


def _delete(request: Request) -> None:
    principal, user = _writable(request)
    with _graph_errors():
        service(request, MailboxService).delete_photo(user.id, actor=principal.actor)


# An empty 200: documented without a JSON body.
@_on_both("/photo/$value", ["DELETE"], response_class=Response)
@_on_both("/photo", ["DELETE"], response_class=Response)
async def delete_photo_value(request: Request) -> Response:
    """Remove the photo (msgraph-sdk's ``photo.delete()`` sends ``DELETE …/photo``)."""
    await run_in_threadpool(_delete, request)
    # Graph documents 200 for this call (204 is also seen in the wild).
    return Response(status_code=200)


# --- the sub-application ---------------------------------------------------------------------

# The image GETs serve most requests: plain Starlette routes, tried first, without FastAPI's
# per-request work (solving parameters and dependencies, even none, was a fifth of a request
# answered from memory). FastAPI does not describe plain routes, so OPENAPI_PATHS does.
IMAGE_PATHS = ("/photos/{size}/$value", "/photo/$value")


def _image_routes() -> list[PlainRoute]:
    return [
        PlainRoute(f"{PREFIX}{owner}{path}", get_image, methods=["GET", "HEAD"])
        for path in IMAGE_PATHS
        for owner in OWNERS
    ]


def _image_operation(owner: str, path: str) -> dict[str, Any]:
    def parameter(name: str, where: str) -> dict[str, Any]:
        schema = SIZE_SCHEMA if name == "size" else {"type": "string"}
        return {"name": name, "in": where, "required": where == "path", "schema": schema}

    parameters = [parameter("v", "query")]
    parameters += [
        parameter(name, "path") for name in ("user", "size") if f"{{{name}}}" in owner + path
    ]
    operation = {
        "tags": [TAG],
        "summary": "The photo's JPEG bytes" + (" at one size" if "{size}" in path else ""),
        "parameters": parameters,
        "responses": {
            "200": {"description": "The JPEG", "content": {JPEG: {}}},
            "304": {"description": "Not modified (If-None-Match)"},
            "404": {"description": "No photo, no such size, user or mailbox"},
        },
    }
    return {"get": operation, "head": {**operation, "summary": "Headers of the JPEG"}}


# The paths whose body is a photo (regular expressions, for the body limit in ``web.Root``).
UPLOAD_PATHS = (r"/v1\.0/(?:me|users/[^/]+)/photo/\$value",)

OPENAPI_PATHS = {
    f"{PREFIX}{owner}{path}": _image_operation(owner, path)
    for path in IMAGE_PATHS
    for owner in OWNERS
}


def create_app(*more: APIRouter, unrouted: Callable[[Request], ApiError] | None = None) -> FastAPI:
    """The Graph sub-application: the photo routes, and ``more`` Graph routers of other roles
    (the directory's users), all answering Graph's error body."""
    app = sub_app("Microsoft Graph", graph_error, unrouted=unrouted)
    app.router.routes.extend(_image_routes())
    app.include_router(router)
    for other in more:
        app.include_router(other)
    return app
