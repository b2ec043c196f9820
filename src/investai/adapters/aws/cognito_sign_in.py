"""Sign-in against a Cognito user pool: USER_PASSWORD_AUTH with its challenges (NEW_PASSWORD_REQUIRED,
SOFTWARE_TOKEN_MFA), REFRESH_TOKEN_AUTH, sign-out and password changes, with the local provider's audit records,
lockout and generic failures.

Sessions: a session is the Cognito refresh token's ``origin_jti``. Sign-in records it in the TokenStore as a
token family (with how it was authenticated); the verifier accepts only access tokens whose ``origin_jti`` is a
live family, so sign-out takes effect at once although verification is offline. Sign-out also tells Cognito
(GlobalSignOut, or RevokeToken where the refresh token is known), so its refresh tokens stop working too.

Challenges: Cognito's challenge session is wrapped with the challenge name, the user and an expiry under an
HMAC (:class:`ChallengeSessions`), so a session cannot be replayed against another user or challenge; and a
session is used once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from investai.adapters.aws.cognito_common import (
    GENERIC_FAILURE,
    CognitoPolicy,
    audit_user,
    decoy_username,
    error_code,
    error_message,
    raise_mapped,
    unavailable,
)
from investai.adapters.aws.cognito_tokens import CognitoTokenVerifier
from investai.domain.access import MfaSecrets
from investai.domain.audit import AuditOutcome
from investai.domain.auth import CallContext, Challenge, TokenSet
from investai.domain.errors import AuthenticationFailed, InvalidToken, NotFound, WeakPassword
from investai.domain.users import User, UserStatus, email_fingerprint, normalise_email
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository, TokenStore
from investai.ports.repositories import UserRepository
from investai.security.passwords import check_policy
from investai.security.totp import accepted_step, code_at, hash_recovery_code

log = logging.getLogger(__name__)

CHALLENGES = {"NEW_PASSWORD_REQUIRED": "NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA": "MFA"}
REFUSED_SIGN_IN = frozenset(
    {
        "NotAuthorizedException",
        "UserNotFoundException",
        "PasswordResetRequiredException",
        "UserNotConfirmedException",
    }
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ChallengeSessions:
    """Cognito's challenge session, bound to our challenge name, the user and an expiry by an HMAC.

    The key must be shared by every process that answers sign-in (it comes from the SecretStore)."""

    PREFIX = "cg1"

    def __init__(self, *, key: bytes, clock: Clock, ttl_s: int) -> None:
        if len(key) < 32:
            raise ValueError("the challenge key needs at least 32 bytes")
        self._key = key
        self._clock = clock
        self._ttl_s = ttl_s

    def wrap(self, challenge: str, user_id: str, session: str) -> str:
        expires = int(self._clock.now().timestamp()) + self._ttl_s
        body = _b64(json.dumps({"c": challenge, "u": user_id, "s": session, "e": expires}).encode())
        return f"{self.PREFIX}.{body}.{self._mac(body)}"

    def open(self, wrapped: str, challenge: str) -> tuple[str, str, int]:
        """``(user id, Cognito session, expiry)`` of a session for ``challenge``; ``InvalidToken`` else."""
        parts = wrapped.split(".")
        if len(parts) != 3 or parts[0] != self.PREFIX or not hmac.compare_digest(parts[2], self._mac(parts[1])):
            raise InvalidToken("session is not valid")
        try:
            data = json.loads(_unb64(parts[1]))
            name, user_id, session, expires = data["c"], str(data["u"]), str(data["s"]), int(data["e"])
        except (ValueError, binascii.Error, KeyError, TypeError) as exc:
            raise InvalidToken("session is not valid") from exc
        if name != challenge:
            raise InvalidToken("session is for another challenge")
        if self._clock.now().timestamp() >= expires:
            raise InvalidToken("session has expired")
        return user_id, session, expires

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, f"{self.PREFIX}.{body}".encode(), hashlib.sha256).digest())


class CognitoSignIn:
    """SignIn against the pool's app client (USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH, challenges)."""

    def __init__(
        self,
        *,
        cognito: Any,
        pool_id: str,
        client_id: str,
        users: UserRepository,
        tokens: TokenStore,
        mfa: MfaSecretRepository,
        audit: AuditLog,
        clock: Clock,
        sessions: ChallengeSessions,
        verifier: CognitoTokenVerifier,
        policy: CognitoPolicy,
    ) -> None:
        self._cognito = cognito
        self._pool_id = pool_id
        self._client_id = client_id
        self._users = users
        self._tokens = tokens
        self._mfa = mfa
        self._audit = audit
        self._clock = clock
        self._sessions = sessions
        self._verifier = verifier
        self._policy = policy

    # -- sign-in ------------------------------------------------------------------------------------
    def login(self, email: str, password: str, ctx: CallContext) -> TokenSet | Challenge:
        user = self._users.get_by_email(normalise_email(email))
        if user is None or user.is_locked(self._clock.now()) or user.status is UserStatus.DISABLED:
            self._decoy()  # the same round trip as a real attempt
            reason = "unknown_user" if user is None else "disabled" if user.status is UserStatus.DISABLED else "locked"
            self._fail(user, ctx, "auth.login", reason=reason, count=False, email=email)
        assert user is not None
        try:
            response = self._password_auth(user.id, password)
        except ClientError as exc:
            self._refused(exc, user, ctx, "auth.login")
        return self._outcome(user, response, ctx)

    def respond_new_password(self, session: str, new_password: str, ctx: CallContext) -> TokenSet | Challenge:
        user, cognito_session, expires = self._open(session, "NEW_PASSWORD_REQUIRED")
        check_policy(new_password)  # the policy's own message, before Cognito's terser one
        try:
            response = self._cognito.respond_to_auth_challenge(
                ClientId=self._client_id,
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=cognito_session,
                ChallengeResponses={"USERNAME": user.id, "NEW_PASSWORD": new_password},
            )
        except ClientError as exc:
            self._challenge_refused(exc, user, ctx, "auth.password_set")
        self._consume(session, expires)  # Cognito uses a session once; so do we
        now = self._clock.now()
        updated = _with_password_set(user, now)
        self._users.update(updated)
        audit_user(self._audit, "auth.password_set", updated, ctx)
        return self._outcome(updated, response, ctx)

    def respond_mfa(self, session: str, code: str, ctx: CallContext) -> TokenSet:
        user, cognito_session, expires = self._open(session, "MFA")
        spent = self._second_factor(user, code)
        if spent is None:
            self._fail(user, ctx, "auth.mfa", reason="bad_code", count=True)
        assert spent is not None
        secrets_, answer = spent
        self._consume(session, expires)  # a replayed session fails here, before the code is spent
        try:
            response = self._cognito.respond_to_auth_challenge(
                ClientId=self._client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=cognito_session,
                ChallengeResponses={"USERNAME": user.id, "SOFTWARE_TOKEN_MFA_CODE": answer},
            )
        except ClientError as exc:
            self._challenge_refused(exc, user, ctx, "auth.mfa")
        self._mfa.put(user.id, secrets_)
        result = response.get("AuthenticationResult")
        if not result:
            reason = f"unexpected_challenge:{response.get('ChallengeName')}"
            self._fail(user, ctx, "auth.mfa", reason=reason, count=False)
        return self._signed_in(self._users.get(user.id), result, ctx, amr=("pwd", "mfa"))

    # -- sessions -----------------------------------------------------------------------------------
    def refresh(self, refresh_token: str, ctx: CallContext) -> TokenSet:
        try:
            response = self._cognito.initiate_auth(
                ClientId=self._client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh_token}
            )
        except ClientError as exc:
            if (busy := unavailable(exc)) is not None:
                raise busy from exc
            raise InvalidToken("refresh token is not valid") from exc
        result = response["AuthenticationResult"]
        claims = self._verifier.claims(result["AccessToken"])
        session_id, user_id = str(claims.get("origin_jti", "")), str(claims.get("username", ""))
        now = self._clock.now()
        if not self._tokens.is_family_active(family_id=session_id, at=now):
            self._revoke_quietly(refresh_token)  # signed out here, still live at Cognito: end it there too
            raise InvalidToken("refresh token is not valid")
        try:
            user = self._users.get(user_id)
        except NotFound as exc:
            raise InvalidToken("refresh token is not valid") from exc
        if user.status is UserStatus.DISABLED:
            self._tokens.revoke_family(family_id=session_id, at=now, reason="user disabled")
            raise InvalidToken("refresh token is not valid")
        return TokenSet(
            access_token=result["AccessToken"],
            id_token=result["IdToken"],
            refresh_token=result.get("RefreshToken") or refresh_token,  # rotated only where the client rotates
            expires_in=int(result.get("ExpiresIn", 3600)),
        )

    def logout(
        self,
        *,
        user_id: str,
        organisation_id: str,
        session_id: str,
        ctx: CallContext,
        refresh_token: str | None = None,
    ) -> None:
        """End one session: refused by the verifier and by :meth:`refresh` from now on; with the session's
        refresh token, revoked at Cognito too (the seam does not pass it today)."""
        self._tokens.revoke_family(family_id=session_id, at=self._clock.now(), reason="logout")
        if refresh_token:
            self._revoke_quietly(refresh_token)
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
        self._global_sign_out(user_id)
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
        """``current`` is checked by a sign-in attempt (failures count towards lockout), the new password set
        with AdminSetUserPassword (the seam carries no access token for ChangePassword); every session ends."""
        user = self._reauthenticate(user_id, current, ctx, "auth.password_change")
        check_policy(new)
        if new == current:
            raise WeakPassword("the new password must differ from the current one")
        try:
            self._cognito.admin_set_user_password(
                UserPoolId=self._pool_id, Username=user.id, Password=new, Permanent=True
            )
        except ClientError as exc:
            raise_mapped(exc)
        now = self._clock.now()
        self._tokens.revoke_user(user_id=user.id, at=now, reason="password changed")
        self._global_sign_out(user.id)
        updated = _with_password_set(user, now)
        self._users.update(updated)
        audit_user(self._audit, "auth.password_changed", updated, ctx)

    def confirm_password(self, user_id: str, password: str, ctx: CallContext) -> None:
        """Re-authentication before a destructive action; failures count towards lockout."""
        self._reauthenticate(user_id, password, ctx, "auth.reauthenticate")

    # -- internals ----------------------------------------------------------------------------------
    def _password_auth(self, username: str, password: str) -> dict[str, Any]:
        response: dict[str, Any] = self._cognito.initiate_auth(
            ClientId=self._client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        return response

    def _decoy(self) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self._password_auth(decoy_username(), secrets.token_urlsafe(24))

    def _reauthenticate(self, user_id: str, password: str, ctx: CallContext, action: str) -> User:
        user = self._users.get(user_id)
        locked = user.is_locked(self._clock.now())
        if locked or user.status is UserStatus.DISABLED:
            self._decoy()
            self._fail(user, ctx, action, reason="locked" if locked else "disabled", count=False)
        try:
            response = self._password_auth(user.id, password)
        except ClientError as exc:
            self._refused(exc, user, ctx, action)
        result = response.get("AuthenticationResult")
        if result and result.get("RefreshToken"):  # a session nobody holds: end it at Cognito
            self._revoke_quietly(str(result["RefreshToken"]))
        if user.failed_attempts or user.locked_until:
            user = user.model_copy(update={"failed_attempts": 0, "locked_until": None, "updated_at": self._clock.now()})
            self._users.update(user)
        return user

    def _outcome(self, user: User, response: dict[str, Any], ctx: CallContext) -> TokenSet | Challenge:
        result = response.get("AuthenticationResult")
        if result:
            return self._signed_in(user, result, ctx, amr=("pwd",))
        name = CHALLENGES.get(str(response.get("ChallengeName")))
        if name is None or not response.get("Session"):
            reason = f"unsupported_challenge:{response.get('ChallengeName')}"
            self._fail(user, ctx, "auth.login", reason=reason, count=False)
        assert name is not None
        expires = user.temporary_password_expires_at
        if name == "NEW_PASSWORD_REQUIRED" and expires is not None and self._clock.now() >= expires:
            self._fail(user, ctx, "auth.login", reason="temporary_password_expired", count=False)
        return Challenge(challenge=name, session=self._sessions.wrap(name, user.id, str(response["Session"])))  # type: ignore[arg-type]

    def _signed_in(self, user: User, result: dict[str, Any], ctx: CallContext, *, amr: tuple[str, ...]) -> TokenSet:
        claims = self._verifier.claims(str(result["AccessToken"]))
        session_id = claims.get("origin_jti")
        if claims.get("username") != user.id or not isinstance(session_id, str):
            raise InvalidToken("the identity provider issued a token for another user")
        now = self._clock.now()
        self._tokens.create_family(
            family_id=session_id, user_id=user.id, created_at=now, expires_at=now + self._policy.refresh_ttl, amr=amr
        )
        if user.failed_attempts or user.locked_until:
            self._users.update(user.model_copy(update={"failed_attempts": 0, "locked_until": None, "updated_at": now}))
        audit_user(self._audit, "auth.login", user, ctx, details={"mfa": "mfa" in amr})
        return TokenSet(
            access_token=str(result["AccessToken"]),
            id_token=str(result["IdToken"]),
            refresh_token=str(result["RefreshToken"]),
            expires_in=int(result.get("ExpiresIn", 3600)),
        )

    def _open(self, session: str, challenge: str) -> tuple[User, str, int]:
        user_id, cognito_session, expires = self._sessions.open(session, challenge)
        try:
            user = self._users.get(user_id)
        except NotFound as exc:
            raise InvalidToken("session is not valid") from exc
        if user.is_locked(self._clock.now()) or user.status is UserStatus.DISABLED:
            raise AuthenticationFailed(GENERIC_FAILURE)
        return user, cognito_session, expires

    def _consume(self, session: str, expires: int) -> None:
        key = "challenge:" + hashlib.sha256(session.encode()).hexdigest()
        at = datetime.fromtimestamp(expires, tz=self._clock.now().tzinfo)
        if not self._tokens.consume_once(key=key, expires_at=at):
            raise InvalidToken("session has already been used")

    def _second_factor(self, user: User, code: str) -> tuple[MfaSecrets, str] | None:
        """The user's MFA secrets with ``code`` spent and the code to give Cognito, or None when it is wrong.
        Cognito knows no recovery codes: for one of ours, the current TOTP code answers Cognito's challenge."""
        secrets_ = self._mfa.get(user.id)
        if secrets_ is None or not secrets_.confirmed:
            return None
        now = self._clock.now()
        step = accepted_step(secrets_.totp_secret, code.strip(), at=now, last_used_step=secrets_.last_used_step)
        if step is not None:
            return secrets_.model_copy(update={"last_used_step": step}), code.strip()
        hashed = hash_recovery_code(code)
        if hashed in secrets_.recovery_code_hashes:
            remaining = [h for h in secrets_.recovery_code_hashes if h != hashed]
            current = code_at(secrets_.totp_secret, now.timestamp())
            return secrets_.model_copy(update={"recovery_code_hashes": remaining}), current
        return None

    def _refused(self, exc: ClientError, user: User, ctx: CallContext, action: str) -> NoReturn:
        """A refused password: the generic failure, with the reason in the audit record only."""
        if (busy := unavailable(exc)) is not None:
            raise busy from exc
        if error_code(exc) not in REFUSED_SIGN_IN:
            raise exc
        message = error_message(exc).lower()
        expires = user.temporary_password_expires_at
        if expires is not None and self._clock.now() >= expires and user.status is UserStatus.FORCE_CHANGE_PASSWORD:
            self._fail(user, ctx, action, reason="temporary_password_expired", count=False)
        if "attempts exceeded" in message:
            self._fail(user, ctx, action, reason="provider_lockout", count=False)
        if "disabled" in message:
            self._fail(user, ctx, action, reason="disabled", count=False)
        self._fail(user, ctx, action, reason="bad_password", count=True)

    def _challenge_refused(self, exc: ClientError, user: User, ctx: CallContext, action: str) -> NoReturn:
        if (busy := unavailable(exc)) is not None:
            raise busy from exc
        code = error_code(exc)
        if code == "InvalidPasswordException":
            raise WeakPassword(f"the password was refused: {error_message(exc)}") from exc
        if code == "CodeMismatchException":
            self._fail(user, ctx, action, reason="bad_code", count=True)
        raise InvalidToken("session is not valid") from exc  # expired or used at Cognito

    def _fail(
        self, user: User | None, ctx: CallContext, action: str, *, reason: str, count: bool, email: str = ""
    ) -> NoReturn:
        if user is not None and count:
            policy = self._policy
            failed = self._users.get(user.id).with_failed_attempt(
                self._clock.now(),
                threshold=policy.lockout_threshold,
                base_s=policy.lockout_base_s,
                max_s=policy.lockout_max_s,
            )
            self._users.update(failed)
        details = {"reason": reason} | ({} if user else {"email_sha256": email_fingerprint(email)})
        audit_user(self._audit, action, user, ctx, outcome=AuditOutcome.FAILURE, details=details)
        raise AuthenticationFailed(GENERIC_FAILURE)

    def _global_sign_out(self, user_id: str) -> None:
        try:
            self._cognito.admin_user_global_sign_out(UserPoolId=self._pool_id, Username=user_id)
        except ClientError as exc:
            if error_code(exc) != "UserNotFoundException":
                raise_mapped(exc)

    def _revoke_quietly(self, refresh_token: str) -> None:
        """RevokeToken, best effort: our own session record already refuses the session."""
        try:
            self._cognito.revoke_token(Token=refresh_token, ClientId=self._client_id)
        except (ClientError, BotoCoreError) as exc:
            log.warning("cognito_revoke_failed", extra={"error": error_code(exc) or type(exc).__name__})


def _with_password_set(user: User, now: datetime) -> User:
    """The account once its owner has set a password of their own at Cognito: active, lockout cleared."""
    return user.model_copy(
        update={
            "status": UserStatus.ACTIVE,
            "password_changed_at": now,
            "temporary_password_expires_at": None,
            "failed_attempts": 0,
            "locked_until": None,
            "updated_at": now,
        }
    )
