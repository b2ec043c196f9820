"""Knowledge-base search: the caller's access scope goes into the index query itself, and every hit comes
back as a citation (document, version, page or table rows) with a snippet whose matched terms are marked."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from investai.domain.access import Principal
from investai.domain.citations import DocumentCitation
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.knowledge import (
    AccessScope,
    Chunk,
    KnowledgeHit,
    SearchFilters,
    SearchHit,
    SearchMode,
    snippet_text,
)
from investai.ports.audit import AuditLog
from investai.ports.knowledge import Embedder, SearchIndex
from investai.services.audit_trail import record_access
from investai.services.auth_common import CallContext

SNIPPET_CHARS = 320
MAX_QUERY_CHARS = 1000
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "to",
        "was",
        "were",
        "which",
        "with",
        "what",
        "who",
        "how",
        "does",
        "do",
    ]
)


class KnowledgeService:
    def __init__(self, *, index: SearchIndex, embedder: Embedder, audit: AuditLog) -> None:
        self._index = index
        self._embedder = embedder
        self._audit = audit

    def search(
        self,
        principal: Principal,
        ctx: CallContext,
        *,
        query: str,
        mode: SearchMode = SearchMode.HYBRID,
        filters: SearchFilters | None = None,
        limit: int = 10,
    ) -> list[KnowledgeHit]:
        text = query.strip()
        if not text:
            raise ValidationFailed("the query is empty")
        if len(text) > MAX_QUERY_CHARS:
            raise ValidationFailed(f"queries are limited to {MAX_QUERY_CHARS} characters")
        record_access(self._audit, principal, ctx, action="knowledge.search", resource_type="chunk", resource_id=None)
        vector = None if mode is SearchMode.KEYWORD else [float(x) for x in self._embedder.embed([text])[0]]
        scope = AccessScope(
            user_id=principal.user_id, organisation_id=principal.organisation_id, role=principal.role.value
        )
        hits = self._index.search(
            query=text, vector=vector, mode=mode, scope=scope, filters=filters or SearchFilters(), limit=limit
        )
        return [to_knowledge_hit(hit, text) for hit in hits]

    def chunk(self, principal: Principal, ctx: CallContext, chunk_id: str) -> Chunk:
        """One indexed passage by its id (``document:version:ordinal``), if the caller may read it: what a
        citation's ``chunk_id`` resolves to."""
        document_id = chunk_id.rsplit(":", 2)[0] if chunk_id.count(":") >= 2 else ""
        scope = AccessScope(
            user_id=principal.user_id, organisation_id=principal.organisation_id, role=principal.role.value
        )
        found = next((c for c in self._index.chunks(document_id) if c.id == chunk_id), None) if document_id else None
        allowed = found is not None and scope.allows(found)
        record_access(
            self._audit,
            principal,
            ctx,
            action="knowledge.chunk",
            resource_type="chunk",
            resource_id=chunk_id,
            allowed=allowed,
        )
        if found is None or not allowed:
            raise NotFound(f"passage {chunk_id} not found")
        return found


def to_knowledge_hit(hit: SearchHit, query: str, *, width: int = SNIPPET_CHARS) -> KnowledgeHit:
    """A search hit as a citation with its passage: a window of ``width`` characters around the query's terms
    (the research agents ask for the whole chunk, so that quotes are whole sentences and table rows can be
    numbered)."""
    chunk = hit.chunk
    snippet = marked_snippet(chunk.text, query, width=width)
    citation = DocumentCitation(
        document_id=chunk.document_id,
        version=chunk.version,
        page=chunk.page,
        chunk_id=chunk.id,
        table=chunk.table,
        row=chunk.row_start,
        snippet=snippet_text(snippet)[:2000],
    )
    return KnowledgeHit(
        citation=citation,
        title=chunk.title,
        doc_type=chunk.doc_type,
        kind=chunk.kind,
        section=chunk.section,
        row_start=chunk.row_start,
        row_end=chunk.row_end,
        snippet=snippet,
        score=hit.score,
        keyword_score=hit.keyword_score,
        keyword_rank=hit.keyword_rank,
        semantic_score=hit.semantic_score,
        semantic_rank=hit.semantic_rank,
    )


def query_terms(query: str) -> list[str]:
    """The words worth marking: lower-cased, stopwords and one-letter words left out."""
    return [
        word
        for word in dict.fromkeys(w.lower() for w in _WORD.findall(query))
        if len(word) > 1 and word not in _STOPWORDS
    ]


def marked_snippet(text: str, query: str, *, width: int = SNIPPET_CHARS) -> str:
    """A window of ``text`` around the densest run of query terms, HTML-escaped, terms in ``<mark>``. With no
    term in the text (a purely semantic hit) the window is the chunk's start."""
    terms = query_terms(query)
    pattern = (
        re.compile(r"\b(" + "|".join(re.escape(term) for term in terms) + r")\b", re.IGNORECASE) if terms else None
    )
    matches = list(pattern.finditer(text)) if pattern else []
    start = _best_window_start(matches, len(text), width)
    end = min(len(text), start + width)
    window = text[start:end]
    pieces: list[str] = []
    cursor = 0
    for match in pattern.finditer(window) if pattern else []:
        pieces.append(html.escape(window[cursor : match.start()]))
        pieces.append(f"<mark>{html.escape(match.group(0))}</mark>")
        cursor = match.end()
    pieces.append(html.escape(window[cursor:]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + "".join(pieces).strip() + suffix


def _best_window_start(matches: list[re.Match[str]], length: int, width: int) -> int:
    if not matches or length <= width:
        return 0
    best_start, best_count = 0, -1
    for match in matches:
        start = max(0, min(match.start() - width // 4, length - width))
        count = sum(1 for other in matches if start <= other.start() and other.end() <= start + width)
        if count > best_count:
            best_start, best_count = start, count
    return best_start


def parse_date(value: str | None, *, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an ISO date or datetime") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class KnowledgeEvidence:
    """The research agents' view of the knowledge base (:class:`~investai.ports.research.EvidenceSearch`):
    hybrid search as the requester, over document versions published at or before the as-of moment."""

    def __init__(self, *, index: SearchIndex, embedder: Embedder) -> None:
        self._index = index
        self._embedder = embedder

    def passages(
        self, *, reader: AccessScope, query: str, as_of: datetime, limit: int, request_id: str | None = None
    ) -> list[KnowledgeHit]:
        text = query.strip()[:MAX_QUERY_CHARS]
        if not text:
            return []
        vector = [float(x) for x in self._embedder.embed([text])[0]]
        hits = self._index.search(
            query=text,
            vector=vector,
            mode=SearchMode.HYBRID,
            scope=reader,
            filters=SearchFilters(date_to=as_of),
            limit=limit,
        )
        return [
            to_knowledge_hit(hit, text, width=max(len(hit.chunk.text), 1)) for hit in hits if reader.allows(hit.chunk)
        ]
