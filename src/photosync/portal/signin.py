"""Sign-in and sign-out. Each sign-in starts a new session id, which is what sync policy keys on."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from photosync.directory.passwords import HashingBusy, hashing_full
from photosync.directory.services import DirectoryService, SignInFailed
from photosync.portal.rendering import render
from photosync.portal.viewer import (
    CSRF_FIELD,
    OptionalViewer,
    check_csrf,
    clear_session_cookie,
    known_device,
    safe_next,
    session_id_from,
    set_device_cookie,
    set_session_cookie,
    set_signin_cookie,
    signin_form_token,
    signin_nonce,
    signin_token_ok,
)
from photosync.web import service

router = APIRouter(include_in_schema=False)

FORM_EXPIRED = "The sign-in form expired. Please sign in again."
MISSING = "Enter your user name and password."


def _signin_page(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    nonce = signin_nonce(request)
    response = render(
        request,
        "signin.html",
        viewer=None,
        status=status,
        title="Sign in",
        form_token=signin_form_token(request, nonce),
        next_path=next_path,
        username=username,
        error=error,
        notice=notice,
    )
    set_signin_cookie(request, response, nonce)
    return response


@router.get("/signin")
def signin_form(request: Request, viewer: OptionalViewer, next: str = "") -> Response:
    target = safe_next(next)
    if viewer is not None:
        return RedirectResponse(target, status_code=303)
    notice = "You signed out." if request.query_params.get("signedout") else None
    return _signin_page(request, next_path=target, notice=notice)


@router.post("/signin")
async def signin_submit(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    target = safe_next(next_path)
    username = username.strip()[:320]
    try:
        if hashing_full():
            raise HashingBusy  # refused before a thread or a database read is spent on it
        return await run_in_threadpool(_sign_in, request, username, password, csrf_token, target)
    except HashingBusy:
        # Held before it is answered, on this coroutine, as the token endpoint holds its 429:
        # a client that ignores Retry-After must not take the event loop from photo reads.
        await asyncio.sleep(HashingBusy.pause)
        page = _signin_page(
            request, next_path=target, username=username, error=HashingBusy.message, status=503
        )
        page.headers["Retry-After"] = str(HashingBusy.retry_after)
        return page


def _sign_in(
    request: Request, username: str, password: str, csrf_token: str, target: str
) -> Response:
    """The form's answer (HashingBusy: too many checks at once, answered by the caller)."""
    if not signin_token_ok(request, csrf_token):
        return _signin_page(
            request, next_path=target, username=username, error=FORM_EXPIRED, status=403
        )
    if not username or not password:
        return _signin_page(request, next_path=target, username=username, error=MISSING, status=400)
    directory = service(request, DirectoryService)
    try:
        # The service counts failures and locks the account; every refusal reads the same,
        # so the page never tells which accounts exist or are locked.
        user = directory.authenticate(username, password[:1024], known_device=known_device(request))
    except SignInFailed:
        return _signin_page(
            request, next_path=target, username=username, error=SignInFailed.message, status=400
        )
    old = session_id_from(request)
    if old is not None:
        directory.end_session(old)
    session = directory.start_session(user.id, "portal")
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session.id)
    set_device_cookie(request, response, user.id)
    return response


@router.post("/signout")
def signout(
    request: Request,
    viewer: OptionalViewer,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    if viewer is not None:
        check_csrf(viewer, csrf_token)
        service(request, DirectoryService).end_session(viewer.session_id)
    response = RedirectResponse("/signin?signedout=1", status_code=303)
    clear_session_cookie(request, response)
    return response
