"""The ASGI app: every role's routes on one server."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from photosync import __version__
from photosync.context import Context
from photosync.directory import routes as directory_routes
from photosync.mailbox import graph as mailbox_graph
from photosync.portal import routes as portal_routes
from photosync.services import Services, build_services
from photosync.settings import Settings
from photosync.sites import routes as sites_routes
from photosync.web import install_error_handlers


def create_app(settings: Settings | None = None, *, ctx: Context | None = None) -> FastAPI:
    """Build the app; applies migrations first so a fresh data folder just works."""
    if ctx is None:
        ctx = Context.from_settings(settings or Settings())
    ctx.db.upgrade()
    services = build_services(ctx)
    return app_for(services)


def app_for(services: Services) -> FastAPI:
    app = FastAPI(title="photosync", version=__version__, docs_url="/_docs", redoc_url=None)
    app.state.ctx = services.ctx
    app.state.services = services
    app.state.directory = services.directory
    app.state.mailbox = services.mailbox
    app.state.sites = services.sites
    app.state.sync = services.sync
    install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    # Starlette tries routes in order; the image routes that serve most requests come first.
    app.include_router(sites_routes.router)
    app.include_router(mailbox_graph.router)
    app.include_router(directory_routes.router)
    portal_routes.install(app)
    # The image GETs that serve most requests, tried first and without FastAPI's per-request
    # work; their FastAPI twins stay for the OpenAPI description.
    app.router.routes[:0] = [
        *sites_routes.plain_image_routes(),
        *mailbox_graph.plain_image_routes(),
    ]
    return app
