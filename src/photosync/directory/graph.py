"""Microsoft Graph's user resources under /v1.0: ``GET /me``, ``GET /users``, ``GET /users/{id}``.

Part of the Graph sub-application (``app.py`` includes this router in it), so every error is a
Graph error body. The query options Graph's connectors use are understood, the way Graph reads
them: ``$select``, ``$filter`` (``eq`` and ``startswith`` on ``userPrincipalName`` and ``mail``),
``$top`` (1 to 999) and ``$skiptoken`` (from ``@odata.nextLink``, opaque). Any other ``$`` option
is refused with Graph's 400 rather than ignored, so a client never mistakes an unfiltered list
for a filtered one. Paging is keyset paging on the lower-cased UPN (``users_after``): stable
while people are added or removed, and one indexed query a page however deep.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from photosync.directory.access import Principal, may_list_users
from photosync.directory.auth import authenticate, require
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService, UserFilter
from photosync.settings import Settings
from photosync.web import ApiError, service

PREFIX = "/v1.0"
router = APIRouter(prefix=PREFIX, tags=["directory (Microsoft Graph)"])

# Graph's page size for users when $top is not given, and the most $top may ask for.
DEFAULT_TOP = 100
MAX_TOP = 999
# What a user is made of here, in Graph's names; without $select Graph answers its default set.
PROPERTIES = ("id", "userPrincipalName", "mail", "displayName", "accountEnabled")
DEFAULT_SELECT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
KNOWN_OPTIONS = frozenset({"$select", "$filter", "$top", "$skiptoken"})
# Options Graph knows that a single user (or /me) accepts.
ENTITY_OPTIONS = frozenset({"$select"})
_STRING = r"'((?:[^']|'')*)'"
_EQ = re.compile(rf"^\s*(\w+)\s+eq\s+{_STRING}\s*$", re.IGNORECASE)
_STARTSWITH = re.compile(rf"^\s*startswith\(\s*(\w+)\s*,\s*{_STRING}\s*\)\s*$", re.IGNORECASE)
FILTERABLE = {"userprincipalname": "userPrincipalName", "mail": "mail"}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _not_found(name: str) -> ApiError:
    return ApiError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{name}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


@dataclass(frozen=True)
class UsersQuery:
    """``GET /users``'s query options, checked."""

    select: tuple[str, ...] | None
    where: UserFilter | None
    top: int
    after: str


