"""The ASGI app: every role's sub-application on one server, and one API description."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from photosync import __version__
from photosync.avatar import routes as avatar_routes
from photosync.avatar.service import AvatarService
from photosync.context import Context
from photosync.directory import graph as directory_graph
from photosync.directory import routes as directory_routes
from photosync.directory.auth import caller_key
from photosync.directory.services import DirectoryService
from photosync.health import readiness
from photosync.mailbox import graph as mailbox_graph
from photosync.mailbox.services import MailboxService
from photosync.portal import routes as portal_routes
from photosync.services import Services, build_services
from photosync.settings import Settings
from photosync.sites import routes as sites_routes
from photosync.sites.services import SitesService
from photosync.sync.service import SyncService
from photosync.sync.tasks import SyncTasks
from photosync.web import (
    ErrorRenderer,
    Part,
    Root,
    Throttle,
    graph_error,
    merged_openapi,
    provide,
    sharepoint_error,
)


def create_app(settings: Settings | None = None, *, ctx: Context | None = None) -> Root:
    """Build the app; applies migrations first so a fresh data folder just works."""
    if ctx is None:
        ctx = Context.from_settings(settings or Settings())
    ctx.db.upgrade()
    return app_for(build_services(ctx))


def app_for(services: Services) -> Root:
    """Graph, SharePoint and the token endpoint by path; the portal gets everything else."""
    registry: dict[type, object] = {
        Settings: services.ctx.settings,
        Context: services.ctx,
        DirectoryService: services.directory,
        MailboxService: services.mailbox,
        SitesService: services.sites,
        SyncService: services.sync,
        SyncTasks: services.tasks,
        AvatarService: services.avatar,
    }
    graph = mailbox_graph.create_app(directory_graph.router, unrouted=directory_graph.unrouted)
    sharepoint = sites_routes.create_app()
    token = directory_routes.create_app()
    portal = portal_routes.create_app()
    avatar = avatar_routes.create_app()
    meta = _meta_app(services)
    for app in (graph, sharepoint, token, portal, avatar, meta):
        provide(app, registry)

    schema: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not schema:
            extra = {
                **mailbox_graph.OPENAPI_PATHS,
                **sites_routes.OPENAPI_PATHS,
                **avatar_routes.OPENAPI_PATHS,
            }
            schema.update(
                merged_openapi("photosync", __version__, (graph, sharepoint, token, meta), extra)
            )
        return schema

    meta.openapi = openapi  # type: ignore[method-assign]
    return Root(
        [
            Part(graph, prefixes=("/v1.0/",), throttle=_throttle(services, graph_error)),
            Part(
                sharepoint,
                prefixes=("/_api/", "/_layouts/", "/User Photos/"),
                throttle=_throttle(services, sharepoint_error),
            ),
            Part(token, contains=("/oauth2/", "/.well-known/openid-configuration")),
            Part(avatar, prefixes=(avatar_routes.PREFIX,)),
            Part(meta, paths=frozenset({"/healthz", "/readyz", "/openapi.json", "/_docs"})),
        ],
        fallback=portal,
        hsts_max_age=services.ctx.settings.hsts_max_age,
    )


def _throttle(services: Services, render: ErrorRenderer) -> Throttle | None:
    """Graph's or SharePoint's own limits per app or user, when the settings ask for them."""
    settings = services.ctx.settings
    if settings.api_rate_limit is None and settings.api_max_concurrent is None:
        return None
    return Throttle(
        rate=settings.api_rate_limit,
        max_concurrent=settings.api_max_concurrent,
        identify=lambda request: caller_key(request, services.directory),
        render=render,
    )


def _meta_app(services: Services) -> FastAPI:
    """Health, readiness, and the API description of every sub-application."""
    app = FastAPI(title="photosync", version=__version__, docs_url="/_docs", redoc_url=None)
    probes = {
        "database": services.ctx.db.check,
        "blob_store": services.ctx.blobs.check,
        "broker": services.tasks.check_broker,
    }

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The database, the blob store and the broker answer",
        responses={503: {"description": "Not ready: `failing` names what does not answer"}},
    )
    def readyz() -> JSONResponse:
        # A plain (threaded) route: the probes block, for at most health.TIMEOUT seconds.
        state = readiness(probes)
        return JSONResponse(
            state.as_json(),
            status_code=200 if state.ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return app
