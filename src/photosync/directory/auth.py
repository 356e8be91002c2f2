"""Who is calling: bearer tokens (verified on every request) or the portal's session cookie.

Views depend on ``current_principal`` (401 when nobody) or ``optional_principal``; services
decide what the principal may do (``Principal.may_read_photo_of`` / ``may_write_photo_of``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from photosync.directory.cookies import sign_session_id as sign_session_id
from photosync.directory.cookies import unsign_session_id
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.directory.tokens import DELEGATED_SCOPES, InvalidToken, TokenClaims
from photosync.web import ApiError

SESSION_COOKIE = "photosync_session"
CSRF_HEADER = "X-CSRF-Token"
# SharePoint clients send the form digest in this header; we accept our CSRF token there too.
DIGEST_HEADER = "X-RequestDigest"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIXES = ("/v1.0", "/_api")
# SharePoint clients POST here to *get* the digest they must send; it changes nothing and its
# answer cannot be read cross-site, so it cannot require the digest itself.
DIGEST_ENDPOINT = "/_api/contextinfo"

READ_ANY = frozenset({"User.Read.All", "ProfilePhoto.Read.All", "User.ReadBasic.All"})
WRITE_ANY = frozenset({"User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"})
READ_OWN = frozenset({"User.Read", "User.ReadWrite"}) | READ_ANY | WRITE_ANY
WRITE_OWN = frozenset({"User.ReadWrite"}) | WRITE_ANY


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "app"]
    subject: str  # user id or client id
    user: UserInfo | None
    scopes: frozenset[str]  # delegated scopes (users) or application roles (apps)
    session_id: str | None
    via: Literal["bearer", "cookie"]
    csrf_token: str | None = None

    @property
    def actor(self) -> str:
        return self.user.upn if self.user else f"app:{self.subject}"

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user else None

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)

    def is_self(self, user_id: str) -> bool:
        return self.user is not None and self.user.id == user_id

    def may_read_photo_of(self, user_id: str) -> bool:
        if self.is_self(user_id):
            return bool(self.scopes & READ_OWN)
        return self.is_admin or bool(self.scopes & (READ_ANY | WRITE_ANY))

    def may_write_photo_of(self, user_id: str) -> bool:
        if self.is_admin and self.kind == "user":
            return True
        if self.is_self(user_id):
            return bool(self.scopes & WRITE_OWN)
        # Delegated users never get *.All write scopes from our token endpoint; apps may.
        return self.kind == "app" and bool(self.scopes & WRITE_ANY)


def directory_service(request: Request) -> DirectoryService:
    service: DirectoryService = request.app.state.directory
    return service


def _invalid(message: str) -> ApiError:
    return ApiError(
        401,
        "InvalidAuthenticationToken",
        message,
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _verify_bearer(directory: DirectoryService, token: str) -> TokenClaims:
    # Signature, issuer, audience and expiry are checked on every request (microseconds);
    # only "does the user/app still exist" is cached, for a few seconds.
    try:
        return directory.tokens.verify(token, directory.ctx.clock())
    except InvalidToken as exc:
        raise _invalid(f"Access token validation failure: {exc}.") from exc


def _bearer_principal(claims: TokenClaims, user: UserInfo | None, app_exists: bool) -> Principal:
    if claims.kind == "app":
        if not app_exists:
            raise _invalid("The application no longer exists.")
        return Principal("app", claims.subject, None, claims.roles, None, "bearer")
    if user is None:
        raise _invalid("The user no longer exists.")
    return Principal("user", user.id, user, claims.scopes, claims.session_id, "bearer")


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "InvalidAuthenticationToken", "Expected a Bearer access token.")
    return token.strip()


def _from_cookie(directory: DirectoryService, request: Request, value: str) -> Principal | None:
    session_id = unsign_session_id(directory.ctx.settings.signing_key, value)
    session = directory.get_session(session_id) if session_id else None
    user = directory.get_user(session.user_id) if session else None
    if session is None or user is None:
        return None
    # Portal forms check their own hidden field; API calls made with the cookie must carry the
    # token in a header, which a cross-site form cannot set.
    path = request.url.path
    if (
        request.method not in SAFE_METHODS
        and path.startswith(API_PREFIXES)
        and path.lower() != DIGEST_ENDPOINT
    ):
        sent = request.headers.get(CSRF_HEADER) or request.headers.get(DIGEST_HEADER) or ""
        if not hmac.compare_digest(sent, session.csrf_token):
            raise ApiError(403, "Forbidden", "Missing or wrong CSRF token for a cookie request.")
    return Principal(
        "user", user.id, user, frozenset(DELEGATED_SCOPES), session.id, "cookie", session.csrf_token
    )


def optional_principal(request: Request, directory: DirectoryService) -> Principal | None:
    """Who is calling, for code already running in a worker thread (may query the database)."""
    token = _bearer_token(request)
    if token is not None:
        claims = _verify_bearer(directory, token)
        if claims.kind == "app":
            exists = directory.app_known(claims.subject) or directory.app_exists(claims.subject)
            return _bearer_principal(claims, None, exists)
        user = directory.cached_user(claims.subject) or directory.get_user(claims.subject)
        return _bearer_principal(claims, user, False)
    cookie = request.cookies.get(SESSION_COOKIE)
    return _from_cookie(directory, request, cookie) if cookie else None


def current_principal(principal: Principal | None) -> Principal:
    if principal is None:
        raise ApiError(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty.",
            {"WWW-Authenticate": 'Bearer realm="photosync"'},
        )
    return principal


# The FastAPI dependencies are async: a sync dependency costs a thread-pool hop on every
# request, which was most of the time a small cached photo takes. With a bearer token whose
# user was seen in the last seconds, nothing here touches the database or leaves the loop.


def principal_from_memory(request: Request) -> Principal | None:
    """The bearer caller, if known without the database (the token is still verified here).

    None means "ask ``optional_principal`` in a worker thread": no bearer token (a cookie or
    nobody), or a user or app not looked up in the last few seconds. A bad token raises 401.
    """
    token = _bearer_token(request)
    if token is None:
        return None
    directory = directory_service(request)
    claims = _verify_bearer(directory, token)
    if claims.kind == "app" and directory.app_known(claims.subject):
        return _bearer_principal(claims, None, True)
    if claims.kind == "user" and (user := directory.cached_user(claims.subject)):
        return _bearer_principal(claims, user, False)
    return None


async def _optional_principal_dep(request: Request) -> Principal | None:
    principal = principal_from_memory(request)
    if principal is not None:
        return principal
    if not request.headers.get("authorization") and not request.cookies.get(SESSION_COOKIE):
        return None
    # Sessions are never cached: a sign-out must end the session at once, everywhere.
    return await run_in_threadpool(optional_principal, request, directory_service(request))


async def _current_principal_dep(
    principal: Annotated[Principal | None, Depends(_optional_principal_dep)],
) -> Principal:
    return current_principal(principal)


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal_dep)]
CurrentPrincipal = Annotated[Principal, Depends(_current_principal_dep)]
