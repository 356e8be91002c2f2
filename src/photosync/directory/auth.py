"""Who is calling an API: a bearer token (verified on every request) or the portal's cookie.

This is the HTTP edge of authentication: it reads headers and cookies and makes a
``Principal`` (``directory.access``), where the rules of what a principal may do live. Routes
take ``CurrentPrincipal`` / ``OptionalPrincipal``; the hot image routes call ``authenticate``
themselves through ``web.memory_first``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from photosync.directory.access import Principal, may_sign_in
from photosync.directory.cookies import sign_session_id as sign_session_id
from photosync.directory.cookies import unsign_session_id
from photosync.directory.services import DirectoryService, UploadsThrottled
from photosync.directory.tokens import DELEGATED_SCOPES, InvalidToken, TokenClaims
from photosync.ttlcache import NotInMemory
from photosync.web import ApiError, memory_first, service

SESSION_COOKIE = "photosync_session"
CSRF_HEADER = "X-CSRF-Token"
# SharePoint clients send the form digest in this header; we accept our CSRF token there too.
DIGEST_HEADER = "X-RequestDigest"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _invalid(message: str) -> ApiError:
    return ApiError(
        401,
        "InvalidAuthenticationToken",
        message,
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def request_origin(request: Request) -> str:
    """``scheme://host[:port]`` this request came to: the audience of tokens for this host."""
    return str(request.base_url).rstrip("/")


def _verify_bearer(directory: DirectoryService, token: str, request: Request) -> TokenClaims:
    # The expiry is checked against the clock on every request; signature, issuer and
    # audience once per distinct token (see TokenIssuer.verify).
    try:
        return directory.tokens.verify(
            token, directory.ctx.clock(), lambda: request_origin(request)
        )
    except InvalidToken as exc:
        raise _invalid(f"Access token validation failure: {exc}.") from exc


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "InvalidAuthenticationToken", "Expected a Bearer access token.")
    return token.strip()


def authenticate(
    request: Request,
    directory: DirectoryService,
    *,
    csrf: bool = True,
    memory_only: bool = False,
) -> Principal | None:
    """The caller of an API request, or None when it carries no credentials.

    A bad or expired token, or a user or app that no longer exists, is a 401. A request made
    with the session cookie that changes something must carry the session's CSRF token in a
    header (``csrf=False`` only for the endpoint that hands that token out). With
    ``memory_only``, anything that needs the database raises NotInMemory: sessions always do,
    since a sign-out must end a session at once, everywhere.
    """
    token = _bearer_token(request)
    if token is not None:
        claims = _verify_bearer(directory, token, request)
        if claims.kind == "app":
            if not directory.app_exists(claims.subject, memory_only=memory_only):
                raise _invalid("The application no longer exists or was revoked.")
            return Principal("app", claims.subject, None, claims.roles, None, "bearer")
        user = directory.get_user(claims.subject, memory_only=memory_only)
        if user is None:
            raise _invalid("The user no longer exists.")
        if not may_sign_in(user):
            raise _invalid("The user account is disabled.")
        if claims.session_id is not None and not directory.session_live(
            claims.session_id, memory_only=memory_only
        ):
            raise _invalid("The sign-in session of this token has ended.")
        return Principal("user", user.id, user, claims.scopes, claims.session_id, "bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    if memory_only:
        raise NotInMemory("sign-in sessions are read from the database")
    return _from_cookie(directory, request, cookie, csrf=csrf)


def _from_cookie(
    directory: DirectoryService, request: Request, value: str, *, csrf: bool
) -> Principal | None:
    session_id = unsign_session_id(directory.ctx.settings.signing_key, value)
    found = directory.signed_in(session_id) if session_id else None
    if found is None:
        return None
    session, user = found
    # A cross-site form can send the cookie but cannot set a header: API calls made with the
    # cookie that change something carry the session's token in one.
    if csrf and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or request.headers.get(DIGEST_HEADER) or ""
        if not hmac.compare_digest(sent, session.csrf_token):
            raise ApiError(403, "Forbidden", "Missing or wrong CSRF token for a cookie request.")
    return Principal(
        "user", user.id, user, frozenset(DELEGATED_SCOPES), session.id, "cookie", session.csrf_token
    )


def caller_key(request: Request, directory: DirectoryService) -> str | None:
    """Who a request counts against for rate limits: the app or user of a valid bearer token,
    the sign-in session of a cookie, else the client address; None for a bad token (refused
    by the route anyway, and never counted against the app or user it names)."""
    try:
        token = _bearer_token(request)
    except ApiError:
        return None
    if token is not None:
        try:
            claims = directory.tokens.verify(
                token, directory.ctx.clock(), lambda: request_origin(request)
            )
        except InvalidToken:
            return None
        return f"{claims.kind}:{claims.subject}"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return f"cookie:{cookie}"
    return f"address:{request.client.host if request.client else ''}"


async def count_upload(request: Request, principal: Principal) -> None:
    """The upload rate limit at the HTTP edge, for every route a person uploads a photo with
    (Graph's photo PUT and PATCH, SetMyProfilePicture, Files/add, the portal's form): called
    after the caller is authorised and before the photo is read, so a refused upload costs
    neither the body nor a decode. Over the limit: 429 with Retry-After, in the answering API's
    error shape (the portal turns it into a message on its page). Apps are not counted."""
    directory = service(request, DirectoryService)
    if principal.user is None or directory.ctx.settings.upload_rate is None:
        return
    try:
        await run_in_threadpool(directory.count_upload, principal.user.id, actor=principal.actor)
    except UploadsThrottled as exc:
        raise ApiError(
            429, "TooManyRequests", exc.message, {"Retry-After": str(exc.retry_after)}
        ) from None


def require(principal: Principal | None) -> Principal:
    """``principal``, or the 401 an anonymous request gets (before anything else is looked at)."""
    if principal is None:
        raise ApiError(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty.",
            {"WWW-Authenticate": 'Bearer realm="photosync"'},
        )
    return principal


def _authenticated(request: Request, *, csrf: bool, memory_only: bool = False) -> Principal:
    directory = service(request, DirectoryService)
    return require(authenticate(request, directory, csrf=csrf, memory_only=memory_only))


async def _optional(request: Request) -> Principal | None:
    directory = service(request, DirectoryService)
    return await memory_first(authenticate, request, directory)


async def _current(request: Request) -> Principal:
    return await memory_first(_authenticated, request, csrf=True)


async def _current_without_csrf(request: Request) -> Principal:
    return await memory_first(_authenticated, request, csrf=False)


OptionalPrincipal = Annotated[Principal | None, Depends(_optional)]
CurrentPrincipal = Annotated[Principal, Depends(_current)]
# Only for SharePoint's contextinfo, which hands the CSRF token out (see sites.routes).
DigestPrincipal = Annotated[Principal, Depends(_current_without_csrf)]
