"""Sites services and helpers below the HTTP layer: status reads, settings, names, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from photosync.audit import AuditEvent
from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from photosync.sites import odata
from photosync.sites.errors import UnknownUser
from photosync.sites.interfaces import account_slug, size_code, thumbnail_path
from photosync.sites.models import Profile
from photosync.sites.people import next_timestamp


def test_status_of_an_untouched_user_is_a_read(services: Services, bob: UserInfo) -> None:
    status = services.sites.profile_status(bob.id)
    assert not status.has_picture and status.picture_source is None
    history = services.sync.status(bob.id).history
    assert history.last_check_at is None and history.last_result is None
    assert status.exchange_sync_state == 1 and status.picture_editable
    with services.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Profile)) == 0
    with pytest.raises(UnknownUser):
        services.sites.profile_status("no-such-id")


def test_picture_setting_is_audited(services: Services) -> None:
    assert services.sites.picture_editable()
    services.sites.set_picture_editable(False, actor="admin@example.org")
    assert not services.sites.picture_editable()
    services.sites.set_picture_editable(True, actor="admin@example.org")
    assert services.sites.picture_editable()
    with services.ctx.db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sites.setting.changed")
        ).all()
    assert [(r.actor, r.detail["value"]) for r in rows] == [
        ("admin@example.org", "0"),
        ("admin@example.org", "1"),
    ]


def test_account_names_in_every_spelling(services: Services, bob: UserInfo) -> None:
    for name in (
        bob.upn,
        bob.upn.upper(),
        f"i:0#.f|membership|{bob.upn}",
        bob.id,
    ):
        assert services.sites.resolve(name).id == bob.id
    with pytest.raises(UnknownUser):
        services.sites.resolve("i:0#.f|membership|nobody@example.org")


def test_library_names() -> None:
    assert account_slug("John.Smith@Contoso.com") == "john_smith_contoso_com"
    assert (
        thumbnail_path("john@contoso.com", "L")
        == "/User Photos/Profile Pictures/john_contoso_com_LThumb.jpg"
    )
    assert size_code(None) == "S" and size_code("m") == "M" and size_code(" L ") == "L"
    assert size_code("XL") is None


def test_picture_timestamps_always_move_forward() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    first = next_timestamp(None, now)
    assert first == str(int(now.timestamp() * 1_000_000))
    same_instant = next_timestamp(first, now)
    assert int(same_instant) == int(first) + 1
    clock_went_back = next_timestamp(same_instant, now - timedelta(hours=1))
    assert int(clock_went_back) > int(same_instant)
    assert int(next_timestamp(first, now + timedelta(seconds=1))) > int(first)


@pytest.mark.parametrize(
    ("segment", "query", "expected"),
    [
        ("GetMyProperties", {}, ("getmyproperties", {})),
        (
            "GetPropertiesFor(accountName=@v)",
            {"@v": "'i:0#.f|membership|a@b.com'"},
            ("getpropertiesfor", {"accountname": "i:0#.f|membership|a@b.com"}),
        ),
        (
            "GetPropertiesFor(accountName='o''neil@b.com')",
            {},
            ("getpropertiesfor", {"accountname": "o'neil@b.com"}),
        ),
        (
            "getpropertiesfor(accountName='a,b@c.com', other=@x)",
            {"@x": "'1'"},
            ("getpropertiesfor", {"accountname": "a,b@c.com", "other": "1"}),
        ),
    ],
)
def test_operation_calls(
    segment: str, query: dict[str, str], expected: tuple[str, dict[str, str]]
) -> None:
    assert odata.parse_call(segment, query) == expected


@pytest.mark.parametrize(
    "segment", ["GetPropertiesFor(accountName=@v)", "Get Props", "GetPropertiesFor(accountName)"]
)
def test_malformed_operation_calls(segment: str) -> None:
    with pytest.raises(ValueError):
        odata.parse_call(segment, {})
