"""The authorisation matrix: every route of the app × every kind of caller, each expected status
written once in ``MATRIX`` below, and a route the table does not list fails the test.

Who calls (the columns), always on user A's things (a path naming A, A's photo versions, A's
profile, A's files):

- ``anon``: no credentials.
- ``A``: A, the owner; ``B``: another user (not an admin); ``admin``: an admin. On the portal
  these are sign-in session cookies (with the session's CSRF token in forms), on the APIs
  bearer tokens from the password grant. ``/me`` paths are the caller's own, whoever calls.
- ``app:UR`` … ``app:SF``: an app with one application role each (``User.Read.All``,
  ``User.ReadWrite.All``, ``ProfilePhoto.Read.All``, ``ProfilePhoto.ReadWrite.All``,
  ``Sites.Read.All``, ``Sites.FullControl.All``); ``app:-`` an app with none.
- ``expired``, ``tampered`` (A's token with ``User.ReadWrite.All`` added to its payload, the
  signature kept; on the portal a session cookie with another id under the signature),
  ``foreign`` (signed by another server's key), ``audience`` (a token for another resource),
  ``revoked`` (A's sign-in session ended: signed out), ``disabled`` (a disabled user's token
  or session, taken before they were disabled).

The portal takes no bearer tokens (its pages are for browsers), so apps and bearer-only
columns are anonymous there: a page redirects to sign-in (303), a form post is refused.
Every cell is run in process (TestClient) on one SQLite database; a cell that changed A's
state (a photo removed, the account disabled) is undone before the next one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import _IncludedRouter
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount

from photosync.directory.addresses import digests
from photosync.directory.auth import SESSION_COOKIE
from photosync.directory.cookies import sign_session_id
from photosync.directory.interfaces import UserInfo
from photosync.directory.models import SignInSession
from photosync.directory.tokens import DELEGATED_SCOPES, TokenIssuer
from photosync.imaging.testimages import photo_jpeg
from photosync.services import Services
from photosync.sites.interfaces import account_slug
from photosync.web import Root
from tests.conftest import PASSWORD, bearer, password_token

COLUMNS = (
    "anon",
    "A",
    "B",
    "admin",
    "app:UR",
    "app:UW",
    "app:PR",
    "app:PW",
    "app:SR",
    "app:SF",
    "app:-",
    "expired",
    "tampered",
    "foreign",
    "audience",
    "revoked",
    "disabled",
)
ROLES = {
    "app:UR": "User.Read.All",
    "app:UW": "User.ReadWrite.All",
    "app:PR": "ProfilePhoto.Read.All",
    "app:PW": "ProfilePhoto.ReadWrite.All",
    "app:SR": "Sites.Read.All",
    "app:SF": "Sites.FullControl.All",
}

# One row per route and method: the path as sent ({a} A's UPN, {a_id} A's id, {slug} A's
# account slug, {version} an earlier photo version of A's, {hash} A's e-mail digest, {v} the
# victim of the admin's destructive actions), whether it is a portal page (cookies) or an API
# (bearer tokens), a body, and the 17 statuses in COLUMNS order.
#           anon   A    B  admin UR   UW   PR   PW   SR   SF   -  exp  tam  for  aud  rev  dis
MATRIX: dict[tuple[str, str], tuple[str, dict[str, Any], tuple[int, ...]]] = {}


@dataclass
class World:
    client: TestClient
    services: Services
    a: UserInfo
    b: UserInfo
    admin: UserInfo
    victim_upn: str
    version: str
    apps: dict[str, str] = field(default_factory=dict)  # column -> client id
    disabled_id: str = ""


def _flat(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        if isinstance(route, _IncludedRouter):
            yield from _flat(route.effective_candidates())  # type: ignore[arg-type]
        else:
            yield route


def app_routes(app: Root) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers; HEAD goes with GET, mounts are GETs."""
    found: set[tuple[str, str]] = set()
    for sub in app.apps:
        for route in _flat(sub.routes):
            path = getattr(route, "path", "")
            if isinstance(route, Mount):
                found.add(("GET", path))
                continue
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, path))
    return found


