"""An admin's page for one person (``/admin/users/{id or UPN}``): disable or enable them, give or
take the admin role, remove them (after a confirmation step); and ``/personal/{account}/``, the
OneDrive address that a profile's ``PersonalUrl`` names.

Every change is a CSRF-protected form for admins only, done by the directory service (which
audits it and refuses to leave nobody an enabled admin); the page shows what it refused.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryError, DirectoryService
from photosync.portal.pages import page
from photosync.portal.viewer import CSRF_FIELD, AdminViewer, RequiredViewer, check_csrf
from photosync.sites.interfaces import account_slug
from photosync.web import ApiError, service

router = APIRouter(include_in_schema=False)
CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]
NOTICES = {
    "disabled": "Disabled: they cannot sign in, and others see the placeholder for their photo.",
    "enabled": "Enabled: they can sign in again.",
    "admin": "They are now an admin.",
    "not-admin": "They are no longer an admin.",
}


def _person(request: Request, who: str) -> UserInfo:
    user = service(request, DirectoryService).get_user(who)
    if user is None:
        raise ApiError(404, "NotFound", "There is no such person.")
    return user


def _url(user: UserInfo) -> str:
    return f"/admin/users/{user.id}"


def _show(
    request: Request,
    viewer: AdminViewer,
    user: UserInfo,
    *,
    notice: str | None = None,
    error: str | None = None,
    confirm_remove: bool = False,
    status: int = 200,
) -> Response:
    return page(
        request,
        viewer,
        "person.html",
        title=f"Admin: {user.display_name}",
        active="admin",
        status=status,
        person=user,
        url=_url(user),
        is_self=user.id == viewer.user.id,
        notice=notice,
        error=error,
        confirm_remove=confirm_remove,
    )


@router.get("/admin/users/{who}")
def person_page(
    request: Request, viewer: AdminViewer, who: str, done: str = "", confirm: str = ""
) -> Response:
    user = _person(request, who)
    return _show(
        request, viewer, user, notice=NOTICES.get(done), confirm_remove=confirm == "remove"
    )


def _change(request: Request, viewer: AdminViewer, who: str, action: str) -> Response:
    """One change, then back to the page (303), or the page with why it was refused (409)."""
    directory = service(request, DirectoryService)
    user = _person(request, who)
    try:
        if action in ("disabled", "enabled"):
            user = directory.set_disabled(user.id, action == "disabled", actor=viewer.user.upn)
        else:
            user = directory.set_admin(user.id, action == "admin", actor=viewer.user.upn)
    except DirectoryError as exc:
        return _show(request, viewer, user, error=f"Not done: {exc}.", status=409)
    return RedirectResponse(f"{_url(user)}?done={action}", status_code=303)


@router.post("/admin/users/{who}/disable")
def disable(
    request: Request, viewer: AdminViewer, who: str, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(viewer, csrf_token)
    return _change(request, viewer, who, "disabled")


@router.post("/admin/users/{who}/enable")
def enable(request: Request, viewer: AdminViewer, who: str, csrf_token: CsrfField = "") -> Response:
    check_csrf(viewer, csrf_token)
    return _change(request, viewer, who, "enabled")


@router.post("/admin/users/{who}/admin")
def set_admin(
    request: Request,
    viewer: AdminViewer,
    who: str,
    csrf_token: CsrfField = "",
    admin: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(viewer, csrf_token)
    return _change(request, viewer, who, "admin" if admin == "1" else "not-admin")


@router.post("/admin/users/{who}/remove")
def remove(
    request: Request,
    viewer: AdminViewer,
    who: str,
    csrf_token: CsrfField = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Only from the confirmation step (``confirmed=yes``); else that step is shown first."""
    check_csrf(viewer, csrf_token)
    user = _person(request, who)
    if confirmed != "yes":
        return RedirectResponse(f"{_url(user)}?confirm=remove", status_code=303)
    try:
        service(request, DirectoryService).remove_user(user.id, actor=viewer.user.upn)
    except DirectoryError as exc:
        return _show(request, viewer, user, error=f"Not done: {exc}.", status=409)
    return RedirectResponse("/admin", status_code=303)


# --- OneDrive's address -------------------------------------------------------------------


@router.get("/personal/{account}/")
@router.get("/personal/{account}")
def personal(viewer: RequiredViewer, account: str) -> Response:
    """A profile's ``PersonalUrl`` (OneDrive's ``/personal/<account>/``): the portal's OneDrive
    page for its owner. Someone else's OneDrive is theirs alone, as in Microsoft 365."""
    if account.lower() != account_slug(viewer.user.upn):
        raise ApiError(403, "Forbidden", "This OneDrive belongs to someone else.")
    return RedirectResponse("/onedrive", status_code=303)
