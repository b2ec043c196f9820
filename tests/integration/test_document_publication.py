"""Publication dates through the API, the processing job and the knowledge base: a version is published when
its uploader says (or when it is uploaded), its passages are dated by that for point-in-time research, its
owner can re-date it afterwards (audited; search follows in the processing job), and dates in the future or
before 1900 are refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.cli import app as cli_app
from investai.config import Settings
from investai.domain.knowledge import AccessScope
from investai.ports.knowledge import Embedder
from investai.server import create_app
from investai.services.knowledge import KnowledgeEvidence
from tests.conftest import Account, drain, sign_up
from tests.document_files import make_pdf
from tests.factories import T0

NOTE = ["Outlook\n\nThe marmoset freight index doubled as Brightwater Logistics added capacity."]
QUERY = "marmoset freight index"
PUBLISHED = datetime(2022, 11, 14, tzinfo=UTC)
BEFORE, AFTER = datetime(2022, 11, 13, tzinfo=UTC), datetime(2022, 12, 30, tzinfo=UTC)


@pytest.fixture
def knowledge(settings: Settings, clock: FakeClock, embedder: Embedder) -> Iterator[Container]:
    built = build_container(settings, clock=clock, embedder=embedder)
    yield built
    built.close()


@pytest.fixture
def client(knowledge: Container) -> Iterator[TestClient]:
    with TestClient(create_app(knowledge), base_url="http://127.0.0.1") as test_client:
        yield test_client


def upload(client: TestClient, account: Account, **form: Any) -> Any:
    files = {"file": ("note.pdf", io.BytesIO(make_pdf(NOTE)))}
    return client.post("/api/v1/documents", headers=account.headers, files=files, data=form)


def scope(account: Account) -> AccessScope:
    user = account.user
    return AccessScope(user_id=user.id, organisation_id=user.organisation_id, role=user.role.value)


def evidence(container: Container, account: Account, as_of: datetime) -> set[str]:
    """The documents research as of ``as_of`` finds for the note's words."""
    search = KnowledgeEvidence(index=container.knowledge.index, embedder=container.knowledge.embedder)
    hits = search.passages(reader=scope(account), query=QUERY, as_of=as_of, limit=5)
    return {hit.citation.document_id for hit in hits}


def chunk_dates(container: Container, document_id: str) -> set[datetime]:
    return {chunk.document_date for chunk in container.knowledge.index.chunks(document_id)}


def audit_details(container: Container, action: str) -> list[dict[str, Any]]:
    return [event.details for event in container.identity.audit.list_events(action=action)]


def test_an_upload_with_a_publication_date_is_found_by_research_as_of_any_later_date(
    knowledge: Container, client: TestClient
) -> None:
    analyst = sign_up(knowledge)
    response = upload(client, analyst, published_at="2022-11-14")
    assert response.status_code == 201, response.text
    document = response.json()
    (version,) = document["versions"]
    assert version["published_at"] == "2022-11-14T00:00:00Z"
    assert datetime.fromisoformat(version["uploaded_at"]) == T0
    drain(knowledge)

    assert chunk_dates(knowledge, document["id"]) == {PUBLISHED}
    assert evidence(knowledge, analyst, AFTER) == {document["id"]}
    assert evidence(knowledge, analyst, BEFORE) == set()
    listed = client.get(f"/api/v1/documents/{document['id']}/versions", headers=analyst.headers).json()
    assert listed[0]["published_at"] == "2022-11-14T00:00:00Z"
    assert {"version": 1, "published_at": PUBLISHED.isoformat()} in audit_details(knowledge, "document.upload.done")


def test_without_a_date_a_version_counts_as_published_when_uploaded(knowledge: Container, client: TestClient) -> None:
    analyst = sign_up(knowledge)
    document = upload(client, analyst).json()
    assert document["versions"][0]["published_at"] == document["versions"][0]["uploaded_at"]
    drain(knowledge)
    assert chunk_dates(knowledge, document["id"]) == {T0}
    assert evidence(knowledge, analyst, AFTER) == set()  # uploaded later than the research's as-of date
    assert evidence(knowledge, analyst, T0) == {document["id"]}


