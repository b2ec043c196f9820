"""Recurring work as data: a schedule names a job kind, a five-field cron expression (UTC) and the format of
the key that makes each period enqueue its job once. The in-process scheduler reads these, and so do the
EventBridge rules of the AWS shape: nothing in a schedule is code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

CRON_FIELDS = 5
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    job_kind: str
    dedupe_key_format: str = "{name}:%Y-%m-%dT%H:%M"
    """``{name}`` plus ``strftime`` fields of the firing time: each distinct key enqueues the job once."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"schedule name {self.name!r} must be lower-case letters, digits and dashes")
        if len(self.cron.split()) != CRON_FIELDS:
            raise ValueError(f"a cron expression has 5 fields; got {self.cron!r} for schedule {self.name}")

    def dedupe_key(self, at: datetime) -> str:
        """The idempotency key of a trigger at ``at`` (UTC): the same for every trigger in one period, so
        however many schedulers fire, the period's job is enqueued once."""
        return at.strftime(self.dedupe_key_format.replace("{name}", self.name))


DAILY = "{name}:%Y-%m-%d"
EVERY_MINUTE = "{name}:%Y-%m-%dT%H:%M"
