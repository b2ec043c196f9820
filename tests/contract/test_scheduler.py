"""Contract of the Scheduler port: five-field cron triggers (UTC), idempotent start and shutdown.

To add an adapter, add a factory to :data:`ADAPTERS`. Adapters must also offer ``jobs()`` (name -> next run
time, ISO 8601) so the tests and operators can see what is registered without waiting for a trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

import pytest

from investai.adapters.local.scheduler import ApScheduler, _apscheduler_day_of_week
from investai.domain.schedules import Schedule
from investai.ports.scheduler import Scheduler


class InspectableScheduler(Scheduler, Protocol):
    def jobs(self) -> dict[str, str]: ...


ADAPTERS: dict[str, Callable[[], InspectableScheduler]] = {"apscheduler": lambda: ApScheduler(never_called)}


@pytest.fixture(params=sorted(ADAPTERS))
def scheduler(request: pytest.FixtureRequest) -> Iterator[InspectableScheduler]:
    built = ADAPTERS[request.param]()
    yield built
    built.shutdown()


def never_called(schedule: Schedule) -> None:
    raise AssertionError(f"schedule {schedule.name} fired")


def next_run(scheduler: InspectableScheduler, name: str) -> datetime:
    moment = datetime.fromisoformat(scheduler.jobs()[name])
    assert moment.utcoffset() is not None, "next run times carry their zone"
    return moment.astimezone(UTC)


def test_add_registers_with_a_next_run_time(scheduler: InspectableScheduler) -> None:
    scheduler.add(Schedule("maintenance", "17 3 * * *", "test.job"))
    scheduler.start()
    upcoming = next_run(scheduler, "maintenance")
    assert (upcoming.hour, upcoming.minute, upcoming.second) == (3, 17, 0)
    assert upcoming > datetime.now(UTC)


def test_jobs_are_listed_before_start(scheduler: InspectableScheduler) -> None:
    scheduler.add(Schedule("maintenance", "17 3 * * *", "test.job"))
    upcoming = next_run(scheduler, "maintenance")
    assert (upcoming.hour, upcoming.minute) == (3, 17)


def test_cron_fields_are_read_in_utc(scheduler: InspectableScheduler) -> None:
    scheduler.add(Schedule("weekly", "30 6 * * 1", "test.job"))  # Mondays 06:30 UTC
    scheduler.start()
    upcoming = next_run(scheduler, "weekly")
    assert (upcoming.weekday(), upcoming.hour, upcoming.minute) == (0, 6, 30)


@pytest.mark.parametrize(
    ("day_of_week", "weekday"),
    [("0", 6), ("1", 0), ("5", 4), ("6", 5), ("7", 6), ("sun", 6), ("mon", 0), ("SAT", 5)],
)
def test_day_of_week_follows_crontab_numbering(scheduler: InspectableScheduler, day_of_week: str, weekday: int) -> None:
    """crontab counts days from Sunday = 0 (7 is Sunday too); Python's weekday() from Monday = 0."""
    scheduler.add(Schedule("weekly", f"0 12 * * {day_of_week}", "test.job"))
    assert next_run(scheduler, "weekly").weekday() == weekday


def test_adding_a_name_again_replaces_the_trigger(scheduler: InspectableScheduler) -> None:
    scheduler.add(Schedule("maintenance", "17 3 * * *", "test.job"))
    scheduler.add(Schedule("maintenance", "45 22 * * *", "test.job"))
    scheduler.start()
    assert list(scheduler.jobs()) == ["maintenance"]
    upcoming = next_run(scheduler, "maintenance")
    assert (upcoming.hour, upcoming.minute) == (22, 45)


@pytest.mark.parametrize(
    "cron",
    [
        "not a cron",
        "* * * *",
        "* * * * * *",
        "61 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "*/0 * * * *",
        "* * * * 8",
        "* * * * funday",
        "* * * * 5-1",
        "* * * * 1-",
        "* * * * */0",
        "* * * * mon/x",
        "",
    ],
)
def test_invalid_cron_raises_value_error(scheduler: InspectableScheduler, cron: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        scheduler.add(Schedule("broken", cron, "test.job"))
    assert "broken" not in scheduler.jobs()


def test_start_and_shutdown_are_idempotent(scheduler: InspectableScheduler) -> None:
    scheduler.shutdown()  # before start: nothing to stop
    scheduler.add(Schedule("maintenance", "17 3 * * *", "test.job"))
    scheduler.start()
    scheduler.start()
    assert "maintenance" in scheduler.jobs()
    scheduler.shutdown()
    scheduler.shutdown()


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("1-5", "0,1,2,3,4"),  # Monday to Friday
        ("mon-fri", "0,1,2,3,4"),
        ("0,6", "5,6"),  # the weekend
        ("sat,sun", "5,6"),
        ("0-7", "0,1,2,3,4,5,6"),
        ("*/2", "1,3,5,6"),  # Sunday, Tuesday, Thursday, Saturday
        ("1-5/2", "0,2,4"),  # Monday, Wednesday, Friday
        ("mon-fri/2", "0,2,4"),
        ("2/2", "1,3,5"),  # Tuesday, Thursday, Saturday
    ],
)
def test_apscheduler_translates_crontab_days(field: str, expected: str) -> None:
    """APScheduler 3 counts weekdays from Monday = 0 and ignores steps on named ranges, so the adapter
    expands crontab's field itself (``CronTrigger.from_crontab`` shifts every day by one)."""
    assert _apscheduler_day_of_week(field) == expected
