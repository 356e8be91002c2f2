"""What every HTTP request passes once on its way in and out, around whichever sub-application
answers it (``web.Root``): the headers every answer carries.

A pure ASGI layer, like ``audit_http.RecordOrigin``: no request object is built and the body is
never touched, so the hot image reads pay for a closure and a header list, not a middleware stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Edge:
    """Strict-Transport-Security on every answer given over HTTPS.

    uvicorn reports ``scheme == "https"`` when it terminates TLS itself (``--certfile``) and when
    a trusted proxy (``--forwarded-allow-ips``) says X-Forwarded-Proto: https, so a deployment
    behind a TLS-terminating load balancer gets the header too.
    """

    def __init__(self, app: ASGIApp, *, hsts_max_age: int) -> None:
        self.app = app
        self.hsts = (
            (b"strict-transport-security", f"max-age={hsts_max_age}".encode())
            if hsts_max_age
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hsts = self.hsts
        if hsts is None or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), hsts]
            await send(message)

        await self.app(scope, receive, send_with_hsts)
