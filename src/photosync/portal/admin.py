"""The admin page: for each user, where their photo is and what sites shows, so an admin can
see at a glance why a picture does not show (the original's most asked-for diagnostic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Protocol
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from photosync.directory.interfaces import UserInfo
from photosync.mailbox.interfaces import PhotoInfo, PhotoNotFound
from photosync.portal.pages import page
from photosync.portal.photos import Avatar, avatar, mailbox_of, sites_of, sites_photo_url
from photosync.portal.viewer import CSRF_FIELD, AdminViewer, check_csrf, directory_of
from photosync.sites.interfaces import ProfileStatus
from photosync.sync.service import SyncService
from photosync.web import ApiError, service

router = APIRouter(include_in_schema=False)

# One page of results; a search narrows a large directory down.
ROWS_SHOWN = 100
RESULT_LABELS = {
    "updated": "Copied a new photo",
    "unchanged": "Up to date",
    "placeholder": "Mailbox photo removed: placeholder",
    "no-photo": "No mailbox photo",
    "no-mailbox": "No mailbox to copy from",
    "error": "Failed",
    "not-editable": "Picture editing is turned off",
}


class AdminSync(Protocol):
    """What the admin page asks of sync: a check now, and the tenant's picture setting."""

    def check_now(self, user: str, *, actor: str) -> object: ...

    def picture_editable(self) -> bool: ...

    def set_picture_editable(self, enabled: bool, *, actor: str) -> None: ...


def sync_of(request: Request) -> AdminSync:
    return service(request, SyncService)


@dataclass(frozen=True)
class AdminRow:
    user: UserInfo
    mailbox: Avatar | None
    mailbox_etag: str | None
    sites: ProfileStatus | None
    sites_src: str
    thumbnail_bytes: int | None

    @property
    def sites_state(self) -> str:
        return "Picture" if self.sites is not None and self.sites.has_picture else "Placeholder"

    @property
    def in_step(self) -> bool | None:
        """Whether sites shows the mailbox's current version (None when it cannot tell)."""
        if self.sites is None or self.mailbox_etag is None:
            return None
        return self.sites.source_etag == self.mailbox_etag

    @property
    def last_check(self) -> str:
        return when(self.sites.last_check_at if self.sites else None)

    @property
    def last_result(self) -> str:
        result = self.sites.last_result if self.sites else None
        if result is None:
            return "Never checked"
        return RESULT_LABELS.get(result, result)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


def _row(request: Request, user: UserInfo) -> AdminRow:
    info: PhotoInfo | None = None
    if user.has_mailbox:
        try:
            info = mailbox_of(request).current_photo(user.id)
        except PhotoNotFound:
            info = None
    thumbnail = directory_of(request).get_thumbnail(user.id)
    return AdminRow(
        user=user,
        mailbox=avatar(user.id, user.display_name, info, 40, f"users/{user.id}") if info else None,
        mailbox_etag=info.etag if info else None,
        sites=sites_of(request).profile_status(user.id),
        sites_src=sites_photo_url(user.upn, "S"),
        thumbnail_bytes=len(thumbnail) if thumbnail else None,
    )


@router.get("/admin")
def admin_page(request: Request, viewer: AdminViewer, q: str = "", checked: str = "") -> Response:
    search = q.strip()[:100]
    users = directory_of(request).list_users(search)
    rows = [_row(request, u) for u in users[:ROWS_SHOWN]]
    notice = None
    if checked:
        row = next((r for r in rows if r.user.id == checked), None)
        if row is not None:
            notice = f"Checked {row.user.display_name}: {row.last_result.lower()}."
    return page(
        request,
        viewer,
        "admin.html",
        title="Admin: profile photos",
        active="admin",
        search=search,
        rows=rows,
        total=len(users),
        shown=len(rows),
        notice=notice,
        picture_editable=sync_of(request).picture_editable(),
    )


def _back(search: str, **extra: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in {"q": search.strip()[:100], **extra}.items() if v})
    return RedirectResponse("/admin" + (f"?{query}" if query else ""), status_code=303)


CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


@router.post("/admin/check")
def check_now(
    request: Request,
    viewer: AdminViewer,
    csrf_token: CsrfField = "",
    user_id: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
) -> Response:
    """Copy one person's mailbox photo to sites now, whatever the policy would wait for."""
    check_csrf(viewer, csrf_token)
    user = directory_of(request).get_user(user_id) if user_id else None
    if user is None:
        raise ApiError(404, "NotFound", "There is no such person.")
    sync_of(request).check_now(user.id, actor=viewer.user.upn)
    return _back(q, checked=user.id)


@router.post("/admin/picture-editable")
def set_picture_editable(
    request: Request,
    viewer: AdminViewer,
    csrf_token: CsrfField = "",
    enabled: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(viewer, csrf_token)
    sync_of(request).set_picture_editable(enabled == "1", actor=viewer.user.upn)
    return _back(q)


@router.get("/admin/users/{user_id}/thumbnail")
def directory_thumbnail(request: Request, viewer: AdminViewer, user_id: str) -> Response:
    """The directory's thumbnailPhoto, shown so an admin can see a photo that sites never reads."""
    directory = directory_of(request)
    user = directory.get_user(user_id)
    data = directory.get_thumbnail(user.id) if user else None
    if not data:
        raise ApiError(404, "NotFound", "This user has no directory thumbnail.")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
