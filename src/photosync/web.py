"""What every role's HTTP layer shares: the error type views raise and how each API renders it.

Graph answers ``{"error": {"code", "message", "innerError"}}``; SharePoint's ``/_api`` answers
``{"error": {"code", "message": {"lang", "value"}}}``; pages answer HTML. The shape is picked by
path, so that an authentication failure on /v1.0 looks like Graph's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

GRAPH_PREFIX = "/v1.0"
SHAREPOINT_PREFIXES = ("/_api", "/_layouts", "/User Photos", "/User%20Photos")


class ApiError(Exception):
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


def graph_error(request: Request, exc: ApiError) -> Response:
    request_id = request.headers.get("request-id") or str(uuid.uuid4())
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
    body = {"error": {"code": exc.code, "message": {"lang": "en-US", "value": exc.message}}}
    if "odata=verbose" in request.headers.get("accept", ""):
        return JSONResponse(
            {"error": body["error"]},
            status_code=exc.status,
            headers=exc.headers,
            media_type="application/json;odata=verbose",
        )
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def plain_error(request: Request, exc: ApiError) -> Response:
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=exc.status,
        headers=exc.headers,
    )


_page_renderer: ErrorRenderer = plain_error


def set_page_error_renderer(renderer: ErrorRenderer) -> None:
    """The portal registers its friendly HTML error pages here."""
    global _page_renderer
    _page_renderer = renderer


def render_error(request: Request, exc: ApiError) -> Response:
    path = request.url.path
    if path.startswith(GRAPH_PREFIX):
        return graph_error(request, exc)
    if path.startswith(SHAREPOINT_PREFIXES):
        return sharepoint_error(request, exc)
    if path.startswith("/oauth2") or "/oauth2/" in path:
        return plain_error(request, exc)
    return _page_renderer(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return render_error(request, exc)

    app.add_exception_handler(ApiError, handle)
