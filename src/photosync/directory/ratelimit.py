"""Photo uploads per person: a rate, counted in the database so that every server process (and
every host sharing the database) counts the same uploads.

The limit (``PHOTOSYNC_UPLOAD_RATE_LIMIT``, "10/minute" by default) is a rate with a burst of
its size: ten uploads at once pass, then one every six seconds. It is kept with the generic cell
rate algorithm (GCRA), which needs one moment per person (the "theoretical arrival time": when
the person's allowance is full again) instead of a log of uploads, and so one row per person
(``upload_allowances``), updated in the same short transaction that decides.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from photosync.directory.models import UploadAllowance

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?")
OFF = ("", "0", "off", "none")


@dataclass(frozen=True)
class UploadRate:
    """``count`` uploads per ``seconds``, per person."""

    count: int
    seconds: int

    def __str__(self) -> str:
        """The setting's own form: "10/minute", "5/10second"."""
        many, unit = self._period()
        return f"{self.count}/{'' if many == 1 else many}{unit}"

    @property
    def period(self) -> str:
        """The period in words: "minute", "10 seconds"."""
        many, unit = self._period()
        return unit if many == 1 else f"{many} {unit}s"

    def _period(self) -> tuple[int, str]:
        """The period in its largest whole unit: (how many, unit)."""
        for unit, size in reversed(_UNITS.items()):
            if self.seconds % size == 0:
                return self.seconds // size, unit
        raise AssertionError("every period is whole seconds")  # pragma: no cover

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.seconds / self.count)


def parse_rate(text: str) -> UploadRate | None:
    """``"10/minute"``, ``"30/hour"``, ``"5/10second"``; None for "", "0" or "off"."""
    value = text.strip().lower()
    if value in OFF:
        return None
    match = _RATE.fullmatch(value)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            "expected uploads per period, such as 10/minute, 30/hour or 5/10second (or off)"
        )
    many = int(match.group(2) or 1)
    if many == 0:
        raise ValueError("the period must be at least one second")
    return UploadRate(int(match.group(1)), many * _UNITS[match.group(3)])


@dataclass(frozen=True)
class Refusal:
    """An upload over the rate: when the person may upload again, and whether it is the first
    refusal since their last upload (the one the audit log records)."""

    retry_after: int  # whole seconds, at least 1
    first: bool


def take(session: Session, user_id: str, now: datetime, rate: UploadRate) -> Refusal | None:
    """Count one upload by ``user_id`` now, or refuse it (None: it may go ahead).

    Run in a write transaction: the row is locked (PostgreSQL) or the database is (SQLite), so
    two uploads at once by one person are counted one after the other."""
    row = session.get(UploadAllowance, user_id, with_for_update=True)
    if row is None:
        row = UploadAllowance(user_id=user_id, full_at=now, refused_in_a_row=0)
        session.add(row)
    # When the allowance is full again if nothing else happens; never in the past.
    arrival = max(row.full_at, now)
    burst = timedelta(seconds=rate.seconds) - rate.interval
    if arrival - now > burst:
        row.refused_in_a_row += 1
        wait = (arrival - now - burst).total_seconds()
        return Refusal(retry_after=max(1, math.ceil(wait)), first=row.refused_in_a_row == 1)
    row.full_at = arrival + rate.interval
    row.refused_in_a_row = 0
    return None
