"""Optional TOTP MFA with Cognito: AssociateSoftwareToken (the secret to scan), VerifySoftwareToken and
AdminSetUserMFAPreference; recovery codes are the product's own.

Every code is also checked here, against the secret Cognito returned (kept, encrypted, in the
MfaSecretRepository): a wrong code is refused even where Cognito would accept it (moto's VerifySoftwareToken
accepts any code), and the secret lets a recovery code answer Cognito's TOTP challenge at sign-in.

Cognito's enrolment calls need the user's access token; the seam passes a Principal, so the token is taken from
the verifier's registry of recently verified tokens (the request's own, verified a moment before)."""

from __future__ import annotations

from typing import Any, NoReturn

from botocore.exceptions import ClientError

from investai.adapters.aws.cognito_common import CognitoPolicy, error_code, raise_mapped
from investai.adapters.aws.cognito_tokens import AccessTokenRegistry
from investai.domain.access import MfaSecrets, Principal
from investai.domain.audit import AuditOutcome
from investai.domain.auth import CallContext, MfaSetup
from investai.domain.errors import AuthenticationFailed, Conflict
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository
from investai.ports.repositories import UserRepository
from investai.security.totp import (
    accepted_step,
    hash_recovery_code,
    new_recovery_codes,
    provisioning_uri,
    secret_key,
)

CODE_REFUSED = frozenset({"CodeMismatchException", "EnableSoftwareTokenMFAException", "ExpiredCodeException"})
TOKEN_REFUSED = frozenset({"NotAuthorizedException", "UserNotFoundException"})


class CognitoMfaEnrolment:
    def __init__(
        self,
        *,
        cognito: Any,
        pool_id: str,
        users: UserRepository,
        mfa: MfaSecretRepository,
        audit: AuditLog,
        clock: Clock,
        registry: AccessTokenRegistry,
        policy: CognitoPolicy,
    ) -> None:
        self._cognito = cognito
        self._pool_id = pool_id
        self._users = users
        self._mfa = mfa
        self._audit = audit
        self._clock = clock
        self._registry = registry
        self._policy = policy

    def begin_setup(self, principal: Principal) -> MfaSetup:
        user = self._users.get(principal.user_id)
        if user.mfa_enabled:
            raise Conflict("MFA is already enabled; disable it first")
        try:
            secret = str(self._cognito.associate_software_token(AccessToken=self._token(principal))["SecretCode"])
        except ClientError as exc:
            self._raise(exc)
        try:
            secret_key(secret)
        except ValueError as exc:
            raise Conflict("the identity provider's TOTP secret is not base32") from exc
        self._mfa.put(user.id, MfaSecrets(totp_secret=secret, created_at=self._clock.now()))
        return self._setup(secret, user.email)

    def pending_setup(self, principal: Principal) -> MfaSetup | None:
        """The setup begun and not yet confirmed, if any (a reloaded page keeps the secret already scanned)."""
        user = self._users.get(principal.user_id)
        secrets_ = self._mfa.get(user.id)
        if user.mfa_enabled or secrets_ is None or secrets_.confirmed:
            return None
        return self._setup(secrets_.totp_secret, user.email)

    def confirm_setup(self, principal: Principal, code: str, ctx: CallContext) -> list[str]:
        """Turn MFA on once a code checks out here and at Cognito; returns one-time recovery codes."""
        secrets_ = self._mfa.get(principal.user_id)
        if secrets_ is None or secrets_.confirmed:
            raise Conflict("start MFA setup first")
        step = accepted_step(secrets_.totp_secret, code.strip(), at=self._clock.now(), last_used_step=None)
        if step is None:
            self._refuse(principal, "mfa.setup", ctx)
        try:
            result = self._cognito.verify_software_token(
                AccessToken=self._token(principal), UserCode=code.strip(), FriendlyDeviceName=self._policy.device_name
            )
        except ClientError as exc:
            if error_code(exc) in CODE_REFUSED:
                self._refuse(principal, "mfa.setup", ctx)
            self._raise(exc)
        if result.get("Status") != "SUCCESS":
            self._refuse(principal, "mfa.setup", ctx)
        self._preference(principal.user_id, enabled=True)
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
            self._refuse(principal, "mfa.disable", ctx)
        self._preference(principal.user_id, enabled=False)
        self._mfa.delete(principal.user_id)
        self._set_enabled(principal.user_id, False)
        self._log(principal, "mfa.disabled", ctx, ok=True)

    # -- internals ----------------------------------------------------------------------------------
    def _setup(self, secret: str, account: str) -> MfaSetup:
        uri = provisioning_uri(secret, account=account, issuer=self._policy.mfa_issuer_name)
        return MfaSetup(secret=secret, otpauth_uri=uri)

    def _token(self, principal: Principal) -> str:
        token = self._registry.get(principal.token_id, at=self._clock.now().timestamp())
        if token is None:
            raise AuthenticationFailed("sign in again to change MFA settings")
        return token

    def _raise(self, exc: ClientError) -> NoReturn:
        if error_code(exc) in TOKEN_REFUSED:
            raise AuthenticationFailed("sign in again to change MFA settings") from exc
        raise_mapped(exc)

    def _preference(self, user_id: str, *, enabled: bool) -> None:
        try:
            self._cognito.admin_set_user_mfa_preference(
                UserPoolId=self._pool_id,
                Username=user_id,
                SoftwareTokenMfaSettings={"Enabled": enabled, "PreferredMfa": enabled},
            )
        except ClientError as exc:
            raise_mapped(exc)

    def _set_enabled(self, user_id: str, enabled: bool) -> None:
        user = self._users.get(user_id)
        self._users.update(user.model_copy(update={"mfa_enabled": enabled, "updated_at": self._clock.now()}))

    def _refuse(self, principal: Principal, action: str, ctx: CallContext) -> NoReturn:
        self._log(principal, action, ctx, ok=False)
        raise AuthenticationFailed("the code does not match")

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
