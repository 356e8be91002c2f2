"""SharePoint's URLs: userphoto.aspx, the User Photos library, PeopleManager REST, contextinfo.

Work never runs on the event loop: a picture request may run a sync (decode and resize), so the
library route is a plain ``def`` (FastAPI's thread pool); userphoto.aspx answers from memory
when it can and otherwise hands the rest to ``run_in_threadpool``, as the PeopleManager route
(which must await the request body) does.

Authentication is required everywhere, as in SharePoint Online: a bearer token or the portal's
session cookie. Anonymous requests get 401 (not a redirect to sign-in: ``<img>`` tags on the
portal's pages always carry the cookie, and API clients want the status code).
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from photosync.directory.auth import (
    SESSION_COOKIE,
    CurrentPrincipal,
    Principal,
    current_principal,
    directory_service,
    optional_principal,
    principal_from_memory,
)
from photosync.sites import odata
from photosync.sites.errors import BadRequest, SitesError
from photosync.sites.interfaces import LIBRARY_FOLDER, SizeCode, account_slug, size_code
from photosync.sites.library import Picture
from photosync.sites.services import SitesService
from photosync.web import ApiError

router = APIRouter(tags=["sites"])

PEOPLE_MANAGER = "/_api/SP.UserProfiles.PeopleManager/{operation}"
# A versioned URL (``?t=`` equal to the picture's timestamp) never changes content. "private":
# the pictures are only for signed-in people, so shared caches must not keep them.
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
WRITE_OPERATIONS = frozenset({"setmyprofilepicture", "setsinglevalueprofileproperty"})
_THUMB_FILE = re.compile(r"^(?P<acct>.+)_(?P<size>[SML])Thumb\.jpg$", re.IGNORECASE)


async def sites_service(request: Request) -> SitesService:
    # async: a plain attribute read is not worth a trip through the thread pool.
    service: SitesService = request.app.state.sites
    return service


Sites = Annotated[SitesService, Depends(sites_service)]


def _api_error(exc: SitesError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def base_url(request: Request, sites: SitesService) -> str:
    return sites.ctx.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")


# --- pictures ------------------------------------------------------------------------------


def picture_response(request: Request, picture: Picture, version: str | None) -> Response:
    versioned = version is not None and version == picture.timestamp
    headers = {"ETag": picture.etag, "Cache-Control": IMMUTABLE if versioned else REVALIDATE}
    if _matches(request.headers.get("if-none-match"), picture.etag):
        return Response(status_code=304, headers=headers)
    return Response(picture.data, media_type="image/jpeg", headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


@router.api_route("/_layouts/15/userphoto.aspx", methods=["GET", "HEAD"])
async def userphoto(request: Request) -> Response:
    """``?size=S|M|L&accountname=…`` (or ``username=``); the placeholder for a user without one.

    Async: most requests (someone's S or M, seen in the last second or two, by a bearer caller
    seen in the last seconds) are answered from memory without leaving the event loop; the rest,
    which read the database or the disk or may run a sync (your own Large picture), take one
    trip to the thread pool. The principal is resolved here rather than declared as a
    dependency: solving dependencies was a noticeable share of a request answered from memory.
    """
    sites: SitesService = request.app.state.sites
    principal = principal_from_memory(request)
    if principal is None and not (
        request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE)
    ):
        current_principal(None)  # nobody: 401 before anything else is looked at
    # ASP.NET reads query keys case-insensitively (AccountName=, Size=).
    query = {key.lower(): value for key, value in request.query_params.items()}
    code = size_code(query.get("size"))
    if code is None:
        raise ApiError(400, odata_code(), "size must be S, M or L.")
    account = query.get("accountname") or query.get("username")
    try:
        picture = sites.cached_picture(principal, account, code) if principal else None
        if picture is not None and query.get("t") not in (None, picture.timestamp):
            # A ?t= newer than what is in memory came from fresher data (another process
            # synced): read the database rather than serve the old picture under the new URL.
            picture = None
        if picture is None:
            picture = await run_in_threadpool(
                _read_userphoto, request, sites, principal, account, code
            )
    except SitesError as exc:
        raise _api_error(exc) from exc
    return picture_response(request, picture, query.get("t"))


def plain_image_routes() -> list[Route]:
    """userphoto.aspx again, as a plain Starlette route for ``app.py`` to put before all others
    (same reason as photosync.mailbox.graph.plain_image_routes: no FastAPI per-request work)."""
    return [Route("/_layouts/15/userphoto.aspx", userphoto, methods=["GET", "HEAD"])]


def _read_userphoto(
    request: Request,
    sites: SitesService,
    principal: Principal | None,
    account: str | None,
    code: SizeCode,
) -> Picture:
    if principal is None:  # a cookie, a user not seen lately, or nobody (401)
        principal = current_principal(optional_principal(request, directory_service(request)))
    user = sites.check_read(principal, account)
    if code == "L" and principal.is_self(user.id):
        # Before the read, so the answer carries a picture the check just took.
        sites.own_large_requested(principal)
    return sites.picture(user.id, code)


@router.api_route(LIBRARY_FOLDER + "/{filename}", methods=["GET", "HEAD"])
def library_file(
    filename: str, request: Request, principal: CurrentPrincipal, sites: Sites
) -> Response:
    """A thumbnail file of the library; asking for your own L file is an own-Large request."""
    match = _THUMB_FILE.match(filename)
    if match is None:
        raise ApiError(404, odata_code(404), "File Not Found.")
    slug, code = match.group("acct").lower(), _code(match.group("size"))
    try:
        sites.check_may_read(principal)
    except SitesError as exc:
        raise _api_error(exc) from exc
    own = principal.user
    if code == "L" and own is not None and account_slug(own.upn) == slug:
        sites.own_large_requested(principal)
    found = sites.library_file(f"{LIBRARY_FOLDER}/{slug}_{code}Thumb.jpg")
    if found is None:
        raise ApiError(404, odata_code(404), "File Not Found.")
    _, picture = found
    return picture_response(request, picture, request.query_params.get("t"))


def _code(value: str) -> SizeCode:
    code = size_code(value)
    assert code is not None
    return code


def odata_code(status: int = 400) -> str:
    if status == 404:
        return "-2130575338, Microsoft.SharePoint.SPException"
    return "-1, Microsoft.SharePoint.Client.InvalidClientQueryException"


# --- PeopleManager -------------------------------------------------------------------------


@router.api_route(PEOPLE_MANAGER, methods=["GET", "POST"])
@router.api_route(PEOPLE_MANAGER.lower(), methods=["GET", "POST"], include_in_schema=False)
async def people_manager(
    operation: str, request: Request, principal: CurrentPrincipal, sites: Sites
) -> Response:
    """GetMyProperties, GetPropertiesFor, SetMyProfilePicture, SetSingleValueProfileProperty.

    The body is read here (async); the work runs in the thread pool.
    """
    verbose = odata.wants_verbose(request.headers.get("accept", ""))
    try:
        name, args = odata.parse_call(operation, dict(request.query_params))
    except ValueError as exc:
        raise ApiError(400, odata_code(), str(exc)) from exc
    body = await request.body() if request.method == "POST" else b""
    try:
        return await run_in_threadpool(
            _people_call, request, principal, sites, name, args, body, verbose
        )
    except SitesError as exc:
        raise _api_error(exc) from exc


def _people_call(
    request: Request,
    principal: Principal,
    sites: SitesService,
    name: str,
    args: dict[str, str],
    body: bytes,
    verbose: bool,
) -> Response:
    if name in ("getmyproperties", "getpropertiesfor"):
        account = None if name == "getmyproperties" else args.get("accountname")
        if name == "getpropertiesfor" and not account:
            account = _json_body(body).get("accountName") if body else None
            if not account:
                raise BadRequest("GetPropertiesFor needs accountName.")
        view = sites.person(principal, account, base_url(request, sites))
        return odata.answer(odata.person(view, verbose=verbose, self_url=str(request.url)), verbose)
    if name not in WRITE_OPERATIONS:
        raise ApiError(404, odata_code(), f"Cannot find resource for the request {name}.")
    if request.method != "POST":
        raise ApiError(405, odata_code(), f"Use POST for {name}.", {"Allow": "POST"})
    if name == "setmyprofilepicture":
        sites.set_my_picture(principal, body)
        return odata.answer(odata.void("SetMyProfilePicture", verbose=verbose), verbose)
    if name == "setsinglevalueprofileproperty":
        payload = _json_body(body)
        fields = {key.lower(): value for key, value in payload.items()}
        account, prop = fields.get("accountname"), fields.get("propertyname")
        value = fields.get("propertyvalue", "")
        if not isinstance(account, str) or not isinstance(prop, str):
            raise BadRequest("Send accountName and propertyName as strings.")
        sites.set_property(principal, account, prop, "" if value is None else str(value))
        return odata.answer(odata.void("SetSingleValueProfileProperty", verbose=verbose), verbose)
    raise AssertionError(name)


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError as exc:
        raise BadRequest("The request body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    # odata=verbose clients may wrap parameters in {"__metadata": …} — ignore that key.
    payload.pop("__metadata", None)
    return payload


# --- contextinfo ---------------------------------------------------------------------------


@router.post("/_api/contextinfo")
@router.post("/_api/contextInfo", include_in_schema=False)
def context_info(request: Request, principal: CurrentPrincipal, sites: Sites) -> JSONResponse:
    """The form digest. For a cookie session it is the session's CSRF token (which auth checks
    on cookie POSTs); bearer requests need none, so any value does."""
    verbose = odata.wants_verbose(request.headers.get("accept", ""))
    if principal.via == "cookie" and principal.csrf_token:
        digest = principal.csrf_token
    else:
        stamp = datetime.now(UTC).strftime("%d %b %Y %H:%M:%S -0000")
        digest = f"0x{secrets.token_hex(64).upper()},{stamp}"
    body = odata.context_info(digest=digest, web_url=base_url(request, sites), verbose=verbose)
    return odata.answer(body, verbose)
