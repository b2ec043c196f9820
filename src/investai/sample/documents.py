"""The demo corpus of proprietary documents that ``make run`` loads on first start.

Six research notes (PDF), a fundamentals table (CSV and XLSX) and analyst estimates (JSON) over the 20-stock
market-data sample universe. Everything is built in memory and is byte-for-byte reproducible, so loading the
corpus twice is recognisable as the same upload and the retrieval evaluation set in
``tests/data/retrieval_queries.json`` can cite page numbers and table rows that never move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from investai.sample import (
    note_banks,
    note_consumer,
    note_energy,
    note_healthcare,
    note_megacap_tech,
    note_semiconductors,
)
from investai.sample.note_model import ResearchNote
from investai.sample.pdf_render import render_note
from investai.sample.tables import analyst_estimates_json, fundamentals_csv, fundamentals_xlsx
from investai.sample.universe import TABLES_PUBLISHED

ORGANISATION = "organisation"
NOTES: tuple[ResearchNote, ...] = (
    note_semiconductors.NOTE,
    note_megacap_tech.NOTE,
    note_energy.NOTE,
    note_healthcare.NOTE,
    note_banks.NOTE,
    note_consumer.NOTE,
)


@dataclass(frozen=True)
class SampleDocument:
    """One file of the demo corpus, with the metadata an upload would carry."""

    filename: str
    title: str
    content: bytes
    source: str
    tags: tuple[str, ...]
    visibility: str  # "organisation" for all: the demo shares everything with the whole organisation
    published: date  # within the market-data sample's history, so point-in-time research over it sees the file


def sample_documents() -> list[SampleDocument]:
    """The whole demo corpus, in a fixed order; every call returns identical bytes (rendered once per
    process: the PDFs take about a second to lay out)."""
    return list(_render_corpus())


@cache
def _render_corpus() -> tuple[SampleDocument, ...]:
    documents = [
        SampleDocument(
            filename=note.filename,
            title=note.title,
            content=render_note(note),
            source="demo research desk",
            tags=note.tags,
            visibility=ORGANISATION,
            published=note.published,
        )
        for note in NOTES
    ]
    documents += [
        SampleDocument(
            filename="fundamentals.csv",
            title="Fundamentals of the sample universe (CSV)",
            content=fundamentals_csv(),
            source="demo market-data vendor",
            tags=("fundamentals", "sample-universe"),
            visibility=ORGANISATION,
            published=TABLES_PUBLISHED,
        ),
        SampleDocument(
            filename="fundamentals.xlsx",
            title="Fundamentals of the sample universe with sector medians (XLSX)",
            content=fundamentals_xlsx(),
            source="demo market-data vendor",
            tags=("fundamentals", "sample-universe", "sector-medians"),
            visibility=ORGANISATION,
            published=TABLES_PUBLISHED,
        ),
        SampleDocument(
            filename="analyst_estimates.json",
            title="Analyst ratings, price targets and EPS estimates for the sample universe",
            content=analyst_estimates_json(),
            source="demo estimates provider",
            tags=("analyst-estimates", "sample-universe"),
            visibility=ORGANISATION,
            published=TABLES_PUBLISHED,
        ),
    ]
    return tuple(documents)
