"""The shape of a research note as data, kept apart from both the prose and the PDF renderer.

Each ``NotePage`` becomes exactly one PDF page: the retrieval evaluation set labels answers by page number,
so the renderer refuses content that would spill onto another page rather than silently shifting labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Section:
    """A heading and the paragraphs under it."""

    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class NoteTable:
    """A small table drawn with a header row; every row has as many cells as the header."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class NotePage:
    """One printed page: sections first, then an optional table, then optional sections after it."""

    sections: tuple[Section, ...]
    table: NoteTable | None = None
    after_table: tuple[Section, ...] = ()


@dataclass(frozen=True)
class ResearchNote:
    """A sample research note; ``byline`` is the line printed under the title on the first page and
    ``published`` the publication date its upload carries (within the market-data sample's history, so
    point-in-time research over that history can read the note)."""

    filename: str
    title: str
    byline: str
    published: date
    tags: tuple[str, ...]
    pages: tuple[NotePage, ...]
