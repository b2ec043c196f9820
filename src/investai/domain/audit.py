"""Audit events, chained by hash so that any edit or deletion is detectable."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError

from investai.domain.common import DomainModel, UtcDatetime, epoch_ms
from investai.domain.errors import ValidationFailed

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


MAX_DETAILS_BYTES = 16_384
FILTER_FIELDS = ("organisation_id", "actor_id", "action")
"""The fields a log stores beside the body to query by; the chain check compares them with the body."""


def checked_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """Details as they will read back from storage; refuse what JSON cannot hold, or more than 16 KiB."""
    if details is None:
        return {}
    if not isinstance(details, dict):
        raise ValidationFailed("audit details must be a JSON object")
    try:
        text = canonical_json(details)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationFailed(f"audit details must be JSON-serialisable: {exc}") from exc
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise ValidationFailed(f"audit details exceed {MAX_DETAILS_BYTES} bytes as JSON")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def event_body(event: AuditEvent) -> dict[str, Any]:
    """What is hashed and stored: the event without its hashes."""
    return event.model_dump(mode="json", exclude={"prev_hash", "hash"})


def sealed_event(*, seq: int, at: datetime, prev_hash: str, fields: dict[str, Any]) -> AuditEvent:
    """The event ``seq`` chained to ``prev_hash``; ``ValidationFailed`` for fields an event cannot hold."""
    try:
        draft = AuditEvent(seq=seq, at=at, prev_hash=prev_hash, hash=GENESIS_HASH, **fields)
    except ValidationError as exc:
        raise ValidationFailed(f"invalid audit event: {exc.errors(include_url=False)}") from exc
    return draft.model_copy(update={"hash": chain_hash(prev_hash, event_body(draft))})


@dataclass(frozen=True)
class StoredRecord:
    """One record as a log holds it: its text body and hashes, and the columns stored beside the body
    (``seq``, ``at`` in epoch milliseconds, and :data:`FILTER_FIELDS`) as read back."""

    seq: int
    prev_hash: str | None
    hash: str | None
    body: str
    columns: dict[str, object]


def broken_reason(record: StoredRecord, *, expected_seq: int, prev_hash: str) -> str | None:
    """Why ``record`` breaks the chain, or ``None`` when it holds: its ``seq`` must be the next one (the first
    is 1), its ``prev_hash`` the previous record's hash, its hash that of its body, its body canonical JSON of
    a valid event with that ``seq``, and every stored column equal to the body's value."""
    if record.seq < expected_seq:
        return f"seq {record.seq} is out of range"
    if record.seq > expected_seq:
        missing = str(expected_seq) if record.seq == expected_seq + 1 else f"{expected_seq}..{record.seq - 1}"
        return f"record(s) {missing} missing before this one"
    if record.prev_hash != prev_hash:
        return "prev_hash does not match the previous record's hash"
    try:
        body = json.loads(record.body)
        hashed, canonical = chain_hash(prev_hash, body), canonical_json(body)
    except (TypeError, ValueError, RecursionError):
        return "body is not valid JSON"
    if hashed != record.hash:
        return "hash does not match the record's contents"
    if not isinstance(body, dict) or canonical != record.body:
        return "body is not a canonical JSON object"
    return _column_mismatch(record, body)


def _column_mismatch(record: StoredRecord, body: dict[str, Any]) -> str | None:
    try:
        event = AuditEvent.model_validate({**body, "prev_hash": record.prev_hash, "hash": record.hash})
    except ValidationError:
        return "body is not a valid audit event"
    expected = {"seq": event.seq, "at": epoch_ms(event.at)} | {name: body.get(name) for name in FILTER_FIELDS}
    for name, value in expected.items():
        if record.columns.get(name) != value:
            return f"column {name} does not match the body"
    return None


def verify_chain(records: Iterable[StoredRecord], *, head_seq: int = 0) -> AuditVerification:
    """Walk ``records`` in ``seq`` order and report the first that does not hold; also the newest records
    missing when the walk ends before ``head_seq`` (the head a log keeps apart from the records)."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for record in records:
        reason = broken_reason(record, expected_seq=expected_seq, prev_hash=prev_hash)
        if reason is not None:
            return AuditVerification(ok=False, checked=expected_seq - 1, first_broken_seq=record.seq, reason=reason)
        expected_seq, prev_hash = expected_seq + 1, str(record.hash)
    if expected_seq <= head_seq:
        missing = f"record(s) {expected_seq}..{head_seq} missing: the head names seq {head_seq}"
        return AuditVerification(ok=False, checked=expected_seq - 1, first_broken_seq=expected_seq, reason=missing)
    return AuditVerification(ok=True, checked=expected_seq - 1)
