"""The audit page (admins): every change, newest first, by whom, from where; filtered by the
person it was about, the kind of action and a start time; 50 a page, with previous and next.

A page costs the same few queries however long the log is (``AuditLog.page``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from photosync.audit import AuditEntry, AuditLog, UnknownUser
from photosync.context import Context
from photosync.directory.services import DirectoryService
from photosync.portal.pages import page
from photosync.portal.paging import page_number, page_url, read_page
from photosync.portal.viewer import AdminViewer
from photosync.web import service

router = APIRouter(include_in_schema=False)


def _since(value: str) -> datetime | None:
    """A date or date-and-time as a browser's date/datetime-local field sends it (UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _detail(entry: AuditEntry) -> str:
    return ", ".join(f"{key}: {value}" for key, value in entry.detail.items())


@router.get("/admin/audit")
def audit_page(
    request: Request,
    viewer: AdminViewer,
    user: str = "",
    action: str = "",
    since: str = "",
    page_arg: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    filters = {"user": user.strip()[:320], "action": action.strip()[:64], "since": since.strip()}
    log = AuditLog(service(request, Context).db, service(request, DirectoryService))
    error = None
    moment = _since(filters["since"]) if filters["since"] else None
    if filters["since"] and moment is None:
        error = f"“{filters['since']}” is not a date; write it as 2026-03-01 or 2026-03-01T09:00."
    try:
        query = log.query(user=filters["user"] or None, since=moment, action=filters["action"])
    except UnknownUser:
        error = f"There is no user {filters['user']}."
        query = None
    found = query if error is None else None
    entries, paging = read_page(
        lambda offset, limit: (
            log.page(found, offset=offset, limit=limit) if found is not None else ([], 0)
        ),
        page_number(page_arg),
        lambda number: page_url("/admin/audit", filters, number),
    )
    return page(
        request,
        viewer,
        "audit.html",
        title="Admin: audit log",
        active="admin",
        filters=filters,
        error=error,
        rows=[
            {
                "at": f"{entry.at:%Y-%m-%d %H:%M:%S}",
                "actor": entry.actor,
                "action": entry.action,
                "user": entry.user or "",
                "address": entry.address or "",
                "user_agent": entry.user_agent or "",
                "detail": _detail(entry),
            }
            for entry in entries
        ],
        **paging,
    )
