"""The admin page: for each user, where their photo is and what sites shows, so an admin can
see at a glance why a picture does not show (the original's most asked-for diagnostic).

One page of people at a time, each role asked once per page for all of them (a batch read), so
a page costs the same few queries with ten users or a hundred thousand."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.mailbox.interfaces import PhotoInfo
from photosync.mailbox.services import MailboxService
from photosync.portal.pages import page
from photosync.portal.paging import page_number, page_url, read_page
from photosync.portal.people import (
    FILTERS,
    SORTS,
    STATE_HELP,
    STATES,
    Listed,
    PeopleList,
    PeopleQuery,
)
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
    state: str  # a key of people.STATES
    mailbox: Avatar | None
    mailbox_etag: str | None
    sites: ProfileStatus | None
    sites_src: str
    thumbnail_bytes: int | None
    history: History | None  # sync's record of the latest check; None: never checked

    @property
    def state_label(self) -> str:
        return STATES[self.state]

    @property
    def state_help(self) -> str:
        return STATE_HELP[self.state]

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


def _rows(request: Request, viewer: Viewer, listed: Sequence[Listed]) -> AdminPage:
    """Every row of a page from one batch read per role (no query per user)."""
    users = [person.user for person in listed]
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
    for person in listed:
        user = person.user
        info = photos.get(user.id) if user.has_mailbox else None
        rows.append(
            AdminRow(
                user=user,
                state=person.state,
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


def _admin_url(view: PeopleQuery, number: int, **extra: str) -> str:
    """``/admin`` showing ``view``, at page ``number`` (when not the first), with ``extra``."""
    return page_url("/admin", {**view.params(), **extra}, number)


def _people(request: Request) -> PeopleList:
    return PeopleList(
        service(request, MailboxService),
        service(request, SitesService),
        service(request, SyncService),
    )


@router.get("/admin")
def admin_page(
    request: Request,
    viewer: AdminViewer,
    q: str = "",
    state: str = "",
    sort: str = "",
    checked: str = "",
    page_arg: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    view = PeopleQuery.parse(q, state, sort)
    directory = service(request, DirectoryService)
    people = _people(request)
    listed, paging = read_page(
        lambda offset, limit: people.read(directory, view, offset, limit),
        page_number(page_arg),
        lambda number: _admin_url(view, number),
    )
    batch = _rows(request, viewer, listed)
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
        view=view,
        search=view.search,
        filters=[(name, STATES[name]) for name in FILTERS],
        sorts=SORTS,
        sort_urls={key: page_url("/admin", view.sorted_by(key), 1) for key in SORTS},
        export_url=page_url("/admin/people.csv", view.params(), 1),
        rows=batch.rows,
        **paging,
        notice=notice,
        picture_editable=service(request, SyncService).picture_editable(),
        runs=service(request, SyncService).runs.recent(1),
    )


# The export reads this many people per query: memory stays flat for 100,000 people.
EXPORT_BATCH = 1000
EXPORT_COLUMNS = (
    "upn",
    "name",
    "mail",
    "admin",
    "has_mailbox",
    "state",
    "last_check_utc",
    "last_result",
)


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading =, +, - or @ would make it a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _export_lines(
    people: PeopleList, directory: DirectoryService, view: PeopleQuery
) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    offset = 0
    while True:
        listed, _ = people.read(directory, view, offset, EXPORT_BATCH)
        for person in listed:
            user = person.user
            writer.writerow(
                [
                    _cell(user.upn),
                    _cell(user.display_name),
                    _cell(user.mail or ""),
                    "yes" if user.is_admin else "no",
                    "yes" if user.has_mailbox else "no",
                    person.state,
                    person.last_check_at.strftime("%Y-%m-%d %H:%M:%S")
                    if person.last_check_at
                    else "",
                    person.last_result or "",
                ]
            )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(listed) < EXPORT_BATCH:
            return
        offset += EXPORT_BATCH


@router.get("/admin/people.csv")
def export_people(
    request: Request, viewer: AdminViewer, q: str = "", state: str = "", sort: str = ""
) -> Response:
    """The list as the admin sees it (same search, filter and sort), every page, as CSV; sent
    as it is read, a thousand people at a time."""
    view = PeopleQuery.parse(q, state, sort)
    lines = _export_lines(_people(request), service(request, DirectoryService), view)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="photosync-people.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def _back(view: PeopleQuery, page_arg: str, **extra: str) -> RedirectResponse:
    return RedirectResponse(_admin_url(view, page_number(page_arg), **extra), status_code=303)


CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


@router.post("/admin/check")
def check_now(
    request: Request,
    viewer: AdminViewer,
    csrf_token: CsrfField = "",
    user_id: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "",
    page_arg: Annotated[str, Form(alias="page")] = "1",
) -> Response:
    """Copy one person's mailbox photo to sites now, whatever the policy would wait for."""
    check_csrf(viewer, csrf_token)
    user = service(request, DirectoryService).get_user(user_id) if user_id else None
    if user is None:
        raise ApiError(404, "NotFound", "There is no such person.")
    service(request, SyncService).request_check(user.id, actor=viewer.user.upn)
    return _back(PeopleQuery.parse(q, state, sort), page_arg, checked=user.id)


@router.post("/admin/picture-editable")
def set_picture_editable(
    request: Request,
    viewer: AdminViewer,
    csrf_token: CsrfField = "",
    enabled: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "",
    page_arg: Annotated[str, Form(alias="page")] = "1",
) -> Response:
    check_csrf(viewer, csrf_token)
    service(request, SyncService).set_picture_editable(enabled == "1", actor=viewer.user.upn)
    return _back(PeopleQuery.parse(q, state, sort), page_arg)


@router.get("/admin/users/{user_id}/thumbnail")
def directory_thumbnail(request: Request, viewer: AdminViewer, user_id: str) -> Response:
    """The directory's thumbnailPhoto, shown so an admin can see a photo that sites never reads."""
    directory = service(request, DirectoryService)
    user = directory.get_user(user_id)
    data = directory.get_thumbnail(user.id) if user else None
    if not data:
        raise ApiError(404, "NotFound", "This user has no directory thumbnail.")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
