"""In-process scheduler on APScheduler (EventBridge rules take its place on AWS)."""

from __future__ import annotations

from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger


class ApScheduler:
    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})

    def add_cron(self, name: str, cron: str, action: Callable[[], None]) -> None:
        trigger = CronTrigger.from_crontab(cron, timezone="UTC")
        self._scheduler.add_job(action, trigger, id=name, name=name, replace_existing=True)

    def jobs(self) -> dict[str, str]:
        """Scheduled actions and their next run time (ISO 8601), for operators."""
        return {job.id: str(job.next_run_time) for job in self._scheduler.get_jobs()}

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
