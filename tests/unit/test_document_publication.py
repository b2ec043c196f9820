"""A document version's publication date: how it is read, what it may be, what it defaults to (for versions
stored before there was one, too), and that the knowledge base dates the version's passages by it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from investai.domain.documents import (
    PUBLICATION_SKEW,
    Document,
    DocumentMetadata,
    DocumentType,
    DocumentVersion,
    check_publication,
)
from investai.domain.errors import ValidationFailed
from investai.domain.knowledge import ParsedDocument, ParsedPage
from investai.ingest import chunk_document
from tests.factories import T0, make_document

PUBLISHED = datetime(2022, 11, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2022-11-14", PUBLISHED),
        (" 2022-11-14 ", PUBLISHED),
        ("2022-11-14T10:30:00", datetime(2022, 11, 14, 10, 30, tzinfo=UTC)),  # no zone: UTC
        ("2022-11-14T10:30:00+02:00", datetime(2022, 11, 14, 8, 30, tzinfo=UTC)),
        (date(2022, 11, 14), PUBLISHED),
        (PUBLISHED, PUBLISHED),
        ("1900-01-01", datetime(1900, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_publication_date_is_a_utc_moment(given: object, expected: datetime) -> None:
    assert DocumentMetadata(published_at=given).published_at == expected


@pytest.mark.parametrize("given", ["1899-12-31", "14/11/2022", "2022-13-01", "yesterday", ""])
def test_a_publication_date_before_1900_or_unreadable_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="publication date"):
        DocumentMetadata(published_at=given)


def test_metadata_without_a_publication_date_leaves_it_to_the_upload() -> None:
    assert DocumentMetadata().published_at is None


def test_a_publication_date_in_the_future_is_refused_beyond_a_small_skew() -> None:
    assert check_publication(T0 + PUBLICATION_SKEW, now=T0) == T0 + PUBLICATION_SKEW
    assert check_publication(T0 - timedelta(days=3650), now=T0) == T0 - timedelta(days=3650)
    with pytest.raises(ValidationFailed, match="in the future"):
        check_publication(T0 + PUBLICATION_SKEW + timedelta(seconds=1), now=T0)


def test_a_version_is_published_when_uploaded_unless_given() -> None:
    base = make_document().current.model_dump()
    del base["published_at"]
    assert DocumentVersion.model_validate(base).published_at == base["uploaded_at"]
    assert DocumentVersion.model_validate({**base, "published_at": "2022-11-14"}).published_at == PUBLISHED


def test_a_document_stored_before_versions_had_publication_dates_reads_as_published_at_upload() -> None:
    document = make_document()
    stored = document.model_dump(mode="json")
    for version in stored["versions"]:
        del version["published_at"]
    legacy = Document.model_validate_json(Document.model_validate(stored).model_dump_json())
    assert legacy.current.published_at == legacy.current.uploaded_at == T0
    assert legacy == document


def test_the_json_schema_shows_the_publication_date() -> None:
    schema = DocumentVersion.model_json_schema()
    assert "published_at" in schema["required"]
    assert "published_at" in DocumentMetadata.model_json_schema()["properties"]


def test_passages_are_dated_by_their_version_publication_not_its_upload() -> None:
    document = make_document()
    redated = document.current.model_copy(update={"published_at": PUBLISHED})
    document = document.model_copy(update={"versions": [redated]})
    parsed = ParsedDocument(doc_type=DocumentType.PDF, pages=[ParsedPage(number=1, text="Margins widened.")])
    chunks = chunk_document(parsed, document=document)
    assert chunks
    assert {chunk.document_date for chunk in chunks} == {PUBLISHED}
