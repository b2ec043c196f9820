"""Point-in-time reads and restores of ideas and profiles: the embedded shape of DynamoDB's point-in-time
recovery, per item, for administrators of the item's organisation.

* **As of a second.** ``as_of`` is read to the second and covers every revision written up to the end of it
  (see :mod:`investai.domain.pitr`); it must lie in the retention window (``INVESTAI_PITR_RETENTION_DAYS``),
  else :class:`~investai.domain.pitr.OutsideRetention` (422). An item with no revision then is ``NotFound``,
  exactly like an item of another organisation.
* **Restore** never rewrites history: it writes a new latest revision equal to the content as of that
  second. An idea: every field but its lifecycle (status and status history stay as they are now), with the
  next version and a new timestamp, and never while the idea is in review or approved, so no restore brings
  back an approval or changes what a compliance officer reviews. A profile: preferences and notification
  settings, while role and organisation follow the account as it is now. When the latest revision already
  has that content nothing is written, so a retried restore is harmless.
* **Erasure** deletes a profile with all its revisions: an erased user's profile is absent as of every
  second, and no restore can bring it back.
* Ideas are shown as every idea read shows them (:class:`~investai.services.source_access.SourceAccess`):
  document text only from the documents the administrator may read now. A restore copies the stored
  revision whole; only what is shown is a view.
* Every call, refused or not, leaves one audit record (``pitr.*``) with the second asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from investai.domain.access import Permission, Principal
from investai.domain.audit import AuditOutcome
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, DomainError, NotFound, PermissionDenied
from investai.domain.idea_views import IdeaView
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.pitr import AsOf, resolve_as_of
from investai.domain.users import User, UserProfile
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.repositories import IdeaRepository, ProfileRepository, UserRepository
from investai.services.auth_common import CallContext
from investai.services.source_access import SourceAccess

REVISION_KEYS = {"version", "timestamp"}
KEPT_ON_RESTORE = REVISION_KEYS | {"status", "status_history"}
"""What a restore takes from the latest revision rather than from the one restored."""
UNDER_REVIEW = frozenset({IdeaStatus.IN_REVIEW, IdeaStatus.APPROVED})


@dataclass(frozen=True)
class IdeaRestore:
    idea: IdeaView
    """The latest revision after the restore, as the caller may see it."""
    restored_version: int
    """The version that was current as of the second asked for."""
    created: bool
    """False when the latest revision already had that content (nothing was written)."""


@dataclass(frozen=True)
class ProfileRestore:
    profile: UserProfile
    restored_from: UserProfile
    created: bool


class PointInTimeService:
    def __init__(
        self,
        *,
        ideas: IdeaRepository,
        profiles: ProfileRepository,
        users: UserRepository,
        audit: AuditLog,
        clock: Clock,
        sources: SourceAccess,
        retention: timedelta,
    ) -> None:
        self._ideas = ideas
        self._profiles = profiles
        self._users = users
        self._audit = audit
        self._clock = clock
        self._sources = sources
        self._retention = retention

    @property
    def retention(self) -> timedelta:
        return self._retention

    def idea_as_of(self, principal: Principal, ctx: CallContext, idea_id: str, as_of: datetime) -> IdeaView:
        """The idea as it was at the end of the second ``as_of``."""
        with self._audited(principal, ctx, "pitr.idea.read", "idea", idea_id, as_of) as details:
            idea = self._idea_at(principal, idea_id, self._resolve(as_of))
            details["version"] = idea.version
            return self._sources.idea(principal, idea)

    def ideas_as_of(
        self, principal: Principal, ctx: CallContext, as_of: datetime, *, limit: int = 50, before: int | None = None
    ) -> list[IdeaView]:
        """Every idea of the caller's organisation as it was then, newest revision first (``before`` pages on
        the revisions' timestamps)."""
        with self._audited(principal, ctx, "pitr.idea.list", "idea", None, as_of) as details:
            at = self._resolve(as_of)
            found = self._ideas.list_as_of(principal.organisation_id, at.until_ms, limit=limit, before=before)
            details["count"] = len(found)
            return self._sources.ideas(principal, found)

    def restore_idea(self, principal: Principal, ctx: CallContext, idea_id: str, as_of: datetime) -> IdeaRestore:
        """Write a new latest revision whose content is the idea's as of ``as_of``, under its lifecycle as it
        is now (status and status history): a restore changes what an idea says, never where it stands in
        review. An idea in review or approved is refused (``Conflict``): its content is what a compliance
        officer is reviewing or approved; withdraw it to draft first (an approved idea stays as approved)."""
        with self._audited(principal, ctx, "pitr.idea.restore", "idea", idea_id, as_of) as details:
            old = self._idea_at(principal, idea_id, self._resolve(as_of))
            latest = self._ideas.get(idea_id)
            details.update(restored_version=old.version, replaced_version=latest.version)
            if old.model_dump(exclude=KEPT_ON_RESTORE) == latest.model_dump(exclude=KEPT_ON_RESTORE):
                details["created"] = False
                return IdeaRestore(
                    idea=self._sources.idea(principal, latest), restored_version=old.version, created=False
                )
            if latest.status in UNDER_REVIEW:
                raise Conflict(
                    f"idea {idea_id} is {latest.status.value}: its content is under or past compliance review;"
                    " restore the content of a draft (withdraw the idea from review first)"
                )
            stamp = max(epoch_ms(self._clock.now()), latest.timestamp + 1)
            data = old.model_dump()
            data.update(
                version=latest.version + 1,
                timestamp=stamp,
                status=latest.status,
                status_history=[change.model_dump() for change in latest.status_history],
            )
            restored = InvestmentIdea.model_validate(data)
            self._ideas.add(restored)  # Conflict if another writer stored a revision meanwhile
            details.update(created=True, version=restored.version)
            return IdeaRestore(idea=self._sources.idea(principal, restored), restored_version=old.version, created=True)

    def profile_as_of(self, principal: Principal, ctx: CallContext, user_id: str, as_of: datetime) -> UserProfile:
        """The user's profile as it was at the end of the second ``as_of``."""
        with self._audited(principal, ctx, "pitr.profile.read", "profile", user_id, as_of):
            at = self._resolve(as_of)
            self._user_in_organisation(principal, user_id)
            return self._profiles.as_of(user_id, at.until_ms)

    def restore_profile(self, principal: Principal, ctx: CallContext, user_id: str, as_of: datetime) -> ProfileRestore:
        """Make the preferences and notification settings as of ``as_of`` the latest profile."""
        with self._audited(principal, ctx, "pitr.profile.restore", "profile", user_id, as_of) as details:
            at = self._resolve(as_of)
            user = self._user_in_organisation(principal, user_id)
            old = self._profiles.as_of(user_id, at.until_ms)
            try:
                current: UserProfile | None = self._profiles.get(user_id)
            except NotFound:
                current = None
            if current is not None and _settings_of(current) == _settings_of(old):
                details["created"] = False
                return ProfileRestore(profile=current, restored_from=old, created=False)
            restored = UserProfile(
                user_id=user.id,
                role=user.role,
                organisation_id=user.organisation_id,
                preferences=old.preferences,
                notifications=old.notifications,
                updated_at=self._clock.now(),
            )
            self._profiles.put(restored)
            details["created"] = True
            return ProfileRestore(profile=restored, restored_from=old, created=True)

    def _resolve(self, as_of: datetime) -> AsOf:
        return resolve_as_of(as_of, now=self._clock.now(), retention=self._retention)

    def _idea_at(self, principal: Principal, idea_id: str, at: AsOf) -> InvestmentIdea:
        idea = self._ideas.as_of(idea_id, at.until_ms)
        if idea.organisation_id != principal.organisation_id:
            raise NotFound(f"idea {idea_id} had no revision then")  # the answer for an unknown idea
        return idea

    def _user_in_organisation(self, principal: Principal, user_id: str) -> User:
        user = self._users.get(user_id)
        if not user.administered_in(principal.organisation_id):
            raise NotFound(f"no profile for user {user_id} then")  # erased users have no revisions left
        return user

    @contextmanager
    def _audited(
        self,
        principal: Principal,
        ctx: CallContext,
        action: str,
        resource_type: str,
        resource_id: str | None,
        as_of: datetime,
    ) -> Iterator[dict[str, Any]]:
        """One audit record for the call: success, denied (no permission, or nothing to see) or failure."""
        details: dict[str, Any] = {"as_of": as_of.isoformat()}
        outcome = AuditOutcome.SUCCESS
        try:
            if not principal.can(Permission.DATA_RESTORE):
                raise PermissionDenied(f"this action needs the {Permission.DATA_RESTORE.value} permission")
            yield details
        except (NotFound, PermissionDenied):
            outcome = AuditOutcome.DENIED
            raise
        except Exception as exc:
            outcome = AuditOutcome.FAILURE
            details["error"] = exc.code if isinstance(exc, DomainError) else type(exc).__name__
            raise
        finally:
            self._audit.append(
                action=action,
                outcome=outcome,
                actor_id=principal.user_id,
                organisation_id=principal.organisation_id,
                resource_type=resource_type,
                resource_id=resource_id,
                ip=ctx.ip,
                request_id=ctx.request_id,
                details=details,
            )


def _settings_of(profile: UserProfile) -> tuple[Any, Any]:
    return profile.preferences, profile.notifications
