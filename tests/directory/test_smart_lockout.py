"""Smart lock-out: wrong passwords lock out the source they came from, never the owner's own
familiar browser, and every lock-out is in the audit log."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from photosync import audit
from photosync.audit import Origin
from photosync.directory import lockout, passwords
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import SignInFailed
from photosync.services import Services
from photosync.web import Root
from tests.conftest import PASSWORD, MovableClock, eventually
from tests.portal.conftest import sign_in

GUESSER = "203.0.113.9"
OWNER = "198.51.100.20"


def attempt(services: Services, upn: str, password: str, address: str, **kw: str) -> bool:
    with audit.from_origin(Origin(address, "test")):
        try:
            services.directory.authenticate(upn, password, **kw)
        except SignInFailed:
            return False
    return True


def locks(services: Services) -> list[dict[str, object]]:
    with services.ctx.db.engine.connect() as conn:
        found = conn.execute(
            select(audit.AuditEvent.detail, audit.AuditEvent.address).where(
                audit.AuditEvent.action == "signin.locked"
            )
        ).all()
    return [{**detail, "address": address} for detail, address in found]


def test_an_unfamiliar_guesser_locks_out_only_itself(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    owner = make_user("owner@example.org")
    for _ in range(lockout.FREE_FAILURES):
        assert not attempt(services, owner.upn, "wrong guess", GUESSER)
    # The guesser's address is locked out of the account: even the right password fails there.
    assert not attempt(services, owner.upn, PASSWORD, GUESSER)
    # The owner, from their own address or their familiar browser, is not.
    assert attempt(services, owner.upn, PASSWORD, OWNER)
    assert attempt(services, owner.upn, PASSWORD, GUESSER, known_device=owner.id)
    (locked,) = locks(services)
    assert locked["source"] == GUESSER and locked["familiar"] is False
    assert locked["failures"] == lockout.FREE_FAILURES


def test_a_forged_known_device_is_another_account_s_and_counts_as_unfamiliar(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    owner = make_user("owner@example.org")
    other = make_user("other@example.org")
    for _ in range(lockout.FREE_FAILURES):
        attempt(services, owner.upn, "wrong guess", GUESSER, known_device=other.id)
    assert not attempt(services, owner.upn, PASSWORD, GUESSER, known_device=other.id)
    assert attempt(services, owner.upn, PASSWORD, GUESSER, known_device=owner.id)


def test_failures_from_the_familiar_browser_lock_only_familiar_sign_ins(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    owner = make_user("owner@example.org")
    for _ in range(lockout.FREE_FAILURES):
        attempt(services, owner.upn, "wrong guess", OWNER, known_device=owner.id)
    assert not attempt(services, owner.upn, PASSWORD, OWNER, known_device=owner.id)
    assert attempt(services, owner.upn, PASSWORD, OWNER)


def test_spraying_from_one_address_locks_that_address_out_of_every_account(
    services: Services,
    make_user: Callable[..., UserInfo],
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three instead of twenty: each try costs an argon2 check, and the rule is the same.
    monkeypatch.setattr(lockout, "ADDRESS_FREE_FAILURES", 3)
    owner = make_user("owner@example.org")
    for n in range(lockout.ADDRESS_FREE_FAILURES):
        assert not attempt(services, f"person{n}@example.org", "Summer2026!", GUESSER)
    assert not attempt(services, owner.upn, PASSWORD, GUESSER)
    assert attempt(services, owner.upn, PASSWORD, OWNER)
    assert attempt(services, owner.upn, PASSWORD, GUESSER, known_device=owner.id)
    (locked,) = locks(services)
    assert locked["scope"] == "address" and locked["source"] == GUESSER
    clock.advance(seconds=31)
    assert attempt(services, owner.upn, PASSWORD, GUESSER)


def test_a_quiet_source_starts_again_from_nothing(
    services: Services, make_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    owner = make_user("owner@example.org")
    for _ in range(lockout.FREE_FAILURES - 1):
        attempt(services, owner.upn, "wrong guess", GUESSER)
    clock.advance(seconds=lockout.OBSERVATION.total_seconds() + 1)
    attempt(services, owner.upn, "wrong guess", GUESSER)
    assert attempt(services, owner.upn, PASSWORD, GUESSER)


@pytest.mark.parametrize("failures", [5, 6, 12])
def test_each_lock_doubles_up_to_the_cap(failures: int) -> None:
    over = failures - lockout.FREE_FAILURES
    expected = min(lockout.FIRST_LOCK * 2**over, lockout.MAX_LOCK)
    assert lockout.lock_for(failures, lockout.FREE_FAILURES) == expected
    assert lockout.lock_for(lockout.FREE_FAILURES - 1, lockout.FREE_FAILURES) is None


def test_the_owner_s_browser_signs_in_while_a_stranger_s_is_locked_out(
    app: Root, make_user: Callable[..., UserInfo]
) -> None:
    owner = make_user("owner@example.org")
    with TestClient(app) as browser, TestClient(app) as stranger:
        assert sign_in(browser, owner.upn).status_code == 303
        assert browser.cookies.get("photosync_device")
        browser.post("/signout", data={})  # signed out, still a familiar browser
        browser.cookies.delete("photosync_session")
        for _ in range(lockout.FREE_FAILURES):
            assert sign_in(stranger, owner.upn, "wrong guess").status_code == 400
        assert sign_in(stranger, owner.upn).status_code == 400
        assert sign_in(browser, owner.upn).status_code == 303


def test_a_sign_in_waiting_for_its_password_check_holds_no_write_lock(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    # Every hashing slot taken (as a flood would): a sign-in waits for one. Meanwhile another
    # writer must get through: on SQLite a sign-in that checked inside its write transaction
    # held the one write lock for its whole wait, and this write would have timed out.
    ann = make_user("ann@example.org")
    bound = passwords._hashing.bound
    slots, admitted = bound._slots, bound._admitted
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    outcome: list[object] = []
    signing_in = threading.Thread(
        target=lambda: outcome.append(attempt(services, ann.upn, PASSWORD, "192.0.2.7"))
    )
    waiting = admitted._value
    try:
        signing_in.start()
        assert eventually(lambda: admitted._value == waiting - 1)  # admitted, waiting for a slot
        services.directory.set_admin(ann.upn, True, actor="test")  # a write, meanwhile
        assert signing_in.is_alive()  # still waiting for a slot: the write did not wait for it
    finally:
        for _ in range(taken):
            slots.release()
        signing_in.join(timeout=60)
    assert outcome == [True]
    user = services.directory.get_user(ann.upn)
    assert user is not None and user.is_admin
