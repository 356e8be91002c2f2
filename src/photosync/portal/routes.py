"""The portal (Office.com's part): sign-in, home, OneDrive, SharePoint, change photo, admin."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from photosync.portal import admin, pages, photo, signin
from photosync.portal.errors import install_error_pages, page_error
from photosync.portal.rendering import STATIC, STATIC_PREFIX
from photosync.web import set_page_error_renderer


def install(app: FastAPI) -> None:
    """Add the portal's pages, static files and HTML error pages to ``app``."""
    for module in (signin, pages, photo, admin):
        app.include_router(module.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="portal-static")
    set_page_error_renderer(page_error)
    install_error_pages(app)
