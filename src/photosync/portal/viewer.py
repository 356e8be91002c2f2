"""Who is looking at a portal page: the session cookie, its CSRF token, and safe redirects.

Portal pages read the session cookie only. A bearer token is for API clients; a page a browser
renders has no use for one, and accepting it would let a page skip the CSRF token of its forms.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from photosync.directory.access import Principal, may_administer
from photosync.directory.auth import SESSION_COOKIE
from photosync.directory.cookies import (
    DEVICE_MAX_AGE,
    SIGNIN_FORM_MAX_AGE,
    known_device_user,
    sign_known_device,
    sign_session_id,
    signin_form_token_for,
    signin_form_token_ok,
    unsign_session_id,
)
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.web import ApiError, service

# The sign-in form needs CSRF protection before any session exists (login CSRF would sign a
# victim into the attacker's account): a random value in a cookie, and its signature in the form.
SIGNIN_COOKIE = "photosync_signin"
SIGNIN_COOKIE_MAX_AGE = SIGNIN_FORM_MAX_AGE
# Smart lock-out's familiar source: a browser that signed in to an account before
# (directory.lockout). Sent only to /signin.
DEVICE_COOKIE = "photosync_device"
CSRF_FIELD = "csrf_token"
CSRF_MESSAGE = (
    "This form expired or was sent from another site, so nothing was changed. "
    "Go back, reload the page and try again."
)


@dataclass(frozen=True)
class Viewer:
    user: UserInfo
    session_id: str
    csrf_token: str

    @property
    def principal(self) -> Principal:
        """The viewer as the authorisation rules see them: a signed-in user with the scopes
        of a password sign-in (the same a cookie gives on the APIs)."""
        return Principal(
            "user",
            self.user.id,
            self.user,
            frozenset(DELEGATED_SCOPES),
            self.session_id,
            "cookie",
            self.csrf_token,
        )


class NeedsSignIn(Exception):
    """Raised by page dependencies; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def signing_key(request: Request) -> str:
    return service(request, DirectoryService).ctx.settings.signing_key


def session_id_from(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    return unsign_session_id(signing_key(request), value) if value else None


def optional_viewer(request: Request) -> Viewer | None:
    """The signed-in user of this browser, or None (no cookie, bad signature, ended session)."""
    session_id = session_id_from(request)
    if session_id is None:
        return None
    found = service(request, DirectoryService).signed_in(session_id)
    if found is None:
        return None
    session, user = found
    return Viewer(user, session.id, session.csrf_token)


def required_viewer(
    request: Request, viewer: Annotated[Viewer | None, Depends(optional_viewer)]
) -> Viewer:
    if viewer is None:
        # After a POST the form's data is gone, so come back to the page, not the action.
        if request.method == "GET":
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        else:
            path = "/"
        raise NeedsSignIn(path)
    return viewer


def admin_viewer(viewer: Annotated[Viewer, Depends(required_viewer)]) -> Viewer:
    if not may_administer(viewer.principal):
        raise ApiError(403, "Forbidden", "This page is for administrators only.")
    return viewer


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
RequiredViewer = Annotated[Viewer, Depends(required_viewer)]
AdminViewer = Annotated[Viewer, Depends(admin_viewer)]


def check_csrf(viewer: Viewer, sent: str | None) -> None:
    """Every state-changing form carries the session's token; a cross-site form cannot know it."""
    if not sent or not secrets.compare_digest(sent.encode(), viewer.csrf_token.encode()):
        raise ApiError(403, "Forbidden", CSRF_MESSAGE)


# --- sign-in form token (before a session exists) ------------------------------------------


def signin_nonce(request: Request) -> str:
    """The browser's sign-in nonce if it sent a well-formed one, else a new one."""
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    if len(nonce) == 43 and nonce.replace("-", "").replace("_", "").isalnum():
        return nonce
    return secrets.token_urlsafe(32)


def signin_form_token(request: Request, nonce: str) -> str:
    return signin_form_token_for(signing_key(request), nonce)


def signin_token_ok(request: Request, sent: str | None) -> bool:
    nonce = request.cookies.get(SIGNIN_COOKIE)
    if not nonce or not sent:
        return False
    return signin_form_token_ok(signing_key(request), nonce, sent)


# --- cookies ---------------------------------------------------------------------------------


def is_https(request: Request) -> bool:
    # uvicorn rewrites the scheme from X-Forwarded-Proto only for trusted proxies; a deployment
    # behind another proxy still says so in the header, and a Secure cookie there is harmless.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    # No Max-Age: the cookie ends with the browser session, like a private window's; the
    # server-side session expires on its own clock anyway.
    response.set_cookie(
        SESSION_COOKIE,
        sign_session_id(signing_key(request), session_id),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def set_device_cookie(request: Request, response: Response, user_id: str) -> None:
    """After a successful sign-in: this browser is now a familiar source for the account."""
    response.set_cookie(
        DEVICE_COOKIE,
        sign_known_device(signing_key(request), user_id),
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/signin",
    )


def known_device(request: Request) -> str | None:
    """The account this browser signed in to before (its signed known-device cookie)."""
    value = request.cookies.get(DEVICE_COOKIE)
    return known_device_user(signing_key(request), value) if value else None


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )


def set_signin_cookie(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=SIGNIN_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/signin",
    )


# --- redirects -------------------------------------------------------------------------------


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 0x20 or c == "\\" for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def signin_url(next_path: str) -> str:
    if next_path in ("", "/"):
        return "/signin"
    return f"/signin?next={quote(next_path, safe='/')}"
