"""What signing in and administering identities produce, whichever identity provider runs (the local issuer
or a Cognito user pool)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from investai.domain.users import User


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class Challenge:
    challenge: Literal["MFA", "NEW_PASSWORD_REQUIRED"]
    session: str


@dataclass(frozen=True)
class CallContext:
    """Where a call came from, for the audit log."""

    ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class MfaSetup:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class CreatedUser:
    user: User
    temporary_password: str | None
