"""Backups of a deployment's stores: what a backup holds and what checking it found."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from investai.domain.common import DomainModel, UtcDatetime
from investai.domain.errors import DomainError


class BackupError(DomainError):
    """A backup or restore that cannot be done as asked (a target in use or not empty, an unknown backup)."""

    code = "backup_error"


class BackupSummary(DomainModel):
    """One backup: a consistent snapshot of every store, taken at ``created_at``."""

    id: str = Field(min_length=1, max_length=64)
    created_at: UtcDatetime
    files: int = Field(ge=0)
    bytes: int = Field(ge=0, description="plaintext bytes of every file in the snapshot")
    new_bytes: int = Field(default=0, ge=0, description="bytes this backup added to the repository")
    seconds: float = Field(default=0.0, ge=0)
    stores: dict[str, Any] = Field(default_factory=dict, description="per store: schema and table versions, counts")


class BackupVerification(DomainModel):
    """The result of re-reading a backup: every blob decrypted and every hash compared."""

    id: str
    ok: bool
    files_checked: int = Field(ge=0)
    bytes_checked: int = Field(ge=0)
    problems: list[str] = Field(default_factory=list)


class RestoreReport(DomainModel):
    id: str
    target: str
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    seconds: float = Field(ge=0)
