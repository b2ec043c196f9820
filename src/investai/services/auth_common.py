"""Shared pieces of the identity services: policy values, results, request context, password rules."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from investai.domain.auth import CallContext, Challenge, TokenSet
from investai.domain.errors import WeakPassword
from investai.domain.users import User, UserStatus
from investai.security.passwords import PasswordHasher, check_policy

__all__ = [
    "AuthPolicy",
    "CallContext",
    "Challenge",
    "TokenSet",
    "hash_token",
    "with_new_password",
]

GENERIC_FAILURE = "incorrect email or password"


@dataclass(frozen=True)
class AuthPolicy:
    client_id: str
    access_ttl_s: int = 3600
    refresh_ttl: timedelta = timedelta(days=30)
    temporary_password_ttl: timedelta = timedelta(days=7)
    password_history: int = 5
    lockout_threshold: int = 5
    lockout_base_s: float = 30.0
    lockout_max_s: float = 900.0
    challenge_ttl_s: int = 180
    mfa_issuer_name: str = "Investment AI Agent"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def with_new_password(
    user: User, password: str, *, hasher: PasswordHasher, policy: AuthPolicy, now: datetime, temporary: bool
) -> User:
    """The user with ``password`` set: policy checked, the last N passwords refused, lockout cleared."""
    check_policy(password)
    recent = [h for h in [user.password_hash, *user.password_history] if h][: policy.password_history + 1]
    if hasher.matches_any(recent, password):
        raise WeakPassword(f"the password must differ from the last {policy.password_history} passwords")
    return User.model_validate(
        {
            **user.model_dump(),
            "password_hash": hasher.hash(password),
            "password_history": recent[: policy.password_history],
            "password_changed_at": now,
            "status": UserStatus.FORCE_CHANGE_PASSWORD if temporary else UserStatus.ACTIVE,
            "temporary_password_expires_at": now + policy.temporary_password_ttl if temporary else None,
            "failed_attempts": 0,
            "locked_until": None,
            "updated_at": now,
        }
    )
