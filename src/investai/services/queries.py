"""Read paths for ideas and jobs. Every read filters by owner and organisation: an object the principal
may not see answers NotFound, exactly as an object that does not exist."""

from __future__ import annotations

from investai.domain.access import Permission, Principal
from investai.domain.errors import Conflict, NotFound
from investai.domain.ideas import InvestmentIdea
from investai.domain.jobs import Job
from investai.domain.lifecycle import IdeaStatus
from investai.ports.jobs import JobQueue
from investai.ports.repositories import IdeaRepository


class IdeaQueries:
    def __init__(self, *, ideas: IdeaRepository) -> None:
        self._ideas = ideas

    def get(self, principal: Principal, idea_id: str, *, version: int | None = None) -> InvestmentIdea:
        idea = self._ideas.get(idea_id, version=version)
        if not self._visible(principal, idea):
            raise NotFound(f"idea {idea_id} not found")
        return idea

    def history(self, principal: Principal, idea_id: str) -> list[InvestmentIdea]:
        self.get(principal, idea_id)
        return self._ideas.history(idea_id)

    def list(
        self, principal: Principal, *, status: IdeaStatus | None = None, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        if principal.can(Permission.IDEAS_READ_ORGANISATION) and status is not None:
            return self._ideas.list_by_status(principal.organisation_id, status, limit=limit, before=before)
        mine = self._ideas.list_by_user(principal.user_id, limit=limit, before=before)
        return [idea for idea in mine if status is None or idea.status is status]

    @staticmethod
    def _visible(principal: Principal, idea: InvestmentIdea) -> bool:
        return principal.may_read(
            owner_id=idea.owner_id,
            organisation_id=idea.organisation_id,
            organisation_wide=principal.can(Permission.IDEAS_READ_ORGANISATION),
        )


class JobQueries:
    def __init__(self, *, jobs: JobQueue) -> None:
        self._jobs = jobs

    def get(self, principal: Principal, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if not principal.may_read(owner_id=job.owner_id, organisation_id=job.organisation_id, organisation_wide=False):
            raise NotFound(f"job {job_id} not found")
        return job

    def cancel(self, principal: Principal, job_id: str) -> Job:
        job = self.get(principal, job_id)
        if job.finished:
            raise Conflict(f"job {job_id} has already finished")
        return self._jobs.cancel(job.id)
