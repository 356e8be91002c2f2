"""Who is calling, and what they may do: every authorisation rule of photosync, in one place.

A ``Principal`` is what authentication (``directory.auth``, at the HTTP edge; the portal's
session) makes of a request. The ``may_*`` functions below are the only places that decide
access; services call them and raise their role's own error when one says no. No web import
here: the rules are plain functions of plain values, tested as a table
(tests/directory/test_access.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from photosync.directory.interfaces import AppInfo, UserInfo

# Graph scopes (delegated) and application roles that read or write *someone's* photo.
READ_ANY = frozenset({"User.Read.All", "ProfilePhoto.Read.All", "User.ReadBasic.All"})
WRITE_ANY = frozenset({"User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"})
# What lets a signed-in user read or change their *own* photo.
READ_OWN = frozenset({"User.Read", "User.ReadWrite"}) | READ_ANY | WRITE_ANY
WRITE_OWN = frozenset({"User.ReadWrite"}) | WRITE_ANY
# SharePoint: application roles that read any profile, and those that change any profile.
PROFILE_READ_ROLES = frozenset(
    {
        "Sites.Read.All",
        "Sites.FullControl.All",
        "User.Read.All",
        "User.ReadWrite.All",
        "ProfilePhoto.Read.All",
        "ProfilePhoto.ReadWrite.All",
    }
)
PROFILE_WRITE_ROLES = frozenset({"Sites.FullControl.All", "User.ReadWrite.All"})
PROFILE_WRITE_OWN = frozenset({"User.ReadWrite"})
# Graph's user listing (GET /users) for apps: the roles that read every user's profile.
USER_LIST_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All"})


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "app"]
    subject: str  # user id or client id
    user: UserInfo | None
    scopes: frozenset[str]  # delegated scopes (users) or application roles (apps)
    session_id: str | None
    via: Literal["bearer", "cookie", "cli"]
    csrf_token: str | None = None

    @property
    def actor(self) -> str:
        """Who the audit log names: the user's UPN, or ``app:<client id>``."""
        return self.user.upn if self.user else f"app:{self.subject}"

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)

    def is_self(self, user_id: str) -> bool:
        return self.user is not None and self.user.id == user_id

    def names_self(self, id_or_upn: str) -> bool:
        """Whether ``id_or_upn`` (as written in a URL) is the caller's own id or UPN."""
        own = self.user
        return own is not None and id_or_upn.strip().lower() in (own.id, own.upn.lower())


# --- accounts ---------------------------------------------------------------------------------


def may_sign_in(account: UserInfo | AppInfo) -> bool:
    """Whether an account may get a token or a session, and go on using those it has: every
    request checks it, so a disabled user or a revoked app stops working at its next request."""
    return not account.disabled


def may_see_photo_of(principal: Principal, user: UserInfo) -> bool:
    """Whether ``principal`` is shown ``user``'s photo at all: a disabled user's is shown to
    admins only (others get "no photo": Graph's 404, the placeholder in sites)."""
    return not user.disabled or principal.is_admin


# --- mailbox photos (Graph's /users/{id}/photo) --------------------------------------------


def may_read_photo(principal: Principal, user_id: str) -> bool:
    if principal.is_self(user_id):
        return bool(principal.scopes & READ_OWN)
    return principal.is_admin or bool(principal.scopes & (READ_ANY | WRITE_ANY))


def may_write_photo(principal: Principal, user_id: str) -> bool:
    if principal.is_admin and principal.kind == "user":
        return True
    if principal.is_self(user_id):
        return bool(principal.scopes & WRITE_OWN)
    # Delegated users never get *.All write scopes from our token endpoint; apps may.
    return principal.kind == "app" and bool(principal.scopes & WRITE_ANY)


# --- sites profiles (SharePoint's userphoto.aspx and PeopleManager) ------------------------


def may_see_profiles(principal: Principal) -> bool:
    """Every signed-in person sees everyone's profile and picture, as in SharePoint;
    applications need a role that reads users or sites."""
    return principal.user is not None or bool(principal.scopes & PROFILE_READ_ROLES)


def may_change_profile(principal: Principal, user_id: str) -> bool:
    if principal.is_self(user_id):
        return principal.is_admin or bool(principal.scopes & PROFILE_WRITE_OWN)
    return principal.is_admin or (
        principal.kind == "app" and bool(principal.scopes & PROFILE_WRITE_ROLES)
    )


def may_write_library(principal: Principal) -> bool:
    """Files of the User Photos library and the picture properties of anyone's profile, as
    PnP's uploader writes them: admins, and apps with full control of the sites."""
    if principal.kind == "app":
        return "Sites.FullControl.All" in principal.scopes
    return principal.is_admin


# --- avatar URLs (/avatar/{hash}, Libravatar/Gravatar) ---------------------------------------


def may_fetch_avatars(principal: Principal | None, access: str) -> bool:
    """PHOTOSYNC_AVATAR_ACCESS: ``public`` (anyone, no credentials needed), ``signed-in`` (a
    person or an application that authenticated), ``off`` (nobody)."""
    if access == "public":
        return True
    return access == "signed-in" and principal is not None


def may_see_names_in_avatars(principal: Principal | None) -> bool:
    """Whether an avatar may show who an address belongs to (``d=initials`` from the display
    name): only to a caller who authenticated. For anyone else an unknown address and a
    person without a photo must look exactly alike."""
    return principal is not None


# --- administration -------------------------------------------------------------------------


def may_list_users(principal: Principal) -> bool:
    """Graph's ``GET /users``: signed-in people (they see everyone's basic profile, as in
    Entra ID) and apps with a role that reads users."""
    return principal.kind == "user" or bool(principal.scopes & USER_LIST_ROLES)


def may_administer(principal: Principal) -> bool:
    """Tenant settings, checks of other people, the admin pages: signed-in admins only."""
    return principal.kind == "user" and principal.is_admin
