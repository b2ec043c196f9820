"""Optional TOTP multi-factor authentication: set up, confirm (which yields recovery codes), disable."""

from __future__ import annotations

from investai.domain.access import MfaSecrets, Principal
from investai.domain.audit import AuditOutcome
from investai.domain.auth import MfaSetup
from investai.domain.errors import AuthenticationFailed, Conflict
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository
from investai.ports.repositories import UserRepository
from investai.security.totp import (
    accepted_step,
    hash_recovery_code,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
)
from investai.services.auth_common import CallContext


class MfaService:
    def __init__(
        self, *, users: UserRepository, mfa: MfaSecretRepository, audit: AuditLog, clock: Clock, issuer_name: str
    ) -> None:
        self._users = users
        self._mfa = mfa
        self._audit = audit
        self._clock = clock
        self._issuer_name = issuer_name

    def begin_setup(self, principal: Principal) -> MfaSetup:
        user = self._users.get(principal.user_id)
        if user.mfa_enabled:
            raise Conflict("MFA is already enabled; disable it first")
        secret = new_secret()
        self._mfa.put(user.id, MfaSecrets(totp_secret=secret, created_at=self._clock.now()))
        return self._setup(secret, user.email)

    def pending_setup(self, principal: Principal) -> MfaSetup | None:
        """The setup begun and not yet confirmed, if any: showing it again (a reloaded page) keeps the secret
        the user may already have scanned, where :meth:`begin_setup` would replace it."""
        user = self._users.get(principal.user_id)
        secrets_ = self._mfa.get(user.id)
        if user.mfa_enabled or secrets_ is None or secrets_.confirmed:
            return None
        return self._setup(secrets_.totp_secret, user.email)

    def _setup(self, secret: str, account: str) -> MfaSetup:
        return MfaSetup(secret=secret, otpauth_uri=provisioning_uri(secret, account=account, issuer=self._issuer_name))

    def confirm_setup(self, principal: Principal, code: str, ctx: CallContext) -> list[str]:
        """Turn MFA on once a code from the authenticator checks out; returns one-time recovery codes."""
        secrets_ = self._mfa.get(principal.user_id)
        if secrets_ is None or secrets_.confirmed:
            raise Conflict("start MFA setup first")
        step = accepted_step(secrets_.totp_secret, code.strip(), at=self._clock.now(), last_used_step=None)
        if step is None:
            self._log(principal, "mfa.setup", ctx, ok=False)
            raise AuthenticationFailed("the code does not match")
        codes = new_recovery_codes()
        confirmed = secrets_.model_copy(
            update={
                "confirmed": True,
                "last_used_step": step,
                "recovery_code_hashes": [hash_recovery_code(c) for c in codes],
            }
        )
        self._mfa.put(principal.user_id, confirmed)
        self._set_enabled(principal.user_id, True)
        self._log(principal, "mfa.enabled", ctx, ok=True)
        return codes

    def disable(self, principal: Principal, code: str, ctx: CallContext) -> None:
        secrets_ = self._mfa.get(principal.user_id)
        if secrets_ is None or not secrets_.confirmed:
            raise Conflict("MFA is not enabled")
        now = self._clock.now()
        matches = accepted_step(secrets_.totp_secret, code.strip(), at=now, last_used_step=secrets_.last_used_step)
        if matches is None and hash_recovery_code(code) not in secrets_.recovery_code_hashes:
            self._log(principal, "mfa.disable", ctx, ok=False)
            raise AuthenticationFailed("the code does not match")
        self._mfa.delete(principal.user_id)
        self._set_enabled(principal.user_id, False)
        self._log(principal, "mfa.disabled", ctx, ok=True)

    def _set_enabled(self, user_id: str, enabled: bool) -> None:
        user = self._users.get(user_id)
        self._users.update(user.model_copy(update={"mfa_enabled": enabled, "updated_at": self._clock.now()}))

    def _log(self, principal: Principal, action: str, ctx: CallContext, *, ok: bool) -> None:
        self._audit.append(
            action=action,
            outcome=AuditOutcome.SUCCESS if ok else AuditOutcome.FAILURE,
            actor_id=principal.user_id,
            organisation_id=principal.organisation_id,
            resource_type="user",
            resource_id=principal.user_id,
            ip=ctx.ip,
            request_id=ctx.request_id,
        )
