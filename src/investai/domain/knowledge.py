"""What parsing a document yields (pages, tables, security flags) and what the knowledge base holds and
answers (chunks with their access fields, search requests, hits)."""

from __future__ import annotations

import html
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from investai.domain.citations import DocumentCitation
from investai.domain.common import DomainModel, Identifier, Tag, UtcDatetime
from investai.domain.documents import DocumentType, Visibility, reader_tokens, shared_with

# --- parsing -------------------------------------------------------------------------------------------------


class SecurityFlag(StrEnum):
    """Risky content found in a document. Flagged documents are processed or refused as configured."""

    PDF_JAVASCRIPT = "pdf_javascript"
    PDF_LAUNCH_ACTION = "pdf_launch_action"
    PDF_EMBEDDED_FILES = "pdf_embedded_files"
    PDF_ENCRYPTED = "pdf_encrypted"


class ParsedPage(DomainModel):
    """One page of text (PDF), numbered from 1. CSV, XLSX and JSON documents have no pages."""

    number: int = Field(ge=1)
    text: str


class ColumnProfile(DomainModel):
    """The inferred type of a column and its statistics over the non-empty cells."""

    name: str
    dtype: str = Field(description="integer, float, boolean, date, datetime or string")
    count: int = Field(ge=0, description="non-empty cells")
    nulls: int = Field(ge=0)
    distinct: int = Field(ge=0)
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None


class ExtractedTable(DomainModel):
    """A table found in a document: a PDF table (``page``), a CSV file, an XLSX sheet (``sheet``) or a JSON list
    of records. ``rows`` hold cell values under ``header``; row numbers in citations count data rows from 1."""

    index: int = Field(ge=0, description="position among the document's tables")
    name: str = Field(min_length=1, max_length=255)
    page: int | None = Field(default=None, ge=1)
    sheet: str | None = Field(default=None, max_length=255)
    header: list[str]
    columns: list[ColumnProfile]
    rows: list[list[Any]]
    row_count: int = Field(ge=0, description="rows in the source; ``rows`` may be truncated to a limit")


class ParsedDocument(DomainModel):
    doc_type: DocumentType
    pages: list[ParsedPage] = Field(default_factory=list)
    tables: list[ExtractedTable] = Field(default_factory=list)
    flags: list[SecurityFlag] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# --- the knowledge base --------------------------------------------------------------------------------------


class ChunkKind(StrEnum):
    TEXT = "text"
    TABLE = "table"


class Chunk(DomainModel):
    """A searchable passage with everything a citation and the access filter need."""

    id: str = Field(min_length=1, max_length=128, description="stable: document id, version and ordinal")
    document_id: Identifier
    version: int = Field(ge=1)
    ordinal: int = Field(ge=0)
    kind: ChunkKind = ChunkKind.TEXT
    text: str = Field(min_length=1)
    title: str = Field(default="", max_length=255, description="document title")
    section: str | None = Field(default=None, max_length=255)
    page: int | None = Field(default=None, ge=1)
    table: str | None = Field(default=None, max_length=255)
    row_start: int | None = Field(default=None, ge=1)
    row_end: int | None = Field(default=None, ge=1)
    start_offset: int = Field(ge=0, description="character offset in the page (or table text) it came from")
    end_offset: int = Field(ge=0)
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    owner_id: Identifier
    organisation_id: Identifier
    visibility: Visibility
    allowed_roles: list[str] = Field(default_factory=list)
    allowed_users: list[Identifier] = Field(default_factory=list)
    doc_type: DocumentType
    tags: list[Tag] = Field(default_factory=list)
    document_date: UtcDatetime = Field(description="when the version was published; date filters use it")


class SearchMode(StrEnum):
    KEYWORD = "keyword"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


class AccessScope(DomainModel):
    """Who is searching. A chunk is visible when it belongs to the caller's organisation and it is the
    caller's own, or shared with the organisation, or with the caller's role, or with the caller by name."""

    user_id: Identifier
    organisation_id: Identifier
    role: str

    def allows(self, chunk: Chunk) -> bool:
        return shared_with(chunk, user_id=self.user_id, organisation_id=self.organisation_id, role=self.role)

    def tokens(self) -> list[str]:
        """The access tokens this reader holds (see :func:`investai.domain.documents.access_tokens`)."""
        return reader_tokens(user_id=self.user_id, organisation_id=self.organisation_id, role=self.role)


class SearchFilters(DomainModel):
    document_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    doc_types: list[DocumentType] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    date_from: datetime | None = None
    date_to: datetime | None = None


class SearchHit(DomainModel):
    """One chunk and how it scored. Component scores are ``None`` for a mode that did not use them; ranks
    count from 1 within each component's own result list."""

    chunk: Chunk
    score: float
    keyword_score: float | None = None
    keyword_rank: int | None = None
    semantic_score: float | None = None
    semantic_rank: int | None = None


class KnowledgeHit(DomainModel):
    citation: DocumentCitation
    title: str
    doc_type: DocumentType
    kind: ChunkKind
    section: str | None = None
    row_start: int | None = None
    row_end: int | None = None
    snippet: str = Field(description="HTML-escaped text with the matched terms in <mark>…</mark>")
    score: float
    keyword_score: float | None = None
    keyword_rank: int | None = None
    semantic_score: float | None = None
    semantic_rank: int | None = None


def snippet_text(snippet: str) -> str:
    """The plain text of a hit's snippet: the ``<mark>`` tags removed and the HTML escaping undone."""
    return html.unescape(snippet.replace("<mark>", "").replace("</mark>", "")).strip()
