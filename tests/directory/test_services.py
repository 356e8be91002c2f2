"""Directory services: users, sign-in with lock-out, sessions, apps, thumbnailPhoto."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from PIL import Image

from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryError, SignInFailed
from photosync.services import Services
from tests.conftest import PASSWORD, MovableClock


def _jpeg(size: int, color: tuple[int, int, int] = (200, 40, 40), quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_upn_is_unique_case_insensitively(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    make_user("Ann@Example.org")
    with pytest.raises(DirectoryError, match="already exists"):
        services.directory.add_user("ann@EXAMPLE.org", "Ann again")
    found = services.directory.get_user("ANN@example.ORG")
    assert found is not None and found.upn == "Ann@Example.org"
    assert services.directory.get_user(found.id) == found


def test_rejects_what_is_not_a_upn(services: Services) -> None:
    for bad in ("no-at-sign", "@example.org", "a b@example.org", "x@"):
        with pytest.raises(DirectoryError):
            services.directory.add_user(bad, "Bad")


def test_list_users_searches_names_and_upns(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    make_user("zoe@example.org", "Zoë Adams")
    make_user("yann@example.org", "Yann Baker")
    assert [u.upn for u in services.directory.list_users("bak")] == ["yann@example.org"]
    assert [u.upn for u in services.directory.list_users("ZOE@")] == ["zoe@example.org"]
    assert [u.display_name for u in services.directory.list_users()] == ["Yann Baker", "Zoë Adams"]


def test_passwords_are_argon2id_hashes(services: Services) -> None:
    from photosync.directory.models import User

    services.directory.add_user("h@example.org", "H", password="s3cret passphrase")
    with services.ctx.db.session() as session:
        stored = session.query(User).one().password_hash
    assert stored is not None and stored.startswith("$argon2id$")
    assert "s3cret" not in stored


def test_lock_out_grows_after_repeated_failures_and_resets_on_success(
    services: Services, make_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    make_user("lock@example.org")
    directory = services.directory
    for _ in range(5):
        with pytest.raises(SignInFailed):
            directory.authenticate("lock@example.org", "wrong")
    # The fifth failure locked the account: even the right password is refused for 30 s.
    with pytest.raises(SignInFailed):
        directory.authenticate("lock@example.org", PASSWORD)
    clock.advance(seconds=31)
    assert directory.authenticate("lock@example.org", PASSWORD).upn == "lock@example.org"
    # The count was reset: four more failures do not lock.
    for _ in range(4):
        with pytest.raises(SignInFailed):
            directory.authenticate("lock@example.org", "wrong")
    assert directory.authenticate("lock@example.org", PASSWORD)


def test_lock_out_doubles(
    services: Services, make_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    make_user("twice@example.org")
    for _ in range(5):
        with pytest.raises(SignInFailed):
            services.directory.authenticate("twice@example.org", "wrong")
    clock.advance(seconds=31)
    with pytest.raises(SignInFailed):
        services.directory.authenticate("twice@example.org", "wrong")  # 6th: locked 60 s
    clock.advance(seconds=45)
    with pytest.raises(SignInFailed):
        services.directory.authenticate("twice@example.org", PASSWORD)
    clock.advance(seconds=16)
    assert services.directory.authenticate("twice@example.org", PASSWORD)


def test_sessions_expire_and_can_be_ended(
    services: Services, make_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    user = make_user("s@example.org")
    first = services.directory.start_session(user.id, "portal")
    second = services.directory.start_session(user.id, "portal")
    assert first.id != second.id and first.csrf_token != second.csrf_token
    assert services.directory.get_session(first.id) is not None
    services.directory.end_session(first.id)
    assert services.directory.get_session(first.id) is None
    clock.advance(hours=8, seconds=1)
    assert services.directory.get_session(second.id) is None


def test_app_roles_are_checked(services: Services) -> None:
    with pytest.raises(DirectoryError, match="unknown role"):
        services.directory.add_app("x", ["Directory.ReadWrite.All"])
    client_id, secret = services.directory.add_app("ok", ["User.Read.All"])
    assert services.directory.app_token(client_id, secret)
    assert services.directory.app_token(client_id, secret + "x") is None
    assert services.directory.app_token("00000000-0000-0000-0000-000000000000", secret) is None


def test_thumbnail_photo_limits(services: Services, make_user: Callable[..., UserInfo]) -> None:
    make_user("t@example.org")
    small = _jpeg(64)
    services.directory.set_thumbnail("t@example.org", small)
    assert services.directory.get_thumbnail("t@example.org") == small
    # The attribute holds at most 102,400 bytes.
    noisy = Image.effect_noise((600, 600), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=100)
    big = out.getvalue()
    assert len(big) > 102_400
    with pytest.raises(DirectoryError, match="102,400"):
        services.directory.set_thumbnail("t@example.org", big)
    png = io.BytesIO()
    Image.new("RGB", (64, 64)).save(png, "PNG")
    with pytest.raises(DirectoryError, match="JPEG"):
        services.directory.set_thumbnail("t@example.org", png.getvalue())
    assert services.directory.get_thumbnail("t@example.org") == small
    services.directory.set_thumbnail("t@example.org", None)
    assert services.directory.get_thumbnail("t@example.org") is None


def _audited(services: Services, prefix: str) -> list[tuple[str, str | None, dict[str, object]]]:
    from sqlalchemy import select

    from photosync.audit import AuditEvent

    with services.ctx.db.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.subject_user_id, AuditEvent.detail)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.at, AuditEvent.id)
        ).all()
    return [(action, subject, dict(detail)) for action, subject, detail in rows]


def test_failed_sign_ins_and_lock_outs_are_audited(
    services: Services, make_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    user = make_user("audit@example.org")
    directory = services.directory
    with pytest.raises(SignInFailed):
        directory.authenticate("nobody@example.org", "x")
    for _ in range(5):
        with pytest.raises(SignInFailed):
            directory.authenticate("audit@example.org", "wrong")
    with pytest.raises(SignInFailed):
        directory.authenticate("audit@example.org", PASSWORD)  # locked: refused unchecked
    failed = _audited(services, "signin.failed")
    assert failed[0] == ("signin.failed", None, {"reason": "unknown-user"})
    assert [d["reason"] for _, _, d in failed[1:]] == ["wrong-password"] * 5 + ["locked"]
    assert [d.get("failures") for _, _, d in failed[1:6]] == [1, 2, 3, 4, 5]
    assert all(subject == user.id for _, subject, _ in failed[1:])
    locked = _audited(services, "signin.locked")
    assert len(locked) == 1 and locked[0][1] == user.id
    assert locked[0][2]["failures"] == 5
    assert locked[0][2]["locked_until"] == (clock.now + timedelta(seconds=30)).isoformat()
    assert failed[-1][2]["locked_until"] == locked[0][2]["locked_until"]

    clock.advance(seconds=31)
    directory.authenticate("audit@example.org", PASSWORD)
    assert len(_audited(services, "signin.failed")) == 7  # a success adds no failure


def test_a_password_set_by_an_admin_is_audited(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    user = make_user("pw@example.org")
    services.directory.set_password(user.upn, "another one, longer", actor="cli")
    assert _audited(services, "user.password_set") == [("user.password_set", user.id, {})]
