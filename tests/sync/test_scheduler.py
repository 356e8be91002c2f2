"""PHOTOSYNC_SYNC_SCHEDULE: reading a cron expression, and when it runs next (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from photosync.settings import SettingsError, load_settings
from photosync.sync.scheduler import next_run, parse_schedule
from tests.test_settings import photosync_process


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", at(2026, 3, 2, 9, 0), at(2026, 3, 2, 9, 1)),  # strictly after
        ("* * * * *", at(2026, 3, 2, 9, 0, 30), at(2026, 3, 2, 9, 1)),
        ("* * * * *", at(2026, 3, 2, 9, 59, 59), at(2026, 3, 2, 10, 0)),
        ("*/15 * * * *", at(2026, 3, 2, 9, 46), at(2026, 3, 2, 10, 0)),
        ("0 2 * * *", at(2026, 3, 2, 9, 0), at(2026, 3, 3, 2, 0)),
        ("0 2 * * *", at(2026, 3, 2, 1, 59), at(2026, 3, 2, 2, 0)),
        ("0 0 1 * *", at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 0)),
        # 2026-03-06 is a Friday: the next weekday morning is Monday's.
        ("30 8 * * mon-fri", at(2026, 3, 6, 9, 0), at(2026, 3, 9, 8, 30)),
        ("30 8 * * 1-5", at(2026, 3, 6, 8, 0), at(2026, 3, 6, 8, 30)),
        ("0 0 29 2 *", at(2026, 3, 1, 0, 0), at(2028, 2, 29, 0, 0)),
    ],
)
def test_next_run(expression: str, after: datetime, expected: datetime) -> None:
    assert next_run(parse_schedule(expression), after) == expected


def test_next_run_reads_other_time_zones_and_naive_times_as_utc() -> None:
    schedule = parse_schedule("0 2 * * *")
    paris = timezone(timedelta(hours=1))
    assert next_run(schedule, datetime(2026, 3, 2, 2, 30, tzinfo=paris)) == at(2026, 3, 2, 2, 0)
    assert next_run(schedule, datetime(2026, 3, 2, 1, 0)) == at(2026, 3, 2, 2, 0)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected a cron expression of five fields"),
        ("61 * * * *", "the minute field '61' is not valid"),
        ("0 25 * * *", "the hour field '25' is not valid"),
        ("* * * * 8", "the day of week field '8' is not valid"),
        ("*/0 * * * *", "the minute field '*/0' is not valid"),
        ("0 0 31 2 *", "day_of_month '31' never occurs in month_of_year '2'"),
        ("every day", "expected a cron expression of five fields"),
    ],
)
def test_a_bad_schedule_is_refused_in_words(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        parse_schedule(expression)
    with pytest.raises(SettingsError) as caught:
        load_settings(sync_schedule=expression)
    assert str(caught.value).startswith(f"PHOTOSYNC_SYNC_SCHEDULE={expression!r} is not valid: ")
    assert "Value error" not in str(caught.value)


def test_the_schedule_is_empty_by_default_and_kept_trimmed() -> None:
    assert load_settings().sync_schedule == ""
    assert load_settings(sync_schedule=" 0 2 * * * ").sync_schedule == "0 2 * * *"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("PHOTOSYNC_SYNC_SCHEDULE", "0 25 * * *", "the hour field '25' is not valid"),
        (
            "PHOTOSYNC_BROKER_URL",
            "localhost:6379",
            "expected a URL starting with redis://, rediss://, amqp://, amqps://, pyamqp://",
        ),
    ],
)
def test_a_bad_value_stops_the_real_server_with_one_line(
    tmp_path: Path, variable: str, value: str, reason: str
) -> None:
    data = tmp_path / "data"
    done = photosync_process(data, "serve", "--port", "1", **{variable: value})
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"Error: {variable}={value!r} is not valid: {reason}")
    assert not data.exists()
