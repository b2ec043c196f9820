"""The append-only, hash-chained audit log (SQLite here; DynamoDB/S3 object lock + CloudTrail on AWS)."""

from __future__ import annotations

from typing import Any, Protocol

from investai.domain.audit import AuditEvent, AuditOutcome, AuditVerification


class AuditLog(Protocol):
    def append(
        self,
        *,
        action: str,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
        actor_id: str | None = None,
        organisation_id: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        ip: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Add a record chained to the previous one; records are never changed or removed."""
        ...

    def head(self) -> tuple[int, str]:
        """The newest record's ``seq`` and hash, to anchor the chain somewhere its writers cannot reach."""
        ...

    def verify(self) -> AuditVerification:
        """Walk the whole chain and report the first broken link after any edit or deletion."""
        ...

    def list_events(
        self,
        *,
        organisation_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first."""
        ...
