"""The ASGI app: every role's sub-application on one server, and one API description."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline

from photosync import __version__
from photosync.avatar import routes as avatar_routes
from photosync.avatar.service import AvatarService
from photosync.context import Context
from photosync.directory import graph as directory_graph
from photosync.directory import routes as directory_routes
from photosync.directory.auth import caller_key
from photosync.directory.services import DirectoryService
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
    meta = _meta_app()
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
                merged_openapi("photosync", __version__, (graph, sharepoint, token), extra)
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
            Part(
                meta,
                paths=frozenset({"/healthz", "/openapi.json", "/_docs"}),
                prefixes=(f"{DOCS_ASSETS}/",),
            ),
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


# Swagger UI's script and style, served from the files fastapi-offline ships in its wheel:
# FastAPI's own /docs page loads them from a CDN, and is blank on a machine without internet.
DOCS_ASSETS = "/_docs/assets"


def _meta_app() -> FastAPI:
    """The health check and the API description of every sub-application."""
    app = FastAPIOffline(
        title="photosync",
        version=__version__,
        docs_url="/_docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
        favicon_url="/portal-static/favicon.svg",
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app
