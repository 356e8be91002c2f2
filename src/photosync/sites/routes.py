"""SharePoint's URLs: userphoto.aspx, the User Photos library, PeopleManager REST, contextinfo.

A sub-application of its own: every error it gives is SharePoint's OData error. Work never
runs on the event loop: a picture request may run a sync (decode and resize), so the library
route is a plain ``def`` (FastAPI's thread pool); userphoto.aspx has one read path, called
through ``web.memory_first`` (on the event loop when everything it needs was seen a moment
ago, else in a worker thread), and the PeopleManager route awaits its body, then works in the
thread pool.

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

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as FastApiPath
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from photosync.directory.access import Principal
from photosync.directory.auth import (
    CurrentPrincipal,
    DigestPrincipal,
    authenticate,
    count_upload,
    require,
)
from photosync.directory.services import DirectoryService
from photosync.sites import odata
from photosync.sites.errors import BadRequest, SitesError
from photosync.sites.interfaces import (
    LIBRARY_FOLDER,
    THUMB_FILE,
    SizeCode,
    account_slug,
    size_code,
)
from photosync.sites.library import Picture
from photosync.sites.services import SitesService
from photosync.ttlcache import NotInMemory
from photosync.web import (
    IMMUTABLE,
    JPEG,
    REVALIDATE,
    ApiError,
    PlainRoute,
    dependency,
    is_not_modified,
    memory_first,
    service,
    sharepoint_error,
    sub_app,
)

router = APIRouter(tags=["sites"])

PEOPLE_MANAGER = "/_api/SP.UserProfiles.PeopleManager/{operation}"
WRITE_OPERATIONS = frozenset({"setmyprofilepicture", "setsinglevalueprofileproperty"})
# ``GetFolderByServerRelativeUrl('…')/Files/add(url='…',overwrite=true)``, as PnP uploads.
_FILES_ADD = re.compile(
    r"^GetFolderByServerRelativeUrl\((?P<folder>'(?:[^']|'')*'|@\w+)\)/Files/add\((?P<args>.*)\)$",
    re.IGNORECASE | re.DOTALL,
)


Sites = Annotated[SitesService, Depends(dependency(SitesService))]
USERPHOTO = "/_layouts/15/userphoto.aspx"


def _api_error(exc: SitesError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def base_url(request: Request, sites: SitesService) -> str:
    return sites.ctx.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")


# --- pictures ------------------------------------------------------------------------------


def picture_response(request: Request, picture: Picture, version: str | None) -> Response:
    # A versioned URL (``?t=`` equal to the picture's timestamp) never changes content.
    versioned = version is not None and version == picture.timestamp
    headers = {"ETag": picture.etag, "Cache-Control": IMMUTABLE if versioned else REVALIDATE}
    if is_not_modified(request.headers.get("if-none-match"), picture.etag):
        return Response(status_code=304, headers=headers)
    return Response(picture.data, media_type=JPEG, headers=headers)


def _userphoto(request: Request, *, memory_only: bool = False) -> Response:
    """THE read of userphoto.aspx: who asks (401 before anything else), which size of whose
    picture, may they, and the picture; the caller's own Large may sync first."""
    directory = service(request, DirectoryService)
    principal = require(authenticate(request, directory, memory_only=memory_only))
    # ASP.NET reads query keys case-insensitively (AccountName=, Size=).
    query = {key.lower(): value for key, value in request.query_params.items()}
    code = size_code(query.get("size"))
    if code is None:
        raise ApiError(400, odata_code(), "size must be S, M or L.")
    sites = service(request, SitesService)
    try:
        user = sites.check_read(
            principal, query.get("accountname") or query.get("username"), memory_only=memory_only
        )
        if code == "L" and principal.is_self(user.id):
            if memory_only:
                raise NotInMemory("an own-Large request may sync")
            # Before the read, so the answer carries a picture the check just took.
            sites.own_large_requested(principal)
        picture = sites.picture_for(
            principal, user, code, timestamp=query.get("t"), memory_only=memory_only
        )
    except SitesError as exc:
        raise _api_error(exc) from exc
    return picture_response(request, picture, query.get("t"))


async def userphoto(request: Request) -> Response:
    """``?size=S|M|L&accountname=…`` (or ``username=``); the placeholder for a user without one."""
    return await memory_first(_userphoto, request)


@router.get(LIBRARY_FOLDER + "/{filename}")
@router.head(LIBRARY_FOLDER + "/{filename}")
def library_file(
    filename: str, request: Request, principal: CurrentPrincipal, sites: Sites
) -> Response:
    """A thumbnail file of the library; asking for your own L file is an own-Large request."""
    match = THUMB_FILE.match(filename)
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
    found = sites.library_file(principal, f"{LIBRARY_FOLDER}/{slug}_{code}Thumb.jpg")
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


