"""What a profile says about a person (PeopleManager's PersonProperties): pure functions of the
directory's user, the profile's picture and its extra properties. No I/O (see ``sites.store``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from photosync.directory.interfaces import UserInfo
from photosync.sites.interfaces import account_slug, claims_name, thumbnail_path
from photosync.sites.store import StoredProfile

# Properties that sites computes from the directory or from the picture; SetSingleValue-
# ProfileProperty refuses them (the picture changes through SetMyProfilePicture or the mailbox).
COMPUTED = frozenset(
    {
        "AccountName",
        "UserName",
        "UserProfile_GUID",
        "PreferredName",
        "WorkEmail",
        "PersonalSpace",
        "PictureURL",
        "SPS-PicturePlaceholderState",
        "SPS-PictureExchangeSyncState",
        "SPS-PictureTimestamp",
    }
)
# The picture's properties: computed, but an admin or an app with full control of the sites
# may set them after adding files to the library, as PnP's uploader does.
PICTURE_PROPERTIES = frozenset(
    {
        "PictureURL",
        "SPS-PicturePlaceholderState",
        "SPS-PictureExchangeSyncState",
        "SPS-PictureTimestamp",
    }
)
MAX_PROPERTY_VALUE = 4000


@dataclass(frozen=True)
class PersonView:
    """PeopleManager's PersonProperties of one user, independent of the JSON flavour."""

    account_name: str
    display_name: str
    email: str
    picture_url: str | None  # None while the placeholder is shown (as SharePoint does)
    personal_url: str
    user_url: str
    title: str
    properties: tuple[tuple[str, str], ...]  # UserProfileProperties, in a stable order


def next_timestamp(previous: str | None, now: datetime) -> str:
    """A new SPS-PictureTimestamp: microseconds of ``now``, but always above the previous one.

    It is the ``?t=`` of versioned (cached for a year) URLs, so two pictures must never share
    one, even when the clock stands still (tests) or goes backwards (NTP).
    """
    value = int(now.timestamp() * 1_000_000)
    if previous is not None and previous.isdigit():
        value = max(value, int(previous) + 1)
    return str(value)


def library_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + quote(path)


def picture_url(base_url: str, upn: str, timestamp: str | None) -> str:
    """The Medium thumbnail's URL, versioned with ``?t=`` so browsers may cache it for good."""
    url = library_url(base_url, thumbnail_path(upn, "M"))
    return f"{url}?t={timestamp}" if timestamp else url


def exchange_sync_state(user: UserInfo, editable: bool) -> int:
    """SPS-PictureExchangeSyncState: 1 while the picture is kept in sync from the mailbox."""
    return 1 if (user.has_mailbox and editable) else 0


def person_view(
    user: UserInfo,
    profile: StoredProfile | None,
    custom: dict[str, str],
    *,
    base_url: str,
    editable: bool,
) -> PersonView:
    base = base_url.rstrip("/")
    claims = claims_name(user.upn)
    email = user.mail or user.upn
    has_picture = profile is not None and profile.has_picture
    timestamp = profile.picture_timestamp if profile else None
    url = picture_url(base, user.upn, timestamp) if has_picture else None
    personal = f"{base}/personal/{account_slug(user.upn)}/"
    computed = {
        "UserProfile_GUID": user.id,
        "AccountName": claims,
        "PreferredName": user.display_name,
        "WorkEmail": email,
        "UserName": user.upn,
        "PersonalSpace": f"/personal/{account_slug(user.upn)}/",
        "PictureURL": url or "",
        "SPS-PicturePlaceholderState": "0" if has_picture else "1",
        # A picture an app put in the library says what the app set; others follow the mailbox.
        "SPS-PictureExchangeSyncState": str(
            profile.exchange_sync_state
            if profile is not None and profile.picture_source == "library"
            else exchange_sync_state(user, editable)
        ),
        "SPS-PictureTimestamp": timestamp or "",
    }
    extra = tuple(sorted((k, v) for k, v in custom.items() if k not in computed))
    return PersonView(
        account_name=claims,
        display_name=user.display_name,
        email=email,
        picture_url=url,
        personal_url=personal,
        user_url=f"{base}/Person.aspx?accountname={quote(claims, safe='')}",
        title=custom.get("Title", ""),
        properties=(*computed.items(), *extra),
    )