def _options(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    """The request's ``$`` options (names matched without case, as Graph does); 400 for any
    option this resource does not support."""
    options: dict[str, str] = {}
    for name, value in request.query_params.items():
        key = name.lower()
        if not key.startswith("$"):
            continue
        if key not in allowed:
            raise bad_request(f"Query option '{name}' is not supported on this resource.")
        options[key] = value
    return options


def parse_select(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    chosen: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        match = next((p for p in PROPERTIES if p.lower() == name.lower()), None)
        if match is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.user'."
            )
        if match not in chosen:
            chosen.append(match)
    return tuple(chosen)


def parse_filter(text: str | None) -> UserFilter | None:
    if text is None or not text.strip():
        return None
    for op, pattern in (("eq", _EQ), ("startswith", _STARTSWITH)):
        match = pattern.match(text)
        if match is None:
            continue
        field = FILTERABLE.get(match.group(1).lower())
        if field is None:
            raise bad_request(
                f"Unsupported or invalid query filter clause specified for property "
                f"'{match.group(1)}' of resource 'User'; photosync filters on "
                "userPrincipalName and mail."
            )
        value = match.group(2).replace("''", "'")
        return UserFilter(field, op, value)  # type: ignore[arg-type]
    raise bad_request(
        "Invalid filter clause: photosync supports \"userPrincipalName eq 'x'\", "
        "\"mail eq 'x'\" and startswith(userPrincipalName|mail,'x')."
    )


def parse_top(text: str | None) -> int:
    if text is None:
        return DEFAULT_TOP
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_TOP:
        raise bad_request(
            f"Invalid page size specified: '{text}'. Must be between 1 and {MAX_TOP} inclusive."
        )
    return int(text)


def skiptoken(after: str) -> str:
    """Opaque to clients: they pass back what ``@odata.nextLink`` carries."""
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def parse_skiptoken(text: str | None) -> str:
    if not text:
        return ""
    try:
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("The $skiptoken is not valid; follow @odata.nextLink as given.") from None


def users_query(request: Request) -> UsersQuery:
    options = _options(request, KNOWN_OPTIONS)
    return UsersQuery(
        select=parse_select(options.get("$select")),
        where=parse_filter(options.get("$filter")),
        top=parse_top(options.get("$top")),
        after=parse_skiptoken(options.get("$skiptoken")),
    )


def user_json(user: UserInfo, select: tuple[str, ...] | None) -> dict[str, Any]:
    every: dict[str, Any] = {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": None,
        "jobTitle": None,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": None,
        "userPrincipalName": user.upn,
        "id": user.id,
        "accountEnabled": not user.disabled,
    }
    return {name: every[name] for name in (select or DEFAULT_SELECT)}


def _base(request: Request) -> str:
    configured = service(request, Settings).base_url
    return (configured or str(request.base_url)).rstrip("/")


def _context(request: Request, select: tuple[str, ...] | None, entity: bool) -> str:
    chosen = f"({','.join(select)})" if select else ""
    return f"{_base(request)}/v1.0/$metadata#users{chosen}" + ("/$entity" if entity else "")


def _caller(request: Request) -> Principal:
    principal = require(authenticate(request, service(request, DirectoryService)))
    if not may_list_users(principal):
        raise ApiError(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    return principal


def _list(request: Request) -> JSONResponse:
    _caller(request)
    query = users_query(request)
    directory = service(request, DirectoryService)
    found = directory.users_after(query.after, query.top + 1, query.where)
    page, more = found[: query.top], len(found) > query.top
    body: dict[str, Any] = {
        "@odata.context": _context(request, query.select, False),
        "value": [user_json(user, query.select) for user in page],
    }
    if more:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "$skiptoken"]
        params.append(("$skiptoken", skiptoken(page[-1].upn.lower())))
        body["@odata.nextLink"] = f"{_base(request)}{PREFIX}/users?{urlencode(params)}"
    return JSONResponse(body)


def _one(request: Request, name: str | None) -> JSONResponse:
    principal = _caller(request)
    select = parse_select(_options(request, ENTITY_OPTIONS).get("$select"))
    if name is None:
        if principal.user is None:
            raise bad_request("/me request is only valid with delegated authentication flow.")
        user: UserInfo | None = principal.user
    else:
        user = service(request, DirectoryService).get_user(name)
    if user is None:
        raise _not_found(name or "me")
    return JSONResponse(
        {"@odata.context": _context(request, select, True), **user_json(user, select)}
    )


@router.get("/users")
async def list_users(request: Request) -> JSONResponse:
    """Users, a page at a time (``$select``, ``$filter``, ``$top``, ``@odata.nextLink``)."""
    return await run_in_threadpool(_list, request)


@router.get("/users/{user}")
async def get_user(request: Request, user: str) -> JSONResponse:
    """One user by id or user principal name (``$select``)."""
    return await run_in_threadpool(_one, request, user)


@router.get("/me")
async def me(request: Request) -> JSONResponse:
    """The signed-in user (delegated tokens and the portal's session)."""
    return await run_in_threadpool(_one, request, None)


def unrouted(request: Request) -> ApiError:
    """What Graph answers for a path it has no resource for (not FastAPI's ``detail``)."""
    path = request.url.path.removeprefix(PREFIX).strip("/")
    segment = path.split("/")[0] if path else ""
    return ApiError(
        404,
        "Request_ResourceNotFound",
        f"Resource not found for the segment '{segment}'.",
    )
