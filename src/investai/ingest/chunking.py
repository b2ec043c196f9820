"""A parsed document cut into the chunks the knowledge base embeds, indexes and cites.

Text is chunked page by page (a chunk never spans two pages, so a citation names one page), section by
section, with an overlap between neighbouring chunks of a section. Page furniture (page numbers, running headers
and footers, confidentiality notices: :func:`~investai.ingest.text_segments.page_furniture`) is left out first,
and a passage with no word left (a stray number) is no chunk: boilerplate that every document repeats would
otherwise be found by every keyword search and crowd out the passages that answer it.

Tables are chunked by whole rows, each chunk repeating the table's header so that a row group still says what
its numbers are. Chunk ids depend only on the document, its version and the chunk's position, so re-indexing the
same version replaces chunks instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from investai.domain.documents import Document
from investai.domain.knowledge import Chunk, ChunkKind, ExtractedTable, ParsedDocument, ParsedPage
from investai.ingest.text_segments import find_sections, is_substantive, page_furniture, split_passages, without_spans

_MAX_SECTION_CHARS = 255


@dataclass(frozen=True)
class ChunkingOptions:
    """``max_chars`` bounds a text chunk including its overlap; tables are cut every
    ``max_table_rows_per_chunk`` rows whatever their width."""

    max_chars: int = 1200
    overlap_chars: int = 200
    max_table_rows_per_chunk: int = 40

    def __post_init__(self) -> None:
        if self.max_chars < 1 or self.max_table_rows_per_chunk < 1:
            raise ValueError("max_chars and max_table_rows_per_chunk must be positive")
        if not 0 <= self.overlap_chars < self.max_chars:
            raise ValueError("overlap_chars must be at least 0 and less than max_chars")


def chunk_document(
    parsed: ParsedDocument, *, document: Document, options: ChunkingOptions = ChunkingOptions()
) -> list[Chunk]:
    """The document's chunks in reading order: each page's text, then that page's tables; tables that
    belong to no page (CSV, XLSX, JSON) last. Ordinals count from 0 across the document."""
    factory = _ChunkFactory(document)
    page_numbers = {page.number for page in parsed.pages}
    furniture = page_furniture([page.text for page in parsed.pages], title=document.title)
    section: str | None = None
    for page, spans in zip(parsed.pages, furniture, strict=True):
        section = _add_page_text(factory, page, spans, section, options)
        for table in parsed.tables:
            if table.page == page.number:
                _add_table(factory, table, options)
    for table in parsed.tables:
        if table.page is None or table.page not in page_numbers:
            _add_table(factory, table, options)
    return factory.chunks


def _add_page_text(
    factory: _ChunkFactory,
    page: ParsedPage,
    furniture: list[tuple[int, int]],
    section: str | None,
    options: ChunkingOptions,
) -> str | None:
    """Add the page's text chunks, cut between its furniture lines; the section in force at the end of the page
    (headings carry over). Offsets are the page text's: a chunk is always ``page.text[start:end]``."""
    text = page.text
    for block_start, block_end in without_spans(text, furniture):
        for found in find_sections(text[block_start:block_end]):
            section = found.heading or section
            passages = split_passages(
                text,
                block_start + found.start,
                block_start + found.end,
                max_chars=options.max_chars,
                overlap_chars=options.overlap_chars,
            )
            for start, end in passages:
                if not is_substantive(text[start:end]):
                    continue
                factory.add(
                    text[start:end],
                    kind=ChunkKind.TEXT,
                    page=page.number,
                    section=section[:_MAX_SECTION_CHARS] if section else None,
                    start_offset=start,
                    end_offset=end,
                )
    return section


def _add_table(factory: _ChunkFactory, table: ExtractedTable, options: ChunkingOptions) -> None:
    """Add the table as row groups of at most ``max_table_rows_per_chunk`` rows, each with the title and
    header. Offsets locate the group's rows in the rendering of the whole table (title, header, all rows)."""
    lead = f"{table_title(table)}\n{render_row(table.header)}"
    group_size = options.max_table_rows_per_chunk
    if not table.rows:
        factory.add(lead, kind=ChunkKind.TABLE, page=table.page, table=table.name, start_offset=0, end_offset=len(lead))
        return
    cursor = len(lead) + 1
    for first in range(0, len(table.rows), group_size):
        lines = [render_row(row) for row in table.rows[first : first + group_size]]
        body = "\n".join(lines)
        start, end = (cursor if first else 0), cursor + len(body)
        cursor = end + 1
        factory.add(
            f"{lead}\n{body}",
            kind=ChunkKind.TABLE,
            page=table.page,
            table=table.name,
            row_start=first + 1,
            row_end=first + len(lines),
            start_offset=start,
            end_offset=end,
        )


def table_title(table: ExtractedTable) -> str:
    """``Table: <name> (sheet <sheet> | page <page>)``, naming only the places the table has."""
    places = [f"sheet {table.sheet}" if table.sheet else "", f"page {table.page}" if table.page else ""]
    where = " | ".join(place for place in places if place)
    return f"Table: {table.name} ({where})" if where else f"Table: {table.name}"


def render_row(cells: list[Any]) -> str:
    """One row as ``a | b | c``: empty cells stay empty, whitespace is collapsed, a literal ``|`` escaped."""
    return " | ".join(_cell_text(cell) for cell in cells).rstrip()


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return " ".join(str(cell).split()).replace("|", "\\|")


class _ChunkFactory:
    """Numbers chunks and copies the document's access fields into each, so that no chunk can be made
    without them."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._version = document.current
        self.chunks: list[Chunk] = []

    def add(self, text: str, **location: Any) -> None:
        text = text.strip()
        if not text:
            return
        document, ordinal = self._document, len(self.chunks)
        self.chunks.append(
            Chunk(
                id=f"{document.id}:{self._version.version}:{ordinal}",
                document_id=document.id,
                version=self._version.version,
                ordinal=ordinal,
                text=text,
                title=document.title,
                content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                owner_id=document.owner_id,
                organisation_id=document.organisation_id,
                visibility=document.visibility,
                allowed_roles=list(document.allowed_roles),
                allowed_users=list(document.allowed_users),
                doc_type=document.doc_type,
                tags=list(document.tags),
                document_date=self._version.published_at,
                **location,
            )
        )
