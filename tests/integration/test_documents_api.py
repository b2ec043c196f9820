"""Documents through the API and the worker: every format from upload to a cited search hit, sharing rules on
every read path, versions / restore / delete reflected in search by the processing job, and attack uploads
answered with a clear 4xx while the worker keeps serving."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.server import create_app
from tests.conftest import Account, drain, sign_up
from tests.document_files import make_csv, make_json, make_pdf, make_xlsx
from tests.unit.ingest import builders

PDF_PAGES = [
    "Quarterly outlook\n\nMarkets were calm in the first quarter and volumes were light across the board.",
    "Semiconductors\n\nThe zirconium wafer shortage lifted foundry pricing;"
    " Marlowe Devices gained share in accelerators.",
    "Risks\n\nA slowdown in consumer electronics demand would weigh on memory prices into next year.",
]
FUNDAMENTALS = (
    ["ticker", "eps", "pe_ratio", "note"],
    [["AAPL", 6.1, 29.5, "services mix"], ["QZX", 2.2, 11.0, "quokka"]],
)


@pytest.fixture
def knowledge(settings: Settings, clock: FakeClock, embedder: Embedder) -> Iterator[Container]:
    built = build_container(settings, clock=clock, embedder=embedder)
    yield built
    built.close()


@pytest.fixture
def client(knowledge: Container) -> Iterator[TestClient]:
    with TestClient(create_app(knowledge), base_url="http://127.0.0.1") as test_client:
        yield test_client


def upload(client: TestClient, account: Account, name: str, data: bytes, **form: Any) -> Any:
    return client.post(
        "/api/v1/documents", headers=account.headers, files={"file": (name, io.BytesIO(data))}, data=form
    )


def search(client: TestClient, account: Account, query: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/knowledge/search", headers=account.headers, params={"q": query, **params})
    assert response.status_code == 200, response.text
    return list(response.json())


# --- round trip ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "query", "expected"),
    [
        ("note.pdf", make_pdf(PDF_PAGES), "zirconium wafer shortage", {"page": 2}),
        ("fundamentals.csv", make_csv(*FUNDAMENTALS), "QZX quokka", {"row": 2}),
        ("fundamentals.xlsx", make_xlsx({"Fundamentals": FUNDAMENTALS}), "QZX quokka", {"table": "Fundamentals"}),
        (
            "estimates.json",
            make_json([{"ticker": "AAPL", "rating": "buy"}, {"ticker": "QZX", "rating": "quokka"}]),
            "QZX quokka",
            {"row": 2},
        ),
    ],
)
def test_each_format_goes_from_upload_to_a_cited_search_hit(
    client: TestClient,
    knowledge: Container,
    analyst: Account,
    name: str,
    data: bytes,
    query: str,
    expected: dict[str, Any],
) -> None:
    created = upload(client, analyst, name, data, title=f"Sample {name}")
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["doc_type"] == name.rsplit(".", 1)[1]
    assert drain(knowledge) == 1
    status = client.get(f"/api/v1/documents/{document['id']}", headers=analyst.headers).json()
    assert status["status"] == "indexed", status
    for mode in ("keyword", "hybrid"):
        hits = search(client, analyst, query, mode=mode)
        assert hits, mode
        citation = hits[0]["citation"]
        assert citation["document_id"] == document["id"]
        assert citation["version"] == 1
        for key, value in expected.items():
            if key == "row":
                assert hits[0]["row_start"] <= value <= hits[0]["row_end"]
            else:
                assert citation[key] == value
        assert "<mark>" in hits[0]["snippet"]


def test_tables_of_a_spreadsheet_are_served_with_schema_and_statistics(
    client: TestClient, knowledge: Container, analyst: Account
) -> None:
    document = upload(client, analyst, "f.xlsx", make_xlsx({"Fundamentals": FUNDAMENTALS})).json()
    tables = client.get(f"/api/v1/documents/{document['id']}/tables", headers=analyst.headers).json()
    (table,) = tables
    assert table["sheet"] == "Fundamentals"
    assert table["header"] == ["ticker", "eps", "pe_ratio", "note"]
    eps = next(column for column in table["columns"] if column["name"] == "eps")
    assert eps["dtype"] == "float"
    assert eps["mean"] == pytest.approx(4.15)


def test_csv_export_neutralises_formula_cells(client: TestClient, analyst: Account) -> None:
    rows = [["=cmd|' /C calc'!A0", "+1", "-1+1", "@SUM(A1)"], ["plain", "1", "2", "3"]]
    document = upload(client, analyst, "evil.csv", make_csv(["a", "b", "c", "d"], rows)).json()
    response = client.get(
        f"/api/v1/documents/{document['id']}/tables", headers=analyst.headers, params={"format": "csv"}
    )
    assert response.status_code == 200
    lines = response.text.splitlines()
    cells = next(csv.reader([lines[1]]))
    # "+1" is read as the number 1, harmless as a number; the formulas stay text, defused by a leading quote
    assert cells == ["'=cmd|' /C calc'!A0", "1", "'-1+1", "'@SUM(A1)"]


# --- access ---------------------------------------------------------------------------------------------------


def test_another_users_private_document_never_shows_even_as_the_best_match(
    client: TestClient, knowledge: Container, analyst: Account
) -> None:
    other = sign_up(knowledge, role=Role.ANALYST, organisation=analyst.user.organisation_id)
    secret = upload(
        client, other, "secret.pdf", make_pdf(["Project nightingale merger terms: nightingale nightingale."])
    )
    mine = upload(client, analyst, "mine.pdf", make_pdf(["A short remark that mentions a nightingale once."]))
    drain(knowledge)
    secret_id, mine_id = secret.json()["id"], mine.json()["id"]
    for mode in ("keyword", "semantic", "hybrid"):
        ids = {hit["citation"]["document_id"] for hit in search(client, analyst, "nightingale merger terms", mode=mode)}
        assert secret_id not in ids
        assert mine_id in ids
    listed = {d["id"] for d in client.get("/api/v1/documents", headers=analyst.headers).json()}
    assert secret_id not in listed
    for path in ("", "/content", "/versions", "/tables"):
        assert client.get(f"/api/v1/documents/{secret_id}{path}", headers=analyst.headers).status_code == 404
    assert client.delete(f"/api/v1/documents/{secret_id}", headers=analyst.headers).status_code == 404
    missing = client.get("/api/v1/documents/doc_does_not_exist", headers=analyst.headers)
    assert (
        missing.json()["error"]["message"].replace("doc_does_not_exist", secret_id)
        == client.get(f"/api/v1/documents/{secret_id}", headers=analyst.headers).json()["error"]["message"]
    )


def test_a_list_finds_the_readers_documents_behind_many_newer_ones_they_may_not_see(
    client: TestClient, knowledge: Container, clock: FakeClock, analyst: Account
) -> None:
    """The list reads the organisation's newest documents in a widening window: 60 newer private documents of a
    colleague neither hide the reader's own nor show up, whatever the limit."""
    other = sign_up(knowledge, role=Role.ANALYST, organisation=analyst.user.organisation_id)

    def uploaded(account: Account, n: int, **form: Any) -> str:
        clock.advance(timedelta(seconds=1))
        response = upload(client, account, f"note-{n}.csv", make_csv(["ticker", "n"], [["AAPL", n]]), **form)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    mine = [uploaded(analyst, n) for n in range(3)]
    shared = uploaded(other, 100, visibility="organisation")
    theirs = [uploaded(other, n) for n in range(60)]
    assert client.delete(f"/api/v1/documents/{mine[0]}", headers=analyst.headers).status_code == 200

    def listed(limit: int) -> list[str]:
        response = client.get("/api/v1/documents", headers=analyst.headers, params={"limit": limit})
        assert response.status_code == 200, response.text
        return [document["id"] for document in response.json()]

    assert listed(1) == [shared]
    assert listed(3) == [shared, mine[2], mine[1]]
    assert set(listed(500)) == {shared, mine[2], mine[1]}
    assert set(theirs) <= {
        document["id"] for document in client.get("/api/v1/documents?limit=500", headers=other.headers).json()
    }


