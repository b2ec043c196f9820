"""Recurring triggers (APScheduler in-process here, EventBridge rules on AWS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Scheduler(Protocol):
    def add_cron(self, name: str, cron: str, action: Callable[[], None]) -> None:
        """Run ``action`` on a five-field cron expression (UTC)."""
        ...

    def start(self) -> None: ...

    def shutdown(self) -> None: ...
