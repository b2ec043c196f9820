"""In-process scheduler on APScheduler (EventBridge rules take its place on AWS)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from investai.domain.schedules import Schedule

CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""crontab's day-of-week numbering: 0 (and 7) is Sunday. APScheduler 3 counts from Monday = 0."""


class ApScheduler:
    """Fires each schedule in this process by calling ``fire`` with it (the composition root passes a function
    that enqueues the schedule's job)."""

    def __init__(self, fire: Callable[[Schedule], None]) -> None:
        self._fire = fire
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})

    def add(self, schedule: Schedule) -> None:
        minute, hour, day, month, day_of_week = schedule.cron.split()
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_apscheduler_day_of_week(day_of_week),
            timezone="UTC",
        )
        self._scheduler.add_job(
            self._fire, trigger, args=(schedule,), id=schedule.name, name=schedule.name, replace_existing=True
        )

    def jobs(self) -> dict[str, str]:
        """Scheduled actions and their next run time (ISO 8601), for operators."""
        now = datetime.now(UTC)
        listed: dict[str, str] = {}
        for job in self._scheduler.get_jobs():
            # APScheduler sets next_run_time only once started; until then, ask the trigger
            pending = not hasattr(job, "next_run_time")
            upcoming = job.trigger.get_next_fire_time(None, now) if pending else job.next_run_time
            listed[job.id] = upcoming.isoformat() if upcoming is not None else "never"
        return listed

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


def _apscheduler_day_of_week(field: str) -> str:
    """Translate a crontab day-of-week field (``*``, lists, ranges, steps; numbers or names) into an explicit
    list of APScheduler 3 weekday numbers; ``CronTrigger.from_crontab`` would shift every day by one."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        span, has_step, step_text = item.partition("/")
        step = int(step_text) if has_step else 1
        if step < 1:
            raise ValueError(f"day-of-week step must be positive in {field!r}")
        if span == "*":
            first, last = 0, 6
        else:
            low, has_high, high = span.partition("-")
            first = _cron_day(low, field)
            last = _cron_day(high, field) if has_high else (6 if has_step else first)
        if first > last:
            raise ValueError(f"day-of-week range runs backwards in {field!r}")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(str(day) for day in sorted((day - 1) % 7 for day in days))


def _cron_day(token: str, field: str) -> int:
    if token in CRON_DAY_NAMES:
        return CRON_DAY_NAMES.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token)
    raise ValueError(f"invalid day of week {token!r} in {field!r}")
