"""Bulk runs on the admin pages: start one, watch it, read its failures, take its report."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from photosync.portal.pages import page
from photosync.portal.viewer import CSRF_FIELD, AdminViewer, check_csrf
from photosync.sync.bulk import write_report
from photosync.sync.interfaces import ERROR
from photosync.sync.service import SyncService
from photosync.sync.tasks import SyncTasks
from photosync.web import ApiError, service

router = APIRouter(include_in_schema=False)

# How often a page of a running run reloads itself (a meta refresh: the pages run no script).
REFRESH_SECONDS = 2


@router.post("/admin/runs")
def start_run(
    request: Request, viewer: AdminViewer, csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = ""
) -> Response:
    """Check everyone now (or continue the unfinished run of everyone)."""
    check_csrf(viewer, csrf_token)
    run_id, _ = service(request, SyncService).open_bulk(None, actor=viewer.user.upn)
    service(request, SyncTasks).run_bulk(run_id, viewer.user.upn)
    return RedirectResponse(f"/admin/runs/{run_id}", status_code=303)


@router.get("/admin/runs/{run_id}")
def run_page(request: Request, viewer: AdminViewer, run_id: str) -> Response:
    sync = service(request, SyncService)
    progress = sync.runs.progress(run_id)
    if progress is None:
        raise ApiError(404, "NotFound", "There is no such run.")
    failures = [item for item in sync.runs.items(run_id) if item.result == ERROR]
    percent = round(100 * progress.done / progress.total) if progress.total else 100
    return page(
        request,
        viewer,
        "run.html",
        title="Admin: bulk run",
        active="admin",
        run=progress,
        percent=percent,
        failures=failures,
        refresh=None if progress.finished else REFRESH_SECONDS,
    )


@router.get("/admin/runs/{run_id}/report.csv")
def run_report(request: Request, viewer: AdminViewer, run_id: str) -> Response:
    sync = service(request, SyncService)
    if sync.runs.progress(run_id) is None:
        raise ApiError(404, "NotFound", "There is no such run.")
    out = io.StringIO()
    write_report(sync.runs.items(run_id), out)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="photosync-run-{run_id[:8]}.csv"',
            "Cache-Control": "no-store",
        },
    )
