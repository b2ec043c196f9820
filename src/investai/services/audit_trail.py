"""Data access goes into the audit log: who read what, and who was refused."""

from __future__ import annotations

from typing import Any

from investai.domain.access import Principal
from investai.domain.audit import AuditOutcome
from investai.ports.audit import AuditLog
from investai.services.auth_common import CallContext


def record_access(
    audit: AuditLog,
    principal: Principal,
    ctx: CallContext,
    *,
    action: str,
    resource_type: str,
    resource_id: str | None,
    allowed: bool = True,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit record per data access, including refused ones (which answer 404 to the caller)."""
    audit.append(
        action=action,
        outcome=AuditOutcome.SUCCESS if allowed else AuditOutcome.DENIED,
        actor_id=principal.user_id,
        organisation_id=principal.organisation_id,
        resource_type=resource_type,
        resource_id=resource_id,
        ip=ctx.ip,
        request_id=ctx.request_id,
        details=details,
    )
