"""Page furniture (page numbers, running headers and footers, confidentiality notices) never becomes a chunk
or part of one: found by every keyword search that shares a word with it, it crowded answers out of results."""

from __future__ import annotations

from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.knowledge import Chunk, ParsedDocument, ParsedPage
from investai.ingest import ChunkingOptions, IngestLimits, chunk_document, parse_pdf
from investai.ingest.text_segments import is_substantive, page_furniture, without_spans
from investai.sample.documents import sample_documents
from tests.factories import make_document

TITLE = "Semiconductors: the second source"
DISCLAIMER = "Sample research note - illustrative figures, not investment advice."
BODY = [
    "Summary\nData-centre revenue doubled as accelerators shipped in volume.\nMargins held at 52% despite the ramp.",
    "Valuation\nThe shares trade at 34 times forward earnings, a premium to the index.",
    "Risks\nPackaging capacity at the foundry remains sold out through next year.",
]


def note(pages: list[str]) -> ParsedDocument:
    return ParsedDocument(
        doc_type=DocumentType.PDF,
        pages=[ParsedPage(number=n, text=text) for n, text in enumerate(pages, start=1)],
    )


def printed(body: list[str], *, header: str | None = TITLE) -> list[str]:
    """Pages as a PDF's text layer has them: a running header on continuation pages, a disclaimer and the
    page number at the foot of every page."""
    pages = []
    for n, text in enumerate(body, start=1):
        top = f"{header}\n" if header and n > 1 else ""
        pages.append(f"{top}{text}\n{DISCLAIMER}\nPage {n} of {len(body)}")
    return pages


def chunks_of(parsed: ParsedDocument, **options: int) -> list[Chunk]:
    chunks: list[Chunk] = chunk_document(
        parsed, document=make_document(title=TITLE), options=ChunkingOptions(**options)
    )
    return chunks


def test_footers_page_numbers_and_running_headers_are_not_chunked() -> None:
    parsed = note(printed(BODY))

    chunks = chunks_of(parsed)

    assert [chunk.text for chunk in chunks] == BODY
    assert [chunk.page for chunk in chunks] == [1, 2, 3]
    for chunk in chunks:
        assert chunk.page is not None
        assert parsed.pages[chunk.page - 1].text[chunk.start_offset : chunk.end_offset] == chunk.text


def test_a_footer_is_no_chunk_of_its_own_when_a_page_is_cut_into_several() -> None:
    """With small chunks the foot of each page used to become a chunk of its own: ``Page 2 of 3``."""
    chunks = chunks_of(note(printed(BODY)), max_chars=80, overlap_chars=10)

    texts = [chunk.text for chunk in chunks]
    assert not [text for text in texts if "Page" in text or "investment advice" in text]
    assert all(TITLE not in text for text in texts)
    assert "Margins held at 52% despite the ramp." in " ".join(texts)


def test_the_sections_of_a_page_do_not_inherit_a_page_number_as_heading() -> None:
    """``Page 1 of 3`` looks like a heading (title case, no full stop) and named the next page's first section."""
    pages = printed(["Market Outlook\nDemand stays firm into next year.", "Shipments rise again in the spring."])

    chunks = chunks_of(note(pages))

    assert [chunk.section for chunk in chunks] == ["Market Outlook", "Market Outlook"]


def test_the_sample_corpus_pdfs_are_indexed_without_their_footers(tmp_path: Path) -> None:
    """Parsed from the PDF bytes, as an upload is: the printed footer and page numbers are in the page text (the
    document view shows the page as printed) but in no chunk."""
    sample = next(doc for doc in sample_documents() if doc.filename == "research_banks_jpm_bac.pdf")
    path = tmp_path / sample.filename
    path.write_bytes(sample.content)
    parsed = parse_pdf(path, IngestLimits())
    assert "Page 1 of 2" in parsed.pages[0].text

    chunks = chunk_document(parsed, document=make_document(title=sample.title))

    texts = [chunk.text for chunk in chunks]
    assert not [text for text in texts if "Page 1 of 2" in text or "Page 2 of 2" in text]
    assert not [text for text in texts if "not investment advice" in text]
    assert not [chunk for chunk in chunks if chunk.page == 2 and sample.title.split(":")[0] in chunk.text]
    assert any("Deposit beta" in text for text in texts)


