"""Change your photo: upload (with an optional square crop) as a mailbox preview, look at it at
the sizes people will see, then save or cancel it. Remove your photo, or restore an earlier one.

The page works without JavaScript (a plain file form; the mailbox crops the centre). photo.js adds
drag-and-drop and an in-page square crop, sent as a CropBox in the oriented picture's pixels.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from photosync.imaging import CropBox, ImageRejected
from photosync.mailbox.interfaces import PhotoInfo, PhotoNotFound
from photosync.mailbox.services import MailboxService
from photosync.portal.pages import current_photo, page
from photosync.portal.photos import avatar, best_size
from photosync.portal.viewer import CSRF_FIELD, RequiredViewer, Viewer, check_csrf
from photosync.settings import Settings
from photosync.web import IMMUTABLE, ApiError, service

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
# Earlier photos are listed at this size (their files: the next size up, for sharp screens).
EARLIER_SIZE = 48
NO_MAILBOX = "Your account has no mailbox, so its photo cannot be changed here."
NO_FILE = "Choose a photo to upload first."

CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


def _preview(request: Request, viewer: Viewer) -> PhotoInfo | None:
    try:
        return service(request, MailboxService).preview_photo(viewer.user.id)
    except PhotoNotFound:
        return None


def _photo_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    info = current_photo(request, viewer)
    preview = _preview(request, viewer) if viewer.user.has_mailbox else None
    preview_images = preview_sizes(preview) if preview is not None else []
    earlier = _earlier(request, viewer) if viewer.user.has_mailbox else []
    settings = service(request, Settings)
    return page(
        request,
        viewer,
        "photo.html",
        title="Change your photo",
        active="photo",
        photo=info,
        big=avatar(viewer.user.id, viewer.user.display_name, info, 160, "me"),
        preview=preview,
        preview_images=preview_images,
        earlier=earlier,
        earlier_size=EARLIER_SIZE,
        error=error,
        notice=notice,
        no_mailbox=not viewer.user.has_mailbox,
        max_upload_bytes=settings.max_upload_bytes,
        max_upload_mb=settings.max_upload_bytes // (1024 * 1024),
        status=status,
    )


def preview_sizes(preview: PhotoInfo) -> list[dict[str, object]]:
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
            "src": f"/photo/preview/{size}?v={preview.etag}",
        }
        for size in shown
    ]


def _earlier(request: Request, viewer: Viewer) -> list[dict[str, str]]:
    """The kept versions that are neither the photo nor the preview, newest first."""
    try:
        history = service(request, MailboxService).history(viewer.user.id)
    except PhotoNotFound:
        return []
    return [
        {
            "id": version.info.version_id,
            "when": f"{version.info.created_at:%Y-%m-%d %H:%M} UTC",
            "src": _version_src(version.info, EARLIER_SIZE),
            "src2x": _version_src(version.info, 2 * EARLIER_SIZE),
        }
        for version in history
        if not (version.current or version.preview)
    ]


def _version_src(info: PhotoInfo, want: int) -> str:
    return f"/photo/versions/{info.version_id}/{best_size(info, want)}"


@router.get("/photo")
def photo_page(request: Request, viewer: RequiredViewer, done: str = "") -> Response:
    return _photo_page(request, viewer, notice=DONE_MESSAGES.get(done))


def _crop(left: str, top: str, side: str) -> CropBox | None:
    """The crop the page sent, or None (no JavaScript, or not chosen) for the centre square."""
    try:
        values = int(left), int(top), int(side)
    except ValueError:
        return None
    if values[2] <= 0:
        return None
    return CropBox(*values)


# A request this much over the upload limit is refused before its body is read: no one should
# be able to make the server spool gigabytes to disk. Between the limit and this, the body is
# read and the mailbox explains "too big" in its own words, which a browser shows more reliably
# than an answer sent before it finished uploading.
HARD_LIMIT_FACTOR = 4


@router.post("/photo/preview")
async def upload_preview(request: Request, viewer: RequiredViewer) -> Response:
    settings = service(request, Settings)
    limit: int = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > HARD_LIMIT_FACTOR * limit:
        message = f"The file is far too big; photos can be at most {limit // (1024 * 1024)} MB."
        return await run_in_threadpool(_photo_page, request, viewer, error=message, status=413)
    # As a context manager, the form's spooled upload file is closed as soon as we are done.
    async with request.form(max_files=1, max_fields=10) as form:
        token = form.get(CSRF_FIELD)
        check_csrf(viewer, token if isinstance(token, str) else None)
        upload = form.get("photo")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await run_in_threadpool(_photo_page, request, viewer, error=NO_FILE, status=400)
        # One byte past the limit is enough for the mailbox to say "too big".
        data = await upload.read(limit + 1)
        fields = [form.get(name) for name in ("left", "top", "side")]
    crop = [value if isinstance(value, str) else "" for value in fields]
    return await run_in_threadpool(_store_preview, request, viewer, data, *crop)


def _own_photo(request: Request, viewer: Viewer) -> str:
    """The viewer's own mailbox, through the same rule every API uses (``may_write_photo``);
    PhotoNotFound (MailboxNotEnabled) when they have none."""
    return service(request, MailboxService).check_write(viewer.principal, None).id


def _store_preview(
    request: Request, viewer: Viewer, data: bytes, left: str, top: str, side: str
) -> Response:
    mailbox = service(request, MailboxService)
    try:
        user = mailbox.check_write(viewer.principal, None)
    except PhotoNotFound:
        return _photo_page(request, viewer, error=NO_MAILBOX, status=409)
    try:
        mailbox.store_photo(
            user, data, actor=viewer.user.upn, preview=True, crop=_crop(left, top, side)
        )
    except ImageRejected as exc:
        return _photo_page(request, viewer, error=exc.message, status=exc.status)
    return RedirectResponse("/photo#preview", status_code=303)


@router.get("/photo/preview/{size}")
def preview_image(request: Request, viewer: RequiredViewer, size: int) -> Response:
    mailbox = service(request, MailboxService)
    try:
        preview = mailbox.preview_photo(viewer.user.id)
        if preview is None:
            raise PhotoNotFound
        _, data = mailbox.preview_bytes(viewer.user.id, best_size(preview, size))
    except PhotoNotFound:
        raise ApiError(404, "ImageNotFound", "There is no preview to show.") from None
    # A preview is short-lived and may be replaced under the same URL path; never cache it.
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/photo/save")
def save_preview(request: Request, viewer: RequiredViewer, csrf_token: CsrfField = "") -> Response:
    check_csrf(viewer, csrf_token)
    try:
        service(request, MailboxService).save_preview(
            _own_photo(request, viewer), actor=viewer.user.upn
        )
    except PhotoNotFound:
        return _photo_page(
            request, viewer, error="There is no preview to save. Upload a photo first.", status=409
        )
    return RedirectResponse("/photo?done=saved", status_code=303)


@router.post("/photo/cancel")
def cancel_preview(
    request: Request, viewer: RequiredViewer, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(viewer, csrf_token)
    with contextlib.suppress(PhotoNotFound):  # no mailbox: there is no preview to drop either
        service(request, MailboxService).cancel_preview(
            _own_photo(request, viewer), actor=viewer.user.upn
        )
    return RedirectResponse("/photo?done=cancelled", status_code=303)


@router.post("/photo/remove")
def remove_photo(request: Request, viewer: RequiredViewer, csrf_token: CsrfField = "") -> Response:
    check_csrf(viewer, csrf_token)
    # Already gone is fine: the page says the same either way.
    with contextlib.suppress(PhotoNotFound):
        service(request, MailboxService).delete_photo(
            _own_photo(request, viewer), actor=viewer.user.upn
        )
    return RedirectResponse("/photo?done=removed", status_code=303)


@router.get("/photo/versions/{version_id}/{size}")
def version_image(request: Request, viewer: RequiredViewer, version_id: str, size: int) -> Response:
    """A small picture of one of the viewer's own earlier photos (the "Earlier photos" list)."""
    mailbox = service(request, MailboxService)
    try:
        user = mailbox.check_read(viewer.principal, None)
        data = mailbox.version_bytes(user.id, version_id, size)
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
) -> Response:
    check_csrf(viewer, csrf_token)
    try:
        user_id = _own_photo(request, viewer)
    except PhotoNotFound:
        return _photo_page(request, viewer, error=NO_MAILBOX, status=409)
    try:
        service(request, MailboxService).restore_version(user_id, version_id, actor=viewer.user.upn)
    except PhotoNotFound:
        return _photo_page(
            request, viewer, error="That earlier photo is no longer kept.", status=409
        )
    return RedirectResponse("/photo?done=restored", status_code=303)
