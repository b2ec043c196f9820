"""Audit events, chained by hash so that any edit or deletion is detectable."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import Field

from investai.domain.common import DomainModel, UtcDatetime

GENESIS_HASH = "0" * 64


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(DomainModel):
    seq: int = Field(ge=1)
    at: UtcDatetime
    actor_id: str | None = Field(default=None, max_length=64)
    organisation_id: str | None = Field(default=None, max_length=64)
    action: str = Field(min_length=1, max_length=100, description="e.g. auth.login, document.read")
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=200)
    outcome: AuditOutcome = AuditOutcome.SUCCESS
    ip: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> str:
    """The one text form that is hashed and stored: sorted keys, no spaces, JSON values only (no NaN)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical JSON of an event's body (without its hashes)."""
    return hashlib.sha256(f"{prev_hash}\n{canonical_json(body)}".encode()).hexdigest()


class AuditVerification(DomainModel):
    """Result of walking the chain: the first record whose hash or link does not hold, if any."""

    ok: bool
    checked: int = Field(ge=0)
    first_broken_seq: int | None = None
    reason: str | None = None
