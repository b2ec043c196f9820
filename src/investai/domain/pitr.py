"""Point-in-time reads: what "as of" a second means, and the retention window it must fall in.

An as-of moment is read to the second: fractions are dropped, and "as of second S" covers every revision
written up to the end of S (``S.999``), so a revision written at 10:00:05.300 is part of the state as of
10:00:05. The second must lie in the retention window: not before ``now - retention`` (its last
millisecond may not be older than that) and not after the current second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from investai.domain.common import DomainModel, UtcDatetime, epoch_ms
from investai.domain.errors import ValidationFailed

LAST_MS_OF_SECOND = 999


class OutsideRetention(ValidationFailed):
    """An as-of moment in the future, or older than the point-in-time retention window."""

    code = "outside_retention_window"


class AsOf(DomainModel):
    """A validated as-of second."""

    second: UtcDatetime

    @property
    def until_ms(self) -> int:
        """The last epoch millisecond the second covers: revisions with ``timestamp <= until_ms`` count."""
        return epoch_ms(self.second) + LAST_MS_OF_SECOND


def second_of(moment: datetime) -> datetime:
    """The UTC second ``moment`` falls in (an aware datetime)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def resolve_as_of(moment: datetime, *, now: datetime, retention: timedelta) -> AsOf:
    """The as-of second of ``moment``, or :class:`OutsideRetention` / :class:`ValidationFailed`.

    ``moment`` must carry a time zone; ``now`` is the clock's time; ``retention`` the window's length.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed("as_of needs a time zone, e.g. 2026-12-01T10:00:05Z")
    second = second_of(moment)
    if second > now:
        raise OutsideRetention(f"as_of {second.isoformat()} is in the future (now {now.isoformat()})")
    earliest = now - retention
    if second + timedelta(milliseconds=LAST_MS_OF_SECOND) < earliest:
        days = retention / timedelta(days=1)
        raise OutsideRetention(
            f"as_of {second.isoformat()} is older than the {days:g}-day retention window"
            f" (earliest {earliest.replace(microsecond=0).isoformat()})"
        )
    return AsOf(second=second)