@dataclass(frozen=True)
class Request:
    path: str = ""  # what is sent, when not the template itself
    body: str = ""  # "", "jpeg" (raw image), "form", "upload" (multipart), "json:<text>"
    form: tuple[tuple[str, str], ...] = ()


def request(path: str = "", body: str = "", **form: str) -> Request:
    return Request(path, body, tuple(form.items()))


# The expected status of every cell, written once: one line per route and method, the
# statuses in COLUMNS order. (HEAD answers as GET does; a mount is one GET line.)
TABLE = """
#      route                                               anon A   B   adm UR  UW  PR  PW  SR  SF  -   exp tam for aud rev dis
GET    /v1.0/me/photo/$value                               401 200 404 404 400 400 400 400 400 400 400 401 401 401 401 401 401
GET    /v1.0/me/photo                                      401 200 404 404 400 400 400 400 400 400 400 401 401 401 401 401 401
GET    /v1.0/me/photos                                     401 200 404 404 400 400 400 400 400 400 400 401 401 401 401 401 401
GET    /v1.0/me/photos/{size}                              401 200 404 404 400 400 400 400 400 400 400 401 401 401 401 401 401
GET    /v1.0/me/photos/{size}/$value                       401 200 404 404 400 400 400 400 400 400 400 401 401 401 401 401 401
PUT    /v1.0/me/photo/$value                               401 200 200 200 400 400 400 400 400 400 400 401 401 401 401 401 401
PATCH  /v1.0/me/photo/$value                               401 200 200 200 400 400 400 400 400 400 400 401 401 401 401 401 401
DELETE /v1.0/me/photo                                      401 200 200 200 400 400 400 400 400 400 400 401 401 401 401 401 401
DELETE /v1.0/me/photo/$value                               401 200 404 404 400 400 400 400 400 400 400 401 401 401 401 401 401
GET    /v1.0/me                                            401 200 200 200 400 400 403 403 403 403 403 401 401 401 401 401 401
GET    /v1.0/users/{user}/photo/$value                     401 200 200 200 200 200 200 200 403 403 403 401 401 401 401 401 401
GET    /v1.0/users/{user}/photo                            401 200 200 200 200 200 200 200 403 403 403 401 401 401 401 401 401
GET    /v1.0/users/{user}/photos                           401 200 200 200 200 200 200 200 403 403 403 401 401 401 401 401 401
GET    /v1.0/users/{user}/photos/{size}                    401 200 200 200 200 200 200 200 403 403 403 401 401 401 401 401 401
GET    /v1.0/users/{user}/photos/{size}/$value             401 200 200 200 200 200 200 200 403 403 403 401 401 401 401 401 401
PUT    /v1.0/users/{user}/photo/$value                     401 200 403 200 403 200 403 200 403 403 403 401 401 401 401 401 401
PATCH  /v1.0/users/{user}/photo/$value                     401 200 403 200 403 200 403 200 403 403 403 401 401 401 401 401 401
DELETE /v1.0/users/{user}/photo                            401 200 403 200 403 200 403 200 403 403 403 401 401 401 401 401 401
DELETE /v1.0/users/{user}/photo/$value                     401 200 403 200 403 200 403 200 403 403 403 401 401 401 401 401 401
GET    /v1.0/users                                         401 200 200 200 200 200 403 403 403 403 403 401 401 401 401 401 401
GET    /v1.0/users/{user}                                  401 200 200 200 200 200 403 403 403 403 403 401 401 401 401 401 401
GET    /_layouts/15/userphoto.aspx                         401 200 200 200 200 200 200 200 200 200 403 401 401 401 401 401 401
GET    /User Photos/Profile Pictures/{filename}            401 200 200 200 200 200 200 200 200 200 403 401 401 401 401 401 401
GET    /_api/SP.UserProfiles.PeopleManager/{operation}     401 200 200 200 200 200 200 200 200 200 403 401 401 401 401 401 401
POST   /_api/SP.UserProfiles.PeopleManager/{operation}     401 403 403 200 403 403 403 403 403 200 403 401 401 401 401 401 401
GET    /_api/sp.userprofiles.peoplemanager/{operation}     401 200 200 200 400 400 400 400 400 400 403 401 401 401 401 401 401
POST   /_api/sp.userprofiles.peoplemanager/{operation}     401 200 200 200 403 403 403 403 403 403 403 401 401 401 401 401 401
POST   /_api/web/{call:path}                               401 403 403 200 403 403 403 403 403 200 403 401 401 401 401 401 401
POST   /_api/contextinfo                                   401 200 200 200 200 200 200 200 200 200 200 401 401 401 401 401 401
POST   /_api/contextInfo                                   401 200 200 200 200 200 200 200 200 200 200 401 401 401 401 401 401
POST   /oauth2/v2.0/token                                  400 400 400 400 400 400 400 400 400 400 400 400 400 400 400 400 400
POST   /{tenant}/oauth2/v2.0/token                         400 400 400 400 400 400 400 400 400 400 400 400 400 400 400 400 400
GET    /{tenant}/v2.0/.well-known/openid-configuration     200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
GET    /avatar/{name}                                      401 200 200 200 200 200 200 200 200 200 200 401 401 401 401 401 401
GET    /openapi.json                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
GET    /_docs                                              200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
GET    /_docs/assets                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
GET    /healthz                                            200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
GET    /readyz                                             200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
GET    /metrics                                            403 403 403 403 403 403 403 403 403 403 403 403 403 403 403 403 403
GET    /signin                                             200 303 303 303 200 200 200 200 200 200 200 200 200 200 200 200 200
POST   /signin                                             403 403 403 403 403 403 403 403 403 403 403 403 403 403 403 403 403
POST   /signout                                            303 303 303 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /                                                   303 200 200 200 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /onedrive                                           303 200 200 200 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /sharepoint                                         303 200 200 200 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /photo                                              303 200 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /photo/preview                                      303 303 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /photo/preview/{size}                               303 200 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /photo/save                                         303 303 403 409 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /photo/cancel                                       303 303 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /photo/remove                                       303 303 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /photo/versions/{version_id}/{size}                 303 200 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /photo/restore                                      303 303 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /photo/doctor                                       303 200 200 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /photo/doctor/check                                 303 303 303 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin                                              303 403 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/people.csv                                   303 403 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/check                                        303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/picture-editable                             303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/users/{user_id}/thumbnail                    303 403 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/runs                                         303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/runs/{run_id}                                303 403 403 404 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/runs/{run_id}/report.csv                     303 403 403 404 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/users/{user_id}/diagnostic                   303 403 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/users/{user_id}/diagnostic/check             303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/audit                                        303 403 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /admin/users/{who}                                  303 403 403 200 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/users/{who}/disable                          303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/users/{who}/enable                           303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/users/{who}/admin                            303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
POST   /admin/users/{who}/remove                           303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /personal/{account}                                 303 303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /personal/{account}/                                303 303 403 403 303 303 303 303 303 303 303 303 303 303 303 303 303
GET    /portal-static                                      200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
"""

