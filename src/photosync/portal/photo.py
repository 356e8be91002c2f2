"""Change your photo: upload (with an optional square crop) as a mailbox preview, look at it at
the sizes people will see, then save or cancel it. Remove your photo, or restore an earlier one.

An admin does the same for anyone (``?user=UPN``, reached from the admin page). Someone without
a mailbox has their picture uploaded straight into sites, as SharePoint keeps one uploaded with
SetMyProfilePicture (SharePoint has no preview of it). Who may change whose photo is decided by
the mailbox's rule (``may_write_photo``) or, without a mailbox, by sites' (``check_upload``).

The page works without JavaScript (a plain file form; the mailbox crops the centre). photo.js adds
drag-and-drop and an in-page square crop, sent as a CropBox in the oriented picture's pixels.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from photosync.directory.auth import count_upload
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.imaging import CropBox, ImageRejected
from photosync.mailbox.errors import AccessDenied
from photosync.mailbox.interfaces import PhotoInfo, PhotoNotFound
from photosync.mailbox.services import MailboxService
from photosync.portal.pages import current_photo, page
from photosync.portal.photos import avatar, best_size, sites_avatar
from photosync.portal.viewer import CSRF_FIELD, RequiredViewer, Viewer, check_csrf
from photosync.settings import Settings
from photosync.sites.errors import SitesError
from photosync.sites.services import SitesService
from photosync.web import IMMUTABLE, UPLOAD_MARGIN, ApiError, service

router = APIRouter(include_in_schema=False)

# The sizes the preview shows: the 48 of chat and people cards, the 96 of profile cards, and
# the master (648 when the upload is large enough).
PREVIEW_SIZES = (48, 96)
DONE_MESSAGES = {
    "saved": (
        "Your new photo is saved. OneDrive and SharePoint copy it the next time you sign in "
        "and open one of them."
    ),
    "cancelled": "The preview was discarded. Your photo did not change.",
    "removed": "Your photo was removed.",
    "restored": (
        "Your earlier photo is your photo again. OneDrive and SharePoint copy it the next time "
        "you sign in and open one of them."
    ),
}
# The same, when an admin changed someone else's photo.
OTHERS_DONE_MESSAGES = {
    "saved": (
        "The new photo is saved. OneDrive and SharePoint copy it the next time its owner signs "
        "in and opens one of them, or when you check them on the admin page."
    ),
    "cancelled": "The preview was discarded. The photo did not change.",
    "removed": "The photo was removed.",
    "restored": "The earlier photo is the photo again.",
}
# Earlier photos are listed at this size (their files: the next size up, for sharp screens).
EARLIER_SIZE = 48
NO_MAILBOX = "This account has no mailbox, so it keeps no earlier photos."
NO_FILE = "Choose a photo to upload first."

CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


@dataclass(frozen=True)
class Subject:
    """Whose photo the page changes: the viewer's own, or (for an admin) someone else's."""

    user: UserInfo
    own: bool

    @property
    def query(self) -> str:
        """``?user=…`` for the page's links and redirects (nothing for one's own)."""
        return "" if self.own else f"?{urlencode({'user': self.user.upn})}"

    def url(self, path: str, **params: str) -> str:
        """``path`` with the subject (when not one's own) and ``params``."""
        query = urlencode({**({} if self.own else {"user": self.user.upn}), **params})
        return f"{path}?{query}" if query else path


def _subject(request: Request, viewer: Viewer, upn: str) -> Subject:
    """The person named by the page's ``user`` (the viewer when empty), if the viewer may
    change their photo; 404 for nobody, 403 for someone else's photo without the right."""
    if not upn.strip() or viewer.principal.names_self(upn):
        return Subject(viewer.user, True)
    user = service(request, DirectoryService).get_user(upn)
    if user is None:
        raise ApiError(404, "NotFound", "There is no such person.")
    try:
        if user.has_mailbox:
            service(request, MailboxService).check_write(viewer.principal, user.id)
        else:
            service(request, SitesService).check_upload(viewer.principal, user.upn)
    except (AccessDenied, SitesError):
        raise ApiError(
            403, "Forbidden", f"Only an administrator may change {user.display_name}'s photo."
        ) from None
    return Subject(user, False)


def _preview(request: Request, subject: Subject) -> PhotoInfo | None:
    try:
        return service(request, MailboxService).preview_photo(subject.user.id)
    except PhotoNotFound:
        return None


def _photo_page(
    request: Request,
    viewer: Viewer,
    subject: Subject,
    *,
    error: str | None = None,
    notice: str | None = None,
    warning: str | None = None,
    status: int = 200,
) -> Response:
    user = subject.user
    own_info = current_photo(request, viewer)
    info = own_info if subject.own else _current(request, user)
    preview = _preview(request, subject) if user.has_mailbox else None
    preview_images = preview_sizes(preview, subject) if preview is not None else []
    earlier = _earlier(request, subject) if user.has_mailbox else []
    settings = service(request, Settings)
    sites = service(request, SitesService)
    picture = None if user.has_mailbox else sites.profile_status(user.id)
    if picture is not None:
        big = sites_avatar(user.id, user.upn, user.display_name, picture, 160)
    else:
        big = avatar(
            user.id, user.display_name, info, 160, "me" if subject.own else f"users/{user.id}"
        )
    # Without a mailbox, the picture goes to sites: allowed while people may edit their
    # picture, and always for an admin (sites' rule, as SetMyProfilePicture applies it).
    may_upload = user.has_mailbox or viewer.user.is_admin or sites.picture_editable()
    return page(
        request,
        viewer,
        "photo.html",
        title="Change your photo" if subject.own else f"Change {user.display_name}'s photo",
        active="photo",
        photo=own_info,
        subject=subject,
        big=big,
        current=info,
        has_picture=info is not None or (picture is not None and picture.has_picture),
        uploaded_picture=picture is not None and picture.picture_source == "upload",
        preview=preview,
        preview_images=preview_images,
        earlier=earlier,
        earlier_size=EARLIER_SIZE,
        error=error,
        notice=notice,
        warning=warning or (preview.size_warning if preview else None),
        current_warning=info.size_warning if info else None,
        no_mailbox=not user.has_mailbox,
        may_upload=may_upload,
        max_upload_bytes=settings.max_upload_bytes,
        max_upload_mb=settings.max_upload_bytes // (1024 * 1024),
        status=status,
    )


def _current(request: Request, user: UserInfo) -> PhotoInfo | None:
    if not user.has_mailbox:
        return None
    try:
        return service(request, MailboxService).current_photo(user.id)
    except PhotoNotFound:
        return None


def preview_sizes(preview: PhotoInfo, subject: Subject) -> list[dict[str, object]]:
    """The preview at each of PREVIEW_SIZES and the master, each shown at its true size under
    its true caption: a size the photo does not offer is left out, never stretched."""
    shown = sorted(
        {size for size in (*PREVIEW_SIZES, preview.master_size) if size in preview.sizes}
    )
    return [
        {
            "label": f"{size} × {size}",
            "size": size,
            "master": size == preview.master_size,
            "src": subject.url(f"/photo/preview/{size}", v=preview.etag),
        }
        for size in shown
    ]


def _earlier(request: Request, subject: Subject) -> list[dict[str, str]]:
    """The kept versions that are neither the photo nor the preview, newest first."""
    try:
        history = service(request, MailboxService).history(subject.user.id)
    except PhotoNotFound:
        return []
    return [
        {
            "id": version.info.version_id,
            "when": f"{version.info.created_at:%Y-%m-%d %H:%M} UTC",
            "src": _version_src(subject, version.info, EARLIER_SIZE),
            "src2x": _version_src(subject, version.info, 2 * EARLIER_SIZE),
        }
        for version in history
        if not (version.current or version.preview)
    ]


def _version_src(subject: Subject, info: PhotoInfo, want: int) -> str:
    return subject.url(f"/photo/versions/{info.version_id}/{best_size(info, want)}")


@router.get("/photo")
def photo_page(
    request: Request, viewer: RequiredViewer, done: str = "", user: str = ""
) -> Response:
    subject = _subject(request, viewer, user)
    messages = DONE_MESSAGES if subject.own else OTHERS_DONE_MESSAGES
    return _photo_page(request, viewer, subject, notice=messages.get(done))


def _crop(left: str, top: str, side: str) -> CropBox | None:
    """The crop the page sent, or None (no JavaScript, or not chosen) for the centre square."""
    try:
        values = int(left), int(top), int(side)
    except ValueError:
        return None
    if values[2] <= 0:
        return None
    return CropBox(*values)


# The path whose body is a photo (a regular expression, for the body limit in ``web.Root``).
UPLOAD_PATHS = (r"/photo/preview",)


@router.post("/photo/preview")
async def upload_preview(request: Request, viewer: RequiredViewer) -> Response:
    settings = service(request, Settings)
    limit: int = settings.max_upload_bytes
    # The subject comes in the query string too, so that a refusal before the body is read
    # still shows the right person's page.
    named = request.query_params.get("user", "")
    # A form declared bigger than the photo limit and the form's margin is refused before its
    # body is read, on the person's own page (the server's body limit would refuse it at its
    # first read, on a bare error page). Below that, the body is read (at most that many bytes)
    # and the mailbox explains "too big" in its own words.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + UPLOAD_MARGIN:
        message = f"The file is far too big; photos can be at most {limit // (1024 * 1024)} MB."
        subject = await run_in_threadpool(_subject, request, viewer, named)
        return await run_in_threadpool(
            _photo_page, request, viewer, subject, error=message, status=413
        )
    # As a context manager, the form's spooled upload file is closed as soon as we are done.
    async with request.form(max_files=1, max_fields=10) as form:
        token = form.get(CSRF_FIELD)
        check_csrf(viewer, token if isinstance(token, str) else None)
        field = form.get("user")
        subject = await run_in_threadpool(
            _subject, request, viewer, field if isinstance(field, str) else named
        )
        upload = form.get("photo")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await run_in_threadpool(
                _photo_page, request, viewer, subject, error=NO_FILE, status=400
            )
        try:
            await count_upload(request, viewer.principal)
        except ApiError as exc:  # over the upload rate: said on the page, nothing stored
            page = await run_in_threadpool(
                _photo_page, request, viewer, subject, error=exc.message, status=exc.status
            )
            page.headers.update(exc.headers)
            return page
        # One byte past the limit is enough for the mailbox to say "too big".
        data = await upload.read(limit + 1)
        fields = [form.get(name) for name in ("left", "top", "side")]
    crop = [value if isinstance(value, str) else "" for value in fields]
    return await run_in_threadpool(_store_preview, request, viewer, subject, data, *crop)


def _store_preview(
    request: Request,
    viewer: Viewer,
    subject: Subject,
    data: bytes,
    left: str,
    top: str,
    side: str,
) -> Response:
    if not subject.user.has_mailbox:
        return _upload_to_sites(request, viewer, subject, data)
    try:
        service(request, MailboxService).store_photo(
            subject.user, data, actor=viewer.user.upn, preview=True, crop=_crop(left, top, side)
        )
    except ImageRejected as exc:
        return _photo_page(request, viewer, subject, error=exc.message, status=exc.status)
    return RedirectResponse(subject.url("/photo") + "#preview", status_code=303)


def _upload_to_sites(request: Request, viewer: Viewer, subject: Subject, data: bytes) -> Response:
    """No mailbox: the picture goes straight into sites, as SharePoint keeps it (no preview).
    The page is answered in place, so that it can say how the picture will look."""
    sites = service(request, SitesService)
    try:
        user = sites.check_upload(viewer.principal, None if subject.own else subject.user.upn)
        uploaded = sites.upload_picture(user, data, actor=viewer.user.upn)
    except SitesError as exc:
        status = exc.status if exc.status in (400, 403, 413, 415) else 400
        return _photo_page(request, viewer, subject, error=exc.message, status=status)
    whose = "Your" if subject.own else f"{subject.user.display_name}'s"
    return _photo_page(
        request,
        viewer,
        subject,
        notice=f"{whose} picture is uploaded to SharePoint.",
        warning=uploaded.warning,
    )


@router.get("/photo/preview/{size}")
def preview_image(request: Request, viewer: RequiredViewer, size: int, user: str = "") -> Response:
    subject = _subject(request, viewer, user)
    mailbox = service(request, MailboxService)
    try:
        preview = mailbox.preview_photo(subject.user.id) if subject.user.has_mailbox else None
        if preview is None:
            raise PhotoNotFound
        _, data = mailbox.preview_bytes(subject.user.id, best_size(preview, size))
    except PhotoNotFound:
        raise ApiError(404, "ImageNotFound", "There is no preview to show.") from None
    # A preview is short-lived and may be replaced under the same URL path; never cache it.
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


UserField = Annotated[str, Form(alias="user")]


@router.post("/photo/save")
def save_preview(
    request: Request, viewer: RequiredViewer, csrf_token: CsrfField = "", user: UserField = ""
) -> Response:
    check_csrf(viewer, csrf_token)
    subject = _subject(request, viewer, user)
    try:
        service(request, MailboxService).save_preview(
            _writable(request, viewer, subject), actor=viewer.user.upn
        )
    except PhotoNotFound:
        return _photo_page(
            request,
            viewer,
            subject,
            error="There is no preview to save. Upload a photo first.",
            status=409,
        )
    return RedirectResponse(subject.url("/photo", done="saved"), status_code=303)


@router.post("/photo/cancel")
def cancel_preview(
    request: Request, viewer: RequiredViewer, csrf_token: CsrfField = "", user: UserField = ""
) -> Response:
    check_csrf(viewer, csrf_token)
    subject = _subject(request, viewer, user)
    with contextlib.suppress(PhotoNotFound):  # no mailbox: there is no preview to drop either
        service(request, MailboxService).cancel_preview(
            _writable(request, viewer, subject), actor=viewer.user.upn
        )
    return RedirectResponse(subject.url("/photo", done="cancelled"), status_code=303)


@router.post("/photo/remove")
def remove_photo(
    request: Request, viewer: RequiredViewer, csrf_token: CsrfField = "", user: UserField = ""
) -> Response:
    check_csrf(viewer, csrf_token)
    subject = _subject(request, viewer, user)
    if not subject.user.has_mailbox:
        sites = service(request, SitesService)
        try:
            target = sites.check_upload(viewer.principal, None if subject.own else subject.user.upn)
        except SitesError as exc:
            return _photo_page(request, viewer, subject, error=exc.message, status=403)
        sites.remove_upload(target, actor=viewer.user.upn)
        return RedirectResponse(subject.url("/photo", done="removed"), status_code=303)
    # Already gone is fine: the page says the same either way.
    with contextlib.suppress(PhotoNotFound):
        service(request, MailboxService).delete_photo(
            _writable(request, viewer, subject), actor=viewer.user.upn
        )
    return RedirectResponse(subject.url("/photo", done="removed"), status_code=303)


def _writable(request: Request, viewer: Viewer, subject: Subject) -> str:
    """The subject's mailbox, through the same rule every API uses (``may_write_photo``);
    PhotoNotFound (MailboxNotEnabled) when they have none."""
    target = None if subject.own else subject.user.id
    return service(request, MailboxService).check_write(viewer.principal, target).id


@router.get("/photo/versions/{version_id}/{size}")
def version_image(
    request: Request, viewer: RequiredViewer, version_id: str, size: int, user: str = ""
) -> Response:
    """A small picture of one of the subject's earlier photos (the "Earlier photos" list)."""
    subject = _subject(request, viewer, user)
    mailbox = service(request, MailboxService)
    try:
        data = mailbox.version_bytes(_writable(request, viewer, subject), version_id, size)
    except PhotoNotFound:
        raise ApiError(404, "ImageNotFound", "There is no such earlier photo.") from None
    # A version never changes, so its picture may be kept (by this browser only).
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": IMMUTABLE})


@router.post("/photo/restore")
def restore_photo(
    request: Request,
    viewer: RequiredViewer,
    csrf_token: CsrfField = "",
    version_id: Annotated[str, Form()] = "",
    user: UserField = "",
) -> Response:
    check_csrf(viewer, csrf_token)
    subject = _subject(request, viewer, user)
    try:
        user_id = _writable(request, viewer, subject)
    except PhotoNotFound:
        return _photo_page(request, viewer, subject, error=NO_MAILBOX, status=409)
    try:
        service(request, MailboxService).restore_version(user_id, version_id, actor=viewer.user.upn)
    except PhotoNotFound:
        return _photo_page(
            request, viewer, subject, error="That earlier photo is no longer kept.", status=409
        )
    return RedirectResponse(subject.url("/photo", done="restored"), status_code=303)
