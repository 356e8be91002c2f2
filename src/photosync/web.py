"""What every role's HTTP layer shares: the error views raise, sub-applications that each answer
errors in their own API's shape, typed access to the services, and the memory-first call.

photosync is one ASGI app made of sub-applications (``app.py``): Graph under /v1.0,
SharePoint (/_api, /_layouts, /User Photos), the token endpoint, the portal. Each is a FastAPI
app built by ``sub_app`` with ONE error renderer (Graph's error body, SharePoint's OData error,
OAuth2's, or the portal's HTML pages), so no code picks an error shape by looking at a URL: the
sub-application a request reached is the shape it gets.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from photosync.audit import current_request_id
from photosync.edge import Edge
from photosync.metrics import RequestMetrics
from photosync.ttlcache import NotInMemory

P = ParamSpec("P")
T = TypeVar("T")


class ApiError(Exception):
    """An answer other than success, raised by views; each sub-app renders it in its shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


ErrorRenderer = Callable[[Request, ApiError], Response]

# Codes for what the framework itself refuses (no such route, wrong method, bad parameters).
_FRAMEWORK_CODES = {404: "NotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge"}
INTERNAL_ERROR = "An internal server error occurred."


def graph_error(request: Request, exc: ApiError) -> Response:
    """Microsoft Graph's ``{"error": {"code", "message", "innerError"}}``."""
    # The edge's id of this request (also in the answer's request-id header and the logs).
    request_id = current_request_id() or str(uuid.uuid4())
    body = {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request.headers.get("client-request-id", request_id),
            },
        }
    }
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def sharepoint_error(request: Request, exc: ApiError) -> Response:
    """SharePoint's OData error, in the JSON flavour the client asked for."""
    body = {"error": {"code": exc.code, "message": {"lang": "en-US", "value": exc.message}}}
    verbose = "odata=verbose" in request.headers.get("accept", "")
    return JSONResponse(
        body,
        status_code=exc.status,
        headers=exc.headers,
        media_type="application/json;odata=verbose" if verbose else None,
    )


def oauth_error(request: Request, exc: ApiError) -> Response:
    """RFC 6749's ``{"error", "error_description"}``, never cached."""
    return JSONResponse(
        {"error": exc.code, "error_description": exc.message},
        status_code=exc.status,
        headers={"Cache-Control": "no-store", **exc.headers},
    )


def plain_error(request: Request, exc: ApiError) -> Response:
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=exc.status,
        headers=exc.headers,
    )


