"""SharePoint Online's copy of a photo, as sync's target ``m365-sharepoint``: what the seed's
sites role does for itself, done the way PnP's Core.ProfilePictureUploader does it.

S, M and L go to the My Site host's ``User Photos/Profile Pictures/{acct}_{S|M|L}Thumb.jpg``
through ``GetFolderByServerRelativeUrl('…')/Files/add(url='…',overwrite=true)``; then the admin
site's ``SetSingleValueProfileProperty`` sets ``PictureURL`` (the M file),
``SPS-PicturePlaceholderState`` 0, ``SPS-PictureExchangeSyncState`` 0 (the picture is set by a
tool, not by Exchange's sync, as PnP's sample sets it) and a new ``SPS-PictureTimestamp``.
When the source's photo is gone, ``PictureURL`` is emptied and the placeholder state set to 1.

SharePoint has no transaction across these calls: if one fails, the error goes to the report
and sync keeps no mark for the user, so the next run writes the whole picture again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from photosync.directory.interfaces import UserInfo
from photosync.m365.client import M365Client, M365Error, graph_error
from photosync.m365.graph import counted
from photosync.sites.interfaces import (
    LIBRARY_FOLDER,
    MEDIUM_SIZE,
    SIZE_CODES,
    SMALL_SIZE,
    account_slug,
    claims_name,
)
from photosync.sync.interfaces import Change

JSON = {"Accept": "application/json;odata=nometadata"}
PEOPLE_MANAGER = "_api/SP.UserProfiles.PeopleManager"


class SharePointProfiles:
    """A PictureStore for SharePoint Online's profile pictures."""

    def __init__(self, client: M365Client, large_size: int) -> None:
        config = client.config
        if not config.mysite_url or not config.admin_url:
            raise M365Error(
                "the m365-sharepoint target needs PHOTOSYNC_M365_MYSITE_URL and "
                "PHOTOSYNC_M365_ADMIN_URL"
            )
        self.client = client
        self.mysite = config.mysite_url
        self.admin = config.admin_url
        # The library's folder, relative to the My Site host's root (its server-relative URL).
        self.folder = urlsplit(self.mysite).path.rstrip("/") + LIBRARY_FOLDER
        self.large_size = large_size

    def sizes(self) -> Mapping[str, int]:
        return {"S": SMALL_SIZE, "M": MEDIUM_SIZE, "L": self.large_size}

    def file_url(self, upn: str, code: str) -> str:
        return f"{_host(self.mysite)}{quote(self.folder)}/{account_slug(upn)}_{code}Thumb.jpg"

    def put(self, user: UserInfo, files: Mapping[str, bytes], *, change: Change) -> str | None:
        with counted(self.client) as note:
            self._put(user, files)
        return note.text

    def _put(self, user: UserInfo, files: Mapping[str, bytes]) -> None:
        folder = quote(self.folder.replace("'", "''"))
        for code in SIZE_CODES:
            name = f"{account_slug(user.upn)}_{code}Thumb.jpg"
            response = self.client.request(
                "POST",
                f"{self.mysite}/_api/web/GetFolderByServerRelativeUrl('{folder}')"
                f"/Files/add(url='{name}',overwrite=true)",
                content=files[code],
                headers={**JSON, "Content-Type": "image/jpeg"},
            )
            if response.status_code not in (200, 201):
                raise M365Error(f"SharePoint refused {name}: {graph_error(response)}")
        for name, value in (
            ("PictureURL", self.file_url(user.upn, "M")),
            ("SPS-PicturePlaceholderState", "0"),
            ("SPS-PictureExchangeSyncState", "0"),
            # A new value for every new picture: it versions the picture's URLs (?t=).
            ("SPS-PictureTimestamp", str(time.time_ns() // 1000)),
        ):
            self._set(user, name, value)

    def remove(self, user: UserInfo, *, change: Change) -> str | None:
        with counted(self.client) as note:
            self._set(user, "PictureURL", "")
            self._set(user, "SPS-PicturePlaceholderState", "1")
        return note.text

    def _set(self, user: UserInfo, name: str, value: str) -> None:
        response = self.client.request(
            "POST",
            f"{self.admin}/{PEOPLE_MANAGER}/SetSingleValueProfileProperty",
            json={
                "accountName": claims_name(user.upn),
                "propertyName": name,
                "propertyValue": value,
            },
            headers=JSON,
        )
        if response.status_code not in (200, 204):
            raise M365Error(f"SharePoint did not set {name} of {user.upn}: {graph_error(response)}")

    def properties(self, upn: str) -> dict[str, str]:
        """A profile's properties (GetPropertiesFor), for the doctor."""
        literal = "'" + claims_name(upn).replace("'", "''") + "'"
        response = self.client.request(
            "GET",
            f"{self.admin}/{PEOPLE_MANAGER}/GetPropertiesFor(accountName=@v)"
            f"?@v={quote(literal, safe='')}",
            headers=JSON,
        )
        if response.status_code != 200:
            raise M365Error(f"cannot read {upn}'s SharePoint profile: {graph_error(response)}")
        rows = response.json().get("UserProfileProperties", [])
        return {str(row.get("Key")): str(row.get("Value") or "") for row in rows}


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
