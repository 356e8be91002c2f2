"""Microsoft Graph's profilePhoto API under /v1.0, for ``/me/…`` and ``/users/{id-or-upn}/…``.

Views parse the request and shape the answer; the mailbox service resolves, authorises and
writes. Every handler hands its blocking work (token check, database, blob reads, decoding) to
the thread pool in one ``run_in_threadpool`` call: nothing blocks the event loop, and a request
pays for one thread hop, not one per dependency. The image GETs first try ``mailbox.hot``,
which answers most of them from memory without that hop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from photosync.directory.auth import (
    Principal,
    current_principal,
    directory_service,
    optional_principal,
    principal_from_memory,
)
from photosync.directory.interfaces import UserInfo
from photosync.imaging import ImageRejected
from photosync.mailbox.errors import (
    AccessDenied,
    MailboxNotEnabled,
    PhotoNotFound,
    UserNotFound,
)
from photosync.mailbox.hot import cached_image, parse_size
from photosync.mailbox.http import (
    JPEG,
    check_upload_content_type,
    image_headers,
    image_response,
    read_limited_body,
)
from photosync.mailbox.interfaces import PhotoInfo
from photosync.mailbox.services import MailboxService, StoredPhoto
from photosync.web import ApiError

router = APIRouter(prefix="/v1.0", tags=["mailbox (Microsoft Graph)"])

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


def access_denied() -> ApiError:
    return ApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


# Graph does not document codes for refused photo bytes; these name what went wrong.
REJECTED_CODES = {
    400: "ErrorInvalidImage",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
}


def _on_both(
    path: str, methods: list[str], openapi_extra: dict[str, Any] | None = None
) -> Callable[[F], F]:
    """Register one handler for /me{path} and /users/{user}{path}."""

    def register(handler: F) -> F:
        for owner in OWNERS:
            router.add_api_route(
                owner + path,
                handler,
                methods=methods,
                response_model=None,
                openapi_extra=openapi_extra,
            )
        return handler

    return register


def _mailbox(request: Request) -> MailboxService:
    mailbox: MailboxService = request.app.state.mailbox
    return mailbox


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
    except PhotoNotFound as exc:
        raise image_not_found() from exc
    except AccessDenied as exc:
        raise access_denied() from exc
    except ImageRejected as exc:
        raise ApiError(
            exc.status, REJECTED_CODES.get(exc.status, "BadRequest"), exc.message
        ) from exc


def _readable(
    request: Request, principal: Principal, *, remember: bool = False
) -> tuple[UserInfo, StoredPhoto]:
    mailbox = _mailbox(request)
    target = _target(request, principal)
    with _graph_errors(target):
        user = mailbox.check_read(principal, target)
        # ``remember``: the image reads fill the cache mailbox.hot answers from.
        stored = mailbox.current_stored(user.id) if remember else mailbox.stored_photo(user.id)
    if stored is None:
        raise image_not_found()
    return user, stored


def _size(text: str) -> int:
    size = parse_size(text)
    if size is None:
        raise image_not_found()
    return size


def _base(request: Request) -> str:
    configured = _mailbox(request).ctx.settings.base_url
    return (configured or str(request.base_url)).rstrip("/")


def _entity(info: PhotoInfo, size: int) -> dict[str, Any]:
    return {
        "@odata.mediaContentType": JPEG,
        "@odata.mediaEtag": f'"{info.etag}"',
        "id": f"{size}x{size}",
        "height": size,
        "width": size,
    }


def _metadata(request: Request, user: UserInfo, info: PhotoInfo, size: int, path: str) -> Response:
    context = f"{_base(request)}/v1.0/$metadata#users('{user.id}')/{path}/$entity"
    return JSONResponse(
        {"@odata.context": context, **_entity(info, size)}, headers={"Cache-Control": "no-cache"}
    )


# --- reading ---------------------------------------------------------------------------------
#
# Each handler below is a thin async shell around ONE thread-pool call that authenticates,
# resolves and reads. Declaring the principal as a FastAPI dependency instead would cost two
# extra thread hops per request (auth's dependencies are sync), and on the hot $value path
# those hops, not the work, were most of the time (see bench/bench_http.py).


def _authenticated(request: Request) -> Principal:
    """What the CurrentPrincipal dependency gives, computed in the caller's thread."""
    return current_principal(optional_principal(request, directory_service(request)))


def _read_metadata(request: Request, size: str | None, path: str) -> Response:
    user, stored = _readable(request, _authenticated(request))
    side = stored.info.master_size if size is None else _size(size)
    if side not in stored.info.sizes:
        raise image_not_found()
    return _metadata(request, user, stored.info, side, path)


