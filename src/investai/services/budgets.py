"""Monthly model budgets per user and per organisation: the check before work starts, usage recording, the
status a user sees, the cost report and administrators' overrides (audited).

Limits are the configured defaults unless an administrator set an override for the organisation or the user
(a metric the override leaves unset keeps its default; 0 is unlimited). Spend is the month-to-date usage in
the ledger (UTC months); a budget is reached when spend is at or over its limit, and it resets at the first
instant of the next month.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from investai.domain.access import Permission, Principal
from investai.domain.budgets import (
    BudgetLimits,
    BudgetOverride,
    BudgetScope,
    BudgetStatus,
    CostReport,
    ScopeStatus,
    UsageEntry,
    month_of,
    month_start,
    next_month_start,
)
from investai.domain.common import epoch_ms
from investai.domain.errors import BudgetExceeded, NotFound, PermissionDenied, ValidationFailed
from investai.domain.idea_parts import ModelUse
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.repositories import UserRepository
from investai.ports.usage import UsageLedger
from investai.services.audit_trail import record_access
from investai.services.auth_common import CallContext


@dataclass(frozen=True)
class BudgetDefaults:
    """The configured monthly limits, before any override."""

    user: BudgetLimits
    organisation: BudgetLimits


class BudgetService:
    def __init__(
        self, *, ledger: UsageLedger, users: UserRepository, audit: AuditLog, clock: Clock, defaults: BudgetDefaults
    ) -> None:
        self._ledger = ledger
        self._users = users
        self._audit = audit
        self._clock = clock
        self._defaults = defaults

    @property
    def ledger(self) -> UsageLedger:
        return self._ledger

    # --- limits, status, the check ---------------------------------------------------------------------------

    def limits(self, scope: BudgetScope, *, organisation_id: str, subject_id: str) -> BudgetLimits:
        """The limits in force for one organisation or user: its override over the default."""
        default = self._defaults.user if scope is BudgetScope.USER else self._defaults.organisation
        found = self._ledger.override(organisation_id=organisation_id, scope=scope, subject_id=subject_id)
        return default if found is None else found.over(default)

    def status_of(self, *, user_id: str, organisation_id: str, at: datetime | None = None) -> BudgetStatus:
        moment = at or self._clock.now()
        month = month_of(moment)
        user = self._ledger.totals(month=month, organisation_id=organisation_id, user_id=user_id)
        organisation = self._ledger.totals(month=month, organisation_id=organisation_id)
        return BudgetStatus(
            month=month,
            resets_at=next_month_start(moment),
            user=ScopeStatus.of(
                BudgetScope.USER,
                user_id,
                self.limits(BudgetScope.USER, organisation_id=organisation_id, subject_id=user_id),
                user,
            ),
            organisation=ScopeStatus.of(
                BudgetScope.ORGANISATION,
                organisation_id,
                self.limits(BudgetScope.ORGANISATION, organisation_id=organisation_id, subject_id=organisation_id),
                organisation,
            ),
        )

    def status(self, principal: Principal) -> BudgetStatus:
        """The caller's budgets and month-to-date spend."""
        return self.status_of(user_id=principal.user_id, organisation_id=principal.organisation_id)

    def check(self, *, user_id: str, organisation_id: str) -> None:
        """``BudgetExceeded`` when the user's or the organisation's budget for this month is spent."""
        now = self._clock.now()
        status = self.status_of(user_id=user_id, organisation_id=organisation_id, at=now)
        found = status.exceeded
        if found is None:
            return
        scope, metric = found
        assert metric.limit is not None  # only a limited metric is exceeded
        raise BudgetExceeded(
            budget=scope.scope.value,
            metric=metric.metric.value,
            limit=metric.limit,
            spent=metric.spent,
            resets_at=status.resets_at,
            retry_after_s=max(1.0, math.ceil((status.resets_at - now).total_seconds())),
        )

    # --- recording -------------------------------------------------------------------------------------------

    def record_run(
        self,
        *,
        request_id: str,
        user_id: str,
        organisation_id: str,
        started_at: datetime | None,
        uses: Sequence[ModelUse],
        at: datetime,
    ) -> bool:
        """Record one run's model uses at ``at`` (the run's end); a run recorded before is not counted again.
        A request run again (its worker stopped) is a new run, whose uses are new spend."""
        entries = [
            UsageEntry.of(use, user_id=user_id, organisation_id=organisation_id, at=at, request_id=request_id)
            for use in uses
        ]
        run = epoch_ms(started_at) if started_at is not None else "unstarted"
        return self._ledger.record(f"ideas:{request_id}:{run}", entries)

    # --- the report and overrides (administrators) -----------------------------------------------------------

    def report(self, *, month: str | None = None, organisation_id: str | None = None) -> CostReport:
        """A month's usage (this month by default), of one organisation or every one (the operator's view)."""
        if month is not None:
            _valid_month(month)
        return self._ledger.report(month=month or month_of(self._clock.now()), organisation_id=organisation_id)

    def organisation_report(self, admin: Principal, ctx: CallContext, *, month: str | None = None) -> CostReport:
        self._require_admin(admin)
        report = self.report(month=month, organisation_id=admin.organisation_id)
        record_access(self._audit, admin, ctx, action="costs.report", resource_type="costs", resource_id=report.month)
        return report

    def overrides(self, admin: Principal) -> list[BudgetOverride]:
        self._require_admin(admin)
        return self._ledger.overrides(organisation_id=admin.organisation_id)

    def set_override(
        self,
        admin: Principal,
        ctx: CallContext,
        *,
        scope: BudgetScope,
        subject_id: str,
        monthly_usd: float | None,
        monthly_tokens: int | None,
    ) -> BudgetOverride:
        """Set the monthly limits of the administrator's organisation or of one of its users (audited)."""
        self._require_subject(admin, scope, subject_id)
        override = BudgetOverride(
            organisation_id=admin.organisation_id,
            scope=scope,
            subject_id=subject_id,
            monthly_usd=monthly_usd,
            monthly_tokens=monthly_tokens,
            updated_at=self._clock.now(),
            updated_by=admin.user_id,
        )
        self._ledger.set_override(override)
        details = {"scope": scope.value, "monthly_usd": monthly_usd, "monthly_tokens": monthly_tokens}
        record_access(
            self._audit,
            admin,
            ctx,
            action="budget.set",
            resource_type=f"budget:{scope.value}",
            resource_id=subject_id,
            details=details,
        )
        return override

    def clear_override(self, admin: Principal, ctx: CallContext, *, scope: BudgetScope, subject_id: str) -> bool:
        """Remove an override, so the defaults apply again (audited when there was one); whether there was."""
        self._require_subject(admin, scope, subject_id)
        cleared = self._ledger.clear_override(organisation_id=admin.organisation_id, scope=scope, subject_id=subject_id)
        if not cleared:
            return False
        record_access(
            self._audit,
            admin,
            ctx,
            action="budget.clear",
            resource_type=f"budget:{scope.value}",
            resource_id=subject_id,
            details={"scope": scope.value},
        )
        return True

    @staticmethod
    def _require_admin(admin: Principal) -> None:
        if not admin.can(Permission.USERS_ADMIN):
            raise PermissionDenied("budgets and costs need the users:admin permission")

    def _require_subject(self, admin: Principal, scope: BudgetScope, subject_id: str) -> None:
        """The subject is the administrator's organisation or one of its users (``NotFound`` otherwise)."""
        self._require_admin(admin)
        if scope is BudgetScope.ORGANISATION:
            if subject_id != admin.organisation_id:
                raise NotFound(f"organisation {subject_id} not found")
            return
        try:
            user = self._users.get(subject_id)
        except NotFound:
            user = None
        if user is None or user.organisation_id != admin.organisation_id:
            raise NotFound(f"user {subject_id} not found")


def _valid_month(month: str) -> None:
    try:
        month_start(month)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
