"""The admin page: for each user, where their photo is and what sites shows, so an admin can
see at a glance why a picture does not show (the original's most asked-for diagnostic).

One page of people at a time, each role asked once per page for all of them (a batch read), so
a page costs the same few queries with ten users or a hundred thousand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.mailbox.interfaces import PhotoInfo
from photosync.mailbox.services import MailboxService
from photosync.portal.pages import page
from photosync.portal.paging import page_number, page_url, read_page
from photosync.portal.photos import Avatar, avatar, sites_photo_url
from photosync.portal.viewer import CSRF_FIELD, AdminViewer, Viewer, check_csrf
from photosync.sites.interfaces import ProfileStatus
from photosync.sites.services import SitesService
from photosync.sync.policy import History
from photosync.sync.service import SyncService
from photosync.web import ApiError, service

router = APIRouter(include_in_schema=False)
RESULT_LABELS = {
    "updated": "Copied a new photo",
    "unchanged": "Up to date",
    "placeholder": "Mailbox photo removed: placeholder",
    "no-photo": "No mailbox photo",
    "no-mailbox": "No mailbox to copy from",
    "error": "Failed",
    "not-editable": "Picture editing is turned off",
}


@dataclass(frozen=True)
class AdminRow:
    user: UserInfo
    mailbox: Avatar | None
    mailbox_etag: str | None
    sites: ProfileStatus | None
    sites_src: str
    thumbnail_bytes: int | None
    history: History | None  # sync's record of the latest check; None: never checked

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
        return when(self.history.last_check_at if self.history else None)

    @property
    def last_result(self) -> str:
        result = self.history.last_result if self.history else None
        if result is None:
            return "Never checked"
        return RESULT_LABELS.get(result, result)

    @property
    def last_error(self) -> str | None:
        return self.history.last_error if self.history else None


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


@dataclass(frozen=True)
class AdminPage:
    """The rows of one page, and the viewer's own photo (read in the same batch)."""

    rows: list[AdminRow]
    viewer_photo: PhotoInfo | None


def _rows(request: Request, viewer: Viewer, users: Sequence[UserInfo]) -> AdminPage:
    """Every row of a page from one batch read per role (no query per user)."""
    ids = [user.id for user in users]
    with_mailbox = [user.id for user in users if user.has_mailbox]
    if viewer.user.has_mailbox:
        with_mailbox.append(viewer.user.id)  # for the page header: no query of its own
    photos = service(request, MailboxService).current_photos(with_mailbox) if with_mailbox else {}
    if not users:
        return AdminPage([], photos.get(viewer.user.id))
    thumbnails = service(request, DirectoryService).thumbnail_lengths(ids)
    statuses = service(request, SitesService).profile_statuses(users)
    histories = service(request, SyncService).histories(ids)
    rows = []
    for user in users:
        info = photos.get(user.id) if user.has_mailbox else None
        rows.append(
            AdminRow(
                user=user,
                mailbox=avatar(user.id, user.display_name, info, 40, f"users/{user.id}")
                if info
                else None,
                mailbox_etag=info.etag if info else None,
                sites=statuses.get(user.id),
                sites_src=sites_photo_url(user.upn, "S"),
                thumbnail_bytes=thumbnails.get(user.id),
                history=histories.get(user.id),
            )
        )
    return AdminPage(rows, photos.get(viewer.user.id))


def _admin_url(search: str, number: int, **extra: str) -> str:
    """``/admin`` with the search, the page (when not the first) and ``extra``, if set."""
    return page_url("/admin", {"q": search.strip()[:100], **extra}, number)


@router.get("/admin")
def admin_page(
    request: Request,
    viewer: AdminViewer,
    q: str = "",
    checked: str = "",
    page_arg: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    search = q.strip()[:100]
    directory = service(request, DirectoryService)
    users, paging = read_page(
        lambda offset, limit: directory.users_page(search, offset=offset, limit=limit),
        page_number(page_arg),
        lambda number: _admin_url(search, number),
    )
    batch = _rows(request, viewer, users)
    notice = None
    if checked:
        row = next((r for r in batch.rows if r.user.id == checked), None)
        if row is not None:
            notice = f"Checked {row.user.display_name}: {row.last_result.lower()}."
    return page(
        request,
        viewer,
        "admin.html",
        title="Admin: profile photos",
        active="admin",
        photo=batch.viewer_photo,
        search=search,
        rows=batch.rows,
        **paging,
        notice=notice,
        picture_editable=service(request, SyncService).picture_editable(),
        runs=service(request, SyncService).runs.recent(1),
    )


def _back(search: str, page_arg: str, **extra: str) -> RedirectResponse:
    return RedirectResponse(_admin_url(search, page_number(page_arg), **extra), status_code=303)


CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


@router.post("/admin/check")
def check_now(
    request: Request,
    viewer: AdminViewer,
    csrf_token: CsrfField = "",
    user_id: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    page_arg: Annotated[str, Form(alias="page")] = "1",
) -> Response:
    """Copy one person's mailbox photo to sites now, whatever the policy would wait for."""
    check_csrf(viewer, csrf_token)
    user = service(request, DirectoryService).get_user(user_id) if user_id else None
    if user is None:
        raise ApiError(404, "NotFound", "There is no such person.")
    service(request, SyncService).request_check(user.id, actor=viewer.user.upn)
    return _back(q, page_arg, checked=user.id)


@router.post("/admin/picture-editable")
def set_picture_editable(
    request: Request,
    viewer: AdminViewer,
    csrf_token: CsrfField = "",
    enabled: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    page_arg: Annotated[str, Form(alias="page")] = "1",
) -> Response:
    check_csrf(viewer, csrf_token)
    service(request, SyncService).set_picture_editable(enabled == "1", actor=viewer.user.upn)
    return _back(q, page_arg)


@router.get("/admin/users/{user_id}/thumbnail")
def directory_thumbnail(request: Request, viewer: AdminViewer, user_id: str) -> Response:
    """The directory's thumbnailPhoto, shown so an admin can see a photo that sites never reads."""
    directory = service(request, DirectoryService)
    user = directory.get_user(user_id)
    data = directory.get_thumbnail(user.id) if user else None
    if not data:
        raise ApiError(404, "NotFound", "This user has no directory thumbnail.")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
