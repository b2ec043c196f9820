"""Identity: the provider seam (sign-in, challenges, refresh, sign-out, MFA, user administration), token
verification (any JWKS: the local issuer or a Cognito user pool), and the local provider's stores (refresh-token
families, encrypted MFA secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from investai.domain.access import MfaSecrets, Principal
from investai.domain.auth import CallContext, Challenge, CreatedUser, MfaSetup, TokenSet
from investai.domain.users import Role, User


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


# -- the identity provider: the local issuer (argon2id, TOTP, RS256 keys) or a Cognito user pool -------------
# The API's /api/v1/auth/* endpoints, the web UI and the CLI call these; each shape wires one implementation.


class SignIn(Protocol):
    """Password sign-in with its challenges (new password, TOTP), token refresh and sign-out."""

    def login(self, email: str, password: str, ctx: CallContext) -> TokenSet | Challenge:
        """Tokens, or the challenge to answer next; ``AuthenticationFailed`` (never saying which part was
        wrong) otherwise."""
        ...

    def respond_new_password(self, session: str, new_password: str, ctx: CallContext) -> TokenSet | Challenge: ...

    def respond_mfa(self, session: str, code: str, ctx: CallContext) -> TokenSet: ...

    def refresh(self, refresh_token: str, ctx: CallContext) -> TokenSet:
        """New tokens for a valid refresh token (rotated where the provider rotates); ``InvalidToken`` else."""
        ...

    def logout(self, *, user_id: str, organisation_id: str, session_id: str, ctx: CallContext) -> None:
        """End one session: its refresh token stops working and its access tokens are refused."""
        ...

    def sign_out_everywhere(self, *, user_id: str, organisation_id: str, ctx: CallContext) -> int:
        """End every session of the user; returns how many were live (where the provider can tell)."""
        ...

    def change_password(self, *, user_id: str, current: str, new: str, ctx: CallContext) -> None: ...

    def confirm_password(self, user_id: str, password: str, ctx: CallContext) -> None:
        """Re-authentication before a destructive action; ``AuthenticationFailed`` when it does not match."""
        ...


class MfaEnrolment(Protocol):
    """Optional TOTP: begin (a secret to scan), confirm with a code (recovery codes back), disable."""

    def begin_setup(self, principal: Principal) -> MfaSetup: ...

    def pending_setup(self, principal: Principal) -> MfaSetup | None: ...

    def confirm_setup(self, principal: Principal, code: str, ctx: CallContext) -> list[str]: ...

    def disable(self, principal: Principal, code: str, ctx: CallContext) -> None: ...


class UserDirectory(Protocol):
    """Admin-only sign-up and administration, scoped to the administrator's organisation."""

    def create_user(
        self,
        *,
        actor: Principal | None,
        email: str,
        role: Role,
        organisation_id: str,
        display_name: str | None = None,
        password: str | None = None,
        ctx: CallContext | None = None,
    ) -> CreatedUser:
        """A new user; with no ``password`` a temporary one is generated and must be changed at sign-in."""
        ...

    def ensure_first_administrator(
        self, *, email: str, password: str | None, organisation_id: str
    ) -> CreatedUser | None: ...

    def list_users(self, actor: Principal, ctx: CallContext) -> list[User]: ...

    def read_user(self, actor: Principal, user_id: str, ctx: CallContext) -> User: ...

    def get_user(self, actor: Principal, user_id: str) -> User: ...

    def update_user(
        self,
        actor: Principal,
        user_id: str,
        *,
        role: Role | None = None,
        enabled: bool | None = None,
        display_name: str | None = None,
        ctx: CallContext | None = None,
    ) -> User: ...

    def reset_password(self, actor: Principal, user_id: str, ctx: CallContext | None = None) -> CreatedUser: ...
