"""Recurring triggers (APScheduler in-process here, EventBridge rules on AWS). Schedules are data; what a
trigger does is fixed: enqueue the schedule's job kind under its period's dedupe key."""

from __future__ import annotations

from typing import Protocol

from investai.domain.schedules import Schedule


class Scheduler(Protocol):
    def add(self, schedule: Schedule) -> None:
        """Trigger ``schedule`` on its cron expression (UTC); a second schedule of the same name replaces it."""
        ...

    def start(self) -> None: ...

    def shutdown(self) -> None: ...
