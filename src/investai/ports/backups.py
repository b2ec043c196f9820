"""Backups of every store (an encrypted local repository in the embedded shape; AWS Backup and point-in-time
recovery on AWS)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from investai.domain.backups import BackupSummary, BackupVerification


class Backups(Protocol):
    def create(self) -> BackupSummary:
        """Take a consistent snapshot of every store while the service runs, and store it encrypted."""
        ...

    def list_backups(self) -> list[BackupSummary]:
        """Every backup held, newest first."""
        ...

    def latest(self) -> BackupSummary | None:
        """The newest backup, if any."""
        ...

    def verify(self, backup_id: str) -> BackupVerification:
        """Re-read one backup whole: decrypt every blob and compare every hash."""
        ...

    def prune(self, now: datetime) -> list[str]:
        """Drop backups past the retention window (never the newest) and what only they used; their ids."""
        ...
