"""The audit log: every change says from where (the request's address and user agent), and
people read it through ``AuditLog`` (``photosync audit``, the admin's audit page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from photosync import audit
from photosync.audit import AuditEvent, AuditLog, Origin, UnknownUser
from photosync.cli import main
from photosync.directory.interfaces import UserInfo
from photosync.edge import Edge, origin_of
from photosync.imaging.testimages import photo_jpeg
from photosync.services import Services
from tests.conftest import PASSWORD, TEST_KEY, bearer, password_token, run_async


def rows(services: Services, prefix: str) -> list[AuditEvent]:
    with services.ctx.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )


def test_changes_over_http_record_the_address_and_user_agent(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    alice = make_user("alice@example.org")
    agent = {"User-Agent": "Mozilla/5.0 (photosync test)"}
    token = password_token(client, alice.upn)
    r = client.put(
        "/v1.0/me/photo/$value",
        content=photo_jpeg(300, 300),
        headers={**bearer(token), **agent, "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/oauth2/v2.0/token",
        data={"grant_type": "password", "username": alice.upn, "password": "wrong"},
        headers={"User-Agent": "curl/8.5"},
    )
    assert r.status_code == 400

    # The photo change and what followed it in the same request (the directory thumbnail).
    for action in ("mailbox.photo.set", "directory.thumbnail.set"):
        (row,) = rows(services, action)
        assert (row.address, row.user_agent) == ("testclient", agent["User-Agent"]), action
    (failed,) = rows(services, "signin.failed")
    assert (failed.address, failed.user_agent) == ("testclient", "curl/8.5")
    # The request is over: nothing outside it is said to come from there.
    assert audit.origin.get() is None
    services.mailbox.delete_photo(alice.id, actor="cli")
    (deleted,) = rows(services, "mailbox.photo.deleted")
    assert (deleted.address, deleted.user_agent) == (None, None)


def test_the_edge_sets_the_origin_only_for_the_request() -> None:
    seen: list[Origin | None] = []
    sent: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: Callable[..., Any]) -> None:
        seen.append(audit.origin.get())
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    edge = Edge(app, hsts_max_age=0)  # type: ignore[arg-type]
    scope = {
        "type": "http",
        "client": ("203.0.113.7", 5000),
        "headers": [
            (b"accept", b"*/*"),
            (b"user-agent", b"Edge/1 \xe9"),
            (b"client-request-id", b"3f1c2a9e-client"),
        ],
    }
    run_async(edge(scope, None, send))  # type: ignore[arg-type]
    assert seen == [Origin("203.0.113.7", "Edge/1 é", "3f1c2a9e-client")]
    assert sent[0]["headers"][0] == (b"request-id", b"3f1c2a9e-client")
    assert audit.origin.get() is None
    # No id, or one that is not a short token of safe characters: a new UUID.
    for headers in ([], [(b"x-request-id", b"bad id\n")], [(b"x-request-id", b"x" * 129)]):
        made = origin_of({"type": "http", "headers": headers})
        assert (made.address, made.user_agent) == (None, None)
        assert made.request_id is not None and len(made.request_id) == 36
    assert origin_of({"type": "http", "headers": [(b"x-request-id", b"lb-42")]}).request_id == (
        "lb-42"
    )
    run_async(edge({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen[-1] is None


def test_long_values_are_cut_to_the_columns(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    user = make_user("long@example.org")
    with audit.from_origin(Origin("x" * 100, "y" * 2000)):
        services.directory.set_password(user.id, "new password", actor="admin@example.org")
    (row,) = rows(services, "user.password_set")
    assert row.address == "x" * 64 and row.user_agent == "y" * 512


# --- reading ----------------------------------------------------------------------------------


def fill(services: Services, user_ids: list[str | None], count: int, action: str) -> None:
    with services.ctx.db.write_connection() as conn:
        audit.record_many(
            conn,
            actor="test",
            action=action,
            subjects=[(user_ids[n % len(user_ids)], {"n": n}) for n in range(count)],
        )


def test_audit_log_filters_and_pages(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    ann, bob = make_user("ann@example.org"), make_user("bob@example.org")
    log = AuditLog(services.ctx.db, services.directory)
    fill(services, [ann.id, bob.id, None], 120, "test.fill")
    fill(services, [bob.id], 3, "test_fill")  # '_' is not a wildcard in the prefix

    everything = log.query()
    page, total = log.page(everything, offset=0, limit=50)
    assert total == 125 and len(page) == 50  # with the two users.added
    assert [e.at for e in page] == sorted((e.at for e in page), reverse=True)

    about_ann = log.query(user="ANN@example.org")
    page, total = log.page(about_ann, limit=500)
    assert total == 41 and {e.user for e in page} == {"ann@example.org"}
    assert {e.action for e in page} == {"test.fill", "user.added"}

    page, total = log.page(log.query(action="test.f"), limit=500)
    assert total == 120 and {e.action for e in page} == {"test.fill"}
    page, total = log.page(log.query(action="test_"), limit=500)
    assert total == 3
    assert {e.user for e in log.page(log.query(action="test.fill"), limit=3)[0]} <= {
        "ann@example.org",
        "bob@example.org",
        None,
    }

    # Rows from a minute ago are left out by --since now.
    with services.ctx.db.write_connection() as conn:
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "test_fill")
            .values(at=datetime.now(UTC) - timedelta(minutes=1))
        )
    since = datetime.now(UTC) - timedelta(seconds=30)
    assert log.page(log.query(since=since, action="test"), limit=500)[1] == 120

    with pytest.raises(UnknownUser):
        log.query(user="nobody@example.org")


def test_entries_reads_everything_once_in_chunks(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    ann = make_user("ann@example.org")
    fill(services, [ann.id], 1_234, "test.many")
    log = AuditLog(services.ctx.db, services.directory)
    query = log.query(action="test.many")
    listed = list(log.entries(query))
    assert len(listed) == 1_234 and len({e.id for e in listed}) == 1_234
    assert [e.at for e in listed] == sorted((e.at for e in listed), reverse=True)
    assert [e.id for e in log.entries(query, limit=700)] == [e.id for e in listed[:700]]
    first = listed[0].as_json()
    assert set(first) == {
        "at",
        "actor",
        "action",
        "user",
        "address",
        "user_agent",
        "request_id",
        "detail",
    }
    assert first["user"] == "ann@example.org" and first["actor"] == "test"


def test_the_audit_command(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"PHOTOSYNC_SECRET_KEY": TEST_KEY}

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--data", str(tmp_path / "data"), *args], env=env)
        return result.exit_code, result.output

    assert run("users", "add", "ann@example.org", "--name", "Ann")[0] == 0
    assert run("users", "add", "bob@example.org", "--name", "Bob")[0] == 0
    code, out = run("audit", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["action"], e["user"], e["actor"]) for e in lines] == [
        ("user.added", "bob@example.org", "cli"),
        ("user.added", "ann@example.org", "cli"),
    ]
    assert lines[0]["address"] is None and lines[0]["user_agent"] is None
    assert set(lines[0]) == {
        "at",
        "actor",
        "action",
        "user",
        "address",
        "user_agent",
        "request_id",
        "detail",
    }

    code, out = run("audit", "--user", "ann@example.org", "--json")
    assert [json.loads(line)["user"] for line in out.splitlines()] == ["ann@example.org"]
    code, out = run("audit", "--action", "user.", "--limit", "1")
    assert code == 0 and out.splitlines()[0].split() == [
        "at",
        "(UTC)",
        "actor",
        "action",
        "user",
        "from",
        "detail",
    ]
    assert len(out.splitlines()) == 2 and "bob@example.org" in out
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert run("audit", "--since", tomorrow, "--json") == (0, "")
    code, out = run("audit", "--user", "nobody@example.org")
    assert (code, out) == (1, "Error: no user nobody@example.org\n")
    code, out = run("audit", "--since", "last tuesday")
    assert code == 2 and "expected an ISO date" in out


def test_a_sign_in_through_the_portal_is_audited_from_the_browser(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    from tests.portal.conftest import sign_in

    user = make_user("ann@example.org")
    client.headers["User-Agent"] = "Firefox/140"
    assert sign_in(client, user.upn, "wrong").status_code == 400  # the form again, explained
    assert sign_in(client, user.upn, PASSWORD).status_code == 303
    (failed,) = rows(services, "signin.failed")
    (portal,) = rows(services, "signin.portal")
    for row in (failed, portal):
        assert (row.address, row.user_agent) == ("testclient", "Firefox/140")
    # The session's row names its actor by user id; people read the UPN.
    log = AuditLog(services.ctx.db, services.directory)
    (entry,) = log.page(log.query(action="signin.portal"))[0]
    assert portal.actor == user.id and entry.actor == user.upn == entry.user
