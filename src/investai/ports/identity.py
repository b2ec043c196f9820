"""Identity: token verification (any JWKS: the local issuer or a Cognito user pool), refresh-token
families, and encrypted MFA secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from investai.domain.access import MfaSecrets, Principal


class IdentityVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal of a valid access token; ``InvalidToken`` for anything else."""
        ...


class RefreshOutcome(StrEnum):
    VALID = "valid"
    REUSED = "reused"  # already rotated: the family must be revoked
    REVOKED = "revoked"  # the family was revoked or expired
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RefreshUse:
    outcome: RefreshOutcome
    family_id: str | None = None
    user_id: str | None = None
    amr: tuple[str, ...] = ("pwd",)  # how the session was first authenticated (kept across refreshes)
    auth_time: datetime | None = None


class TokenStore(Protocol):
    def create_family(
        self,
        *,
        family_id: str,
        user_id: str,
        created_at: datetime,
        expires_at: datetime,
        amr: tuple[str, ...] = ("pwd",),
    ) -> None:
        """A new session; ``created_at`` is its authentication time, ``amr`` how it was authenticated."""
        ...

    def add_refresh_token(self, *, token_hash: str, family_id: str, issued_at: datetime) -> None: ...

    def use_refresh_token(self, *, token_hash: str, at: datetime) -> RefreshUse:
        """Mark the token used (one use only) and say whether its family may continue."""
        ...

    def revoke_family(self, *, family_id: str, at: datetime, reason: str) -> None: ...

    def revoke_user(self, *, user_id: str, at: datetime, reason: str) -> int:
        """Revoke every live family of the user (global sign-out); returns how many."""
        ...

    def is_family_active(self, *, family_id: str, at: datetime) -> bool: ...

    def consume_once(self, *, key: str, expires_at: datetime) -> bool:
        """Record a single-use key (challenge session, TOTP step); False if it was used before."""
        ...

    def purge_expired(self, *, at: datetime) -> int: ...


class MfaSecretRepository(Protocol):
    def get(self, user_id: str) -> MfaSecrets | None: ...

    def put(self, user_id: str, secrets: MfaSecrets) -> None: ...

    def delete(self, user_id: str) -> None: ...


class TokenIssuer(Protocol):
    """Signs tokens and publishes the public keys (the local issuer; Cognito issues its own)."""

    def issue(self, claims: Mapping[str, object], *, token_use: str, ttl_s: int) -> str:
        """A signed JWT with ``claims`` plus iss, iat, exp, jti and token_use."""
        ...

    def jwks(self) -> dict[str, object]:
        """The JSON Web Key Set: the current key and retired keys whose tokens may still be live."""
        ...

    def ensure_signing_key(self) -> str:
        """Make the first signing key if there is none (called at start-up, so the first JWKS has a key);
        returns the active key's ``kid``."""
        ...

    def rotate(self) -> str:
        """Sign with a new key from now on; returns its ``kid``."""
        ...
