"""Idea status changes by role, and feedback.

* the owner (an analyst or portfolio manager with ``ideas:request``) submits a draft for review, withdraws it
  back to draft, or archives it;
* a compliance officer (``ideas:review``) of the same organisation approves an idea in review (recording the
  review as a passed compliance check; an idea with a critical issue cannot be approved, except that an
  overridable one (stale prices) may be overridden explicitly with a reason, which is recorded on the idea
  and in the audit log) or rejects it with a reason;
* expiry is the scheduler's (approved and rejected ideas past ``expires_at``).

Every change is a new revision of the idea with the change in its history, and an audit record. An idea the
caller may not read answers 404; one they may read but not change answers 403.
"""

from __future__ import annotations

from typing import Any

from investai.domain.access import Permission, Principal
from investai.domain.common import new_id
from investai.domain.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from investai.domain.feedback import Feedback
from investai.domain.idea_parts import ComplianceCheck, ComplianceOverride, ComplianceState
from investai.domain.idea_views import IdeaView
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus, can_transition
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.repositories import FeedbackRepository, IdeaRepository
from investai.services.audit_trail import record_access
from investai.services.auth_common import CallContext
from investai.services.queries import IdeaQueries

OWNER_MOVES = {
    (IdeaStatus.DRAFT, IdeaStatus.IN_REVIEW),
    (IdeaStatus.IN_REVIEW, IdeaStatus.DRAFT),
    (IdeaStatus.DRAFT, IdeaStatus.ARCHIVED),
    (IdeaStatus.APPROVED, IdeaStatus.ARCHIVED),
    (IdeaStatus.REJECTED, IdeaStatus.ARCHIVED),
}
REVIEWER_MOVES = {
    (IdeaStatus.IN_REVIEW, IdeaStatus.APPROVED),
    (IdeaStatus.IN_REVIEW, IdeaStatus.REJECTED),
    (IdeaStatus.APPROVED, IdeaStatus.ARCHIVED),
    (IdeaStatus.REJECTED, IdeaStatus.ARCHIVED),
}


