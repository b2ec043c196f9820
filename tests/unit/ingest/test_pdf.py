"""PDF parsing in the worker process: text, tables, flags, and every way a hostile PDF is refused."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.errors import DocumentTooLarge, MalformedDocument, UnsafeDocument
from investai.domain.knowledge import SecurityFlag
from investai.ingest import IngestLimits, parse_pdf
from tests.unit.ingest import builders

REJECT = IngestLimits(pdf_active_content="reject")


def test_text_comes_back_per_page_and_tables_with_header_and_profiles(tmp_path: Path) -> None:
    path = builders.text_pdf(
        tmp_path / "note.pdf",
        ["Apple reported strong results.", "Services revenue grew 16%."],
        table=[["ticker", "eps", "pe"], ["AAPL", "6.1", "29.5"], ["MSFT", "11.2", "35.1"]],
    )

    parsed = parse_pdf(path, IngestLimits())

    assert parsed.doc_type is DocumentType.PDF
    assert [page.number for page in parsed.pages] == [1, 2, 3]
    assert "Apple reported strong results." in parsed.pages[0].text
    assert "Services revenue grew 16%." in parsed.pages[1].text
    (table,) = parsed.tables
    assert (table.page, table.header, table.row_count) == (3, ["ticker", "eps", "pe"], 2)
    assert table.rows == [["AAPL", 6.1, 29.5], ["MSFT", 11.2, 35.1]]
    assert [column.dtype for column in table.columns] == ["string", "float", "float"]
    assert table.columns[1].mean == pytest.approx(8.65)
    assert parsed.flags == []


@pytest.mark.parametrize(
    ("build", "flag"),
    [
        (builders.javascript_pdf, SecurityFlag.PDF_JAVASCRIPT),
        (builders.launch_action_pdf, SecurityFlag.PDF_LAUNCH_ACTION),
        (builders.attachment_pdf, SecurityFlag.PDF_EMBEDDED_FILES),
        (builders.file_attachment_annotation_pdf, SecurityFlag.PDF_EMBEDDED_FILES),
    ],
)
def test_active_content_is_flagged_or_refused_as_configured(tmp_path: Path, build, flag: SecurityFlag) -> None:  # type: ignore[no-untyped-def]
    path = build(tmp_path / "active.pdf")

    assert parse_pdf(path, IngestLimits()).flags == [flag]
    with pytest.raises(UnsafeDocument, match="active content") as refused:
        parse_pdf(path, REJECT)
    assert flag.value.removeprefix("pdf_").replace("_", " ") in str(refused.value)


def test_an_empty_password_is_tried_and_reported(tmp_path: Path) -> None:
    path = builders.encrypted_pdf(tmp_path / "protected.pdf", user_password="")

    parsed = parse_pdf(path, REJECT)

    assert parsed.flags == [SecurityFlag.PDF_ENCRYPTED]
    assert "Secret research note" in parsed.pages[0].text


def test_a_pdf_that_needs_a_password_is_malformed(tmp_path: Path) -> None:
    path = builders.encrypted_pdf(tmp_path / "locked.pdf", user_password="hunter2")
    with pytest.raises(MalformedDocument, match="password-protected"):
        parse_pdf(path, IngestLimits())


def test_too_many_pages_is_too_large(tmp_path: Path) -> None:
    path = builders.text_pdf(tmp_path / "long.pdf", ["one", "two", "three"])
    with pytest.raises(DocumentTooLarge, match="3 pages, more than the limit of 2"):
        parse_pdf(path, IngestLimits(max_pages=2))


def test_too_much_text_is_too_large(tmp_path: Path) -> None:
    path = builders.text_pdf(tmp_path / "wordy.pdf", ["word " * 200])
    with pytest.raises(DocumentTooLarge, match="text is longer"):
        parse_pdf(path, IngestLimits(max_text_chars=100))


@pytest.mark.parametrize(
    "content",
    [b"%PDF-1.7\n" + b"\x00garbage" * 100, b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\nendobj\n%%EOF"],
)
def test_a_broken_pdf_is_malformed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(MalformedDocument, match=r"could not be (read|parsed)"):
        parse_pdf(path, IngestLimits())


def test_a_decompression_bomb_trips_the_decompression_limit_in_the_worker(tmp_path: Path) -> None:
    path = builders.flate_bomb_pdf(tmp_path / "bomb.pdf", inflated_bytes=200 << 20)
    assert path.stat().st_size < 1 << 20
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with pytest.raises(UnsafeDocument, match="decompression") as refused:
        parse_pdf(path, IngestLimits())

    assert "Traceback" not in str(refused.value)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 50 << 10, "the bomb must inflate in the worker, not in this process"


def test_a_bomb_within_the_decompression_limit_meets_the_memory_cap(tmp_path: Path) -> None:
    path = builders.flate_bomb_pdf(tmp_path / "bomb.pdf", inflated_bytes=70 << 20)
    with pytest.raises(UnsafeDocument, match="exceeded the memory limit of 150 MiB"):
        parse_pdf(path, IngestLimits(pdf_memory_bytes=150 << 20))


def test_a_pdf_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    path = builders.text_pdf(tmp_path / "slow.pdf", ["any"])
    with pytest.raises(UnsafeDocument, match=r"could not be parsed within 0\.01 s"):
        parse_pdf(path, IngestLimits(pdf_timeout_s=0.01))


def test_the_process_is_healthy_after_refusals(tmp_path: Path) -> None:
    bomb = builders.flate_bomb_pdf(tmp_path / "bomb.pdf", inflated_bytes=200 << 20)
    with pytest.raises(UnsafeDocument):
        parse_pdf(bomb, IngestLimits(pdf_memory_bytes=150 << 20))
    good = builders.text_pdf(tmp_path / "good.pdf", ["Still working"])
    assert "Still working" in parse_pdf(good, IngestLimits()).pages[0].text
