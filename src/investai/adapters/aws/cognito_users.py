"""Administration of Cognito users: admin-only sign-up (AdminCreateUser with a temporary password, or a
permanent one set with AdminSetUserPassword), disable and enable, role changes, password resets. The users table
keeps the product's record (role, organisation, status); everything is scoped to the administrator's
organisation exactly as the local UserAdminService is: another organisation's users answer NotFound."""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import ClientError

from investai.adapters.aws.cognito_common import (
    CognitoPolicy,
    audit_user,
    error_code,
    raise_mapped,
)
from investai.domain.access import Principal
from investai.domain.audit import AuditOutcome
from investai.domain.auth import CallContext, CreatedUser
from investai.domain.common import new_id
from investai.domain.errors import Conflict, NotFound
from investai.domain.users import Role, User, UserStatus, normalise_email
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import TokenStore
from investai.ports.repositories import UserRepository
from investai.security.passwords import check_policy, temporary_password

SYSTEM = "system"


class CognitoUserDirectory:
    def __init__(
        self,
        *,
        cognito: Any,
        pool_id: str,
        users: UserRepository,
        tokens: TokenStore,
        audit: AuditLog,
        clock: Clock,
        policy: CognitoPolicy,
    ) -> None:
        self._cognito = cognito
        self._pool_id = pool_id
        self._users = users
        self._tokens = tokens
        self._audit = audit
        self._clock = clock
        self._policy = policy

    def check(self) -> None:
        """The user pool answers (DescribeUserPool)."""
        self._cognito.describe_user_pool(UserPoolId=self._pool_id)

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
        """A new user named by its product id in the pool; with no ``password`` a temporary one is generated
        and must be changed at sign-in."""
        if actor is not None:
            organisation_id = actor.organisation_id
        if password is not None:
            check_policy(password)
        now = self._clock.now()
        temporary = password is None
        user = User(
            id=new_id("usr_"),
            email=normalise_email(email),
            display_name=display_name,
            role=role,
            organisation_id=organisation_id,
            status=UserStatus.FORCE_CHANGE_PASSWORD if temporary else UserStatus.ACTIVE,
            password_changed_at=None if temporary else now,
            temporary_password_expires_at=now + self._policy.temporary_password_ttl if temporary else None,
            created_at=now,
            updated_at=now,
        )
        self._users.add(user)  # Conflict for a taken address, before Cognito holds anything
        secret = temporary_password()
        try:
            self._cognito.admin_create_user(
                UserPoolId=self._pool_id,
                Username=user.id,
                TemporaryPassword=secret,
                MessageAction="SUPPRESS",  # the administrator hands the password over
                UserAttributes=[
                    {"Name": "email", "Value": user.email},
                    {"Name": "email_verified", "Value": "true"},
                ],
            )
            if password is not None:
                self._cognito.admin_set_user_password(
                    UserPoolId=self._pool_id, Username=user.id, Password=password, Permanent=True
                )
        except ClientError as exc:
            self._undo_create(user.id)
            raise_mapped(exc)
        self._log("user.created", actor, user, ctx, {"role": role.value})
        return CreatedUser(user=user, temporary_password=secret if temporary else None)

    def ensure_first_administrator(
        self, *, email: str, password: str | None, organisation_id: str
    ) -> CreatedUser | None:
        """On an empty users table, create the first administrator; otherwise do nothing."""
        if self._users.list_users(limit=1):
            return None
        return self.create_user(
            actor=None, email=email, role=Role.ADMINISTRATOR, organisation_id=organisation_id, password=password
        )

    def list_users(self, actor: Principal, ctx: CallContext) -> list[User]:
        self._access(actor, ctx, "user.list", None)
        return self._users.list_users(organisation_id=actor.organisation_id, limit=500)

    def read_user(self, actor: Principal, user_id: str, ctx: CallContext) -> User:
        """One user of the administrator's organisation, with the read (or the refusal) audited."""
        try:
            user = self.get_user(actor, user_id)
        except NotFound:
            self._access(actor, ctx, "user.read", user_id, allowed=False)
            raise
        self._access(actor, ctx, "user.read", user_id)
        return user

    def get_user(self, actor: Principal, user_id: str) -> User:
        user = self._users.get(user_id)  # NotFound for an unknown id
        if not user.administered_in(actor.organisation_id):
            raise NotFound(f"user {user_id} not found")  # the same answer as for an unknown id
        return user

    def update_user(
        self,
        actor: Principal,
        user_id: str,
        *,
        role: Role | None = None,
        enabled: bool | None = None,
        display_name: str | None = None,
        ctx: CallContext | None = None,
    ) -> User:
        user = self.get_user(actor, user_id)
        if user.id == actor.user_id and (role not in (None, user.role) or enabled is False):
            raise Conflict("administrators cannot change their own role or disable themselves")
        changes: dict[str, Any] = {"updated_at": self._clock.now()}
        if role is not None and role is not user.role:
            changes["role"] = role
        if display_name is not None:
            changes["display_name"] = display_name
        try:
            if enabled is False and user.status is not UserStatus.DISABLED:
                self._cognito.admin_disable_user(UserPoolId=self._pool_id, Username=user.id)
                changes["status"] = UserStatus.DISABLED
            if enabled is True and user.status is UserStatus.DISABLED:
                self._cognito.admin_enable_user(UserPoolId=self._pool_id, Username=user.id)
                changes["status"] = user.status_when_enabled()
        except ClientError as exc:
            raise_mapped(exc)
        updated = User.model_validate({**user.model_dump(), **changes})
        self._users.update(updated)
        if "role" in changes or changes.get("status") is UserStatus.DISABLED:
            self._sign_out(user.id, "role or status changed")
        if "role" in changes:
            self._log("user.role_changed", actor, updated, ctx, {"from": user.role.value, "to": updated.role.value})
        if "status" in changes:
            self._log("user.status_changed", actor, updated, ctx, {"status": updated.status.value})
        return updated

    def reset_password(self, actor: Principal, user_id: str, ctx: CallContext | None = None) -> CreatedUser:
        """A new temporary password (AdminSetUserPassword, not permanent: FORCE_CHANGE_PASSWORD at Cognito);
        every session ends. A disabled account stays disabled."""
        user = self.get_user(actor, user_id)
        secret = temporary_password()
        try:
            self._cognito.admin_set_user_password(
                UserPoolId=self._pool_id, Username=user.id, Password=secret, Permanent=False
            )
        except ClientError as exc:
            raise_mapped(exc)
        now = self._clock.now()
        status = UserStatus.DISABLED if user.status is UserStatus.DISABLED else UserStatus.FORCE_CHANGE_PASSWORD
        updated = user.model_copy(
            update={
                "status": status,
                "temporary_password_expires_at": now + self._policy.temporary_password_ttl,
                "failed_attempts": 0,
                "locked_until": None,
                "updated_at": now,
            }
        )
        self._users.update(updated)
        self._sign_out(user.id, "password reset")
        self._log("user.password_reset", actor, updated, ctx, {})
        return CreatedUser(user=updated, temporary_password=secret)

    def forget(self, user_id: str) -> None:
        """Delete the pool's user (with its e-mail attribute) for an erased account; the users table keeps the
        anonymised record. Not on the seam yet: the profile service's erasure would call it."""
        try:
            self._cognito.admin_delete_user(UserPoolId=self._pool_id, Username=user_id)
        except ClientError as exc:
            if error_code(exc) != "UserNotFoundException":
                raise_mapped(exc)

    # -- internals ----------------------------------------------------------------------------------
    def _sign_out(self, user_id: str, reason: str) -> None:
        self._tokens.revoke_user(user_id=user_id, at=self._clock.now(), reason=reason)
        try:
            self._cognito.admin_user_global_sign_out(UserPoolId=self._pool_id, Username=user_id)
        except ClientError as exc:
            if error_code(exc) != "UserNotFoundException":
                raise_mapped(exc)

    def _undo_create(self, user_id: str) -> None:
        self._users.delete(user_id)
        with contextlib.suppress(ClientError):  # never created, or the failed call was the create itself
            self._cognito.admin_delete_user(UserPoolId=self._pool_id, Username=user_id)

    def _access(
        self, actor: Principal, ctx: CallContext, action: str, user_id: str | None, *, allowed: bool = True
    ) -> None:
        self._audit.append(
            action=action,
            outcome=AuditOutcome.SUCCESS if allowed else AuditOutcome.DENIED,
            actor_id=actor.user_id,
            organisation_id=actor.organisation_id,
            resource_type="user",
            resource_id=user_id,
            ip=ctx.ip,
            request_id=ctx.request_id,
        )

    def _log(
        self, action: str, actor: Principal | None, user: User, ctx: CallContext | None, details: dict[str, Any]
    ) -> None:
        audit_user(self._audit, action, user, ctx, actor_id=actor.user_id if actor else SYSTEM, details=details)
