"""Microsoft Graph: the tenant's people and their photos, as sync's source ``m365`` and target
``m365-photo``.

The source lists users with ``/v1.0/users?$select=id,userPrincipalName,mail`` following
``@odata.nextLink``, reads a photo's version from ``/users/{id}/photo`` (its
``@odata.mediaEtag``) and its bytes from ``…/$value``; 404 means no photo. The target PUTs a
JPEG of at most 4 MB to ``/users/{id}/photo/$value`` and DELETEs it when the source's photo is
gone. Users are named by their UPN (which Graph takes wherever it takes an id), so people who
are not users of our directory work as well.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from photosync.directory.interfaces import UserInfo
from photosync.m365.client import M365Client, M365Error, graph_error
from photosync.sync.interfaces import (
    Change,
    Found,
    Person,
    SourcePhoto,
    SourceVersion,
    one_by_one,
)

# Graph's limit for a photo upload (Set-MgUserPhotoContent: JPEG or PNG up to 4 MB).
MAX_PHOTO_BYTES = 4 * 1024 * 1024
# The largest size Exchange kept; Entra ID keeps any size, sources give what they have.
PHOTO_SIZE = 648
# Pages of 250: an answer stays small and quick (Graph allows up to 999).
USERS_QUERY = "$select=id,userPrincipalName,mail&$top=250"
# A user without a photo: older tenants say ImageNotFound, newer ErrorEntityNotFound.
NO_PHOTO_CODES = frozenset({"ImageNotFound", "ErrorEntityNotFound", "ResourceNotFound"})


class GraphPhotos:
    """``m365`` (a PhotoSource and a PeopleSource) and, with ``put``/``remove``, ``m365-photo``
    (a PictureStore): one client, so one token cache and one limit on requests in flight."""

    def __init__(self, client: M365Client) -> None:
        self.client = client
        self.base = f"{client.config.graph_url}/v1.0"

    def _user_url(self, user: UserInfo) -> str:
        return f"{self.base}/users/{quote(user.upn, safe='@')}"

    # --- the source ----------------------------------------------------------------------------

    def people(self) -> Iterator[Person]:
        url: str | None = f"{self.base}/users?{USERS_QUERY}"
        while url:
            response = self.client.request("GET", url)
            if response.status_code != 200:
                raise M365Error(f"cannot list the tenant's users: {graph_error(response)}")
            page = response.json()
            for row in page.get("value", []):
                if row.get("userPrincipalName"):
                    yield Person(row["userPrincipalName"], row.get("mail"))
            url = page.get("@odata.nextLink")

    def versions(self, users: Sequence[UserInfo]) -> dict[str, Found]:
        return one_by_one(users, self.current)

    def current(self, user: UserInfo) -> SourceVersion | None:
        # A check starts here: retries an earlier check of this thread left uncounted (one
        # that changed nothing) are not this one's.
        self.client.take_retries()
        response = self.client.request("GET", f"{self._user_url(user)}/photo")
        if self._no_photo(user, response.status_code, response):
            return None
        meta = response.json()
        etag = str(meta.get("@odata.mediaEtag") or "").strip('"').removeprefix('W/"')
        if not etag:
            raise M365Error(f"Graph gave {user.upn}'s photo no @odata.mediaEtag")
        return SourceVersion(etag, int(meta.get("width") or meta.get("height") or 0))

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        response = self.client.request("GET", f"{self._user_url(user)}/photo/$value")
        if self._no_photo(user, response.status_code, response):
            return None
        # Named by the metadata's version (the ETag of $value may name the rendition instead):
        # if the photo changed in between, the next run sees a new version and writes it again.
        return SourcePhoto(version.etag, response.content)

    def _no_photo(self, user: UserInfo, status: int, response: httpx.Response) -> bool:
        """True for 404 without a photo; M365Error for anything else that is not a 200."""
        if status == 200:
            return False
        if status == 404:
            code = _code(response)
            if code in NO_PHOTO_CODES or code == "":
                return True
            raise M365Error(f"the tenant has no user {user.upn} ({code})")
        raise M365Error(f"cannot read {user.upn}'s photo: {graph_error(response)}")

    # --- the target ----------------------------------------------------------------------------

    def sizes(self) -> Mapping[str, int]:
        return {"photo": PHOTO_SIZE}

    def put(self, user: UserInfo, files: Mapping[str, bytes], *, change: Change) -> str | None:
        with counted(self.client) as note:
            data = files["photo"]
            if len(data) > MAX_PHOTO_BYTES:
                raise M365Error(f"the photo is {len(data):,} bytes; Graph takes at most 4 MB")
            response = self.client.request(
                "PUT",
                f"{self._user_url(user)}/photo/$value",
                content=data,
                headers={"Content-Type": "image/jpeg"},
            )
            if response.status_code not in (200, 201, 204):
                raise M365Error(f"Graph refused {user.upn}'s photo: {graph_error(response)}")
        return note.text

    def remove(self, user: UserInfo, *, change: Change) -> str | None:
        with counted(self.client) as note:
            response = self.client.request("DELETE", f"{self._user_url(user)}/photo/$value")
            if response.status_code not in (200, 204, 404):
                raise M365Error(f"Graph did not delete {user.upn}'s photo: {graph_error(response)}")
        return note.text


def _code(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""


@dataclass
class Note:
    """What a write has to say for its check's record (filled when the write is done)."""

    text: str | None = None


@contextmanager
def counted(client: M365Client) -> Iterator[Note]:
    """The note of a write: how many retries its check needed after 429/503 (taken whether the
    write succeeds or not, so that a failed check's retries are not the next one's)."""
    note = Note()
    try:
        yield note
    finally:
        retries = client.take_retries()
        if retries:
            plural = "retry" if retries == 1 else "retries"
            note.text = f"{retries} {plural} after 429/503 (throttled)"
