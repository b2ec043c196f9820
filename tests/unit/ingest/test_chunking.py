from __future__ import annotations

import hashlib
import itertools
from typing import Any

import pytest

from investai.domain.documents import DocumentType, Visibility
from investai.domain.knowledge import ChunkKind, ExtractedTable, ParsedDocument, ParsedPage
from investai.ingest import ChunkingOptions, chunk_document, profile_columns
from investai.ingest.text_segments import find_sections, heading_of
from tests.factories import T0, make_document

SMALL = ChunkingOptions(max_chars=200, overlap_chars=50, max_table_rows_per_chunk=3)
SENTENCES = " ".join(f"Sentence number {i} talks about revenue growth and margins." for i in range(30))


def pdf(*texts: str, tables: list[ExtractedTable] | None = None) -> ParsedDocument:
    pages = [ParsedPage(number=i, text=text) for i, text in enumerate(texts, start=1)]
    return ParsedDocument(doc_type=DocumentType.PDF, pages=pages, tables=tables or [])


def table(rows: list[list[Any]], **fields: Any) -> ExtractedTable:
    header = ["ticker", "eps"]
    data = {"index": 0, "name": "data", "header": header, "columns": profile_columns(header, rows), "rows": rows}
    return ExtractedTable(**{**data, "row_count": len(rows), **fields})


def test_offsets_slice_the_page_text_exactly() -> None:
    parsed = pdf(SENTENCES, "Short second page.")
    chunks = chunk_document(parsed, document=make_document(), options=SMALL)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.page is not None
        assert parsed.pages[chunk.page - 1].text[chunk.start_offset : chunk.end_offset] == chunk.text
        assert len(chunk.text) <= SMALL.max_chars


def test_chunks_never_cross_a_page_boundary() -> None:
    parsed = pdf("Alpha page text.", "Beta page text.")
    chunks = chunk_document(parsed, document=make_document())
    assert [(chunk.page, chunk.text) for chunk in chunks] == [(1, "Alpha page text."), (2, "Beta page text.")]


def test_neighbouring_chunks_overlap_at_a_word_boundary() -> None:
    text = pdf(SENTENCES).pages[0].text
    chunks = chunk_document(pdf(SENTENCES), document=make_document(), options=SMALL)
    for previous, current in itertools.pairwise(chunks):
        assert current.start_offset < previous.end_offset, "overlap"
        assert previous.end_offset - current.start_offset <= SMALL.overlap_chars
        assert text[current.start_offset - 1].isspace(), "starts at a word"
    covered = "".join(text[c.start_offset : c.end_offset] for c in chunks)
    assert all(f"Sentence number {i} " in covered for i in range(30))


def test_without_overlap_chunks_tile_the_text() -> None:
    options = ChunkingOptions(max_chars=200, overlap_chars=0)
    chunks = chunk_document(pdf(SENTENCES), document=make_document(), options=options)
    assert all(b.start_offset >= a.end_offset for a, b in itertools.pairwise(chunks))


def test_sections_follow_headings_and_carry_over_pages() -> None:
    page_one = "1. Introduction\nApple makes phones.\n\nRISK FACTORS\nSupply chains are concentrated."
    page_two = "More risk discussion.\n# Valuation Summary\nShares trade at 29x earnings."
    chunks = chunk_document(pdf(page_one, page_two), document=make_document())
    assert [(chunk.page, chunk.section, chunk.text.splitlines()[-1]) for chunk in chunks] == [
        (1, "1. Introduction", "Apple makes phones."),
        (1, "RISK FACTORS", "Supply chains are concentrated."),
        (2, "RISK FACTORS", "More risk discussion."),
        (2, "Valuation Summary", "Shares trade at 29x earnings."),
    ]
    assert chunks[1].text.startswith("RISK FACTORS\n")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1. Introduction", "1. Introduction"),
        ("2.3 Operating Margins", "2.3 Operating Margins"),
        ("## Outlook ##", "Outlook"),
        ("RISK FACTORS", "RISK FACTORS"),
        ("Management Discussion and Analysis", "Management Discussion and Analysis"),
        ("Revenue grew strongly in the quarter.", None),
        ("The company", None),
        ("Summary:", None),
        ("AAPL", None),
        ("AAPL 6.1 29.5", None),
        ("12 Apple 33", None),
        ("IV. Outlook", "IV. Outlook"),
        ("NVIDIA CORP", "NVIDIA CORP"),
        ("x" * 100, None),
    ],
)
def test_heading_lines_are_recognised_by_their_look(line: str, expected: str | None) -> None:
    assert heading_of(line) == expected