# The reads a GET makes, as /openapi.json documents them (the route itself also takes
# ``accountName=@v`` aliases; an unknown name is 404, a write by GET 405, no account 400).
READ_CALLS = r"^(GetMyProperties|GetPropertiesFor\(accountName='([^']|'')+'\))$"


@router.get(PEOPLE_MANAGER)
async def people_manager_read(
    operation: Annotated[str, FastApiPath(json_schema_extra={"pattern": READ_CALLS})],
    request: Request,
    principal: CurrentPrincipal,
    sites: Sites,
) -> Response:
    """GetMyProperties, GetPropertiesFor."""
    return await people_manager(operation, request, principal, sites)


# One route per method: a route of two methods has one operation id for both in /openapi.json.
@router.post(PEOPLE_MANAGER)
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
    if request.method == "POST" and name == "setmyprofilepicture":
        await count_upload(request, principal)
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


# --- the User Photos library, file by file ---------------------------------------------------


@router.post("/_api/web/{call:path}")
async def web_call(
    call: str, request: Request, principal: CurrentPrincipal, sites: Sites
) -> Response:
    """``Files/add`` into the User Photos library (the one web call we answer)."""
    verbose = odata.wants_verbose(request.headers.get("accept", ""))
    match = _FILES_ADD.match(call)
    if match is None:
        raise ApiError(404, odata_code(), f"Cannot find resource for the request {call}.")
    try:
        folder = match.group("folder")
        if folder.startswith("@"):
            folder = request.query_params.get(folder, "")
        _, args = odata.parse_call(f"add({match.group('args')})", dict(request.query_params))
    except ValueError as exc:
        raise ApiError(400, odata_code(), str(exc)) from exc
    if "url" not in args:
        raise ApiError(400, odata_code(), "Files/add needs url='<file name>'.")
    if args.get("overwrite", "false").lower() != "true":
        # Every thumbnail exists once per user; replacing it is the only add that makes sense.
        raise ApiError(400, odata_code(), "Files/add into Profile Pictures needs overwrite=true.")
    await count_upload(request, principal)
    body = await request.body()
    try:
        entry = await run_in_threadpool(
            sites.add_library_file,
            principal,
            odata.odata_string(folder),
            args["url"].rsplit("/", 1)[-1],
            body,
        )
    except SitesError as exc:
        raise _api_error(exc) from exc
    return odata.answer(odata.file(entry, verbose=verbose), verbose)


# --- contextinfo ---------------------------------------------------------------------------


@router.post("/_api/contextinfo")
@router.post("/_api/contextInfo", include_in_schema=False)
def context_info(request: Request, principal: DigestPrincipal, sites: Sites) -> JSONResponse:
    """The form digest. For a cookie session it is the session's CSRF token (which auth checks
    on cookie POSTs); bearer requests need none, so any value does. Clients POST here to *get*
    the digest: it changes nothing and its answer cannot be read cross-site, so it cannot
    require the digest itself (hence DigestPrincipal)."""
    verbose = odata.wants_verbose(request.headers.get("accept", ""))
    if principal.via == "cookie" and principal.csrf_token:
        digest = principal.csrf_token
    else:
        stamp = datetime.now(UTC).strftime("%d %b %Y %H:%M:%S -0000")
        digest = f"0x{secrets.token_hex(64).upper()},{stamp}"
    body = odata.context_info(digest=digest, web_url=base_url(request, sites), verbose=verbose)
    return odata.answer(body, verbose)


# --- the sub-application ---------------------------------------------------------------------

# The paths whose body is a picture (regular expressions, for the body limit in ``web.Root``):
# SetMyProfilePicture and the library's Files/add.
UPLOAD_PATHS = (
    r"/_api/SP\.UserProfiles\.PeopleManager/(?i:SetMyProfilePicture)",
    r"/_api/web/.*",
)

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    USERPHOTO: {
        method: {
            "tags": ["sites"],
            "summary": "A person's picture (S 48, M 72, L 300 px) or the placeholder",
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    # Missing: S; any other size is refused with 400.
                    "schema": {"type": "string", "enum": ["S", "M", "L"]}
                    if name == "size"
                    else {"type": "string"},
                }
                for name in ("size", "accountname", "username", "t")
            ],
            "responses": {
                "200": {"description": "The JPEG", "content": {"image/jpeg": {}}},
                "304": {"description": "Not modified (If-None-Match)"},
                "401": {"description": "Not signed in"},
            },
        }
        for method in ("get", "head")
    }
}


def create_app() -> FastAPI:
    app = sub_app("SharePoint (sites)", sharepoint_error)
    # The hottest route, tried first and without FastAPI's per-request work (see
    # photosync.mailbox.graph); OPENAPI_PATHS describes it.
    app.router.routes.append(PlainRoute(USERPHOTO, userphoto, methods=["GET", "HEAD"]))
    app.include_router(router)
    return app
