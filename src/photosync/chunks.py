"""``chunked``: an iterable in lists of a fixed size (Python 3.12's ``itertools.batched``, which
this project's 3.11 lacks), for everything done a batch at a time: imports, bulk runs, gc."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), read lazily."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