LIBRARY_ADD = (
    "/_api/web/GetFolderByServerRelativeUrl('/User Photos/Profile Pictures')"
    "/Files/add(url='{slug}_MThumb.jpg',overwrite=true)"
)
PEOPLE = "/_api/SP.UserProfiles.PeopleManager"
PROPERTY = (
    '{"accountName": "{a}", "propertyName": "SPS-PictureExchangeSyncState", "propertyValue": "0"}'
)
# What each route is sent, when more than a GET of its template: {a} A's UPN, {a_id} A's id,
# {slug} A's account slug, {version} an earlier version of A's photo, {hash} A's e-mail
# digest, {v} the victim of the admin's actions on accounts.
REQUESTS: dict[tuple[str, str], Request] = {
    ("GET", "/v1.0/me/photos/{size}"): request("/v1.0/me/photos/96x96"),
    ("GET", "/v1.0/me/photos/{size}/$value"): request("/v1.0/me/photos/96x96/$value"),
    ("PUT", "/v1.0/me/photo/$value"): request(body="jpeg"),
    ("PATCH", "/v1.0/me/photo/$value"): request(body="jpeg"),
    ("GET", "/v1.0/users/{user}/photo/$value"): request("/v1.0/users/{a}/photo/$value"),
    ("GET", "/v1.0/users/{user}/photo"): request("/v1.0/users/{a}/photo"),
    ("GET", "/v1.0/users/{user}/photos"): request("/v1.0/users/{a}/photos"),
    ("GET", "/v1.0/users/{user}/photos/{size}"): request("/v1.0/users/{a}/photos/96x96"),
    ("GET", "/v1.0/users/{user}/photos/{size}/$value"): request(
        "/v1.0/users/{a}/photos/96x96/$value"
    ),
    ("PUT", "/v1.0/users/{user}/photo/$value"): request("/v1.0/users/{a}/photo/$value", "jpeg"),
    ("PATCH", "/v1.0/users/{user}/photo/$value"): request("/v1.0/users/{a}/photo/$value", "jpeg"),
    ("DELETE", "/v1.0/users/{user}/photo"): request("/v1.0/users/{a}/photo"),
    ("DELETE", "/v1.0/users/{user}/photo/$value"): request("/v1.0/users/{a}/photo/$value"),
    ("GET", "/v1.0/users/{user}"): request("/v1.0/users/{a}"),
    ("GET", "/_layouts/15/userphoto.aspx"): request(
        "/_layouts/15/userphoto.aspx?size=M&accountname={a}"
    ),
    ("GET", "/User Photos/Profile Pictures/{filename}"): request(
        "/User Photos/Profile Pictures/{slug}_MThumb.jpg"
    ),
    ("GET", PEOPLE + "/{operation}"): request(
        PEOPLE + "/GetPropertiesFor(accountName=@v)?@v='{a}'"
    ),
    ("POST", PEOPLE + "/{operation}"): request(
        PEOPLE + "/SetSingleValueProfileProperty", "json:" + PROPERTY
    ),
    ("GET", PEOPLE.lower() + "/{operation}"): request(PEOPLE.lower() + "/GetMyProperties"),
    ("POST", PEOPLE.lower() + "/{operation}"): request(
        PEOPLE.lower() + "/SetMyProfilePicture", "jpeg"
    ),
    ("POST", "/_api/web/{call:path}"): request(LIBRARY_ADD, "jpeg"),
    ("POST", "/oauth2/v2.0/token"): request(body="form", grant_type="client_credentials"),
    ("POST", "/{tenant}/oauth2/v2.0/token"): request(
        "/common/oauth2/v2.0/token", "form", grant_type="client_credentials"
    ),
    ("GET", "/{tenant}/v2.0/.well-known/openid-configuration"): request(
        "/common/v2.0/.well-known/openid-configuration"
    ),
    ("GET", "/avatar/{name}"): request("/avatar/{hash}?d=404"),
    ("GET", "/_docs/assets"): request("/_docs/assets/swagger-ui.css"),
    ("POST", "/signin"): request(body="form", username="{a}", password="wrong password here"),
    ("POST", "/signout"): request(body="form"),
    ("GET", "/photo"): request("/photo?user={a}"),
    ("POST", "/photo/preview"): request("/photo/preview?user={a}", "upload", user="{a}"),
    ("GET", "/photo/preview/{size}"): request("/photo/preview/96?user={a}"),
    ("POST", "/photo/save"): request(body="form", user="{a}"),
    ("POST", "/photo/cancel"): request(body="form", user="{a}"),
    ("POST", "/photo/remove"): request(body="form", user="{a}"),
    ("GET", "/photo/versions/{version_id}/{size}"): request(
        "/photo/versions/{version}/96?user={a}"
    ),
    ("POST", "/photo/restore"): request(body="form", user="{a}", version_id="{version}"),
    ("POST", "/photo/doctor/check"): request(body="form"),
    ("POST", "/admin/check"): request(body="form", user_id="{a_id}"),
    ("POST", "/admin/picture-editable"): request(body="form", enabled="1"),
    ("GET", "/admin/users/{user_id}/thumbnail"): request("/admin/users/{a_id}/thumbnail"),
    ("POST", "/admin/runs"): request(body="form"),
    ("GET", "/admin/runs/{run_id}"): request("/admin/runs/no-such-run"),
    ("GET", "/admin/runs/{run_id}/report.csv"): request("/admin/runs/no-such-run/report.csv"),
    ("GET", "/admin/users/{user_id}/diagnostic"): request("/admin/users/{a_id}/diagnostic"),
    ("POST", "/admin/users/{user_id}/diagnostic/check"): request(
        "/admin/users/{a_id}/diagnostic/check", "form"
    ),
    ("GET", "/admin/users/{who}"): request("/admin/users/{a}"),
    ("POST", "/admin/users/{who}/disable"): request("/admin/users/{v}/disable", "form"),
    ("POST", "/admin/users/{who}/enable"): request("/admin/users/{v}/enable", "form"),
    ("POST", "/admin/users/{who}/admin"): request("/admin/users/{v}/admin", "form", admin="1"),
    ("POST", "/admin/users/{who}/remove"): request(
        "/admin/users/{v}/remove", "form", confirmed="{v}"
    ),
    ("GET", "/personal/{account}"): request("/personal/{slug}"),
    ("GET", "/personal/{account}/"): request("/personal/{slug}/"),
    ("GET", "/portal-static"): request("/portal-static/favicon.svg"),
}


