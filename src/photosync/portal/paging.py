"""Pages of a long list (the admin's people, the audit log): which page, its links, its counts.

A page past the end (rows removed since, or a hand-made URL) shows the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypedDict, TypeVar
from urllib.parse import urlencode

PAGE_SIZE = 50
T = TypeVar("T")

# ``read(offset, limit)``: that slice of the rows, and how many there are in all.
Reader = Callable[[int, int], tuple[list[T], int]]


class Paging(TypedDict):
    """What a page's template needs to say where it is and link to its neighbours."""

    total: int
    first: int
    last: int
    page_number: int
    pages: int
    previous_url: str | None
    next_url: str | None


def page_number(value: str) -> int:
    """The ``page`` query parameter: a whole number from 1, anything else is page 1."""
    return max(1, int(value)) if value.isdigit() else 1


def page_url(path: str, params: Mapping[str, str], number: int) -> str:
    """``path`` with the non-empty ``params`` and the page (when not the first)."""
    query = urlencode(
        {k: v for k, v in {**params, "page": str(number) if number > 1 else ""}.items() if v}
    )
    return path + (f"?{query}" if query else "")


def read_page(read: Reader[T], number: int, url: Callable[[int], str]) -> tuple[list[T], Paging]:
    """The rows of page ``number``, and where they stand (``url(n)``: page n's address)."""
    rows, total = read((number - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if number > pages:
        number = pages
        rows, total = read((number - 1) * PAGE_SIZE, PAGE_SIZE)
    first = (number - 1) * PAGE_SIZE + 1
    return rows, Paging(
        total=total,
        first=first,
        last=first + len(rows) - 1,
        page_number=number,
        pages=pages,
        previous_url=url(number - 1) if number > 1 else None,
        next_url=url(number + 1) if number < pages else None,
    )