def test_organisation_role_and_user_sharing_behave_as_set(
    client: TestClient, knowledge: Container, analyst: Account
) -> None:
    org = analyst.user.organisation_id
    colleague = sign_up(knowledge, role=Role.ANALYST, organisation=org)
    officer = sign_up(knowledge, role=Role.COMPLIANCE_OFFICER, organisation=org)
    outsider = sign_up(knowledge, role=Role.ANALYST, organisation="org_other")
    shared = {
        "organisation": upload(
            client, analyst, "o.pdf", make_pdf(["Albatross shared with the firm."]), visibility="organisation"
        ).json()["id"],
        "roles": upload(
            client,
            analyst,
            "r.pdf",
            make_pdf(["Albatross for compliance eyes."]),
            visibility="roles",
            allowed_roles=["compliance-officer"],
        ).json()["id"],
        "users": upload(
            client,
            analyst,
            "u.pdf",
            make_pdf(["Albatross for one colleague."]),
            visibility="users",
            allowed_users=[colleague.user.id],
        ).json()["id"],
    }
    drain(knowledge)

    def visible(account: Account) -> set[str]:
        found = {hit["citation"]["document_id"] for hit in search(client, account, "albatross", mode="keyword")}
        listed = {d["id"] for d in client.get("/api/v1/documents", headers=account.headers).json()}
        assert found == listed & set(shared.values())
        return found

    assert visible(analyst) == set(shared.values())
    assert visible(colleague) == {shared["organisation"], shared["users"]}
    assert visible(officer) == {shared["organisation"], shared["roles"]}
    assert visible(outsider) == set()


