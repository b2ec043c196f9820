"""A user's own profile: preferences, data export (everything held about them) and erasure."""

from __future__ import annotations

from typing import Any

from investai.domain.access import Principal
from investai.domain.audit import AuditOutcome
from investai.domain.errors import NotFound
from investai.domain.users import (
    ERASED_DOMAIN,
    InvestmentPreferences,
    NotificationSettings,
    User,
    UserProfile,
    UserStatus,
)
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository, TokenStore
from investai.ports.repositories import (
    DocumentRepository,
    FeedbackRepository,
    IdeaRepository,
    ProfileRepository,
    UserRepository,
)
from investai.services.audit_trail import record_access
from investai.services.auth_common import CallContext
from investai.services.source_access import SourceAccess

PRIVATE_USER_FIELDS = {"password_hash", "password_history"}


class ProfileService:
    def __init__(
        self,
        *,
        users: UserRepository,
        profiles: ProfileRepository,
        mfa: MfaSecretRepository,
        tokens: TokenStore,
        ideas: IdeaRepository,
        documents: DocumentRepository,
        feedback: FeedbackRepository,
        audit: AuditLog,
        clock: Clock,
        sources: SourceAccess,
    ) -> None:
        self._users = users
        self._profiles = profiles
        self._mfa = mfa
        self._tokens = tokens
        self._ideas = ideas
        self._documents = documents
        self._feedback = feedback
        self._audit = audit
        self._clock = clock
        self._sources = sources

    def get(self, principal: Principal) -> UserProfile:
        try:
            return self._profiles.get(principal.user_id)
        except NotFound:
            return UserProfile(
                user_id=principal.user_id,
                role=principal.role,
                organisation_id=principal.organisation_id,
                updated_at=self._clock.now(),
            )

    def read(self, principal: Principal, ctx: CallContext) -> UserProfile:
        """The caller's profile, with the read recorded in the audit log."""
        record_access(
            self._audit, principal, ctx, action="profile.read", resource_type="user", resource_id=principal.user_id
        )
        return self.get(principal)

    def update(
        self,
        principal: Principal,
        *,
        preferences: InvestmentPreferences,
        notifications: NotificationSettings,
        ctx: CallContext,
    ) -> UserProfile:
        profile = self.get(principal).model_copy(
            update={"preferences": preferences, "notifications": notifications, "updated_at": self._clock.now()}
        )
        self._profiles.put(UserProfile.model_validate(profile.model_dump()))
        self._log(principal, "profile.updated", ctx)
        return profile

    def export(self, principal: Principal, ctx: CallContext) -> dict[str, Any]:
        """Everything held about the user, as JSON-ready data; their ideas as they may read them now (an idea
        drawn from a document no longer shared with them comes without its text)."""
        user = self._users.get(principal.user_id)
        ideas = self._sources.ideas(principal, self._ideas.list_by_user(user.id, limit=500))
        data = {
            "user": user.model_dump(mode="json", exclude=PRIVATE_USER_FIELDS),
            "profile": self.get(principal).model_dump(mode="json"),
            "mfa_enabled": user.mfa_enabled,
            "ideas": [idea.model_dump(mode="json") for idea in ideas],
            "documents": [doc.model_dump(mode="json") for doc in self._documents.list_by_owner(user.id, limit=500)],
            "feedback": [item.model_dump(mode="json") for item in self._feedback.list_by_user(user.id)],
            "audit_events": [
                event.model_dump(mode="json") for event in self._audit.list_events(actor_id=user.id, limit=500)
            ],
            "exported_at": self._clock.now().isoformat(),
        }
        self._log(principal, "profile.exported", ctx)
        return data

    def erase(self, principal: Principal, ctx: CallContext) -> None:
        """Remove the profile with every revision of it (no point-in-time read or restore can bring it back)
        and the MFA secrets, end every session, and anonymise the account in place (its id stays so that ideas
        and audit records keep pointing at a pseudonym, not at a person)."""
        user = self._users.get(principal.user_id)
        now = self._clock.now()
        self._profiles.delete(user.id)
        self._mfa.delete(user.id)
        self._tokens.revoke_user(user_id=user.id, at=now, reason="erasure")
        anonymous = User.model_validate(
            {
                **user.model_dump(),
                "email": f"{user.id}{ERASED_DOMAIN}",
                "display_name": None,
                "password_hash": None,
                "password_history": [],
                "mfa_enabled": False,
                "status": UserStatus.DISABLED,
                "updated_at": now,
            }
        )
        self._users.update(anonymous)
        self._log(principal, "user.erased", ctx)

    def _log(self, principal: Principal, action: str, ctx: CallContext) -> None:
        self._audit.append(
            action=action,
            outcome=AuditOutcome.SUCCESS,
            actor_id=principal.user_id,
            organisation_id=principal.organisation_id,
            resource_type="user",
            resource_id=principal.user_id,
            ip=ctx.ip,
            request_id=ctx.request_id,
        )
