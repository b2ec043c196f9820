"""Repositories for the product's records (SQLite here, DynamoDB on AWS).

Ideas are stored as revisions keyed ``(id, timestamp)``; list queries return the latest revision of each
idea, newest first, and are always scoped to an organisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from investai.domain.agents import AgentMessage
from investai.domain.documents import Document
from investai.domain.feedback import Feedback
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import User, UserProfile


class IdeaRepository(Protocol):
    def add(self, idea: InvestmentIdea) -> None:
        """Store a revision. Version 1 starts an idea; version n+1 must follow the stored latest n,
        else ``Conflict`` (a concurrent writer got there first)."""
        ...

    def get(self, idea_id: str, *, version: int | None = None) -> InvestmentIdea:
        """The latest revision, or the given version; ``NotFound`` otherwise."""
        ...

    def history(self, idea_id: str) -> list[InvestmentIdea]:
        """Every revision, oldest first; ``NotFound`` for an unknown idea."""
        ...

    def list_by_user(self, user_id: str, *, limit: int = 50, before: int | None = None) -> list[InvestmentIdea]:
        """Latest revisions of a user's ideas with ``timestamp < before``, newest first."""
        ...

    def list_by_status(
        self, organisation_id: str, status: IdeaStatus, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]: ...

    def list_by_organisation(
        self, organisation_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        """Latest revisions of every idea of the organisation, whatever their status, newest first."""
        ...

    def list_by_date(
        self, organisation_id: str, day: str, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        """Ideas generated on ``day`` (YYYY-MM-DD, UTC)."""
        ...

    def list_expiring(self, now: datetime, *, limit: int = 500) -> list[InvestmentIdea]:
        """Latest revisions, in any organisation, that are approved or rejected with ``expires_at <= now``."""
        ...

    def as_of(self, idea_id: str, at_ms: int) -> InvestmentIdea:
        """The revision current at ``at_ms`` (epoch milliseconds): the newest with ``timestamp <= at_ms``;
        ``NotFound`` for an unknown idea or one whose first revision is later."""
        ...

    def list_as_of(
        self, organisation_id: str, at_ms: int, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        """For each idea of the organisation that existed at ``at_ms``, the revision current then; newest
        first, with ``before`` bounding those revisions' timestamps (``timestamp < before``) for paging."""
        ...


class UserRepository(Protocol):
    def add(self, user: User) -> None:
        """``Conflict`` when the id or the e-mail address (case-insensitive) is taken."""
        ...

    def get(self, user_id: str) -> User: ...

    def get_by_email(self, email: str) -> User | None: ...

    def update(self, user: User) -> None: ...

    def list_users(self, *, organisation_id: str | None = None, limit: int = 100) -> list[User]: ...

    def delete(self, user_id: str) -> None: ...


class ProfileRepository(Protocol):
    """The latest profile of each user, and its earlier revisions for point-in-time reads."""

    def get(self, user_id: str) -> UserProfile:
        """The latest profile; ``NotFound`` when the user has none (or it was erased)."""
        ...

    def put(self, profile: UserProfile) -> None:
        """Store ``profile`` as the latest and keep it as a revision at ``profile.updated_at`` (epoch ms), or
        1 ms after the user's newest revision when the clock has not moved past it: revision times increase."""
        ...

    def delete(self, user_id: str) -> None:
        """Erase the profile together with every revision of it: none can be read or restored afterwards."""
        ...

    def as_of(self, user_id: str, at_ms: int) -> UserProfile:
        """The revision current at ``at_ms`` (epoch milliseconds): the newest at or before it; ``NotFound``
        when there was none then (never stored, stored later, erased, or pruned)."""
        ...

    def prune_revisions(self, before_ms: int) -> int:
        """Remove revisions superseded before ``before_ms``. Every user keeps the revision current at
        ``before_ms`` and everything later (so as-of reads from ``before_ms`` on are unchanged), and always the
        latest. Returns the number removed."""
        ...


class DocumentRepository(Protocol):
    def add(self, document: Document) -> None: ...

    def get(self, document_id: str) -> Document: ...

    def update(self, document: Document, *, expected_updated_at: datetime) -> None:
        """Replace the record; ``Conflict`` unless the stored ``updated_at`` is still ``expected_updated_at``
        (optimistic concurrency: another writer got there first)."""
        ...

    def delete(self, document_id: str) -> None: ...

    def list_by_owner(self, owner_id: str, *, limit: int = 100) -> list[Document]: ...

    def list_by_organisation(self, organisation_id: str, *, limit: int = 100) -> list[Document]: ...


class FeedbackRepository(Protocol):
    def add(self, feedback: Feedback) -> None: ...

    def list_for_idea(self, idea_id: str) -> list[Feedback]: ...

    def list_by_user(self, user_id: str) -> list[Feedback]: ...


class IdeaRequestRepository(Protocol):
    """Idea-generation requests and the agent messages of each (its audit trail)."""

    def add(self, record: IdeaRequestRecord) -> None:
        """``Conflict`` when the id exists."""
        ...

    def get(self, request_id: str) -> IdeaRequestRecord:
        """``NotFound`` for an unknown id. ``cancel_requested`` reflects :meth:`request_cancel`."""
        ...

    def update(self, record: IdeaRequestRecord) -> None:
        """Replace the stored record; never clears a cancel request made meanwhile."""
        ...

    def complete(self, record: IdeaRequestRecord, ideas: Sequence[InvestmentIdea]) -> None:
        """Store a finished request and the ideas it produced together: both or neither, so a crash never
        leaves ideas that no request names, and running the request again cannot store them twice."""
        ...

    def request_cancel(self, request_id: str) -> None: ...

    def cancel_requested(self, request_id: str) -> bool: ...

    def list_requests(
        self,
        *,
        organisation_id: str,
        owner_id: str | None = None,
        status: RequestStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[IdeaRequestRecord]:
        """Newest first; ``owner_id`` limits to one requester."""
        ...

    def append_message(self, message: AgentMessage) -> int:
        """Store a message of ``message.request_id``; returns its sequence number (1, 2, ...)."""
        ...

    def messages(self, request_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, AgentMessage]]:
        """Messages with a sequence number above ``after``, oldest first."""
        ...
