"""The HTTP edge of the audit log: each request's client address and user agent, for ``record``.

A pure ASGI middleware (no per-request objects built, nothing read from the body) that
``web.Root`` puts around whichever sub-application answers: about 2 µs a request, hot image
reads included. The address is the one the server reports: uvicorn replaces it with the
X-Forwarded-For client when the request came through a trusted proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from photosync.audit import Origin, origin

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RecordOrigin:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = origin.set(origin_of(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            origin.reset(token)


def origin_of(scope: Scope) -> Origin:
    client = scope.get("client")
    agent = None
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            agent = value.decode("latin-1")
            break
    return Origin(address=str(client[0]) if client else None, user_agent=agent)
