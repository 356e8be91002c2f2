"""``photosync users import FILE.csv``: many users created or updated at once, a bad row refused
with its line number (and nothing of it written), the rest imported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from photosync.audit import AuditEvent
from photosync.cli import main
from photosync.directory import services as directory_services
from photosync.directory.importing import BadUsersFile, Refused, UserRow, read_users
from photosync.directory.interfaces import UserInfo
from photosync.directory.models import User
from photosync.directory.services import USER_CHANGED, SignInFailed
from photosync.services import Services
from tests.conftest import TEST_KEY


def rows(text: str) -> list[UserRow | Refused]:
    return list(read_users(text.splitlines(keepends=True)))


# --- reading the file ---------------------------------------------------------------------


def test_rows_are_read_with_their_line_numbers_and_optional_columns() -> None:
    got = rows(
        "upn,name,mail,admin,has_mailbox,password\n"
        "ann@example.org,Ann Lee,ann.lee@example.org,yes,no,pw one is long\n"
        "\n"
        "BOB@example.org,Bob,,FALSE,1,\n"
        'cy@example.org,"Cy, Jr.",,0,true,\n'
    )
    assert got == [
        UserRow(
            2, "ann@example.org", "Ann Lee", "ann.lee@example.org", True, False, "pw one is long"
        ),
        UserRow(4, "BOB@example.org", "Bob", None, False, True, None),
        UserRow(5, "cy@example.org", "Cy, Jr.", None, False, True, None),
    ]
    # Columns in any order; only upn and name are required; a BOM and header case are fine.
    assert rows("\ufeffName,UPN\nDee,dee@example.org\n") == [UserRow(2, "dee@example.org", "Dee")]


def test_bad_rows_are_refused_with_their_line_number_and_why() -> None:
    got = rows(
        "upn,name,admin\n"
        "ok@example.org,Ok,\n"
        "bob,Bob,\n"  # line 3
        "a b@example.org,Space,\n"
        "noname@example.org,  ,\n"
        "flag@example.org,Flag,maybe\n"
        "few@example.org\n"
        "OK@example.org,Again,\n"  # line 8: the same UPN as line 2, in another case
        "last@example.org,Last,no\n"
    )
    assert [str(r) for r in got if isinstance(r, Refused)] == [
        "line 3: 'bob' is not a user principal name like name@example.com",
        "line 4: 'a b@example.org' is not a user principal name like name@example.com",
        "line 5: noname@example.org has no name",
        "line 6: admin is 'maybe'; write yes or no (true/false, 1/0)",
        "line 7: 1 fields, but the first line names 3",
        "line 8: OK@example.org is already on line 2",
    ]
    assert [r.upn for r in got if isinstance(r, UserRow)] == ["ok@example.org", "last@example.org"]


def test_a_weak_password_refuses_its_row() -> None:
    got = rows(
        "upn,name,password\n"
        "short@example.org,Short,secret\n"
        "common@example.org,Common,password1234\n"
        "good@example.org,Good,a good long passphrase\n"
    )
    assert [str(r) for r in got if isinstance(r, Refused)] == [
        "line 2: the password is too short: use at least 12 characters (short@example.org)",
        "line 3: the password is one of the most common ones: choose another (common@example.org)",
    ]
    assert [r.upn for r in got if isinstance(r, UserRow)] == ["good@example.org"]


def test_a_quoted_field_over_two_lines_keeps_the_numbering_true() -> None:
    got = rows('upn,name\na@example.org,"Two\nlines"\nbad,X\n')
    assert got[0] == UserRow(2, "a@example.org", "Two\nlines")
    assert got[1] == Refused(4, "'bad' is not a user principal name like name@example.com")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("upn,mail\nx@example.org,x@example.org\n", "no name column"),
        ("name\nX\n", "no upn column"),
        ("upn,name,colour\n", "unknown column(s) 'colour'"),
        ("upn,name,name\n", "name appear more than once"),
    ],
)
def test_a_file_without_a_usable_header_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(BadUsersFile, match=message.replace("(", r"\(").replace(")", r"\)")):
        rows(text)


# --- writing ---------------------------------------------------------------------------------


def test_import_creates_and_updates_and_publishes_user_changed(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    directory = services.directory
    old = make_user("old@example.org", "Old Name", admin=True)
    same = directory.add_user("same@example.org", "Same", mail="s@example.org")
    changed: list[dict[str, Any]] = []

    def seen(**ids: Any) -> None:
        # Sent after the commit: the change is already visible to another connection.
        with services.ctx.db.engine.connect() as conn:
            name = conn.scalar(select(User.display_name).where(User.id == ids["user_id"]))
        changed.append({**ids, "name": name})

    services.ctx.events.subscribe(USER_CHANGED, seen)
    assert directory.get_user(old.id) == old  # remembered now; the event must make it forgotten
    summary = directory.import_users(
        [
            UserRow(2, "new@example.org", "New Person", has_mailbox=False),
            UserRow(3, "OLD@example.org", "New Name", is_admin=False),
            UserRow(4, "same@example.org", "Same"),
        ],
        actor="cli",
    )
    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 1)

    new = directory.get_user("new@example.org")
    assert new is not None
    assert (new.display_name, new.mail, new.is_admin, new.has_mailbox) == (
        "New Person",
        "new@example.org",
        False,
        False,
    )
    updated = directory.get_user(old.id)
    assert updated is not None
    # Given columns change; the mail, not given, stays as it was.
    assert (updated.display_name, updated.is_admin, updated.mail) == ("New Name", False, old.mail)
    assert directory.get_user(same.id) == same
    assert {c["user_id"]: c["name"] for c in changed} == {new.id: "New Person", old.id: "New Name"}

    with services.ctx.db.session() as session:
        audits = session.execute(
            select(AuditEvent.action, AuditEvent.subject_user_id, AuditEvent.detail)
            .where(AuditEvent.actor == "cli")
            .order_by(AuditEvent.action)
        ).all()
    assert [(a, s) for a, s, _ in audits] == [("user.added", new.id), ("user.updated", old.id)]
    assert audits[1].detail == {"line": 3, "fields": ["display_name", "is_admin"]}


def test_only_rows_with_a_password_are_hashed(
    services: Services, make_user: Callable[..., UserInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("has@example.org")
    hashed: list[str] = []
    real = directory_services.hash_password

    def counting(password: str) -> str:
        hashed.append(password)
        return real(password)

    monkeypatch.setattr(directory_services, "hash_password", counting)
    summary = services.directory.import_users(
        [UserRow(n, f"u{n}@example.org", f"U {n}") for n in range(2, 52)]
        + [
            UserRow(60, "pw@example.org", "Pw", password="first secret"),
            UserRow(61, "has@example.org", "Has", password="new secret"),
        ],
        batch=20,  # several transactions
    )
    assert (summary.created, summary.updated) == (51, 1)
    assert sorted(hashed) == ["first secret", "new secret"]
    assert services.directory.authenticate("pw@example.org", "first secret").upn == "pw@example.org"
    assert services.directory.authenticate("has@example.org", "new secret")
    with pytest.raises(SignInFailed):
        services.directory.authenticate("u2@example.org", "")


def test_ten_thousand_rows_in_a_few_transactions(services: Services) -> None:
    """The size the issue asks for (the time is in docs/operations.md, not asserted here)."""
    many = [UserRow(n + 2, f"person{n:05}@example.org", f"Person {n:05}") for n in range(10_000)]
    summary = services.directory.import_users(many, actor="cli")
    assert (summary.created, summary.updated, summary.unchanged) == (10_000, 0, 0)
    again = services.directory.import_users([*many[1:10], UserRow(2, many[0].upn, "Renamed")])
    assert (again.created, again.updated, again.unchanged) == (0, 1, 9)
    with services.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 10_000


# --- the command -----------------------------------------------------------------------------


def run(data: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        main, ["--data", str(data), *args], env={"PHOTOSYNC_SECRET_KEY": TEST_KEY}, input=input
    )


def test_the_command_reports_bad_rows_and_imports_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = tmp_path / "people.csv"
    lines = ["upn,name,admin,has_mailbox"]
    lines += [f"p{n}@example.org,Person {n},no,yes" for n in range(15)]
    lines.append("bob,Bob,no,yes")  # line 17
    lines.append("ada@example.org,Ada,yes,no")
    csv.write_text("\n".join(lines) + "\n")

    result = run(data, "users", "import", str(csv))
    assert result.exit_code == 1, result.output
    assert "line 17: 'bob' is not a user principal name like name@example.com" in result.output
    assert "created 16, updated 0, unchanged 0, refused 1" in result.output
    listing = run(data, "users", "list").output
    assert "ada@example.org" in listing and "p14@example.org" in listing
    assert "bob" not in listing.replace("bob@", "")

    csv.write_text("upn,name\nada@example.org,Ada Lovelace\n")
    result = run(data, "users", "import", str(csv))
    assert result.exit_code == 0, result.output
    assert "created 0, updated 1, unchanged 0, refused 0" in result.output
    assert "Ada Lovelace" in run(data, "users", "list").output

    result = run(data, "users", "import", "-", input="upn,name\nsam@example.org,Sam\n")
    assert result.exit_code == 0 and "created 1," in result.output


def test_bad_usage_is_exit_status_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run(data, "users", "import", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2 and "cannot read" in result.output
    no_header = tmp_path / "no-header.csv"
    no_header.write_text("ann@example.org,Ann\n")
    result = run(data, "users", "import", str(no_header))
    assert result.exit_code == 2 and "no upn or name column" in result.output
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\xff\xd8\xff\xe0 not text")
    result = run(data, "users", "import", str(binary))
    assert result.exit_code == 2 and "not a UTF-8 text file" in result.output
    assert "Traceback" not in result.output


# --- aliases (the avatar URL finds people by any of their addresses) ------------------------


def test_aliases_are_read_as_active_directory_exports_proxy_addresses() -> None:
    got = rows(
        "upn,name,aliases\n"
        "ann@example.org,Ann,SMTP:Ann.Lee@example.org;smtp:al@example.org X500:/o=x/cn=ann\n"
        "bob@example.org,Bob,\n"
        "cy@example.org,Cy,-\n"
        "dee@example.org,Dee,dee@example.org;DEE@example.org\n"
        "eve@example.org,Eve,not-an-address\n"
    )
    assert [getattr(row, "aliases", None) for row in got[:4]] == [
        ("Ann.Lee@example.org", "al@example.org"),
        None,  # not given: left as it is
        (),  # "-": none
        ("dee@example.org",),
    ]
    assert got[4] == Refused(6, "'not-an-address' in aliases is not an e-mail address")


def test_aliases_are_kept_changed_and_cleared_by_later_imports(services: Services) -> None:
    directory = services.directory

    def who(address: str) -> str | None:
        user = directory.user_by_address_digest(md5(address))
        return user.upn if user else None

    def run(text: str) -> Any:
        good = [row for row in rows(text) if isinstance(row, UserRow)]
        return directory.import_users(good)

    run("upn,name,aliases\nann@example.org,Ann,smtp:a1@example.org;a2@example.org\n")
    assert who("a1@example.org") == who("A2@Example.org ") == who("ann@example.org")
    assert who("ann@example.org") == "ann@example.org"
    same = run("upn,name,aliases\nann@example.org,Ann,a2@example.org;A1@example.org\n")
    assert (same.updated, same.unchanged) == (0, 1)
    assert run("upn,name\nann@example.org,Ann\n").unchanged == 1  # no column: kept
    assert who("a1@example.org") == "ann@example.org"
    changed = run("upn,name,aliases\nann@example.org,Ann,a3@example.org\n")
    assert changed.updated == 1
    assert (who("a1@example.org"), who("a3@example.org")) == (None, "ann@example.org")
    run("upn,name,aliases\nann@example.org,Ann,-\n")
    assert who("a3@example.org") is None
    assert who("ann@example.org") == "ann@example.org"  # the UPN stays


def md5(address: str) -> str:
    import hashlib

    return hashlib.md5(address.strip().lower().encode()).hexdigest()
