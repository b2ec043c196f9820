"""Read paths for ideas and jobs, and the names of the users they mention. Every read filters by owner and
organisation: an object the principal may not see answers NotFound, exactly as an object that does not exist.
Every idea read returns views (:class:`~investai.domain.idea_views.IdeaView`): document text only from the
documents the reader may read now (:class:`~investai.services.source_access.SourceAccess`)."""

from __future__ import annotations

from collections.abc import Iterable

from investai.domain.access import Permission, Principal
from investai.domain.agents import AgentName
from investai.domain.errors import Conflict, DomainError, NotFound
from investai.domain.idea_views import IdeaView
from investai.domain.ideas import InvestmentIdea
from investai.domain.jobs import Job
from investai.domain.lifecycle import IdeaStatus
from investai.ports.audit import AuditLog
from investai.ports.identity import UserDirectory
from investai.ports.jobs import JobRecords
from investai.ports.repositories import IdeaRepository
from investai.services.audit_trail import record_access
from investai.services.auth_common import CallContext
from investai.services.source_access import SourceAccess


class IdeaQueries:
    def __init__(self, *, ideas: IdeaRepository, audit: AuditLog, sources: SourceAccess) -> None:
        self._ideas = ideas
        self._audit = audit
        self._sources = sources

    @property
    def sources(self) -> SourceAccess:
        return self._sources

    def get(self, principal: Principal, idea_id: str, ctx: CallContext, *, version: int | None = None) -> IdeaView:
        return self._sources.idea(principal, self.stored(principal, idea_id, ctx, version=version))

    def view(self, principal: Principal, idea: InvestmentIdea) -> IdeaView:
        """A stored revision (one the caller was allowed to read) as the caller may see it."""
        return self._sources.idea(principal, idea)

    def stored(
        self, principal: Principal, idea_id: str, ctx: CallContext, *, version: int | None = None
    ) -> InvestmentIdea:
        """The stored revision, for a caller allowed to read the idea: what a change (a status move, feedback)
        starts from. Never shown as it is: :meth:`view` it first."""
        try:
            idea = self._ideas.get(idea_id, version=version)
        except NotFound:
            idea = None
        allowed = idea is not None and self._visible(principal, idea)
        record_access(
            self._audit, principal, ctx, action="idea.read", resource_type="idea", resource_id=idea_id, allowed=allowed
        )
        if idea is None or not allowed:
            raise NotFound(f"idea {idea_id} not found")
        return idea

    def history(self, principal: Principal, idea_id: str, ctx: CallContext) -> list[IdeaView]:
        self.stored(principal, idea_id, ctx)
        return self._sources.ideas(principal, self._ideas.history(idea_id))

    def list(
        self,
        principal: Principal,
        ctx: CallContext,
        *,
        status: IdeaStatus | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
        day: str | None = None,
        owner_id: str | None = None,
        limit: int = 50,
        before: int | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[IdeaView]:
        """Latest revisions, newest first: the caller's own, or (for organisation-wide readers) the
        organisation's; filtered by status, instrument symbol, strategy, generation day, generation days from
        ``since`` to ``until`` (YYYY-MM-DD, both included) and owner."""
        record_access(self._audit, principal, ctx, action="idea.list", resource_type="idea", resource_id=None)
        everyone = principal.can(Permission.IDEAS_READ_ORGANISATION)
        if owner_id is not None and not everyone and owner_id != principal.user_id:
            return []
        wanted_symbol = symbol.strip().upper() if symbol else None

        def keep(idea: InvestmentIdea) -> bool:
            return (
                (status is None or idea.status is status)
                and (wanted_symbol is None or any(i.symbol == wanted_symbol for i in idea.instruments))
                and (strategy is None or idea.strategy.value == strategy)
                and (day is None or idea.date == day)
                and (since is None or idea.date >= since)
                and (until is None or idea.date <= until)
                and (owner_id is None or idea.owner_id == owner_id)
            )

        def page(cursor: int | None) -> list[InvestmentIdea]:
            org = principal.organisation_id
            if everyone and day is not None:
                return self._ideas.list_by_date(org, day, limit=limit, before=cursor)
            if everyone and status is not None:
                return self._ideas.list_by_status(org, status, limit=limit, before=cursor)
            if everyone and owner_id is None:
                return self._ideas.list_by_organisation(org, limit=limit, before=cursor)
            return self._ideas.list_by_user(owner_id or principal.user_id, limit=limit, before=cursor)

        found: list[InvestmentIdea] = []
        cursor = before
        while len(found) < limit:  # filters may drop rows: keep paging until the page is full or data ends
            batch = page(cursor)
            found.extend(idea for idea in batch if keep(idea))
            if len(batch) < limit:
                break
            cursor = batch[-1].timestamp
        return self._sources.ideas(principal, found[:limit])

    @staticmethod
    def _visible(principal: Principal, idea: InvestmentIdea) -> bool:
        return principal.may_read(
            owner_id=idea.owner_id,
            organisation_id=idea.organisation_id,
            organisation_wide=principal.can(Permission.IDEAS_READ_ORGANISATION),
        )


class JobQueries:
    def __init__(self, *, jobs: JobRecords, audit: AuditLog) -> None:
        self._jobs = jobs
        self._audit = audit

    def get(self, principal: Principal, job_id: str, ctx: CallContext) -> Job:
        try:
            job: Job | None = self._jobs.get(job_id)
        except NotFound:
            job = None
        allowed = job is not None and principal.may_read(
            owner_id=job.owner_id, organisation_id=job.organisation_id, organisation_wide=False
        )
        record_access(
            self._audit, principal, ctx, action="job.read", resource_type="job", resource_id=job_id, allowed=allowed
        )
        if job is None or not allowed:
            raise NotFound(f"job {job_id} not found")
        return job

    def cancel(self, principal: Principal, job_id: str, ctx: CallContext) -> Job:
        job = self.get(principal, job_id, ctx)
        if job.finished:
            raise Conflict(f"job {job_id} has already finished")
        return self._jobs.cancel(job.id)


SERVICE_ACTORS = frozenset({"system", "scheduler", *(agent.value for agent in AgentName)})
"""Ids that name the product itself (an agent, the scheduler, the system), never a user account."""
DELETED_USER = "{user_id} (deleted user)"


class UserNames:
    """Names of user ids as one reader may see them, for pages and responses that show who did something.

    A user of the reader's organisation shows by display name (or e-mail when it has none); an id that names
    no such user any more (erased, unknown, another organisation's) shows as the id marked as a deleted user, so
    no name leaves its organisation; the product's own actors (agents, the scheduler) show as themselves. Callers
    show names only beside what the reader may already see (an audit record to an auditor, a document to one of
    its readers). Each id is looked up once per instance."""

    def __init__(self, users: UserDirectory, reader: Principal) -> None:
        self._users = users
        self._reader = reader
        self._known: dict[str, str] = {}

    def name(self, user_id: str) -> str:
        if user_id not in self._known:
            self._known[user_id] = self._look_up(user_id)
        return self._known[user_id]

    def names(self, user_ids: Iterable[str | None]) -> dict[str, str]:
        """The name of each id given (``None`` skipped)."""
        return {user_id: self.name(user_id) for user_id in user_ids if user_id}

    def _look_up(self, user_id: str) -> str:
        if user_id in SERVICE_ACTORS:
            return user_id
        try:
            user = self._users.get_user(self._reader, user_id)
        except DomainError:
            return DELETED_USER.format(user_id=user_id)
        return user.display_name or user.email