def test_recurring_lines_differ_only_in_their_page_numbers() -> None:
    pages = [f"Acme Research | Page {n}\nBody text about margins, part {'abcd'[n - 1]}.\n- {n} -" for n in range(1, 5)]

    furniture = page_furniture(pages)

    for text, spans in zip(pages, furniture, strict=True):
        assert [text[start:end] for start, end in spans] == [text.splitlines()[0], text.splitlines()[2]]


def test_a_line_on_half_the_pages_or_fewer_is_kept() -> None:
    pages = ["Key figures\nRevenue grew.", "Key figures\nMargins fell.", "Costs rose.", "Cash built up."]

    assert page_furniture(pages) == [[], [], [], []]


def test_only_lines_at_a_page_edge_can_be_furniture() -> None:
    """A line recurring mid-page on every page (a label in a repeated layout) is body text."""
    middle = "Source: company filings"
    pages = [
        "\n".join(
            [f"Line {n}.{i} of the body text." for i in range(5)] + [middle] + [f"More {n}.{i}." for i in range(5)]
        )
        for n in range(3)
    ]

    assert page_furniture(pages) == [[], [], []]


def test_a_long_numeric_row_recurring_at_the_foot_of_pages_is_kept() -> None:
    """Digits are ignored when lines are compared, so a table row ending every page would recur: a line without
    words is furniture only when short (a bare page number)."""
    pages = [f"Page body {'abc'[n - 1]}.\n12.5 13.1 14.0 15.2\n{n + 10}" for n in range(1, 4)]

    furniture = page_furniture(pages)

    assert [[text[start:end] for start, end in spans] for text, spans in zip(pages, furniture, strict=True)] == [
        ["11"],
        ["12"],
        ["13"],
    ]


@pytest.mark.parametrize(
    "line",
    [
        "Page 3",
        "page 3 of 12",
        "3 of 12",
        "3 / 12",
        "p. 3",
        "Confidential",
        "STRICTLY CONFIDENTIAL - do not forward",
        "Private and confidential",
        "For internal use only",
        "Not for distribution in the United States",
        "© 2024 Acme Research Ltd.",
        "Copyright 2024 Acme Research. All rights reserved.",
    ],
)
def test_page_numbers_and_notices_are_furniture_on_a_single_page(line: str) -> None:
    text = f"{line}\nThe only page of this memo discusses margins.\n{line}"

    (spans,) = page_furniture([text])

    assert [text[start:end] for start, end in spans] == [line, line]


@pytest.mark.parametrize(
    "line",
    [
        "Confidentiality agreements were signed by both bidders in March.",
        "Pages of the filing describe the merger terms.",
        "3 reasons to own the shares",
        "The board's confidential review ended in May.",
    ],
)
def test_body_lines_that_merely_mention_a_notice_are_kept(line: str) -> None:
    assert page_furniture([f"{line}\nAnother line of body text."]) == [[]]


def test_the_document_title_repeated_on_a_later_page_is_a_running_title() -> None:
    """On a two-page note the running title appears once (page 2): too few pages to recur on most of them."""
    pages = ["Semiconductors:\nthe second source\nFirst page text.", f"{TITLE}\nSecond page text."]

    furniture = page_furniture(pages, title=f"  {TITLE.upper()} ")

    assert furniture[0] == []
    assert [pages[1][start:end] for start, end in furniture[1]] == [TITLE]


def test_a_page_holding_only_furniture_or_stray_marks_gives_no_chunk() -> None:
    parsed = note(["Main text of the note.\n- 1 -", "- 2 -", "* * *\n- 3 -"])

    chunks = chunks_of(parsed)

    assert [chunk.text for chunk in chunks] == ["Main text of the note."]


def test_stretches_between_spans_and_substance() -> None:
    text = "head\nbody one\nfoot"
    assert without_spans(text, [(0, 4), (14, 18)]) == [(4, 14)]
    assert without_spans(text, []) == [(0, len(text))]
    assert without_spans("  \n", []) == []
    assert is_substantive("Revenue 12.5")
    assert not is_substantive("12.5 - 3 / 4 * x")