# --- versions, restore, delete -----------------------------------------------------------------------------


def test_versions_restore_and_delete_are_reflected_in_search_by_the_job(
    client: TestClient, knowledge: Container, analyst: Account
) -> None:
    first = upload(client, analyst, "v.pdf", make_pdf(["The pelican forecast calls for growth."])).json()
    doc_id = first["id"]
    drain(knowledge)
    second = client.post(
        f"/api/v1/documents/{doc_id}/versions",
        headers=analyst.headers,
        files={"file": ("v2.pdf", io.BytesIO(make_pdf(["The cormorant forecast calls for decline."])))},
    )
    assert second.status_code == 201, second.text
    assert drain(knowledge) == 1

    def found(term: str) -> list[int]:
        return [hit["citation"]["version"] for hit in search(client, analyst, term, mode="keyword")]

    assert found("pelican") == []
    assert found("cormorant") == [2]
    chunks = knowledge.knowledge.index.count(doc_id)
    knowledge.knowledge.processor.process(doc_id)  # the same job again: nothing doubles
    assert knowledge.knowledge.index.count(doc_id) == chunks

    restored = client.post(f"/api/v1/documents/{doc_id}/versions/1/restore", headers=analyst.headers)
    assert restored.json()["current_version"] == 3
    drain(knowledge)
    assert found("pelican") == [3]
    assert found("cormorant") == []
    versions = client.get(f"/api/v1/documents/{doc_id}/versions", headers=analyst.headers).json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    old = client.get(f"/api/v1/documents/{doc_id}/content", headers=analyst.headers, params={"version": 2})
    assert old.content == make_pdf(["The cormorant forecast calls for decline."])

    assert client.delete(f"/api/v1/documents/{doc_id}", headers=analyst.headers).status_code == 200
    drain(knowledge)
    assert found("pelican") == []
    assert knowledge.knowledge.index.count(doc_id) == 0
    assert client.get(f"/api/v1/documents/{doc_id}", headers=analyst.headers).status_code == 404
    back = client.post(f"/api/v1/documents/{doc_id}/versions/2/restore", headers=analyst.headers)
    assert back.status_code == 200
    drain(knowledge)
    assert found("cormorant") == [4]


# --- attack cases ---------------------------------------------------------------------------------------------


