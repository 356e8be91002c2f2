"""``GET /avatar/{hash}`` (and ``.jpg``/``.png``): the Libravatar/Gravatar avatar URL.

A sub-application of its own whose errors are small JSON bodies. The one route is a plain
Starlette route (no FastAPI per-request work), called through ``web.memory_first`` like the
other photo routes: authenticate, parse, and ``AvatarService.avatar`` (the one read).

Every answer says where its image came from in ``X-Avatar-Source`` (``photo`` or
``default``), and carries ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.routing import Route

from photosync.avatar.params import parse
from photosync.avatar.service import Avatar, AvatarService, AvatarsOff, SignInRequired
from photosync.directory.access import Principal
from photosync.directory.auth import authenticate
from photosync.directory.services import DirectoryService
from photosync.settings import Settings
from photosync.web import ApiError, is_not_modified, memory_first, plain_error, service, sub_app

PREFIX = "/avatar/"
PATH = "/avatar/{name}"
SOURCE_HEADER = "X-Avatar-Source"
IMMUTABLE_AGE = 31_536_000


def _cache_control(settings: Settings, principal: Principal | None, immutable: bool) -> str:
    # Shared caches may keep what anyone could fetch; an answer to a caller with credentials
    # (it may show a name) only in that caller's cache.
    scope = "public" if settings.avatar_access == "public" and principal is None else "private"
    if immutable:
        return f"{scope}, max-age={IMMUTABLE_AGE}, immutable"
    return f"{scope}, max-age={settings.avatar_max_age}"


def _read(request: Request, *, memory_only: bool = False) -> Response:
    """THE read of this API: who asks, what the URL asks for, and the avatar."""
    settings = service(request, Settings)
    avatars = service(request, AvatarService)
    directory = service(request, DirectoryService)
    principal = authenticate(request, directory, memory_only=memory_only)
    try:
        avatars.check_access(principal)
        wanted = parse(
            request.path_params["name"],
            request.query_params,
            settings.avatar_default_url_prefixes,
        )
        if wanted is None:
            raise ApiError(
                404,
                "NotFound",
                "An avatar URL is /avatar/ and the MD5 or SHA-256 (hex) of an e-mail address, "
                "optionally followed by .jpg or .png.",
            )
        avatar = avatars.avatar(principal, wanted, memory_only=memory_only)
    except AvatarsOff as exc:
        raise ApiError(404, "NotFound", "Avatar URLs are turned off here.") from exc
    except SignInRequired as exc:
        raise ApiError(
            401,
            "InvalidAuthenticationToken",
            "Avatars here are for signed-in callers: send a bearer token or the portal cookie.",
            {"WWW-Authenticate": 'Bearer realm="photosync"'},
        ) from exc
    immutable = avatar.version is not None and wanted.version == avatar.version
    headers = {
        "Cache-Control": _cache_control(settings, principal, immutable),
        "X-Content-Type-Options": "nosniff",
        SOURCE_HEADER: avatar.source,
    }
    return _answer(request, avatar, headers)


def _answer(request: Request, avatar: Avatar, headers: dict[str, str]) -> Response:
    if avatar.redirect is not None:
        return RedirectResponse(avatar.redirect, status_code=302, headers=headers)
    if avatar.data is None:
        # d=404: the same answer whether nobody has the address or its owner has no photo.
        raise ApiError(404, "NotFound", "No avatar for this address.", headers)
    headers["ETag"] = avatar.etag
    if is_not_modified(request.headers.get("if-none-match"), avatar.etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(avatar.data))
        return Response(headers=headers, media_type=avatar.media_type)
    return Response(avatar.data, headers=headers, media_type=avatar.media_type)


async def get_avatar(request: Request) -> Response:
    return await memory_first(_read, request)


def _parameter(name: str, where: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": "string"},
        "description": description,
    }


_OPERATION: dict[str, Any] = {
    "tags": ["avatar (Libravatar/Gravatar)"],
    "summary": "The avatar of an e-mail address (MD5 or SHA-256 of it, lower-cased)",
    "parameters": [
        _parameter("name", "path", "hex digest, optionally .jpg or .png"),
        _parameter("s", "query", "size 1-512 (also size=); default 80"),
        _parameter("d", "query", "404, mp, mm, identicon, retro, initials, blank or a URL"),
        _parameter("f", "query", "y: always the default (also forcedefault=)"),
        _parameter("name", "query", "words for d=initials when the caller may not see names"),
        _parameter("v", "query", "the photo version; current: immutable"),
    ],
    "responses": {
        "200": {"description": "The image", "content": {"image/jpeg": {}, "image/png": {}}},
        "302": {"description": "d=URL on the allow-list"},
        "304": {"description": "Not modified (If-None-Match)"},
        "401": {"description": "Sign-in required (PHOTOSYNC_AVATAR_ACCESS=signed-in)"},
        "404": {"description": "d=404 without a photo, not a hash, or avatars turned off"},
    },
}
OPENAPI_PATHS = {PATH: {"get": _OPERATION, "head": {**_OPERATION, "summary": "Headers only"}}}


def avatar_error(request: Request, exc: ApiError) -> Response:
    """``{"error": {"code", "message"}}``, never sniffed into something else either."""
    response = plain_error(request, exc)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def create_app() -> FastAPI:
    app = sub_app("Avatar URL (Libravatar/Gravatar)", avatar_error)
    app.router.routes.append(Route(PATH, get_avatar, methods=["GET", "HEAD"]))
    return app