def _read_list(request: Request) -> Response:
    user, stored = _readable(request, _authenticated(request))
    return JSONResponse(
        {
            "@odata.context": f"{_base(request)}/v1.0/$metadata#users('{user.id}')/photos",
            "value": [_entity(stored.info, size) for size in stored.info.sizes],
        },
        headers={"Cache-Control": "no-cache"},
    )


def _read_image(request: Request, size: str | None, principal: Principal | None) -> Response:
    _, stored = _readable(request, principal or _authenticated(request), remember=True)
    return _image(request, stored, stored.info.master_size if size is None else _size(size))


async def _image_value(request: Request, size: str | None) -> Response:
    # From memory when the caller, the user and the photo's bytes all are (mailbox.hot);
    # anything else, errors included, takes the thread-pool path that answers as Graph does.
    principal = principal_from_memory(request)
    if principal is not None and (answer := cached_image(request, principal, size)) is not None:
        return answer
    return await run_in_threadpool(_read_image, request, size, principal)


# Registered first, sized images first: routes are tried in order (FastAPI walks this router twice
# per request), and these serve most requests. No two routes here match one path, so the order
# changes only the speed.
#
# ``size`` is read from the path, not declared: FastAPI's parameter handling was about a tenth of
# a request answered from memory, and _size/parse_size check the text anyway. Still documented:
_SIZE_PARAMETER = {"name": "size", "in": "path", "required": True, "schema": {"type": "string"}}


@_on_both("/photos/{size}/$value", ["GET", "HEAD"], {"parameters": [_SIZE_PARAMETER]})
async def get_photo_size_value(request: Request) -> Response:
    return await _image_value(request, request.path_params["size"])


@_on_both("/photo/$value", ["GET", "HEAD"])
async def get_photo_value(request: Request) -> Response:
    return await _image_value(request, None)


def plain_image_routes() -> list[Route]:
    """The image GETs again, as plain Starlette routes for ``app.py`` to put before all others.

    FastAPI's per-request work for an endpoint (solving its dependencies and parameters, even
    none) was a fifth of a request answered from memory; these handlers take the bare Request
    and need none of it. The FastAPI routes above stay: they document the API in OpenAPI, and
    answer only if these are not installed.
    """
    routes = []
    for owner in OWNERS:
        for path, endpoint in (
            ("/photos/{size}/$value", get_photo_size_value),
            ("/photo/$value", get_photo_value),
        ):
            routes.append(Route(f"{router.prefix}{owner}{path}", endpoint, methods=["GET", "HEAD"]))
    return routes


@_on_both("/photo", ["GET"])
async def get_photo(request: Request) -> Response:
    """Metadata of the largest offered size."""
    return await run_in_threadpool(_read_metadata, request, None, "photo")


@_on_both("/photos", ["GET"])
async def list_photos(request: Request) -> Response:
    return await run_in_threadpool(_read_list, request)


@_on_both("/photos/{size}", ["GET"])
async def get_photo_size(request: Request, size: str) -> Response:
    return await run_in_threadpool(_read_metadata, request, size, "photos")


def _image(request: Request, stored: StoredPhoto, size: int) -> Response:
    if size not in stored.info.sizes:
        raise image_not_found()
    headers, not_modified = image_headers(request, stored.info, size)
    data = None if not_modified else _mailbox(request).rendition(stored, size)
    return image_response(request, headers, data)


# --- writing ---------------------------------------------------------------------------------


def _writable(request: Request) -> tuple[Principal, UserInfo]:
    principal = _authenticated(request)
    target = _target(request, principal)
    with _graph_errors(target):
        return principal, _mailbox(request).check_write(principal, target)


@_on_both("/photo/$value", ["PUT", "PATCH"])
async def put_photo_value(request: Request) -> Response:
    """Upload a new photo (body = the image bytes); answers the new photo's metadata."""
    mailbox = _mailbox(request)
    # Authorise before reading a byte of the body: a refused caller must not cost 4 MB.
    principal, user = await run_in_threadpool(_writable, request)
    check_upload_content_type(request.headers.get("content-type"))
    data = await read_limited_body(request, mailbox.ctx.settings.max_upload_bytes)
    with _graph_errors():
        # Decoding and resizing are CPU work: in the thread pool, never on the event loop.
        info = await run_in_threadpool(
            lambda: mailbox.set_photo(user.id, data, actor=principal.actor)
        )
    return _metadata(request, user, info, info.master_size, "photo")


def _delete(request: Request) -> None:
    principal, user = _writable(request)
    with _graph_errors():
        _mailbox(request).delete_photo(user.id, actor=principal.actor)


@_on_both("/photo/$value", ["DELETE"])
async def delete_photo_value(request: Request) -> Response:
    await run_in_threadpool(_delete, request)
    # Graph documents 200 for this call (204 is also seen in the wild).
    return Response(status_code=200)
