"""SharePoint's REST wire format: OData v3 JSON in its "verbose" and "nometadata" flavours, and
the function-call syntax of ``/_api`` URLs (``GetPropertiesFor(accountName=@v)?@v='…'``).

SharePoint answers Atom XML when a client asks for nothing; we answer JSON ``nometadata`` then,
since every client we know of asks for JSON.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from photosync.sites.interfaces import LibraryEntry
from photosync.sites.people import PersonView

VERBOSE = "application/json;odata=verbose;charset=utf-8"
NOMETADATA = "application/json;odata=nometadata;charset=utf-8"
PERSON_TYPE = "SP.UserProfiles.PersonProperties"
FORM_DIGEST_TIMEOUT = 1800
LIBRARY_VERSION = "16.0.0.0"

_CALL = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_]*)(?:\((?P<args>.*)\))?$", re.DOTALL)


def wants_verbose(accept: str) -> bool:
    return "odata=verbose" in accept.lower()


def answer(body: dict[str, Any], verbose: bool, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=VERBOSE if verbose else NOMETADATA)


def odata_string(raw: str) -> str:
    """An OData string literal (``'it''s'`` → ``it's``); bare values are taken as they are."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    return raw


def parse_call(segment: str, query: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """``GetPropertiesFor(accountName=@v)`` with ``?@v='x'`` → (``getpropertiesfor``, {…}).

    Names come back lower-cased (SharePoint's are case-insensitive); ``@alias`` arguments are
    looked up in the query string, as OData parameter aliases are.
    """
    match = _CALL.match(segment.strip())
    if match is None:
        raise ValueError(f"'{segment}' is not an operation call")
    args: dict[str, str] = {}
    for part in _split_args(match.group("args") or ""):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"argument '{part}' has no value")
        value = value.strip()
        if value.startswith("@"):
            if value not in query:
                raise ValueError(f"parameter alias {value} is not in the query string")
            value = query[value]
        args[key.strip().lower()] = odata_string(value)
    return match.group("name").lower(), args


def _split_args(text: str) -> list[str]:
    """Split on commas outside quoted literals."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p for p in parts if p.strip()]


def person(view: PersonView, *, verbose: bool, self_url: str) -> dict[str, Any]:
    """PersonProperties as GetMyProperties / GetPropertiesFor answer it."""
    strings: dict[str, Any] = {
        "AccountName": view.account_name,
        "DirectReports": _collection([], verbose),
        "DisplayName": view.display_name,
        "Email": view.email,
        "ExtendedManagers": _collection([], verbose),
        "ExtendedReports": _collection([view.account_name], verbose),
        "IsFollowed": False,
        "LatestPost": None,
        "Peers": _collection([], verbose),
        "PersonalSiteHostUrl": view.personal_url.split("/personal/")[0] + "/",
        "PersonalUrl": view.personal_url,
        "PictureUrl": view.picture_url,
        "Title": view.title,
    }
    if verbose:
        props: Any = {
            "results": [
                {
                    "__metadata": {"type": "SP.KeyValue"},
                    "Key": key,
                    "Value": value,
                    "ValueType": "Edm.String",
                }
                for key, value in view.properties
            ]
        }
        body = {
            "__metadata": {"id": self_url, "uri": self_url, "type": PERSON_TYPE},
            **strings,
            "UserProfileProperties": props,
            "UserUrl": view.user_url,
        }
        return {"d": body}
    props = [
        {"Key": key, "Value": value, "ValueType": "Edm.String"} for key, value in view.properties
    ]
    return {**strings, "UserProfileProperties": props, "UserUrl": view.user_url}


def _collection(values: list[str], verbose: bool) -> Any:
    if verbose:
        return {"__metadata": {"type": "Collection(Edm.String)"}, "results": values}
    return values


def file(entry: LibraryEntry, *, verbose: bool) -> dict[str, Any]:
    """An SP.File, as ``Files/add`` answers it."""
    body = {
        "CheckInComment": "",
        "ETag": f'"{{{entry.sha256[:8].upper()}}},1"',
        "Exists": True,
        "Length": str(entry.length),
        "Name": entry.path.rsplit("/", 1)[-1],
        "ServerRelativeUrl": entry.path,
        "TimeLastModified": entry.modified_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "UniqueId": str(uuid.UUID(entry.sha256[:32])),
    }
    if verbose:
        return {"d": {"__metadata": {"type": "SP.File"}, **body}}
    return body


def void(operation: str, *, verbose: bool) -> dict[str, Any]:
    """What SharePoint answers for a method that returns nothing."""
    return {"d": {operation: None}} if verbose else {"odata.null": True}


def context_info(*, digest: str, web_url: str, verbose: bool) -> dict[str, Any]:
    """``POST /_api/contextinfo``: the form digest that clients send back as X-RequestDigest."""
    info: dict[str, Any] = {
        "FormDigestTimeoutSeconds": FORM_DIGEST_TIMEOUT,
        "FormDigestValue": digest,
        "LibraryVersion": LIBRARY_VERSION,
        "SiteFullUrl": web_url,
        "SupportedSchemaVersions": _collection(["14.0.0.0", "15.0.0.0"], verbose),
        "WebFullUrl": web_url,
    }
    if verbose:
        return {
            "d": {
                "GetContextWebInformation": {
                    "__metadata": {"type": "SP.ContextWebInformation"},
                    **info,
                }
            }
        }
    return info
