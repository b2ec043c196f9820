"""Shared pieces of the Cognito identity provider: policy values, Cognito error mapping, the users-table
bookkeeping (lockout, status) and audit records shaped like the local provider's."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from investai.domain.audit import AuditOutcome
from investai.domain.auth import CallContext
from investai.domain.errors import Conflict, NotFound, StoreUnavailable, WeakPassword
from investai.domain.users import User
from investai.ports.audit import AuditLog

GENERIC_FAILURE = "incorrect email or password"  # the local provider's wording: nothing says which part failed
THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"})
UNAVAILABLE = frozenset({"InternalErrorException", "ServiceUnavailable", "ServiceUnavailableException"})


@dataclass(frozen=True)
class CognitoPolicy:
    """What the product adds on top of the pool's own settings; the defaults equal the embedded shape's."""

    refresh_ttl: timedelta = timedelta(days=30)  # the app client's refresh-token validity: a session's life
    temporary_password_ttl: timedelta = timedelta(days=7)  # the pool's TemporaryPasswordValidityDays
    lockout_threshold: int = 5
    lockout_base_s: float = 30.0
    lockout_max_s: float = 900.0
    challenge_ttl_s: int = 180  # the app client's AuthSessionValidity (3 minutes)
    leeway_s: int = 30
    mfa_issuer_name: str = "Investment AI Agent"
    device_name: str = "authenticator"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return ""


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """The domain error for a throttled or failing identity provider, or None for any other error."""
    code = error_code(exc)
    if code in THROTTLED:
        return StoreUnavailable("the identity provider is limiting requests; try again shortly", retry_after_s=5.0)
    if code in UNAVAILABLE or isinstance(exc, BotoCoreError):
        return StoreUnavailable("the identity provider cannot be reached; try again shortly", retry_after_s=5.0)
    if isinstance(exc, ClientError) and int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500:
        return StoreUnavailable("the identity provider failed; try again shortly", retry_after_s=5.0)
    return None


def raise_mapped(exc: ClientError) -> NoReturn:
    """The domain error for a Cognito error of administration calls, or the error itself."""
    if (busy := unavailable(exc)) is not None:
        raise busy from exc
    code = error_code(exc)
    if code == "InvalidPasswordException":
        raise WeakPassword(f"the password was refused: {error_message(exc)}") from exc
    if code in ("UsernameExistsException", "AliasExistsException"):
        raise Conflict("the user exists") from exc
    if code == "UserNotFoundException":
        raise NotFound("user not found") from exc
    raise exc


def decoy_username() -> str:
    """A user name no pool holds: sign-in attempts for unknown or refused accounts still make one call to
    Cognito, so the response time does not tell which accounts exist."""
    return f"usr_decoy{secrets.token_hex(12)}"


def audit_user(
    audit: AuditLog,
    action: str,
    user: User | None,
    ctx: CallContext | None,
    *,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    actor_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """A record about ``user`` (the resource), by ``actor_id`` or else the user."""
    ctx = ctx or CallContext()
    audit.append(
        action=action,
        outcome=outcome,
        actor_id=actor_id or (user.id if user else None),
        organisation_id=user.organisation_id if user else None,
        resource_type="user",
        resource_id=user.id if user else None,
        ip=ctx.ip,
        request_id=ctx.request_id,
        details=details,
    )
