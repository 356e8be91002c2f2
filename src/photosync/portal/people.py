"""The admin's list of people: each person's state, and the filter, sort and search of the list.

A person's state is decided here, once, as SQL that joins what each role keeps of them (the
directory's mailbox flag, the mailbox's current photo, what sites shows, sync's latest check):
the page, its filter, its sort and its CSV export all read that one expression, so a list of
100,000 people is filtered and sorted by the database in the same two queries as ten. Each role
hands over its part as SQL on the directory's user id (``*_sql`` methods of its service); no
table of another role is named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal, nulls_last

from photosync.directory.interfaces import UserInfo
from photosync.directory.services import LISTING, DirectoryService
from photosync.mailbox.services import MailboxService
from photosync.sites.services import SitesService
from photosync.sync.service import SyncService

# A person's state, first match wins (the order is also the sort by state), and its label.
STATES = {
    "no-mailbox": "No mailbox",
    "not-editable": "Not editable",
    "error": "Error",
    "pending": "Pending",
    "placeholder": "Placeholder",
    "picture": "Picture",
}
STATE_HELP = {
    "no-mailbox": "No mailbox: a picture can only be uploaded to SharePoint",
    "not-editable": "The last check found picture editing turned off",
    "error": "The last check failed",
    "pending": "The mailbox has a photo SharePoint has not copied yet",
    "placeholder": "SharePoint shows the placeholder",
    "picture": "SharePoint shows the mailbox's photo",
}
# What the list can be filtered by (the five states; "picture" is everyone else).
FILTERS = ("placeholder", "pending", "error", "no-mailbox", "not-editable")
SORTS = {"name": "Name", "upn": "User name", "state": "State", "checked": "Last checked"}
SEARCH_MAX = 100


@dataclass(frozen=True)
class PeopleQuery:
    """What the admin asked to see: a search, a state (or all), a sort, its direction."""

    search: str = ""
    state: str = ""
    sort: str = "name"
    descending: bool = False

    @classmethod
    def parse(cls, search: str, state: str, sort: str) -> PeopleQuery:
        """From the page's parameters; anything not understood is the default (a hand-made
        URL shows everyone by name rather than an error page)."""
        key = sort.removeprefix("-")
        return cls(
            search=search.strip()[:SEARCH_MAX],
            state=state if state in FILTERS else "",
            sort=key if key in SORTS else "name",
            descending=sort.startswith("-") and key in SORTS,
        )

    @property
    def sort_param(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort

    def params(self) -> dict[str, str]:
        """The query string of this view (defaults left out)."""
        return {
            "q": self.search,
            "state": self.state,
            "sort": "" if self.sort_param == "name" else self.sort_param,
        }

    def sorted_by(self, key: str) -> dict[str, str]:
        """The parameters of this view sorted by ``key`` (the other way if it already is)."""
        flip = key == self.sort and not self.descending
        return {
            **self.params(),
            "sort": "" if key == "name" and not flip else f"{'-' if flip else ''}{key}",
        }


@dataclass(frozen=True)
class Listed:
    """One person of the list, with what the list's own query read of them."""

    user: UserInfo
    state: str
    last_check_at: datetime | None
    last_result: str | None


class PeopleList:
    """The SQL of the list, built once per request from the roles' parts."""

    def __init__(self, mailbox: MailboxService, sites: SitesService, sync: SyncService) -> None:
        user_id = LISTING.id
        etag = mailbox.current_etag_sql(user_id)
        placeholder, shown_etag = sites.shown_sql(user_id)
        self.checked_at, self.result = sync.latest_check_sql(user_id)
        not_copied = and_(etag.is_not(None), (shown_etag.is_(None)) | (shown_etag != etag))
        self.state: ColumnElement[str] = case(
            (LISTING.has_mailbox.is_(False), literal("no-mailbox")),
            (self.result == "not-editable", literal("not-editable")),
            (self.result == "error", literal("error")),
            (not_copied, literal("pending")),
            (placeholder, literal("placeholder")),
            else_=literal("picture"),
        )
        self.state_rank: ColumnElement[int] = case(
            *((self.state == name, rank) for rank, name in enumerate(STATES)), else_=len(STATES)
        )

    def _where(self, query: PeopleQuery) -> list[ColumnElement[bool]]:
        return [self.state == query.state] if query.state else []

    def _order(self, query: PeopleQuery) -> list[ColumnElement[Any]]:
        columns: dict[str, ColumnElement[Any]] = {
            "name": LISTING.name,
            "upn": LISTING.upn,
            "state": self.state_rank,
            "checked": self.checked_at,
        }
        column = columns[query.sort]
        ordered = column.desc() if query.descending else column.asc()
        # Never-checked people last either way; ties by name (the directory adds it).
        return [nulls_last(ordered)] if query.sort == "checked" else [ordered]

    def read(
        self, directory: DirectoryService, query: PeopleQuery, offset: int, limit: int
    ) -> tuple[list[Listed], int]:
        rows, total = directory.users_listing(
            query.search,
            where=self._where(query),
            order_by=self._order(query),
            columns=(self.state, self.checked_at, self.result),
            offset=offset,
            limit=limit,
        )
        return [Listed(user, *values) for user, values in rows], total