class IdeaLifecycle:
    def __init__(
        self,
        *,
        ideas: IdeaRepository,
        feedback: FeedbackRepository,
        queries: IdeaQueries,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._ideas = ideas
        self._feedback = feedback
        self._queries = queries
        self._audit = audit
        self._clock = clock

    def transition(
        self,
        principal: Principal,
        ctx: CallContext,
        idea_id: str,
        target: IdeaStatus,
        *,
        reason: str | None = None,
        override: bool = False,
    ) -> IdeaView:
        """Move the idea to ``target``; the new revision as the caller may see it (the stored revision keeps
        every document passage: a change never starts from what one reader was shown)."""
        idea = self._queries.stored(principal, idea_id, ctx)  # NotFound unless the caller may read it
        move = (idea.status, target)
        if not can_transition(idea.status, target):
            raise InvalidTransition(f"an idea cannot move from {idea.status.value} to {target.value}")
        allowed = target in self.moves_for(principal, idea)
        record_access(
            self._audit,
            principal,
            ctx,
            action=f"idea.status.{target.value}",
            resource_type="idea",
            resource_id=idea_id,
            allowed=allowed,
        )
        if not allowed:
            who = "compliance officers" if move in REVIEWER_MOVES else "the idea's owner"
            if move not in OWNER_MOVES | REVIEWER_MOVES:
                who = "the scheduler"
            raise PermissionDenied(f"moving an idea from {idea.status.value} to {target.value} is for {who}")
        if target is IdeaStatus.REJECTED and not (reason and reason.strip()):
            raise ValidationFailed("a rejection needs a reason")
        if override and target is not IdeaStatus.APPROVED:
            raise ValidationFailed("only an approval can override a compliance issue")
        now = self._clock.now()
        if target is IdeaStatus.APPROVED:
            idea = self._signed_off(idea, principal, ctx, reason, override)
        stored = self._store(idea.transition(target, by=principal.user_id, at=now, reason=reason))
        return self._queries.view(principal, stored)

    @staticmethod
    def moves_for(principal: Principal, idea: InvestmentIdea) -> list[IdeaStatus]:
        """The statuses ``principal`` may move ``idea`` to from where it stands, by role and ownership (what a
        page offers; :meth:`transition` enforces the same rule and the approval conditions)."""
        is_owner = idea.owner_id == principal.user_id and principal.can(Permission.IDEAS_REQUEST)
        is_reviewer = principal.can(Permission.IDEAS_REVIEW) and idea.organisation_id == principal.organisation_id
        moves = (OWNER_MOVES if is_owner else set()) | (REVIEWER_MOVES if is_reviewer else set())
        return [target for target in IdeaStatus if (idea.status, target) in moves]

    def _signed_off(
        self, idea: InvestmentIdea, principal: Principal, ctx: CallContext, reason: str | None, override: bool
    ) -> InvestmentIdea:
        """The officer's approval completes a review that the rules left open (``needs_review``). Critical issues
        that may be overridden (stale prices) need ``override`` and a reason, recorded on the idea and audited."""
        status = idea.compliance
        if status.withholds or status.state is ComplianceState.NON_COMPLIANT:
            raise ValidationFailed("an idea with a critical compliance issue cannot be approved")
        standing = status.critical_issues
        overrides = list(status.overrides)
        if standing and not override:
            rules = ", ".join(sorted({issue.rule for issue in standing}))
            raise ValidationFailed(
                f"critical compliance issues ({rules}) block the approval; a compliance officer may override them "
                "explicitly, with a reason"
            )
        if override:
            if not standing:
                raise ValidationFailed("the idea has no critical compliance issue to override")
            if not (reason and reason.strip()):
                raise ValidationFailed("an override needs a reason")
            rules_overridden = sorted({issue.rule for issue in standing})
            overrides.append(
                ComplianceOverride(
                    rules=rules_overridden, by=principal.user_id, at=self._clock.now(), reason=reason.strip()[:2000]
                )
            )
            record_access(
                self._audit,
                principal,
                ctx,
                action="idea.compliance.override",
                resource_type="idea",
                resource_id=idea.id,
                details={"rules": rules_overridden, "reason": reason.strip()[:500]},
            )
        if status.state is ComplianceState.COMPLIANT and not override:
            return idea
        check = ComplianceCheck(
            name="officer_review", passed=True, detail=f"reviewed by {principal.user_id}: {reason or 'approved'}"[:2000]
        )
        signed = status.model_copy(
            update={
                "state": ComplianceState.COMPLIANT,
                "checks": [*status.checks, check],
                "overrides": overrides,
                "checked_at": self._clock.now(),
            }
        )
        return InvestmentIdea.model_validate({**idea.model_dump(), "compliance": signed.model_dump()})

    def _store(self, idea: InvestmentIdea) -> InvestmentIdea:
        self._ideas.add(idea)
        return idea

    def expire_due(self) -> int:
        """Expire every approved or rejected idea whose ``expires_at`` has passed (the scheduler's job)."""
        now = self._clock.now()
        expired = 0
        for idea in self._ideas.list_expiring(now):
            try:
                self._store(idea.transition(IdeaStatus.EXPIRED, by="scheduler", at=now, reason="validity ended"))
            except Conflict:
                continue  # someone changed it meanwhile; the next run looks again
            expired += 1
        return expired

    # --- feedback ----------------------------------------------------------------------------------------------

    def give_feedback(self, principal: Principal, ctx: CallContext, idea_id: str, fields: dict[str, Any]) -> Feedback:
        if not principal.can(Permission.IDEAS_FEEDBACK):
            raise PermissionDenied("giving feedback needs the ideas:feedback permission")
        idea = self._queries.stored(principal, idea_id, ctx)
        feedback = Feedback.model_validate(
            {
                **fields,
                "id": new_id("fb_"),
                "idea_id": idea.id,
                "idea_version": idea.version,
                "user_id": principal.user_id,
                "organisation_id": principal.organisation_id,
                "created_at": self._clock.now(),
            }
        )
        self._feedback.add(feedback)
        record_access(self._audit, principal, ctx, action="idea.feedback", resource_type="idea", resource_id=idea_id)
        return feedback

    def feedback_for(self, principal: Principal, ctx: CallContext, idea_id: str) -> list[Feedback]:
        """Feedback on an idea: everyone's for organisation-wide readers, otherwise the caller's own."""
        return self.feedback_on(principal, self._queries.stored(principal, idea_id, ctx))

    def feedback_on(self, principal: Principal, idea: InvestmentIdea) -> list[Feedback]:
        """:meth:`feedback_for` an ``idea`` the caller was already allowed to read."""
        found = self._feedback.list_for_idea(idea.id)
        if principal.can(Permission.IDEAS_READ_ORGANISATION):
            return [item for item in found if item.organisation_id == principal.organisation_id]
        return [item for item in found if item.user_id == principal.user_id]