@dataclass(frozen=True)
class Row:
    method: str
    template: str
    request: Request
    expected: tuple[int, ...]

    @property
    def portal(self) -> bool:
        """A page (cookie credentials) or an API (bearer tokens)."""
        return not self.template.startswith(("/v1.0/", "/_api/", "/_layouts/", "/User Photos/"))


def _rows() -> list[Row]:
    rows = []
    for line in TABLE.strip().splitlines()[1:]:
        method, rest = line.split(None, 1)
        template, codes = re.split(r"\s{2,}", rest.strip(), maxsplit=1)
        expected = tuple(int(code) for code in codes.split())
        assert len(expected) == len(COLUMNS), line
        rows.append(Row(method, template, REQUESTS.get((method, template), request()), expected))
    return rows


ROWS = _rows()


OTHER_KEY = "another-servers-signing-key-0123456789abcdef"
JPEG = photo_jpeg(300, 300, seed=3)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """One database: who may do what does not depend on which one (the services' queries are
    tested on both elsewhere), and 1,300 cells twice would cost half a minute more."""
    return sqlite_url


@pytest.fixture
def world(client: TestClient, services: Services, make_user: Callable[..., UserInfo]) -> World:
    a = make_user("a@example.com")
    b = make_user("b@example.com")
    admin = make_user("admin@example.com", admin=True)
    make_user("victim@example.com")
    mailbox = services.mailbox
    first = mailbox.store_photo(a, photo_jpeg(300, 300, seed=1), actor="test")
    mailbox.store_photo(a, JPEG, actor="test")
    world = World(client, services, a, b, admin, "victim@example.com", first.version_id)
    directory = services.directory
    for column, role in (*ROLES.items(), ("app:-", None)):
        client_id, _ = directory.add_app(column, [role] if role else [])
        world.apps[column] = client_id
    # A's medium thumbnail in User Photos, as PnP's uploader puts it there.
    sid, _ = _session(world, admin)
    added = client.post(
        _fill(LIBRARY_ADD, world),
        content=photo_jpeg(72, 72, seed=2),
        headers=bearer(
            directory.tokens.issue_user_token(
                admin.id, admin.upn, sid, DELEGATED_SCOPES, services.ctx.clock()
            )
        ),
    )
    assert added.status_code == 200, added.text
    disabled = make_user("d@example.com")
    world.disabled_id = disabled.id
    directory.set_disabled(disabled.id, True)
    return world


