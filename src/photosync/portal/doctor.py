""" "My photo doesn't show": the diagnostic as pages, for the person and for an admin.

Both pages show sync's diagnosis (``SyncService.diagnose``) in plain words, the one fix, what the
mailbox has and what sites shows side by side, and the last checks. The person's page offers
"Check now": one check of their own photo, the fix the original makes people find by opening a
private window. It is rate-limited from the latest check in sync's records (not from this
process's memory), so every server behind a load balancer refuses alike.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.portal.admin import RESULT_LABELS
from photosync.portal.admin import when as table_time
from photosync.portal.pages import page
from photosync.portal.photos import avatar, sites_photo_url
from photosync.portal.viewer import CSRF_FIELD, AdminViewer, RequiredViewer, Viewer, check_csrf
from photosync.sync.diagnostic import Diagnosis, self_check_refusal, when
from photosync.sync.service import SyncService
from photosync.web import ApiError, service

router = APIRouter(include_in_schema=False)

CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]

# Sites' Medium: big enough to recognise a face, and (unlike one's own Large) it never prompts
# a check, so looking at the diagnostic does not change what it diagnoses.
SITES_SIZE = "M"
IMAGE_SIZE = 72
TRIGGER_LABELS = {
    "own-large": "Opened OneDrive or SharePoint",
    "admin": "Check now",
    "bulk": "Bulk check",
    "automatic": "Photo changed (automatic)",
    "schedule": "Scheduled check",
}
STATE_TONES = {
    "in-sync": "ok",
    "upload-kept": "ok",
    "pending": "info",
    "no-photo": "info",
    "directory-only": "warn",
    "no-mailbox": "warn",
    "not-editable": "warn",
    "error-backoff": "error",
}


def _checked_notice(diagnosis: Diagnosis) -> str | None:
    latest = diagnosis.facts.recent[0] if diagnosis.facts.recent else None
    if latest is None:
        return None
    label = RESULT_LABELS.get(latest.result, latest.result).lower()
    return f"Checked just now: {label}."


def _render(
    request: Request,
    viewer: Viewer,
    user: UserInfo,
    diagnosis: Diagnosis,
    *,
    for_admin: bool,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    facts = diagnosis.facts
    owner = f"users/{user.id}" if for_admin else "me"
    checks = [
        {
            "at": table_time(c.started_at),
            "trigger": TRIGGER_LABELS.get(c.trigger, c.trigger),
            "result": RESULT_LABELS.get(c.result, c.result),
            "error": c.error,
            "ok": c.result != "error",
        }
        for c in facts.recent
    ]
    context: dict[str, Any] = {
        "user": user,
        "diagnosis": diagnosis,
        "tone": STATE_TONES[diagnosis.state],
        "for_admin": for_admin,
        "mailbox_image": avatar(user.id, user.display_name, facts.mailbox_photo, IMAGE_SIZE, owner)
        if facts.mailbox_photo
        else None,
        "sites_src": sites_photo_url(user.upn, SITES_SIZE),
        "image_size": IMAGE_SIZE,
        "changed_at": when(facts.mailbox_photo.created_at) if facts.mailbox_photo else None,
        "next_check": when(diagnosis.next_check_at) if diagnosis.next_check_at else None,
        "checks": checks,
        "check_url": f"/admin/users/{user.id}/diagnostic/check"
        if for_admin
        else "/photo/doctor/check",
        "can_check": for_admin or diagnosis.fix_action == "check-now",
        "notice": notice,
        "error": error,
    }
    if not for_admin:
        context["photo"] = facts.mailbox_photo  # the header's: the viewer's own, read already
    title = f"Photo diagnostic: {user.display_name}" if for_admin else "My photo doesn't show"
    return page(
        request,
        viewer,
        "doctor.html",
        title=title,
        active="admin" if for_admin else "home",
        status=status,
        **context,
    )


# --- the person's own page ---------------------------------------------------------------


def _own(request: Request, viewer: Viewer) -> Diagnosis:
    return service(request, SyncService).diagnose(
        viewer.user.id, session_id=viewer.session_id, audience="user"
    )


@router.get("/photo/doctor")
def my_diagnostic(request: Request, viewer: RequiredViewer, checked: str = "") -> Response:
    diagnosis = _own(request, viewer)
    notice = _checked_notice(diagnosis) if checked else None
    return _render(request, viewer, viewer.user, diagnosis, for_admin=False, notice=notice)


@router.post("/photo/doctor/check")
def check_my_photo(
    request: Request, viewer: RequiredViewer, csrf_token: CsrfField = ""
) -> Response:
    """One check of the viewer's own photo now, at most once a minute (whoever else checked)."""
    check_csrf(viewer, csrf_token)
    sync = service(request, SyncService)
    refusal = self_check_refusal(
        sync.ctx.settings.sync_policy, sync.self_check_at(viewer.user.id), sync.ctx.clock()
    )
    if refusal is not None:
        return _render(
            request,
            viewer,
            viewer.user,
            _own(request, viewer),
            for_admin=False,
            error=refusal,
            status=429,
        )
    sync.request_check(viewer.user.id, actor=viewer.user.upn)
    return RedirectResponse("/photo/doctor?checked=1", status_code=303)


# --- an admin's page per person ----------------------------------------------------------


def _someone(request: Request, user_id: str) -> UserInfo:
    user = service(request, DirectoryService).get_user(user_id)
    if user is None:
        raise ApiError(404, "NotFound", "There is no such person.")
    return user


@router.get("/admin/users/{user_id}/diagnostic")
def user_diagnostic(
    request: Request, viewer: AdminViewer, user_id: str, checked: str = ""
) -> Response:
    user = _someone(request, user_id)
    diagnosis = service(request, SyncService).diagnose(user.id, audience="admin")
    notice = _checked_notice(diagnosis) if checked else None
    return _render(request, viewer, user, diagnosis, for_admin=True, notice=notice)


@router.post("/admin/users/{user_id}/diagnostic/check")
def check_user(
    request: Request, viewer: AdminViewer, user_id: str, csrf_token: CsrfField = ""
) -> Response:
    """An admin's check of one person now (not rate-limited: admins may check at will)."""
    check_csrf(viewer, csrf_token)
    user = _someone(request, user_id)
    service(request, SyncService).request_check(user.id, actor=viewer.user.upn)
    return RedirectResponse(f"/admin/users/{user.id}/diagnostic?checked=1", status_code=303)
