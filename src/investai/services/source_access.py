"""The one place reads of ideas and agent messages learn which document versions the reader may read now.

Every service that shows an idea, a revision of one or an agent message passes it through
:meth:`SourceAccess.ideas` or :meth:`SourceAccess.messages` (see :mod:`investai.domain.idea_views` for what a
reader is shown). Access is the documents' own sharing rule (:meth:`~investai.domain.documents.Document.readable_by`,
the rule behind every document read's 404) evaluated at the read, for the cited version: a deleted document,
or a version it no longer has, is unreadable. Each distinct document is looked up once per call, so a list of
ideas costs one lookup per document it cites, not one per citation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from investai.domain.access import Principal
from investai.domain.agents import AgentMessage
from investai.domain.citations import DocumentSource
from investai.domain.documents import Document
from investai.domain.errors import NotFound
from investai.domain.idea_views import (
    IdeaView,
    MayRead,
    idea_sources,
    message_sources,
    message_view,
    research_sources,
    view_for,
)
from investai.domain.ideas import InvestmentIdea
from investai.ports.repositories import DocumentRepository


class SourceAccess:
    def __init__(self, *, documents: DocumentRepository) -> None:
        self._documents = documents

    def may_read(self, principal: Principal, sources: Iterable[DocumentSource]) -> MayRead:
        """Whether ``principal`` may read each of ``sources`` now (documents looked up once each, here)."""
        found = {document_id: self._find(document_id) for document_id in {s.document_id for s in sources}}

        def check(source: DocumentSource) -> bool:
            document = found.get(source.document_id)
            return document is not None and _readable(principal, document, source.version)

        return check

    def ideas(self, principal: Principal, ideas: Sequence[InvestmentIdea]) -> list[IdeaView]:
        """Each idea as ``principal`` may see it."""
        sources = [idea_sources(idea) for idea in ideas]  # once per idea, for the check and the view
        check = self.may_read(principal, (source for group in sources for source in group))
        return [view_for(idea, check, group) for idea, group in zip(ideas, sources, strict=True)]

    def idea(self, principal: Principal, idea: InvestmentIdea) -> IdeaView:
        return self.ideas(principal, [idea])[0]

    def messages(
        self,
        principal: Principal,
        messages: Sequence[tuple[int, AgentMessage]],
        *,
        trail: Sequence[AgentMessage] = (),
    ) -> list[tuple[int, AgentMessage]]:
        """Each of a request's ``messages`` as ``principal`` may see it. ``trail`` holds the request's earlier
        messages, where the research behind an older message (one that recorded no sources) is found."""
        research = research_sources([*trail, *(message for _, message in messages)])
        check = self.may_read(
            principal, (source for _, message in messages for source in message_sources(message, research))
        )
        return [(seq, message_view(message, check, research)) for seq, message in messages]

    def _find(self, document_id: str) -> Document | None:
        try:
            return self._documents.get(document_id)
        except NotFound:
            return None


def _readable(principal: Principal, document: Document, version: int) -> bool:
    return (
        document.deleted_at is None
        and any(item.version == version for item in document.versions)
        and document.readable_by(
            user_id=principal.user_id, organisation_id=principal.organisation_id, role=principal.role.value
        )
    )
