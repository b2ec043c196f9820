"""Users, roles and investment profiles."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from investai.domain.common import DomainModel, Identifier, UtcDatetime
from investai.domain.idea_parts import AssetClass, TimeHorizon
from investai.domain.roles import Role

__all__ = ["Role"]  # defined in investai.domain.roles; re-exported here, where most code imports it from


class UserStatus(StrEnum):
    ACTIVE = "active"
    FORCE_CHANGE_PASSWORD = "force_change_password"
    DISABLED = "disabled"


class User(DomainModel):
    """An account of the embedded identity store (Cognito holds them in the aws shape)."""

    id: Identifier
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    display_name: str | None = Field(default=None, max_length=200)
    role: Role
    organisation_id: Identifier
    status: UserStatus = UserStatus.FORCE_CHANGE_PASSWORD
    password_hash: str | None = Field(default=None, repr=False)
    password_history: list[str] = Field(default_factory=list, repr=False, description="earlier hashes, newest first")
    password_changed_at: UtcDatetime | None = None
    temporary_password_expires_at: UtcDatetime | None = None
    mfa_enabled: bool = False
    failed_attempts: int = Field(default=0, ge=0)
    locked_until: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def is_locked(self, at: datetime) -> bool:
        return self.locked_until is not None and at < self.locked_until

    def administered_in(self, organisation_id: str) -> bool:
        """Whether an administrator of ``organisation_id`` sees this account (an erased one is seen by none)."""
        return self.organisation_id == organisation_id and not self.email.endswith(ERASED_DOMAIN)

    def with_failed_attempt(self, now: datetime, *, threshold: int, base_s: float, max_s: float) -> User:
        """One more failed sign-in; from ``threshold`` failures on, locked with a back-off doubling from
        ``base_s`` up to ``max_s``."""
        attempts = self.failed_attempts + 1
        locked_until = self.locked_until
        if attempts >= threshold:
            seconds = min(max_s, base_s * 2 ** min(attempts - threshold, 30))
            locked_until = now + timedelta(seconds=seconds)
        return self.model_copy(update={"failed_attempts": attempts, "locked_until": locked_until, "updated_at": now})

    def status_when_enabled(self) -> UserStatus:
        """What a disabled account returns to: still a temporary password (which must be changed at the next
        sign-in) when one was issued and never replaced, otherwise active."""
        temporary = self.temporary_password_expires_at is not None or self.password_changed_at is None
        return UserStatus.FORCE_CHANGE_PASSWORD if temporary else UserStatus.ACTIVE


ERASED_DOMAIN = "@erased.invalid"
"""Erased accounts keep a pseudonymous address in this domain, so their ideas and audit records stay linked."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_fingerprint(email: str) -> str:
    """Audit records name unknown e-mail addresses by hash only."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


class RiskTolerance(StrEnum):
    VERY_CONSERVATIVE = "very_conservative"
    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"
    VERY_AGGRESSIVE = "very_aggressive"

    @property
    def rank(self) -> int:
        """0 (very conservative) to 4 (very aggressive)."""
        return list(RiskTolerance).index(self)


class EsgPreference(StrEnum):
    NONE = "none"
    PREFER = "prefer"
    REQUIRE = "require"


class DigestFrequency(StrEnum):
    NEVER = "never"
    DAILY = "daily"
    WEEKLY = "weekly"


class InvestmentPreferences(DomainModel):
    risk_tolerance: RiskTolerance = RiskTolerance.MODERATE
    time_horizon: TimeHorizon = TimeHorizon.MEDIUM
    sectors: list[str] = Field(default_factory=list, max_length=50)
    asset_classes: list[AssetClass] = Field(default_factory=lambda: [AssetClass.EQUITY])
    exclusions: list[str] = Field(default_factory=list, max_length=500)
    esg: EsgPreference = EsgPreference.NONE


class NotificationSettings(DomainModel):
    email: bool = True
    in_app: bool = True
    digest: DigestFrequency = DigestFrequency.WEEKLY
    on_idea_ready: bool = True
    on_review_decision: bool = True


class UserProfile(DomainModel):
    """A user's preferences; stored encrypted at rest."""

    user_id: Identifier
    role: Role
    organisation_id: Identifier
    preferences: InvestmentPreferences = Field(default_factory=InvestmentPreferences)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    updated_at: UtcDatetime
