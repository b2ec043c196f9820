"""Roles, permissions and the authenticated principal."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from investai.domain.common import DomainModel, Identifier, UtcDatetime
from investai.domain.users import Role, User


class Permission(StrEnum):
    PROFILE_SELF = "profile:self"  # own profile, password, MFA, data export, erasure
    IDEAS_READ = "ideas:read"  # own ideas
    IDEAS_READ_ORGANISATION = "ideas:read-organisation"  # every idea of the organisation
    IDEAS_REQUEST = "ideas:request"
    IDEAS_REVIEW = "ideas:review"  # approve / reject
    IDEAS_FEEDBACK = "ideas:feedback"
    DOCUMENTS_READ = "documents:read"
    DOCUMENTS_WRITE = "documents:write"
    KNOWLEDGE_SEARCH = "knowledge:search"
    MARKET_READ = "market:read"
    MARKET_WRITE = "market:write"
    MARKET_ADMIN = "market:admin"  # release, discard or correct quarantined bars; correct any stored bar
    ANALYTICS_RUN = "analytics:run"
    JOBS_READ = "jobs:read"  # own jobs
    USERS_ADMIN = "users:admin"
    AUDIT_READ = "audit:read"
    OPS_READ = "ops:read"
    DATA_RESTORE = "data:restore"  # point-in-time reads and restores of ideas and profiles


_RESEARCH = frozenset(
    {
        Permission.PROFILE_SELF,
        Permission.IDEAS_READ,
        Permission.IDEAS_REQUEST,
        Permission.IDEAS_FEEDBACK,
        Permission.DOCUMENTS_READ,
        Permission.DOCUMENTS_WRITE,
        Permission.KNOWLEDGE_SEARCH,
        Permission.MARKET_READ,
        Permission.ANALYTICS_RUN,
        Permission.JOBS_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ANALYST: _RESEARCH,
    Role.PORTFOLIO_MANAGER: _RESEARCH | {Permission.IDEAS_READ_ORGANISATION, Permission.MARKET_WRITE},
    Role.COMPLIANCE_OFFICER: frozenset(
        {
            Permission.PROFILE_SELF,
            Permission.IDEAS_READ,
            Permission.IDEAS_READ_ORGANISATION,
            Permission.IDEAS_REVIEW,
            Permission.DOCUMENTS_READ,
            Permission.KNOWLEDGE_SEARCH,
            Permission.MARKET_READ,
            Permission.JOBS_READ,
            Permission.AUDIT_READ,
        }
    ),
    Role.ADMINISTRATOR: frozenset(
        {
            Permission.PROFILE_SELF,
            Permission.USERS_ADMIN,
            Permission.AUDIT_READ,
            Permission.OPS_READ,
            Permission.DATA_RESTORE,
            Permission.MARKET_READ,
            Permission.MARKET_WRITE,
            Permission.MARKET_ADMIN,
            Permission.JOBS_READ,
        }
    ),
}


class Principal(DomainModel):
    """Who is calling, established from a verified access token."""

    user_id: Identifier
    organisation_id: Identifier
    role: Role
    session_id: str = Field(min_length=1, max_length=64, description="the refresh-token family")
    token_id: str = Field(min_length=1, max_length=64)
    authenticated_at: UtcDatetime
    mfa: bool = False

    @classmethod
    def acting_as(cls, user: User, *, actor: str, at: datetime) -> Principal:
        """``user`` acting without a session of their own: a command run with the operator's trust, a loader,
        a check. ``actor`` names what acts (it stands where a session and token id would)."""
        return cls(
            user_id=user.id,
            organisation_id=user.organisation_id,
            role=user.role,
            session_id=actor,
            token_id=actor,
            authenticated_at=at,
        )

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def may_read(self, *, owner_id: str | None, organisation_id: str | None, organisation_wide: bool) -> bool:
        """Ownership rule for every read: same organisation, and the owner unless ``organisation_wide``."""
        if organisation_id != self.organisation_id:
            return False
        return organisation_wide or owner_id == self.user_id


class MfaSecrets(DomainModel):
    """A user's TOTP secret and hashed one-time recovery codes; stored encrypted."""

    totp_secret: str = Field(min_length=8, max_length=128, repr=False)
    confirmed: bool = False
    recovery_code_hashes: list[str] = Field(default_factory=list, max_length=20, repr=False)
    created_at: UtcDatetime
    last_used_step: int | None = Field(default=None, description="TOTP time step last accepted (no replay)")
