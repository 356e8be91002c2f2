"""The authorisation rules themselves, as a table: every kind of caller against every decision.

Routes, the portal and the CLI all ask these functions (directory.access); the HTTP tests of each
role check that they do. Here each rule is pinned down on its own, one row per case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from photosync.directory.access import (
    Principal,
    may_administer,
    may_change_profile,
    may_fetch_avatars,
    may_list_users,
    may_read_photo,
    may_see_names_in_avatars,
    may_see_photo_of,
    may_see_profiles,
    may_sign_in,
    may_write_library,
    may_write_photo,
)
from photosync.directory.interfaces import AppInfo, UserInfo
from photosync.directory.tokens import DELEGATED_SCOPES

ME = UserInfo("me-id", "me@example.org", "Me", "me@example.org", False, True)
BOSS = UserInfo("boss-id", "boss@example.org", "Boss", "boss@example.org", True, True)
OTHER = "other-id"


def user(info: UserInfo, *scopes: str) -> Principal:
    return Principal("user", info.id, info, frozenset(scopes), "session", "bearer")


def app(*roles: str) -> Principal:
    return Principal("app", "client-id", None, frozenset(roles), None, "bearer")


SIGNED_IN = user(ME, *DELEGATED_SCOPES)  # what a password sign-in or the portal cookie gives
READ_ONLY = user(ME, "User.Read")
BASIC = user(ME, "User.ReadBasic.All")  # may read others' photos, not even its own via User.Read
NO_SCOPES = user(ME)
ADMIN = user(BOSS, *DELEGATED_SCOPES)
ADMIN_NO_SCOPES = user(BOSS)

Rule = Callable[[Principal, str], bool]

# (rule, principal, whose photo/profile, allowed?)
CASES: list[tuple[str, Rule, Principal, str, bool]] = [
    # Reading a mailbox photo.
    ("read own, signed in", may_read_photo, SIGNED_IN, ME.id, True),
    ("read own, User.Read", may_read_photo, READ_ONLY, ME.id, True),
    ("read own, no scopes", may_read_photo, NO_SCOPES, ME.id, False),
    ("read other, signed in", may_read_photo, SIGNED_IN, OTHER, True),
    ("read other, User.Read only", may_read_photo, READ_ONLY, OTHER, False),
    ("read other, ReadBasic.All", may_read_photo, BASIC, OTHER, True),
    ("read other, admin without scopes", may_read_photo, ADMIN_NO_SCOPES, OTHER, True),
    ("read, app ProfilePhoto.Read.All", may_read_photo, app("ProfilePhoto.Read.All"), OTHER, True),
    ("read, app User.Read.All", may_read_photo, app("User.Read.All"), OTHER, True),
    ("read, app writer", may_read_photo, app("ProfilePhoto.ReadWrite.All"), OTHER, True),
    ("read, app Sites.Read.All", may_read_photo, app("Sites.Read.All"), OTHER, False),
    ("read, app no roles", may_read_photo, app(), OTHER, False),
    # Changing a mailbox photo.
    ("write own, signed in", may_write_photo, SIGNED_IN, ME.id, True),
    ("write own, User.Read only", may_write_photo, READ_ONLY, ME.id, False),
    ("write other, signed in", may_write_photo, SIGNED_IN, OTHER, False),
    ("write other, admin", may_write_photo, ADMIN, OTHER, True),
    ("write other, admin without scopes", may_write_photo, ADMIN_NO_SCOPES, OTHER, True),
    (
        "write, app ProfilePhoto.ReadWrite.All",
        may_write_photo,
        app("ProfilePhoto.ReadWrite.All"),
        OTHER,
        True,
    ),
    ("write, app User.ReadWrite.All", may_write_photo, app("User.ReadWrite.All"), OTHER, True),
    (
        "write, app ProfilePhoto.Read.All",
        may_write_photo,
        app("ProfilePhoto.Read.All"),
        OTHER,
        False,
    ),
    (
        "write, app Sites.FullControl.All",
        may_write_photo,
        app("Sites.FullControl.All"),
        OTHER,
        False,
    ),
    # Changing a sites profile.
    ("profile own, signed in", may_change_profile, SIGNED_IN, ME.id, True),
    ("profile own, User.Read only", may_change_profile, READ_ONLY, ME.id, False),
    ("profile own, admin without scopes", may_change_profile, ADMIN_NO_SCOPES, BOSS.id, True),
    ("profile other, signed in", may_change_profile, SIGNED_IN, OTHER, False),
    ("profile other, admin", may_change_profile, ADMIN, OTHER, True),
    (
        "profile, app Sites.FullControl.All",
        may_change_profile,
        app("Sites.FullControl.All"),
        OTHER,
        True,
    ),
    ("profile, app User.ReadWrite.All", may_change_profile, app("User.ReadWrite.All"), OTHER, True),
    (
        "profile, app ProfilePhoto.ReadWrite.All",
        may_change_profile,
        app("ProfilePhoto.ReadWrite.All"),
        OTHER,
        False,
    ),
    ("profile, app Sites.Read.All", may_change_profile, app("Sites.Read.All"), OTHER, False),
]


@pytest.mark.parametrize(
    ("rule", "principal", "whose", "allowed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule(rule: Rule, principal: Principal, whose: str, allowed: bool) -> None:
    assert rule(principal, whose) is allowed


# (principal, may see profiles and pictures?, may administer?)
GLOBAL_CASES = [
    ("signed in", SIGNED_IN, True, False),
    ("signed in, no scopes", NO_SCOPES, True, False),
    ("admin", ADMIN, True, True),
    ("app Sites.Read.All", app("Sites.Read.All"), True, False),
    ("app User.Read.All", app("User.Read.All"), True, False),
    ("app ProfilePhoto.ReadWrite.All", app("ProfilePhoto.ReadWrite.All"), True, False),
    ("app no roles", app(), False, False),
]


@pytest.mark.parametrize(
    ("principal", "sees", "administers"),
    [case[1:] for case in GLOBAL_CASES],
    ids=[case[0] for case in GLOBAL_CASES],
)
def test_global_rules(principal: Principal, sees: bool, administers: bool) -> None:
    assert may_see_profiles(principal) is sees
    assert may_administer(principal) is administers


# (principal, may write User Photos files and anyone's picture properties?)
LIBRARY_CASES = [
    ("signed in", SIGNED_IN, False),
    ("admin", ADMIN, True),
    ("app Sites.FullControl.All", app("Sites.FullControl.All"), True),
    ("app User.ReadWrite.All", app("User.ReadWrite.All"), False),
    ("app Sites.Read.All", app("Sites.Read.All"), False),
]


@pytest.mark.parametrize(
    ("principal", "writes"),
    [case[1:] for case in LIBRARY_CASES],
    ids=[case[0] for case in LIBRARY_CASES],
)
def test_library_rule(principal: Principal, writes: bool) -> None:
    assert may_write_library(principal) is writes


@pytest.mark.parametrize(
    ("written", "is_self"),
    [("me-id", True), ("ME@example.org", True), (" me@example.org ", True), ("other", False)],
)
def test_a_principal_knows_its_own_names(written: str, is_self: bool) -> None:
    assert SIGNED_IN.names_self(written) is is_self
    assert not app("User.Read.All").names_self(written)


# --- accounts: who may sign in, whose photo is shown, who may list users ----------------------

GONE = UserInfo("gone-id", "gone@example.org", "Gone", "gone@example.org", False, True, True)


def _app_info(revoked: bool) -> AppInfo:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    return AppInfo("client-id", "An app", ("User.Read.All",), at, at if revoked else None)


@pytest.mark.parametrize(
    ("account", "allowed"),
    [(ME, True), (GONE, False), (_app_info(False), True), (_app_info(True), False)],
    ids=["enabled user", "disabled user", "app", "revoked app"],
)
def test_only_enabled_accounts_sign_in(account: UserInfo | AppInfo, allowed: bool) -> None:
    assert may_sign_in(account) is allowed


@pytest.mark.parametrize(
    ("principal", "whose", "shown"),
    [
        (SIGNED_IN, BOSS, True),
        (SIGNED_IN, GONE, False),
        (app("User.Read.All"), GONE, False),
        (ADMIN, GONE, True),
    ],
    ids=["enabled, to a user", "disabled, to a user", "disabled, to an app", "disabled, to admin"],
)
def test_a_disabled_users_photo_is_shown_to_admins_only(
    principal: Principal, whose: UserInfo, shown: bool
) -> None:
    assert may_see_photo_of(principal, whose) is shown


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (SIGNED_IN, True),
        (NO_SCOPES, True),
        (app("User.Read.All"), True),
        (app("User.ReadWrite.All"), True),
        (app("ProfilePhoto.Read.All"), False),
        (app("Sites.FullControl.All"), False),
        (app(), False),
    ],
    ids=[
        "signed in",
        "no scopes",
        "User.Read.All",
        "User.ReadWrite.All",
        "photos",
        "sites",
        "none",
    ],
)
def test_who_may_list_users(principal: Principal, allowed: bool) -> None:
    assert may_list_users(principal) is allowed


# (caller, PHOTOSYNC_AVATAR_ACCESS, may fetch avatars?, may be shown names in them?)
AVATAR_CASES: list[tuple[str, Principal | None, str, bool, bool]] = [
    ("anonymous, public", None, "public", True, False),
    ("anonymous, signed-in", None, "signed-in", False, False),
    ("anonymous, off", None, "off", False, False),
    ("signed in, public", SIGNED_IN, "public", True, True),
    ("signed in, signed-in", SIGNED_IN, "signed-in", True, True),
    ("no scopes, signed-in", NO_SCOPES, "signed-in", True, True),
    ("app no roles, signed-in", app(), "signed-in", True, True),
    ("signed in, off", SIGNED_IN, "off", False, True),
    ("admin, off", ADMIN, "off", False, True),
    ("signed in, unknown mode", SIGNED_IN, "sometimes", False, True),
]


@pytest.mark.parametrize(
    ("principal", "access", "fetches", "names"),
    [case[1:] for case in AVATAR_CASES],
    ids=[case[0] for case in AVATAR_CASES],
)
def test_avatar_rules(principal: Principal | None, access: str, fetches: bool, names: bool) -> None:
    assert may_fetch_avatars(principal, access) is fetches
    assert may_see_names_in_avatars(principal) is names
