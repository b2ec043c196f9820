"""Publication dates in the document pages: the upload forms ask for one, a document shows its current
version's, and its owner changes it with a form (refused dates explained on the page, others answered 404)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from investai.bootstrap import Container
from tests.document_files import make_csv
from tests.web.conftest import NOW, WebUser, drain
from tests.web.test_documents import FUNDAMENTALS, upload

PUBLISHED = datetime(2022, 11, 14, tzinfo=UTC)


def test_the_upload_forms_ask_for_a_publication_date(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    page = user.page("/documents").text
    assert '<label for="upload-published">Publication date</label>' in page
    assert 'id="upload-published" name="published_at" type="date"' in page
    document = upload(sample_container, user, tmp_path, "v.csv", make_csv(*FUNDAMENTALS))
    detail = user.page(f"/documents/{document.id}").text
    assert 'id="version-published" name="published_at" type="date"' in detail


def test_a_sample_document_shows_its_publication_date_to_readers_without_a_form(web: Callable[..., WebUser]) -> None:
    user = web()
    sample = next(
        document
        for document in user.api("GET", "/api/v1/documents").json()
        if document["title"] == "Fundamentals of the sample universe (CSV)"
    )
    page = user.page(f"/documents/{sample['id']}").text
    assert '<dd data-published-at="2022-10-14T00:00:00+00:00">2022-10-14 00:00 UTC</dd>' in page
    assert 'action="/documents/{}/published"'.format(sample["id"]) not in page


def test_the_owner_re_dates_the_document_and_its_passages_follow(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    owner, reader = web(), web()
    document = upload(sample_container, owner, tmp_path, "d.csv", make_csv(*FUNDAMENTALS), visibility="organisation")
    page = owner.page(f"/documents/{document.id}").text
    assert f'value="{NOW.date().isoformat()}"' in page  # the form holds the current date: the upload's

    changed = owner.submit(f"/documents/{document.id}/published", {"published_at": "2022-11-14"})
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/documents/{document.id}?notice=document_redated"
    assert sample_container.documents.get(document.id).current.published_at == PUBLISHED
    drain(sample_container)
    assert {chunk.document_date for chunk in sample_container.knowledge.index.chunks(document.id)} == {PUBLISHED}
    assert "2022-11-14 00:00 UTC" in reader.page(f"/documents/{document.id}").text

    assert reader.submit(f"/documents/{document.id}/published", {"published_at": "2022-01-01"}).status_code == 404
    assert sample_container.documents.get(document.id).current.published_at == PUBLISHED


def test_a_refused_date_is_explained_on_the_page(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    owner = web()
    document = upload(sample_container, owner, tmp_path, "f.csv", make_csv(*FUNDAMENTALS))
    owner.page(f"/documents/{document.id}")
    for given, reason in (("2099-01-01", "is in the future"), ("1899-12-31", "before 1900"), ("soon", "YYYY-MM-DD")):
        refused = owner.submit(f"/documents/{document.id}/published", {"published_at": given})
        assert refused.status_code == 422
        assert "The publication date was not changed" in refused.text
        assert reason in refused.text
        assert 'role="alert"' in refused.text
    assert sample_container.documents.get(document.id).current.published_at == NOW
