"""The API rate limits (PHOTOSYNC_API_RATE_LIMIT, _MAX_CONCURRENT): 429 with Retry-After per app
or user, in Graph's and SharePoint's own error shapes, as Microsoft answers a caller that asks too
much."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from photosync.app import app_for
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.services import build_services
from photosync.settings import Settings
from photosync.web import Throttle, graph_error
from tests.conftest import MovableClock, bearer, run_async


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def request(throttle: Throttle, app: Any, caller: str) -> int:
    """One GET from ``caller`` through ``throttle`` to ``app``: its status code."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1.0/x",
        "headers": [(b"x-caller", caller.encode())],
        "query_string": b"",
    }
    await throttle(app, scope, receive, send)
    return statuses[0]


def call(throttle: Throttle, app: Any, caller: str = "app:a") -> int:
    return run_async(request(throttle, app, caller))


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def throttle(clock: Clock, **limits: Any) -> Throttle:
    return Throttle(
        identify=lambda request: request.headers.get("x-caller"),
        render=graph_error,
        clock=clock,
        **{"rate": None, "max_concurrent": None, **limits},
    )


def test_a_caller_over_the_rate_waits_as_long_as_retry_after_says() -> None:
    clock = Clock()
    limit = throttle(clock, rate=2.0)
    assert [call(limit, ok) for _ in range(3)] == [200, 200, 429]
    assert call(limit, ok, "app:b") == 200  # per caller
    clock.now += 0.5  # half a second earns one request at 2/s
    assert [call(limit, ok), call(limit, ok)] == [200, 429]
    assert limit.refused == 2


def test_requests_in_flight_are_limited_per_caller() -> None:
    limit = throttle(Clock(), max_concurrent=1)

    async def scenario() -> list[int]:
        release = asyncio.Event()
        statuses: list[int] = []

        async def slow(scope: Any, receive: Any, send: Any) -> None:
            await release.wait()
            await ok(scope, receive, send)

        async def one(app: Any, caller: str) -> None:
            statuses.append(await request(limit, app, caller))

        first = asyncio.create_task(one(slow, "u"))
        await asyncio.sleep(0)
        await one(ok, "u")  # the first is still in flight
        await one(ok, "v")  # someone else is not held up
        release.set()
        await first
        await one(ok, "u")  # and after it, the caller goes again
        return statuses

    assert run_async(scenario()) == [429, 200, 200, 200]


def test_the_server_answers_429_in_each_apis_shape(
    settings: Settings,
    clock: MovableClock,
    make_user: Callable[..., UserInfo],
    app_token: Callable[..., str],
) -> None:
    make_user("ada@example.org")
    token = app_token("User.Read.All", "Sites.Read.All")
    limited = settings.model_copy(update={"api_rate_limit": 0.001})  # one request, then 1,000 s
    ctx = Context.from_settings(limited, clock=clock)
    try:
        with TestClient(app_for(build_services(ctx))) as client:
            photo = "/v1.0/users/ada@example.org/photo"
            assert client.get(photo, headers=bearer(token)).status_code == 404  # no photo yet
            graph = client.get(photo, headers=bearer(token))
            assert graph.status_code == 429
            assert graph.json()["error"]["code"] == "TooManyRequests"
            assert int(graph.headers["Retry-After"]) >= 900
            # SharePoint keeps its own count, and answers in its own shape.
            page = "/_layouts/15/userphoto.aspx?size=S&accountname=ada@example.org"
            assert client.get(page, headers=bearer(token)).status_code == 200
            sharepoint = client.get(page, headers=bearer(token))
            assert sharepoint.status_code == 429
            assert sharepoint.json()["error"]["message"]["value"].startswith("Too many requests")
            # A bad token is refused as before, never counted against anyone.
            assert client.get(photo, headers=bearer("nonsense")).status_code == 401
    finally:
        ctx.db.dispose()


def test_no_limit_means_no_throttle(settings: Settings, clock: MovableClock) -> None:
    ctx = Context.from_settings(settings, clock=clock)
    try:
        root = app_for(build_services(ctx))
        assert all(part.throttle is None for part in root.parts)
    finally:
        ctx.db.dispose()