def _session(world: World, user: UserInfo) -> tuple[str, str]:
    """A new sign-in session of ``user``: its id and CSRF token."""
    row = world.services.directory.start_session(user.id, "portal")
    return row.id, row.csrf_token


def _user_token(world: World, user_id: str, upn: str, sid: str, **change: Any) -> str:
    directory = world.services.directory
    now = world.services.ctx.clock()
    return directory.tokens.issue_user_token(user_id, upn, sid, DELEGATED_SCOPES, now)


def _tamper(token: str, **claims: Any) -> str:
    """``token`` with ``claims`` changed in its payload and the signature kept."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def credentials(world: World, column: str, portal: bool) -> tuple[dict[str, str], str]:
    """The headers ``column`` sends (an Authorization or a Cookie header) and its CSRF token."""
    services = world.services
    directory = services.directory
    key = services.ctx.settings.signing_key
    now = services.ctx.clock()
    users = {"A": world.a, "B": world.b, "admin": world.admin}
    cookie_columns = {"A", "B", "admin", "expired", "tampered", "foreign", "revoked", "disabled"}
    if column == "anon":
        return {}, ""
    if column in ROLES or column == "app:-":
        token = directory.tokens.issue_app_token(
            world.apps[column], [ROLES[column]] if column in ROLES else [], now
        )
        return bearer(token), ""
    if column in users or column in ("expired", "revoked", "tampered", "disabled", "foreign"):
        user = users.get(column, world.a)
        if column == "disabled":
            user = directory.get_user(world.disabled_id)
            assert user is not None
        if column in ("tampered", "foreign"):
            user = world.admin
        sid, csrf = _session(world, user)
        if column == "expired":
            with services.ctx.db.write_session() as session:
                row = session.get(SignInSession, sid)
                assert row is not None
                row.expires_at = now - timedelta(minutes=1)
        if column == "revoked":
            directory.end_session(sid)
        if portal and column in cookie_columns:
            value = sign_session_id(OTHER_KEY if column == "foreign" else key, sid)
            if column == "tampered":
                # A's signature under the admin's session id.
                own, _ = _session(world, world.a)
                value = sid + "." + sign_session_id(key, own).split(".", 1)[1]
            return {"Cookie": f"{SESSION_COOKIE}={value}"}, csrf
        issued_at = now - timedelta(hours=3) if column == "expired" else now
        if column == "foreign":
            issuer = TokenIssuer(
                OTHER_KEY,
                directory.tokens.issuer,
                directory.tokens.audience,
                directory.tokens.lifetime,
            )
            token = issuer.issue_user_token(user.id, user.upn, sid, DELEGATED_SCOPES, now)
        elif column == "tampered":
            own = directory.tokens.issue_user_token(
                world.a.id, world.a.upn, sid, DELEGATED_SCOPES, now
            )
            token = _tamper(
                own,
                sub=user.id,
                oid=user.id,
                scp="User.ReadWrite.All " + " ".join(DELEGATED_SCOPES),
            )
        else:
            token = directory.tokens.issue_user_token(
                user.id, user.upn, sid, DELEGATED_SCOPES, issued_at
            )
        return bearer(token), csrf
    assert column == "audience"
    issuer = TokenIssuer(
        key, directory.tokens.issuer, "https://other.example.com", directory.tokens.lifetime
    )
    sid, _ = _session(world, world.a)
    return bearer(issuer.issue_user_token(world.a.id, world.a.upn, sid, DELEGATED_SCOPES, now)), ""


def _fill(text: str, world: World) -> str:
    digest = min(digests([world.a.mail or world.a.upn]), key=len)  # the MD5
    return (
        text.replace("{a}", world.a.upn)
        .replace("{a_id}", world.a.id)
        .replace("{slug}", account_slug(world.a.upn))
        .replace("{version}", world.version)
        .replace("{hash}", digest)
        .replace("{v}", world.victim_upn)
    )


def call(world: World, entry: Row, column: str) -> httpx.Response:
    headers, csrf = credentials(world, column, entry.portal)
    client = world.client
    client.cookies.clear()
    sent = entry.request
    path = _fill(sent.path or entry.template, world)
    kwargs: dict[str, Any] = {"headers": dict(headers), "follow_redirects": False}
    if sent.body == "jpeg":
        kwargs["content"] = JPEG
        kwargs["headers"]["Content-Type"] = "image/jpeg"
    elif sent.body.startswith("json:"):
        kwargs["content"] = _fill(sent.body[5:], world).encode()
        kwargs["headers"]["Content-Type"] = "application/json"
    elif sent.body in ("form", "upload"):
        data = {name: _fill(value, world) for name, value in sent.form}
        if entry.portal:
            data["csrf_token"] = csrf
        kwargs["data"] = data
        if sent.body == "upload":
            kwargs["files"] = {"photo": ("me.jpg", JPEG, "image/jpeg")}
    return client.request(entry.method, path, **kwargs)


# The first bytes of each image type we answer with: what our encoder wrote, never a guess.
MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG", "image/svg+xml": b"<svg"}


def header_problems(response: httpx.Response) -> list[str]:
    """What the edge's security headers or an image's type lack in ``response``."""
    headers = response.headers
    problems = [
        name
        for name, value in (
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("x-frame-options", "DENY"),
        )
        if headers.get(name) != value
    ]
    if "frame-ancestors 'none'" not in headers.get("content-security-policy", ""):
        problems.append("content-security-policy")
    elif "unsafe-inline" in headers["content-security-policy"]:
        problems.append("inline script or style allowed")
    kind = headers.get("content-type", "").split(";")[0]
    image = kind.startswith("image/") and response.status_code == 200
    if image and not response.content.lstrip().startswith(MAGIC.get(kind, b"?")):
        problems.append(f"{kind} that is not one")
    return problems


def restore(world: World) -> None:
    """Undo what a cell changed of A's and the victim's (a photo removed, an account disabled)."""
    services = world.services
    directory, mailbox = services.directory, services.mailbox
    a = directory.get_user(world.a.id)
    assert a is not None, "user A was removed"
    if a.disabled:
        directory.set_disabled(a.id, False)
    if a.is_admin:
        directory.set_admin(a.id, False)
    if mailbox.current_photo(a.id) is None:
        mailbox.store_photo(a, JPEG, actor="test")
    victim = directory.get_user(world.victim_upn)
    if victim is None:
        directory.add_user(world.victim_upn, "Victim", password=PASSWORD)
    elif victim.disabled or victim.is_admin:
        directory.set_disabled(victim.id, False)
        directory.set_admin(victim.id, False)


def test_every_route_has_a_row(app: Root) -> None:
    listed = {(entry.method, entry.template) for entry in ROWS}
    missing = app_routes(app) - listed
    assert not missing, f"routes without a row in the authorisation matrix: {sorted(missing)}"
    assert not listed - app_routes(app), "rows for routes the app does not have"


def test_authorisation_matrix(world: World) -> None:
    differing = []
    observed = []
    for entry in ROWS:
        codes = []
        for column, expected in zip(COLUMNS, entry.expected, strict=True):
            response = call(world, entry, column)
            status = response.status_code
            codes.append(status)
            for problem in header_problems(response):
                differing.append(f"{entry.method} {entry.template} [{column}]: {problem}")
            if status != expected:
                differing.append(
                    f"{entry.method} {entry.template} [{column}]: {status}, not {expected}"
                )
            if entry.method != "GET":
                restore(world)
        observed.append(f'{entry.method} {entry.template}: "{" ".join(map(str, codes))}"')
    assert not differing, "\n".join([*differing, "observed:", *observed])


def test_a_token_stops_when_its_session_ends_and_stays_stopped_after_enable(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    make_user("a@example.com")
    token = password_token(client, "a@example.com")
    assert client.get("/v1.0/me/photo/$value", headers=bearer(token)).status_code == 404
    services.directory.set_disabled("a@example.com", True)
    services.directory.set_disabled("a@example.com", False)
    # Disabling ended the token's sign-in session: enabling again means signing in again.
    r = client.get("/v1.0/me/photo/$value", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "The sign-in session of this token has ended."
    fresh = password_token(client, "a@example.com")
    assert client.get("/v1.0/me", headers=bearer(fresh)).status_code == 200
