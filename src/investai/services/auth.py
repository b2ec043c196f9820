"""Sign-in modelled on Cognito: password, then a challenge (new password, MFA) or tokens; refresh-token
rotation with reuse detection; lockout with doubling back-off; sign-out of one or every session."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from investai.domain.access import MfaSecrets
from investai.domain.audit import AuditOutcome
from investai.domain.common import new_id
from investai.domain.errors import AuthenticationFailed, InvalidToken
from investai.domain.users import User, UserStatus, email_fingerprint, normalise_email
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository, RefreshOutcome, TokenIssuer, TokenStore
from investai.ports.repositories import UserRepository
from investai.security.jwt import JwtVerifier
from investai.security.passwords import PasswordHasher
from investai.security.totp import accepted_step, hash_recovery_code
from investai.services.auth_common import (
    GENERIC_FAILURE,
    AuthPolicy,
    CallContext,
    Challenge,
    TokenSet,
    hash_token,
    with_new_password,
)


class AuthService:
    def __init__(
        self,
        *,
        users: UserRepository,
        tokens: TokenStore,
        mfa: MfaSecretRepository,
        issuer: TokenIssuer,
        challenges: JwtVerifier,
        hasher: PasswordHasher,
        audit: AuditLog,
        clock: Clock,
        policy: AuthPolicy,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._mfa = mfa
        self._issuer = issuer
        self._challenges = challenges
        self._hasher = hasher
        self._audit = audit
        self._clock = clock
        self._policy = policy

    # -- sign-in ------------------------------------------------------------------------------------
    def login(self, email: str, password: str, ctx: CallContext) -> TokenSet | Challenge:
        now = self._clock.now()
        user = self._users.get_by_email(normalise_email(email))
        if user is None or user.is_locked(now):
            self._hasher.verify(None, password)  # the same work as a real check
            self._fail(user, ctx, "auth.login", reason="locked" if user else "unknown_user", email=email, count=False)
        assert user is not None
        if not self._hasher.verify(user.password_hash, password):
            self._fail(user, ctx, "auth.login", reason="bad_password", count=user.status is not UserStatus.DISABLED)
        if user.status is UserStatus.DISABLED:
            self._fail(user, ctx, "auth.login", reason="disabled", count=False)
        if user.status is UserStatus.FORCE_CHANGE_PASSWORD:
            expires = user.temporary_password_expires_at
            if expires is not None and now >= expires:
                self._fail(user, ctx, "auth.login", reason="temporary_password_expired", count=False)
            return self._challenge(user, "NEW_PASSWORD_REQUIRED")
        if user.mfa_enabled:
            return self._challenge(user, "MFA")
        return self._signed_in(user, ctx, amr=["pwd"])

    def respond_new_password(self, session: str, new_password: str, ctx: CallContext) -> TokenSet | Challenge:
        claims, user = self._open_challenge(session, "NEW_PASSWORD_REQUIRED")
        now = self._clock.now()
        updated = with_new_password(
            user, new_password, hasher=self._hasher, policy=self._policy, now=now, temporary=False
        )
        self._consume(claims)
        self._users.update(updated)
        self._record("auth.password_set", updated, ctx)
        if updated.mfa_enabled:
            return self._challenge(updated, "MFA")
        return self._signed_in(updated, ctx, amr=["pwd"])

    def respond_mfa(self, session: str, code: str, ctx: CallContext) -> TokenSet:
        claims, user = self._open_challenge(session, "MFA")
        used = self._second_factor(user, code)
        if used is None:
            self._fail(user, ctx, "auth.mfa", reason="bad_code", count=True)
        self._consume(claims)  # a replayed session fails here, before the code is spent
        assert used is not None
        self._mfa.put(user.id, used)
        return self._signed_in(self._users.get(user.id), ctx, amr=["pwd", "mfa"])

    # -- sessions -----------------------------------------------------------------------------------
    def refresh(self, refresh_token: str, ctx: CallContext) -> TokenSet:
        now = self._clock.now()
        use = self._tokens.use_refresh_token(token_hash=hash_token(refresh_token), at=now)
        if use.outcome is RefreshOutcome.REUSED and use.family_id:
            self._tokens.revoke_family(family_id=use.family_id, at=now, reason="refresh token reuse")
            owner = self._users.get(use.user_id) if use.user_id else None  # users are anonymised, never deleted
            self._audit.append(
                action="token.reuse_detected",
                outcome=AuditOutcome.DENIED,
                actor_id=use.user_id,
                organisation_id=owner.organisation_id if owner else None,  # visible to the organisation's auditors
                resource_type="session",
                resource_id=use.family_id,
                ip=ctx.ip,
                request_id=ctx.request_id,
            )
        if use.outcome is not RefreshOutcome.VALID or use.user_id is None or use.family_id is None:
            raise InvalidToken("refresh token is not valid")
        user = self._users.get(use.user_id)
        if user.status is UserStatus.DISABLED:
            self._tokens.revoke_family(family_id=use.family_id, at=now, reason="user disabled")
            raise InvalidToken("refresh token is not valid")
        return self._issue(user, family_id=use.family_id, amr=list(use.amr), auth_time=use.auth_time or now)

    def logout(self, *, user_id: str, organisation_id: str, session_id: str, ctx: CallContext) -> None:
        self._tokens.revoke_family(family_id=session_id, at=self._clock.now(), reason="logout")
        self._audit.append(
            action="token.revoked",
            actor_id=user_id,
            organisation_id=organisation_id,
            resource_type="session",
            resource_id=session_id,
            ip=ctx.ip,
            request_id=ctx.request_id,
        )

    def sign_out_everywhere(self, *, user_id: str, organisation_id: str, ctx: CallContext) -> int:
        revoked = self._tokens.revoke_user(user_id=user_id, at=self._clock.now(), reason="global sign-out")
        self._audit.append(
            action="token.revoked_all",
            actor_id=user_id,
            organisation_id=organisation_id,
            resource_type="user",
            resource_id=user_id,
            ip=ctx.ip,
            request_id=ctx.request_id,
            details={"sessions": revoked},
        )
        return revoked

    def change_password(self, *, user_id: str, current: str, new: str, ctx: CallContext) -> None:
        user = self._users.get(user_id)
        now = self._clock.now()
        if user.is_locked(now) or not self._hasher.verify(user.password_hash, current):
            self._fail(user, ctx, "auth.password_change", reason="bad_password", count=not user.is_locked(now))
        updated = with_new_password(user, new, hasher=self._hasher, policy=self._policy, now=now, temporary=False)
        self._users.update(updated)
        self._tokens.revoke_user(user_id=user.id, at=now, reason="password changed")
        self._record("auth.password_changed", updated, ctx)

    def confirm_password(self, user_id: str, password: str, ctx: CallContext) -> None:
        """Re-authentication before a destructive action; failures count towards lockout."""
        user = self._users.get(user_id)
        now = self._clock.now()
        if user.is_locked(now) or not self._hasher.verify(user.password_hash, password):
            self._fail(user, ctx, "auth.reauthenticate", reason="bad_password", count=not user.is_locked(now))

    # -- internals ----------------------------------------------------------------------------------
    def _challenge(self, user: User, name: str) -> Challenge:
        claims = {"sub": user.id, "aud": self._policy.client_id, "challenge": name}
        session = self._issuer.issue(claims, token_use="challenge", ttl_s=self._policy.challenge_ttl_s)
        return Challenge(challenge=name, session=session)  # type: ignore[arg-type]

    def _open_challenge(self, session: str, name: str) -> tuple[dict[str, Any], User]:
        claims = self._challenges.claims(session, token_use="challenge")
        if claims.get("challenge") != name:
            raise InvalidToken("session is for another challenge")
        user = self._users.get(str(claims["sub"]))
        if user.is_locked(self._clock.now()) or user.status is UserStatus.DISABLED:
            raise AuthenticationFailed(GENERIC_FAILURE)
        return claims, user

    def _consume(self, claims: dict[str, Any]) -> None:
        expires = datetime.fromtimestamp(float(claims["exp"]), tz=self._clock.now().tzinfo)
        if not self._tokens.consume_once(key=f"challenge:{claims['jti']}", expires_at=expires):
            raise InvalidToken("session has already been used")

    def _second_factor(self, user: User, code: str) -> MfaSecrets | None:
        """The user's MFA secrets with ``code`` spent (TOTP step or recovery code), or None if it is wrong.
        Nothing is stored here: the caller stores it once the challenge session is known to be fresh."""
        secrets_ = self._mfa.get(user.id)
        if secrets_ is None or not secrets_.confirmed:
            return None
        now = self._clock.now()
        step = accepted_step(secrets_.totp_secret, code.strip(), at=now, last_used_step=secrets_.last_used_step)
        if step is not None:
            return secrets_.model_copy(update={"last_used_step": step})
        hashed = hash_recovery_code(code)
        if hashed in secrets_.recovery_code_hashes:
            remaining = [h for h in secrets_.recovery_code_hashes if h != hashed]
            return secrets_.model_copy(update={"recovery_code_hashes": remaining})
        return None

    def _signed_in(self, user: User, ctx: CallContext, *, amr: list[str]) -> TokenSet:
        now = self._clock.now()
        if user.failed_attempts or user.locked_until:
            user = user.model_copy(update={"failed_attempts": 0, "locked_until": None, "updated_at": now})
            self._users.update(user)
        tokens = self._issue(user, family_id=None, amr=amr, auth_time=now)
        self._record("auth.login", user, ctx, details={"mfa": "mfa" in amr})
        return tokens

    def _issue(self, user: User, *, family_id: str | None, amr: list[str], auth_time: datetime) -> TokenSet:
        now = self._clock.now()
        if family_id is None:
            family_id = new_id("ses_")
            self._tokens.create_family(
                family_id=family_id,
                user_id=user.id,
                created_at=auth_time,
                expires_at=now + self._policy.refresh_ttl,
                amr=tuple(amr),
            )
        common = {
            "sub": user.id,
            "custom:organisation": user.organisation_id,
            "custom:role": user.role.value,
            "sid": family_id,
            "auth_time": int(auth_time.timestamp()),
            "amr": amr,
        }
        ttl = self._policy.access_ttl_s
        access = self._issuer.issue({**common, "client_id": self._policy.client_id}, token_use="access", ttl_s=ttl)
        identity = {**common, "aud": self._policy.client_id, "email": user.email}
        id_token = self._issuer.issue(identity, token_use="id", ttl_s=ttl)
        refresh = secrets.token_urlsafe(48)
        self._tokens.add_refresh_token(token_hash=hash_token(refresh), family_id=family_id, issued_at=now)
        return TokenSet(access_token=access, id_token=id_token, refresh_token=refresh, expires_in=ttl)

    def _fail(
        self, user: User | None, ctx: CallContext, action: str, *, reason: str, count: bool, email: str = ""
    ) -> None:
        if user is not None and count:
            policy = self._policy
            failed = user.with_failed_attempt(
                self._clock.now(),
                threshold=policy.lockout_threshold,
                base_s=policy.lockout_base_s,
                max_s=policy.lockout_max_s,
            )
            self._users.update(failed)
        self._audit.append(
            action=action,
            outcome=AuditOutcome.FAILURE,
            actor_id=user.id if user else None,
            organisation_id=user.organisation_id if user else None,
            resource_type="user",
            resource_id=user.id if user else None,
            ip=ctx.ip,
            request_id=ctx.request_id,
            details={"reason": reason} | ({} if user else {"email_sha256": email_fingerprint(email)}),
        )
        raise AuthenticationFailed(GENERIC_FAILURE)

    def _record(self, action: str, user: User, ctx: CallContext, details: dict[str, Any] | None = None) -> None:
        self._audit.append(
            action=action,
            actor_id=user.id,
            organisation_id=user.organisation_id,
            resource_type="user",
            resource_id=user.id,
            ip=ctx.ip,
            request_id=ctx.request_id,
            details=details,
        )