def test_the_owner_re_dates_a_document_and_its_passages_follow(knowledge: Container, client: TestClient) -> None:
    owner = sign_up(knowledge)
    colleague = sign_up(knowledge)
    document = upload(client, owner, visibility="organisation", tags=["logistics"]).json()
    drain(knowledge)
    assert evidence(knowledge, owner, AFTER) == set()
    body = {"title": "Freight note", "visibility": "organisation", "tags": ["logistics"], "published_at": "2022-11-14"}

    refused = client.patch(f"/api/v1/documents/{document['id']}", headers=colleague.headers, json=body)
    assert refused.status_code == 404  # a reader who is not the owner changes nothing
    changed = client.patch(f"/api/v1/documents/{document['id']}", headers=owner.headers, json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["versions"][0]["published_at"] == "2022-11-14T00:00:00Z"
    assert changed.json()["versions"][0]["uploaded_at"] == document["versions"][0]["uploaded_at"]
    drain(knowledge)

    assert chunk_dates(knowledge, document["id"]) == {PUBLISHED}
    assert evidence(knowledge, colleague, AFTER) == {document["id"]}
    assert {
        "version": 1,
        "published_at": PUBLISHED.isoformat(),
        "previous_published_at": T0.isoformat(),
    } in audit_details(knowledge, "document.update.done")

    retagged = client.patch(
        f"/api/v1/documents/{document['id']}",
        headers=owner.headers,
        json={"title": "Freight note", "visibility": "organisation", "tags": ["freight"]},
    )
    assert retagged.json()["versions"][0]["published_at"] == "2022-11-14T00:00:00Z"  # absent: the date stays


@pytest.mark.parametrize(("given", "reason"), [("2099-01-01", "in the future"), ("1899-12-31", "before 1900")])
def test_dates_in_the_future_or_before_1900_are_refused(
    knowledge: Container, client: TestClient, given: str, reason: str
) -> None:
    analyst = sign_up(knowledge)
    refused = upload(client, analyst, published_at=given)
    assert refused.status_code == 422
    assert reason in refused.json()["error"]["message"]
    assert knowledge.documents.list_by_owner(analyst.user.id) == []

    document = upload(client, analyst).json()
    body = {"title": "Note", "published_at": given}
    patched = client.patch(f"/api/v1/documents/{document['id']}", headers=analyst.headers, json=body)
    assert patched.status_code == 422
    assert knowledge.documents.get(document["id"]).current.published_at == T0


def test_a_new_version_has_its_own_date_and_a_restore_keeps_the_restored_one(
    knowledge: Container, client: TestClient
) -> None:
    analyst = sign_up(knowledge)
    document = upload(client, analyst, published_at="2022-11-14").json()
    files = {"file": ("note.pdf", io.BytesIO(make_pdf([*NOTE, "Second edition."])))}
    second = client.post(
        f"/api/v1/documents/{document['id']}/versions",
        headers=analyst.headers,
        files=files,
        data={"published_at": "2022-12-01"},
    )
    assert second.status_code == 201, second.text
    restored = client.post(f"/api/v1/documents/{document['id']}/versions/1/restore", headers=analyst.headers)
    dates = [version["published_at"][:10] for version in restored.json()["versions"]]
    assert dates == ["2022-11-14", "2022-12-01", "2022-11-14"]


def test_the_openapi_document_shows_the_publication_date(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    versions = [components[name] for name in components if name.startswith("DocumentVersion")]
    assert versions
    assert all("published_at" in version["required"] for version in versions)
    assert "published_at" in components["DocumentMetadata"]["properties"]
    upload_body = next(name for name in components if name.startswith("Body_upload_document"))
    assert "published_at" in components[upload_body]["properties"]


def test_the_cli_uploads_with_a_publication_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    created = runner.invoke(cli_app, ["users", "create", "--email", "ana@example.com", "--role", "analyst"])
    assert created.exit_code == 0, created.output
    note = tmp_path / "note.csv"
    note.write_text("ticker,comment\nAAPL,ocelot services growth\n")
    command = ["documents", "upload", "--as", "ana@example.com", "--published", "2022-11-14", str(note)]
    uploaded = runner.invoke(cli_app, command)
    assert uploaded.exit_code == 0, uploaded.output
    bad = runner.invoke(
        cli_app, ["documents", "upload", "--as", "ana@example.com", "--published", "14.11.22", str(note)]
    )
    assert bad.exit_code == 1
    assert "publication date" in bad.output

    container = build_container(Settings(_env_file=None, data_dir=tmp_path / "var"))
    try:
        user = container.users.get_by_email("ana@example.com")
        assert user is not None
        (document,) = container.documents.list_by_owner(user.id)
        assert document.current.published_at == PUBLISHED
    finally:
        container.close()


def test_a_publication_time_with_a_zone_is_kept_in_utc(knowledge: Container, client: TestClient) -> None:
    response = upload(client, sign_up(knowledge), published_at="2022-11-14T09:00:00-05:00")
    assert response.status_code == 201, response.text
    assert response.json()["versions"][0]["published_at"] == "2022-11-14T14:00:00Z"