def _assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["message"]
    assert body["error"]["code"]


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 415),
        ("page.csv", b"<html><body><script>alert(1)</script></body></html>", 415),
        ("tool.json", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, 415),
        ("../../etc/passwd.csv", make_csv(*FUNDAMENTALS), 422),
        ("bad\x00name.csv", make_csv(*FUNDAMENTALS), 422),
        ("line\nbreak.csv", make_csv(*FUNDAMENTALS), 422),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, 422),
        ("big.json", b'{"n": ' + b"7" * 5000 + b"}", 422),
        ("nan.json", b'[{"price": NaN}]', 422),
    ],
)
def test_attack_uploads_get_a_clear_4xx_and_nothing_is_stored(
    client: TestClient, knowledge: Container, analyst: Account, name: str, data: bytes, status: int
) -> None:
    _assert_error(upload(client, analyst, name, data), status)
    assert client.get("/api/v1/documents", headers=analyst.headers).json() == []
    assert drain(knowledge) == 0
    fine = upload(client, analyst, "ok.csv", make_csv(*FUNDAMENTALS))
    assert fine.status_code == 201  # the service, and then the worker, keep serving
    assert drain(knowledge) == 1


def test_an_oversized_upload_is_refused_before_its_body_is_read(
    settings: Settings, clock: FakeClock, embedder: Embedder, tmp_path: Path
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 4096})
    built = build_container(small, clock=clock, embedder=embedder)
    try:
        account = sign_up(built)
        consumed: list[int] = []

        def body() -> Iterator[bytes]:
            for _ in range(64):
                consumed.append(1)
                yield b"x" * 1024

        with TestClient(create_app(built), base_url="http://127.0.0.1") as client:
            boundary = "b0undary"
            response = client.post(
                "/api/v1/documents",
                headers={
                    **account.headers,
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(64 * 1024),
                },
                content=body(),
            )
        _assert_error(response, 413)
        assert len(consumed) <= 1
    finally:
        built.close()


def _built(tmp_path: Path, kind: str) -> bytes:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    if kind == "zip bomb":
        return builders.rewrite_zip(plain, tmp_path / "b.xlsx", add={"xl/media/zeros.bin": bytes(8 << 20)}).read_bytes()
    if kind == "entity expansion":
        return builders.rewrite_zip(
            plain, tmp_path / "l.xlsx", replace={builders.FIRST_SHEET: builders.BILLION_LAUGHS_SHEET}
        ).read_bytes()
    if kind == "macros":
        return builders.rewrite_zip(plain, tmp_path / "m.xlsx", add={"xl/vbaProject.bin": b"\x00" * 512}).read_bytes()
    if kind == "pdf bomb":
        return builders.flate_bomb_pdf(tmp_path / "bomb.pdf", inflated_bytes=1 << 30).read_bytes()
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("book.xlsx", "zip bomb"), ("book.xlsx", "entity expansion"), ("book.xlsx", "macros"), ("note.pdf", "pdf bomb")],
)
def test_hostile_workbooks_and_pdfs_get_a_clear_4xx(
    client: TestClient, knowledge: Container, analyst: Account, tmp_path: Path, name: str, kind: str
) -> None:
    response = upload(client, analyst, name, _built(tmp_path, kind))
    _assert_error(response, 422)
    assert response.json()["error"]["code"] == "unsafe_document"
    assert client.get("/api/v1/documents", headers=analyst.headers).json() == []
    assert upload(client, analyst, "ok.csv", make_csv(*FUNDAMENTALS)).status_code == 201


def test_a_pdf_with_javascript_is_flagged_or_refused_as_configured(
    settings: Settings, clock: FakeClock, embedder: Embedder, tmp_path: Path
) -> None:
    data = builders.javascript_pdf(tmp_path / "js.pdf").read_bytes()
    for policy, expected in (("flag", 201), ("reject", 422)):
        configured = settings.model_copy(update={"pdf_active_content": policy, "data_dir": tmp_path / policy})
        built = build_container(configured, clock=clock, embedder=embedder)
        try:
            account = sign_up(built)
            with TestClient(create_app(built), base_url="http://127.0.0.1") as client:
                response = upload(client, account, "js.pdf", data)
                assert response.status_code == expected, response.text
                if policy == "flag":
                    drain(built)
                    document = client.get(f"/api/v1/documents/{response.json()['id']}", headers=account.headers)
                    assert "pdf_javascript" in (document.json()["status_reason"] or "")
        finally:
            built.close()
