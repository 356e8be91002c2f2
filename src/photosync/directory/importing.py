"""Reading a users file (``photosync users import FILE.csv``): rows checked one by one.

A row that cannot be used is refused with its line number and the reason, and nothing of it is
written; the rest of the file still counts. A file that cannot be read as a users file at all
(no header, no ``upn`` or ``name`` column, an unknown column) is a ``BadUsersFile``.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from photosync import audit
from photosync.db import new_id
from photosync.directory import addresses
from photosync.directory.models import User
from photosync.directory.passwords import password_problem

REQUIRED = ("upn", "name")
OPTIONAL = ("mail", "admin", "has_mailbox", "password", "aliases")
COLUMNS = REQUIRED + OPTIONAL
TRUE = frozenset({"yes", "true", "1"})
FALSE = frozenset({"no", "false", "0"})
UPN_MAX = 320
NAME_MAX = 256


class BadUsersFile(ValueError):
    """The file as a whole is not a users file (the command's usage error)."""


@dataclass(frozen=True)
class UserRow:
    """One usable row. None means "not given": a default for a new user, unchanged otherwise."""

    line: int
    upn: str
    name: str
    mail: str | None = None
    is_admin: bool | None = None
    has_mailbox: bool | None = None
    password: str | None = None
    # Other e-mail addresses of the user (the avatar URL finds them by any); () clears them.
    aliases: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Refused:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def upn_problem(upn: str) -> str | None:
    """Why ``upn`` (already stripped) is not a user principal name, or None if it is one."""
    if "@" not in upn or upn.startswith("@") or upn.endswith("@") or " " in upn:
        return f"{upn!r} is not a user principal name like name@example.com"
    if len(upn) > UPN_MAX:
        return f"the user principal name is longer than {UPN_MAX} characters"
    return None


def read_users(lines: Iterable[str]) -> Iterator[UserRow | Refused]:
    """Each data row of a CSV users file, checked, in file order (BadUsersFile at once if the
    header is not usable). Line numbers are the file's, counting the header as line 1."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise BadUsersFile("the file is empty; its first line must name the columns") from None
    except csv.Error as exc:
        raise BadUsersFile(f"line 1: {exc}") from None
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise BadUsersFile(
            f"the first line must name the columns; it has no {' or '.join(missing)} column "
            f"(columns: {', '.join(COLUMNS)})"
        )
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise BadUsersFile(
            f"unknown column(s) {', '.join(repr(n) for n in unknown)}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BadUsersFile(f"the column(s) {', '.join(repeated)} appear more than once")

    seen: dict[str, int] = {}
    previous_end = reader.line_num
    while True:
        line = previous_end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            previous_end = reader.line_num
            yield Refused(line, f"not readable as CSV ({exc})")
            continue
        previous_end = reader.line_num
        if not any(field.strip() for field in fields):
            continue  # blank lines are allowed anywhere
        if len(fields) != len(names):
            yield Refused(line, f"{len(fields)} fields, but the first line names {len(names)}")
            continue
        row = _row(line, dict(zip(names, fields, strict=True)))
        if isinstance(row, UserRow):
            key = row.upn.lower()
            if key in seen:
                row = Refused(line, f"{row.upn} is already on line {seen[key]}")
            else:
                seen[key] = line
        yield row


def _row(line: int, values: dict[str, str]) -> UserRow | Refused:
    upn = values["upn"].strip()
    problem = upn_problem(upn)
    if problem:
        return Refused(line, problem)
    name = values["name"].strip()
    if not name:
        return Refused(line, f"{upn} has no name")
    if len(name) > NAME_MAX:
        return Refused(line, f"the name of {upn} is longer than {NAME_MAX} characters")
    mail = values.get("mail", "").strip() or None
    if mail is not None and (upn_problem(mail) is not None):
        return Refused(line, f"{mail!r} is not an e-mail address")
    flags: dict[str, bool | None] = {}
    for column in ("admin", "has_mailbox"):
        raw = values.get(column, "").strip().lower()
        if not raw:
            flags[column] = None
        elif raw in TRUE:
            flags[column] = True
        elif raw in FALSE:
            flags[column] = False
        else:
            return Refused(line, f"{column} is {raw!r}; write yes or no (true/false, 1/0)")
    # A password is taken as written (spaces included); an empty cell means "none given".
    password = values.get("password", "") or None
    weak = password_problem(password) if password else None
    if weak:
        return Refused(line, f"{weak} ({upn})")
    try:
        aliases = _aliases(values.get("aliases", ""))
    except ValueError as exc:
        return Refused(line, str(exc))
    return UserRow(
        line=line,
        upn=upn,
        name=name,
        mail=mail,
        is_admin=flags["admin"],
        has_mailbox=flags["has_mailbox"],
        password=password,
        aliases=aliases,
    )


def _aliases(cell: str) -> tuple[str, ...] | None:
    """The ``aliases`` cell: addresses separated by ``;`` or spaces, as Active Directory's
    ``proxyAddresses`` are exported (``SMTP:``/``smtp:`` prefixes dropped, other kinds such as
    ``X500:`` or ``SIP:`` skipped). Empty: not given; ``-``: none (clears them). ValueError
    names an entry that is not an e-mail address."""
    cell = cell.strip()
    if not cell:
        return None
    if cell == "-":
        return ()
    found: dict[str, str] = {}
    for token in cell.replace(";", " ").split():
        prefix, colon, rest = token.partition(":")
        if colon and "@" not in prefix:
            if prefix.lower() != "smtp":
                continue
            token = rest
        if upn_problem(token) is not None:
            raise ValueError(f"{token!r} in aliases is not an e-mail address")
        found.setdefault(token.lower(), token)
    return tuple(found.values())


# --- writing ----------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


_EXISTING = select(
    User.id, User.upn_key, User.display_name, User.mail, User.is_admin, User.has_mailbox
).where(User.upn_key.in_(bindparam("b_keys", expanding=True)))
_INSERT_USER = insert(User)
_UPDATE_USER = (
    update(User)
    .where(User.id == bindparam("b_id"))
    .values(
        display_name=bindparam("b_name"),
        mail=bindparam("b_mail"),
        is_admin=bindparam("b_admin"),
        has_mailbox=bindparam("b_mailbox"),
    )
)
_SET_PASSWORD = (
    update(User)
    .where(User.id == bindparam("b_id"))
    .values(password_hash=bindparam("b_hash"), failed_sign_ins=0, locked_until=None)
)


def write_batch(
    conn: Connection,
    rows: Sequence[UserRow],
    hashes: Mapping[int, str],
    *,
    now: datetime,
    actor: str,
) -> tuple[list[str], list[str], int]:
    """Create or update the users of ``rows`` in the transaction of ``conn``: a few statements
    for the whole batch, not a few per user. ``hashes``: the password hash of each row (by line)
    that gave a password. Returns the ids created, the ids updated, and how many were unchanged.
    """
    existing = {
        row.upn_key: row
        for row in conn.execute(_EXISTING, {"b_keys": [r.upn.lower() for r in rows]})
    }
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    passwords: list[dict[str, object]] = []
    created: list[tuple[str | None, dict[str, Any]]] = []
    changed: list[tuple[str | None, dict[str, Any]]] = []
    unchanged = 0
    # The addresses of every user added, or whose mail or aliases changed (directory.addresses).
    readdressed: dict[str, dict[addresses.Kind, Collection[str | None]]] = {}
    with_aliases = [
        existing[r.upn.lower()].id
        for r in rows
        if r.aliases is not None and r.upn.lower() in existing
    ]
    old_aliases = addresses.alias_digests(conn, with_aliases) if with_aliases else {}
    for row in rows:
        old = existing.get(row.upn.lower())
        password_hash = hashes.get(row.line)
        if old is None:
            user_id = new_id()
            inserts.append(
                {
                    "id": user_id,
                    "upn": row.upn,
                    "upn_key": row.upn.lower(),
                    "display_name": row.name,
                    "mail": row.mail or row.upn,
                    "is_admin": bool(row.is_admin),
                    "has_mailbox": True if row.has_mailbox is None else row.has_mailbox,
                    "password_hash": password_hash,
                    "failed_sign_ins": 0,
                    "created_at": now,
                }
            )
            readdressed[user_id] = {
                "upn": [row.upn],
                "mail": [row.mail or row.upn],
                "alias": row.aliases or (),
            }
            created.append((user_id, {"line": row.line}))
            continue
        new = {
            "display_name": row.name,
            "mail": row.mail or old.mail,
            "is_admin": old.is_admin if row.is_admin is None else row.is_admin,
            "has_mailbox": old.has_mailbox if row.has_mailbox is None else row.has_mailbox,
        }
        fields = [name for name, value in new.items() if getattr(old, name) != value]
        if "mail" in fields:
            readdressed.setdefault(old.id, {})["mail"] = [str(new["mail"])]
        if fields:
            updates.append(
                {
                    "b_id": old.id,
                    "b_name": new["display_name"],
                    "b_mail": new["mail"],
                    "b_admin": new["is_admin"],
                    "b_mailbox": new["has_mailbox"],
                }
            )
        if row.aliases is not None and addresses.digests(row.aliases) != old_aliases.get(
            old.id, set()
        ):
            readdressed.setdefault(old.id, {})["alias"] = row.aliases
            fields.append("aliases")
        if password_hash is not None:
            passwords.append({"b_id": old.id, "b_hash": password_hash})
            fields.append("password")
        if fields:
            changed.append((old.id, {"line": row.line, "fields": fields}))
        else:
            unchanged += 1
    if inserts:
        conn.execute(_INSERT_USER, inserts)
    if updates:
        conn.execute(_UPDATE_USER, updates)
    if passwords:
        conn.execute(_SET_PASSWORD, passwords)
    addresses.write(conn, readdressed)
    audit.record_many(conn, actor=actor, action="user.added", subjects=created)
    audit.record_many(conn, actor=actor, action="user.updated", subjects=changed)
    return [str(s) for s, _ in created], [str(s) for s, _ in changed], unchanged
