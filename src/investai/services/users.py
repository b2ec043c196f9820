"""Administration of users, modelled on Cognito's admin-only sign-up: an administrator creates a user
with a temporary password that must be changed at first sign-in. Everything is scoped to the
administrator's organisation: another organisation's users answer NotFound."""

from __future__ import annotations

from typing import Any

from investai.domain.access import Principal
from investai.domain.auth import CreatedUser
from investai.domain.common import new_id
from investai.domain.errors import Conflict, NotFound
from investai.domain.users import Role, User, UserStatus, normalise_email
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import TokenStore
from investai.ports.repositories import UserRepository
from investai.security.passwords import PasswordHasher, temporary_password
from investai.services.audit_trail import record_access
from investai.services.auth_common import AuthPolicy, CallContext, with_new_password

SYSTEM = "system"


class UserAdminService:
    def __init__(
        self,
        *,
        users: UserRepository,
        tokens: TokenStore,
        hasher: PasswordHasher,
        audit: AuditLog,
        clock: Clock,
        policy: AuthPolicy,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._hasher = hasher
        self._audit = audit
        self._clock = clock
        self._policy = policy

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
        if actor is not None:
            organisation_id = actor.organisation_id
        now = self._clock.now()
        user = User(
            id=new_id("usr_"),
            email=normalise_email(email),
            display_name=display_name,
            role=role,
            organisation_id=organisation_id,
            created_at=now,
            updated_at=now,
        )
        secret = password or temporary_password()
        user = with_new_password(
            user, secret, hasher=self._hasher, policy=self._policy, now=now, temporary=password is None
        )
        self._users.add(user)
        self._log("user.created", actor, user, ctx, {"role": role.value})
        return CreatedUser(user=user, temporary_password=None if password else secret)

    def ensure_first_administrator(
        self, *, email: str, password: str | None, organisation_id: str
    ) -> CreatedUser | None:
        """On an empty store, create the first administrator; otherwise do nothing."""
        if self._users.list_users(limit=1):
            return None
        return self.create_user(
            actor=None, email=email, role=Role.ADMINISTRATOR, organisation_id=organisation_id, password=password
        )

    def list_users(self, actor: Principal, ctx: CallContext) -> list[User]:
        record_access(self._audit, actor, ctx, action="user.list", resource_type="user", resource_id=None)
        return self._users.list_users(organisation_id=actor.organisation_id, limit=500)

    def read_user(self, actor: Principal, user_id: str, ctx: CallContext) -> User:
        """One user of the administrator's organisation, with the read (or the refusal) audited."""
        try:
            user = self.get_user(actor, user_id)
        except NotFound:
            record_access(
                self._audit, actor, ctx, action="user.read", resource_type="user", resource_id=user_id, allowed=False
            )
            raise
        record_access(self._audit, actor, ctx, action="user.read", resource_type="user", resource_id=user_id)
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
        if enabled is False and user.status is not UserStatus.DISABLED:
            changes["status"] = UserStatus.DISABLED
        if enabled is True and user.status is UserStatus.DISABLED:
            changes["status"] = user.status_when_enabled()
        updated = User.model_validate({**user.model_dump(), **changes})
        self._users.update(updated)
        if "role" in changes or changes.get("status") is UserStatus.DISABLED:
            self._tokens.revoke_user(user_id=user.id, at=self._clock.now(), reason="role or status changed")
        if "role" in changes:
            self._log("user.role_changed", actor, updated, ctx, {"from": user.role.value, "to": updated.role.value})
        if "status" in changes:
            self._log("user.status_changed", actor, updated, ctx, {"status": updated.status.value})
        return updated

    def reset_password(self, actor: Principal, user_id: str, ctx: CallContext | None = None) -> CreatedUser:
        user = self.get_user(actor, user_id)
        secret = temporary_password()
        now = self._clock.now()
        updated = with_new_password(user, secret, hasher=self._hasher, policy=self._policy, now=now, temporary=True)
        if user.status is UserStatus.DISABLED:  # a reset is no way back in: the account stays disabled
            updated = updated.model_copy(update={"status": UserStatus.DISABLED})
        self._users.update(updated)
        self._tokens.revoke_user(user_id=user.id, at=now, reason="password reset")
        self._log("user.password_reset", actor, updated, ctx, {})
        return CreatedUser(user=updated, temporary_password=secret)

    def _log(
        self, action: str, actor: Principal | None, user: User, ctx: CallContext | None, details: dict[str, Any]
    ) -> None:
        ctx = ctx or CallContext()
        self._audit.append(
            action=action,
            actor_id=actor.user_id if actor else SYSTEM,
            organisation_id=user.organisation_id,
            resource_type="user",
            resource_id=user.id,
            ip=ctx.ip,
            request_id=ctx.request_id,
            details=details,
        )