def sub_app(
    title: str,
    render: ErrorRenderer,
    *,
    unrouted: Callable[[Request], ApiError] | None = None,
    **kwargs: Any,
) -> FastAPI:
    """A sub-application whose every error (raised, unrouted, invalid, or a crash) is
    answered by ``render``. Its routes are described by the root app's /openapi.json.

    ``unrouted``: the API's own answer for a path it has no route for (else a plain 404)."""
    app = FastAPI(
        title=title,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Forms that FastAPI parses (Form() parameters): a few short fields, no files. The body
        # itself is bounded before this, by Root (BODY_LIMIT).
        form_limits={"max_fields": MAX_FORM_FIELDS, "max_files": 0, "max_part_size": BODY_LIMIT},
        **kwargs,
    )

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return render(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and unrouted is not None:
            return render(request, unrouted(request))
        code = _FRAMEWORK_CODES.get(exc.status_code, "BadRequest")
        return render(
            request, ApiError(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
            for error in exc.errors()
        )
        return render(request, ApiError(400, "BadRequest", f"Invalid request ({where})."))

    async def crashed(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this answer, so the server log still gets the traceback.
        return render(request, ApiError(500, "generalException", INTERNAL_ERROR))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, crashed)
    return app


# --- photos over HTTP: caching ---------------------------------------------------------------

JPEG = "image/jpeg"
# Revalidate on every use (the answer is cheap: 304 without a body), and only in the caller's
# own cache: a photo URL such as /me/photo/$value means a different picture per signed-in user.
REVALIDATE = "private, max-age=0, must-revalidate"
# A URL carrying the version (``?v=<etag>``, ``?t=<timestamp>``) never changes meaning.
IMMUTABLE = "private, max-age=31536000, immutable"


def is_not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, a list of tags, or "*"."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class PlainRoute(Route):
    """A plain Starlette route (no FastAPI per-request work: the hot image reads) that, like
    FastAPI's routes, names itself in ``scope["route"]``: the edge counts requests by its
    template (``/v1.0/users/{user}/photo/$value``), never by the raw path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


# --- services, typed -------------------------------------------------------------------------


def provide(app: FastAPI, registry: dict[type, object]) -> None:
    """Give ``app``'s routes the services (the composition root calls this for every sub-app)."""
    app.state.services = registry


def service(request: Request, kind: type[T]) -> T:
    """The one service of class ``kind`` this app was built with (``provide``)."""
    registry: dict[type, object] = request.app.state.services
    return cast(T, registry[kind])


def dependency(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """``Depends(dependency(MailboxService))``: the service as a typed route parameter.

    Async so that FastAPI does not send a dictionary lookup to the thread pool."""

    async def get(request: Request) -> T:
        return service(request, kind)

    return get


# --- one read path, fast ----------------------------------------------------------------------


async def memory_first(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(..., memory_only=True)`` on the event loop; if that needs the database or the disk
    (NotInMemory), the same ``fn`` again in a worker thread.

    Most photo requests name a user, a version and bytes seen a moment ago: answered from
    memory they need no thread, and the thread hop would be most of their cost. ``fn`` must not
    change anything before it could raise NotInMemory; the read functions it is used with
    only read.
    """
    try:
        return fn(*args, **kwargs, memory_only=True)
    except NotInMemory:
        return await run_in_threadpool(fn, *args, **kwargs)


# --- bounded reads: no request body costs more than its route's limit ------------------------

# Every request body that is not a photo: forms, JSON, token requests. The largest real one (a
# client assertion JWT, an admin form) is a few kilobytes.
BODY_LIMIT = 64 * 1024
# What a photo upload may carry beyond the photo's own limit: multipart boundaries, part headers
# and the portal form's few fields; the route itself then says "too big" at its exact limit.
UPLOAD_MARGIN = 64 * 1024
MAX_FORM_FIELDS = 20
# Request line and headers (uvicorn's h11 refuses more with 431 before the app sees anything).
MAX_HEADER_BYTES = 32 * 1024


def body_too_large(limit: int) -> StarletteHTTPException:
    """The 413 a body over its route's limit gets, in the answering API's own error shape."""
    mib = limit / (1024 * 1024)
    size = f"{mib:.1f}".removesuffix(".0") + " MB" if mib >= 1 else f"{limit // 1024} KB"
    return StarletteHTTPException(
        413, f"The request body is too large; this address takes at most {size} ({limit:,} bytes)."
    )


def bounded_receive(scope: Scope, receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses (raises the 413 HTTPException) a body over ``limit`` bytes.

    A declared Content-Length over the limit is refused on the first read, before a byte is
    taken; a body without one (chunked) or that lies is counted as it streams and refused at
    the first chunk past the limit. A route that never reads its body costs nothing: the
    server stops reading from the socket when its small buffer is full (flow control).
    """
    declared = _content_length(scope)
    received = 0

    async def receive_bounded() -> Message:
        nonlocal received
        if declared is not None and declared > limit:
            raise body_too_large(limit)
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise body_too_large(limit)
        return message

    return receive_bounded


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


# --- the root: requests to sub-applications ---------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- throttling: 429 and Retry-After, as Microsoft's APIs answer a caller that asks too much --


class Throttle:
    """Requests per second (a token bucket holding one second's worth) and requests in flight,
    per caller, for one sub-application; over either, 429 with ``Retry-After`` in its error shape.

    ``identify`` names the caller from the request (an app or a user for a valid bearer token,
    the session for a cookie, else the client address), or None for a request that will be
    refused anyway (a bad token): those are not counted against anyone. Built only when a limit
    is set (``PHOTOSYNC_API_RATE_LIMIT`` / ``_MAX_CONCURRENT``), so unlimited costs nothing.
    """

    def __init__(
        self,
        *,
        rate: float | None,
        max_concurrent: int | None,
        identify: Callable[[Request], str | None],
        render: ErrorRenderer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.max_concurrent = max_concurrent
        self.identify = identify
        self.render = render
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, as of)
        self._in_flight: dict[str, int] = {}
        self.refused = 0

    def _wait(self, caller: str) -> float:
        """0 if ``caller`` may go now (and counts the request), else seconds to wait."""
        if (
            self.max_concurrent is not None
            and self._in_flight.get(caller, 0) >= self.max_concurrent
        ):
            return 1.0
        if self.rate is not None:
            now = self.clock()
            burst = max(1.0, self.rate)
            tokens, as_of = self._buckets.get(caller, (burst, now))
            tokens = min(burst, tokens + (now - as_of) * self.rate)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[caller] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # callers long gone hold a full bucket anyway
                self._buckets.clear()
        return 0.0

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        caller = self.identify(request) if scope["type"] == "http" else None
        if caller is None:
            await app(scope, receive, send)
            return
        wait = self._wait(caller)
        if wait > 0:
            self.refused += 1
            seconds = str(max(1, math.ceil(wait)))
            error = ApiError(
                429,
                "TooManyRequests",
                f"Too many requests from this application or user; retry after {seconds} s.",
                {"Retry-After": seconds},
            )
            await self.render(request, error)(scope, receive, send)
            return
        self._in_flight[caller] = self._in_flight.get(caller, 0) + 1
        try:
            await app(scope, receive, send)
        finally:
            left = self._in_flight[caller] - 1
            if left:
                self._in_flight[caller] = left
            else:
                del self._in_flight[caller]


@dataclass(frozen=True)
class Part:
    """A sub-application and the request paths it answers (full paths, nothing stripped)."""

    app: FastAPI
    prefixes: Sequence[str] = ()
    paths: frozenset[str] = frozenset()
    contains: Sequence[str] = ()
    throttle: Throttle | None = None

    def answers(self, path: str) -> bool:
        return (
            path.startswith(tuple(self.prefixes))
            or path in self.paths
            or any(part in path for part in self.contains)
        )


class Root:
    """The ASGI app: each request goes to the first part that answers its path, else to
    ``fallback`` (the portal, whose 404 is a page).

    Starlette's ``Mount`` would strip the prefix (so sub-apps could not keep their real paths,
    which /openapi.json lists) and takes one prefix per mount (SharePoint has three); this does
    neither and adds no middleware stack of its own on the way to the hot image routes.
    """

    def __init__(
        self,
        parts: Sequence[Part],
        fallback: FastAPI,
        *,
        hsts_max_age: int = 0,
        metrics: RequestMetrics | None = None,
        uploads: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.parts = tuple(parts)
        self.fallback = fallback
        # (paths, limit): paths that take a photo (PUT, PATCH or POST) may carry that many
        # bytes; every other request BODY_LIMIT.
        self.uploads = tuple(uploads)
        # Every request gets an id, its changes are audited with its address, user agent and
        # id, its answer gets the edge's headers, and it is counted: here, once, around
        # whichever sub-application answers.
        self._dispatch = Edge(self._route, hsts_max_age=hsts_max_age, metrics=metrics)
        self._stopping: list[Callable[[], None]] = []

    def on_shutdown(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` when the server stops (ASGI lifespan shutdown)."""
        self._stopping.append(stop)

    @property
    def apps(self) -> tuple[FastAPI, ...]:
        return (*(part.app for part in self.parts), self.fallback)

    def app_for_path(self, path: str) -> FastAPI:
        """The sub-application that answers ``path``."""
        part = self._part_for_path(path)
        return part.app if part is not None else self.fallback

    def _part_for_path(self, path: str) -> Part | None:
        for part in self.parts:
            if part.answers(path):
                return part
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._dispatch(scope, receive, send)

    def body_limit(self, method: str, path: str) -> int:
        """How many body bytes a request may send: a photo upload's limit, else BODY_LIMIT."""
        if method in ("PUT", "PATCH", "POST"):
            for paths, limit in self.uploads:
                if paths.fullmatch(path):
                    return limit
        return BODY_LIMIT

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http":
            # About 0.6 µs a request (a closure and one pass over the headers), measured.
            receive = bounded_receive(scope, receive, self.body_limit(scope["method"], path))
        part = self._part_for_path(path)
        if part is None:
            await self.fallback(scope, receive, send)
        elif part.throttle is not None:
            await part.throttle(part.app, scope, receive, send)
        else:
            await part.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # The sub-applications have nothing to start: services are built before the app.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for stop in self._stopping:
                    await run_in_threadpool(stop)
                await send({"type": "lifespan.shutdown.complete"})
                return


def merged_openapi(
    title: str, version: str, apps: Sequence[FastAPI], extra_paths: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One API description for every sub-application (and the plain routes' ``extra_paths``)."""
    schema = get_openapi(
        title=title, version=version, routes=[route for app in apps for route in app.routes]
    )
    paths: dict[str, Any] = schema.setdefault("paths", {})
    for path, operations in extra_paths.items():
        paths.setdefault(path, {}).update(operations)
    return schema


# What any route of a ``sub_app`` may answer besides its own statuses: a bad request or
# parameter, no or a bad token, not allowed, no such thing, another route's path, a body over its
# limit, throttled.
ERROR_STATUSES = {
    400: "The request or one of its parameters is not valid",
    401: "No valid bearer token or session",
    403: "The caller may not do this",
    404: "No such user, photo, size or resource",
    # A parameter holding "/" or "#" makes the path another route's, which may not take this
    # method.
    405: "The path names a route that does not take this method",
    413: "The body is larger than this route takes",
    429: (
        "Too many requests (PHOTOSYNC_API_RATE_LIMIT, or PHOTOSYNC_UPLOAD_RATE_LIMIT for photo "
        "uploads); see Retry-After"
    ),
}
UPLOAD_ERRORS = {415: "Not an image this route takes, or the wrong Content-Type"}
_ERROR_BODY = {
    "application/json": {
        "schema": {"type": "object", "required": ["error"], "properties": {"error": {}}}
    }
}
_PATH_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def complete_openapi(
    schema: dict[str, Any], *, answers_errors: Callable[[str], bool], uploads: re.Pattern[str]
) -> dict[str, Any]:
    """Every path parameter declared, and every status a route can answer documented.

    FastAPI declares only the parameters a view names (ours often read ``request`` itself) and
    documents 422 for invalid input, which ``sub_app`` answers as 400 in the API's own shape;
    the body limit, authentication and throttling answer on every route of a sub-app
    (``answers_errors``) and are documented here once."""
    for path, operations in schema.get("paths", {}).items():
        names = _PATH_PARAMETER.findall(path)
        for method, operation in operations.items():
            parameters = operation.setdefault("parameters", [])
            declared = {p["name"] for p in parameters if p.get("in") == "path"}
            parameters.extend(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
                if name not in declared
            )
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if not answers_errors(path):
                continue
            errors = dict(ERROR_STATUSES)
            if method in ("put", "patch", "post") and uploads.fullmatch(path):
                errors.update(UPLOAD_ERRORS)
            for status, description in errors.items():
                responses.setdefault(
                    str(status),
                    {"description": description, "content": _ERROR_BODY},
                )
    return schema
