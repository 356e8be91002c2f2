"""The ASGI app: every role's sub-application on one server, and one API description."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline

from photosync import __version__, metrics
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
from photosync.portal import photo as portal_photo
from photosync.portal import routes as portal_routes
from photosync.portal.rendering import static_url
from photosync.services import Services, build_services
from photosync.settings import Settings, load_settings
from photosync.sites import routes as sites_routes
from photosync.sites.services import UPLOAD_MAX_BYTES, SitesService
from photosync.sync.service import SyncService
from photosync.sync.tasks import SyncTasks
from photosync.web import (
    UPLOAD_MARGIN,
    ErrorRenderer,
    Part,
    Root,
    Throttle,
    complete_openapi,
    graph_error,
    merged_openapi,
    provide,
    service,
    sharepoint_error,
)


def create_app(settings: Settings | None = None, *, ctx: Context | None = None) -> Root:
    """Build the app; applies migrations first so a fresh data folder just works."""
    if ctx is None:
        ctx = Context.from_settings(settings or Settings())
    ctx.db.upgrade()
    return app_for(build_services(ctx))


# What uvicorn imports in each process of ``photosync serve --workers N``.
WORKER_APP = "photosync.app:worker_app"


def worker_app() -> Root:
    """The app of one ``serve --workers`` process, from the settings in the environment.

    ``serve`` has applied the migrations and put its data folder in the environment before
    starting the processes; each builds its own services (connections, caches, task pool).
    """
    services = build_services(Context.from_settings(load_settings()))
    app = app_for(services)
    # The checks this process set off (automatic policy) finish before it exits.
    app.on_shutdown(lambda: services.tasks.close(cancel_pending=True))
    return app


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
            merged = merged_openapi(
                "photosync", __version__, (graph, sharepoint, token, meta), extra
            )
            schema.update(
                complete_openapi(
                    merged,
                    # The meta app's probes answer only what they document.
                    answers_errors=lambda path: root.app_for_path(path) is not meta,
                    uploads=UPLOADS,
                )
            )
        return schema

    meta.openapi = openapi  # type: ignore[method-assign]
    root = Root(
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
                paths=frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/_docs"}),
                prefixes=(f"{DOCS_ASSETS}/",),
            ),
        ],
        fallback=portal,
        hsts_max_age=services.ctx.settings.hsts_max_age,
        metrics=metrics.RequestMetrics(),
        uploads=_upload_limits(services.ctx.settings),
    )
    return root


# Every path that takes a photo as its body; the rest take at most web.BODY_LIMIT bytes.
UPLOADS = re.compile(
    "|".join((*mailbox_graph.UPLOAD_PATHS, *sites_routes.UPLOAD_PATHS, *portal_photo.UPLOAD_PATHS))
)


def _upload_limits(settings: Settings) -> list[tuple[re.Pattern[str], int]]:
    """Each upload path and the bytes its body may hold: the photo's own limit for a raw body
    (Graph's, SharePoint's), and a form's margin more for the portal's multipart form."""
    return [
        (re.compile("|".join(mailbox_graph.UPLOAD_PATHS)), settings.max_upload_bytes),
        (re.compile("|".join(sites_routes.UPLOAD_PATHS)), UPLOAD_MAX_BYTES),
        (
            re.compile("|".join(portal_photo.UPLOAD_PATHS)),
            settings.max_upload_bytes + UPLOAD_MARGIN,
        ),
    ]


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


def _meta_app(services: Services) -> FastAPI:
    """Health, readiness, metrics, and the API description of every sub-application."""
    # fastapi-offline serves Swagger UI's files; the page is ours (below), without the inline
    # script FastAPI's page starts Swagger UI with.
    app = FastAPIOffline(
        title="photosync",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        static_url=DOCS_ASSETS,
    )

    @app.get("/_docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(_docs_page())

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

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        settings = service(request, Settings)
        if not metrics.may_scrape(
            token=settings.metrics_token,
            allowed=metrics.parse_networks(settings.metrics_allow),
            authorization=request.headers.get("authorization"),
            address=request.client.host if request.client else None,
        ):
            return PlainTextResponse(
                "Metrics need PHOTOSYNC_METRICS_TOKEN as a bearer token from this address.",
                status_code=403,
            )
        return Response(metrics.render(_deployment_state(request)), media_type=metrics.CONTENT_TYPE)

    return app


def _docs_page() -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>photosync - API</title>
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css">
<link rel="icon" href="{static_url("favicon.svg")}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="{static_url("api-docs.js")}"></script>
</body>
</html>
"""


def _deployment_state(request: Request) -> metrics.DeploymentState:
    """What /metrics reads from the shared state: sync's ledger and runs, the task queue."""
    sync = service(request, SyncService)
    now = service(request, Context).clock()
    return metrics.DeploymentState(
        checks_last_hour=sync.results_since(now - timedelta(hours=1)),
        queue_depth=service(request, SyncTasks).queue_depth(),
        running_bulk=[
            metrics.BulkProgress(run.run_id, run.total, run.done, run.failed)
            for run in sync.runs.recent(limit=10)
            if not run.finished
        ],
    )
