"""The portal (Office.com's part): sign-in, home, OneDrive, SharePoint, change photo, admin.

A sub-application of its own, the one that gets every path no API claims: its errors are HTML
pages (or a redirect to sign in).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from photosync.portal import admin, audit, doctor, pages, person, photo, runs, signin
from photosync.portal.errors import install_error_pages, page_error
from photosync.portal.rendering import STATIC, STATIC_PREFIX
from photosync.web import sub_app


def create_app() -> FastAPI:
    app = sub_app("portal", page_error)
    for module in (signin, pages, photo, admin, runs, doctor, audit, person):
        app.include_router(module.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="portal-static")
    install_error_pages(app)
    return app
