"""The ASGI app: every role's sub-application on one server, and one API description."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from photosync import __version__
from photosync.context import Context
from photosync.directory import routes as directory_routes
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
from photosync.web import Part, Root, merged_openapi, provide


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
    }
    graph = mailbox_graph.create_app()
    sharepoint = sites_routes.create_app()
    token = directory_routes.create_app()
    portal = portal_routes.create_app()
    meta = _meta_app(services)
    for app in (graph, sharepoint, token, portal, meta):
        provide(app, registry)

    schema: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not schema:
            extra = {**mailbox_graph.OPENAPI_PATHS, **sites_routes.OPENAPI_PATHS}
            schema.update(
                merged_openapi("photosync", __version__, (graph, sharepoint, token, meta), extra)
            )
        return schema

    meta.openapi = openapi  # type: ignore[method-assign]
    return Root(
        [
            Part(graph, prefixes=("/v1.0/",)),
            Part(sharepoint, prefixes=("/_api/", "/_layouts/", "/User Photos/")),
            Part(token, contains=("/oauth2/",)),
            Part(meta, paths=frozenset({"/healthz", "/readyz", "/openapi.json", "/_docs"})),
        ],
        fallback=portal,
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
