"""System clock, and a settable clock for tests and replays."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused, since the Clock port promises aware UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no timezone; a clock tells aware UTC time")
    return moment.astimezone(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _utc(start or datetime(2024, 1, 2, 9, 30, tzinfo=UTC))
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> None:
        moment = _utc(moment)
        with self._lock:
            self._now = moment