def test_consecutive_headings_join_the_next_section() -> None:
    (section,) = find_sections("1. Overview\n1.1 Scope\nBody text here.")
    assert (section.heading, section.start) == ("1.1 Scope", 0)


def test_a_small_table_is_one_chunk_with_its_header() -> None:
    parsed = pdf("Text.", tables=[table([["AAPL", 6.1], ["MSFT", 11.2]], page=1, name="page 1 table 1")])
    chunk = chunk_document(parsed, document=make_document())[-1]
    assert chunk.kind is ChunkKind.TABLE
    assert chunk.text == "Table: page 1 table 1 (page 1)\nticker | eps\nAAPL | 6.1\nMSFT | 11.2"
    assert (chunk.table, chunk.page, chunk.row_start, chunk.row_end) == ("page 1 table 1", 1, 1, 2)


def test_a_big_table_is_split_into_row_groups_each_repeating_the_header() -> None:
    rows = [[f"T{i}", float(i)] for i in range(1, 8)]
    parsed = ParsedDocument(doc_type=DocumentType.XLSX, tables=[table(rows, name="Prices", sheet="Prices")])
    chunks = chunk_document(parsed, document=make_document(doc_type=DocumentType.XLSX), options=SMALL)
    assert [(chunk.row_start, chunk.row_end) for chunk in chunks] == [(1, 3), (4, 6), (7, 7)]
    for chunk in chunks:
        assert chunk.text.startswith("Table: Prices (sheet Prices)\nticker | eps\n")
        assert chunk.page is None
    assert chunks[1].text.splitlines()[2:] == ["T4 | 4.0", "T5 | 5.0", "T6 | 6.0"]


def test_table_offsets_locate_rows_in_the_whole_rendering() -> None:
    rows = [[f"T{i}", i] for i in range(1, 8)]
    parsed = ParsedDocument(doc_type=DocumentType.CSV, tables=[table(rows)])
    chunks = chunk_document(parsed, document=make_document(), options=SMALL)
    lead = "Table: data\nticker | eps"
    whole = lead + "\n" + "\n".join(f"T{i} | {i}" for i in range(1, 8))
    assert whole[chunks[0].start_offset : chunks[0].end_offset] == chunks[0].text
    for chunk in chunks[1:]:
        assert chunk.text.endswith(whole[chunk.start_offset : chunk.end_offset])


def test_a_header_only_table_is_still_a_chunk() -> None:
    parsed = ParsedDocument(doc_type=DocumentType.CSV, tables=[table([])])
    (chunk,) = chunk_document(parsed, document=make_document())
    assert (chunk.text, chunk.row_start) == ("Table: data\nticker | eps", None)


def test_ids_are_deterministic_and_fields_come_from_the_document() -> None:
    document = make_document(
        id="doc_42",
        visibility=Visibility.ROLES,
        allowed_roles=["analyst"],
        tags=["q3"],
        title="Q3 research note",
    )
    parsed = pdf(SENTENCES, tables=[table([["AAPL", 6.1]], page=1)])
    first = chunk_document(parsed, document=document, options=SMALL)
    again = chunk_document(parsed, document=document, options=SMALL)
    assert first == again
    assert [chunk.id for chunk in first] == [f"doc_42:1:{n}" for n in range(len(first))]
    assert [chunk.ordinal for chunk in first] == list(range(len(first)))
    for chunk in first:
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()
        assert (chunk.document_id, chunk.version, chunk.title) == ("doc_42", 1, "Q3 research note")
        assert (chunk.owner_id, chunk.organisation_id, chunk.visibility) == ("user_1", "org_1", Visibility.ROLES)
        assert (chunk.allowed_roles, chunk.tags, chunk.document_date) == (["analyst"], ["q3"], T0)
        assert chunk.doc_type is DocumentType.PDF


def test_whitespace_only_pages_yield_no_chunks() -> None:
    assert chunk_document(pdf("   \n\n  ", ""), document=make_document()) == []


def test_a_word_longer_than_a_chunk_is_cut() -> None:
    chunks = chunk_document(pdf("x" * 450), document=make_document(), options=SMALL)
    assert [len(chunk.text) for chunk in chunks] == [200, 200, 50]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"max_chars": 100, "overlap_chars": 100}, "overlap_chars"), ({"max_table_rows_per_chunk": 0}, "positive")],
)
def test_contradictory_options_are_refused(options: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChunkingOptions(**options)
