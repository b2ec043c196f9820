"""Document pages without a browser: the list and its upload path, one document (versions, tables, sharing,
restore, delete) and the viewer that citations open, with every access rule the API applies."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from investai import __version__
from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.documents import Document, DocumentMetadata, Visibility
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from tests.document_files import make_csv, make_pdf
from tests.web.conftest import WebUser, drain

PDF_PAGES = [
    "Market overview\n\nMarkets were calm in the first quarter and volumes were light across the board.",
    "Foundries\n\nThe xylophone capacity squeeze lifted foundry pricing; Brightwater Devices gained share.",
    "Risks\n\nA slowdown in consumer electronics demand would weigh on memory prices into next year.",
]
FUNDAMENTALS = (["ticker", "eps", "note"], [["AAPL", 6.1, "services"], ["QZX", 2.2, "quokka margin"]])
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def principal_of(container: Container, user: WebUser) -> Principal:
    return container.identity.verifier.verify(user.account.tokens.access_token)


def upload(
    container: Container,
    user: WebUser,
    tmp_path: Path,
    name: str,
    data: bytes,
    *,
    document_id: str | None = None,
    **metadata: Any,
) -> Document:
    """Upload through the document service (as the API route does) and run the processing job."""
    path = tmp_path / name
    path.write_bytes(data)
    document = container.knowledge.documents.upload(
        principal_of(container, user),
        CallContext(),
        content=path.read_bytes(),
        filename=name,
        metadata=DocumentMetadata(**metadata),
        document_id=document_id,
    )
    drain(container)
    return document


def first_citation_href(page: str) -> str:
    found = re.search(r'<a class="citation" href="([^"]+)">Open passage</a>', page)
    assert found, page[:3000]
    return html.unescape(found.group(1))


# --- the list and uploads -------------------------------------------------------------------------------------


def test_the_list_shows_readable_documents_and_the_upload_form(web: Callable[..., WebUser]) -> None:
    user = web()
    page = user.page("/documents").text
    assert "<h1>Documents</h1>" in page
    assert "Fundamentals of the sample universe (CSV)" in page  # shared with the organisation by the library
    assert 'class="badge status-indexed"' in page
    assert '<td class="owner">Research library (sample documents)</td>' in page  # its owner, by name
    for label in ("File", "Title", "Visibility", "Tags", "Allowed roles"):
        assert f">{label}</label>" in page
    assert 'id="upload-file" name="file" type="file" accept=".pdf,.csv,.xlsx,.json"' in page
    assert '<progress id="upload-progress"' in page
    assert '<script src="/static/js/documents.js" defer></script>' in page


def test_a_compliance_officer_reads_but_cannot_upload_or_change(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    owner = web()
    document = upload(sample_container, owner, tmp_path, "n.csv", make_csv(*FUNDAMENTALS), visibility="organisation")
    officer = web(role=Role.COMPLIANCE_OFFICER)
    page = officer.page("/documents").text
    assert "<h1>Documents</h1>" in page
    assert 'id="upload-form"' not in page
    detail = officer.page(f"/documents/{document.id}").text
    assert "Versions" in detail
    assert "/sharing" not in detail
    assert "/delete" not in detail
    assert "Upload a new version" not in detail
    refused = officer.submit(f"/documents/{document.id}/delete")
    assert refused.status_code == 403
    assert "Your role does not allow this page." in refused.text


def test_an_administrator_gets_the_forbidden_page(web: Callable[..., WebUser]) -> None:
    admin = web(role=Role.ADMINISTRATOR)
    page = admin.page("/documents", status=403).text
    assert "Your role does not allow this page." in page
    admin.page("/documents/doc_x/view", status=403)


def test_the_page_script_uploads_through_the_api_with_the_csrf_header(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    user.page("/documents")
    files = {"file": ("q.pdf", io.BytesIO(make_pdf(PDF_PAGES)), "application/pdf")}
    form = {"title": "Quarterly note", "visibility": "private", "tags": ["foundries", "q1"]}
    refused = user.client.post("/api/v1/documents", files=files, data=form)
    assert refused.status_code == 403  # the cookie alone is not enough
    files = {"file": ("q.pdf", io.BytesIO(make_pdf(PDF_PAGES)), "application/pdf")}
    created = user.api("POST", "/api/v1/documents", files=files, data=form)
    assert created.status_code == 201, created.text
    document = created.json()
    assert user.api("GET", f"/api/v1/documents/{document['id']}").json()["status"] == "uploaded"
    drain(sample_container)
    assert user.api("GET", f"/api/v1/documents/{document['id']}").json()["status"] == "indexed"
    page = user.page("/documents").text
    assert "Quarterly note" in page
    row = page[page.index(f'data-document-id="{document["id"]}"') :][:1500]
    assert "status-indexed" in row
    assert ">you<" in row
    assert "foundries" in row


def test_a_file_that_is_no_document_is_refused_with_a_message(web: Callable[..., WebUser]) -> None:
    user = web()
    user.page("/documents")
    files = {"file": ("evil.pdf", io.BytesIO(b"MZ\x90\x00 not a pdf at all"), "application/pdf")}
    refused = user.api("POST", "/api/v1/documents", files=files)
    assert refused.status_code == 415
    assert refused.json()["error"]["message"]


# --- one document ----------------------------------------------------------------------------------------------


def test_the_document_page_shows_metadata_versions_and_tables(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    document = upload(sample_container, user, tmp_path, "f.csv", make_csv(*FUNDAMENTALS), title="Fundamentals")
    upload(sample_container, user, tmp_path, "f2.csv", make_csv(*FUNDAMENTALS), document_id=document.id)
    page = user.page(f"/documents/{document.id}").text
    assert "<h1>Fundamentals</h1>" in page
    assert 'class="badge status-indexed"' in page
    assert page.index("f2.csv") < page.index("f.csv<")  # newest first
    assert f"/api/v1/documents/{document.id}/content?version=1" in page
    assert f"/api/v1/documents/{document.id}/content?version=2" in page
    assert page.count('name="version" value="1"') == 1  # only the older version can be restored
    assert "quokka margin" in page  # the extracted table's preview
    assert f"/api/v1/documents/{document.id}/tables?version=2&amp;table=0&amp;format=csv" in page
    assert f'href="/documents/{document.id}/view?version=2">View text</a>' in page
    assert 'data-confirm="Delete' in page
    assert f'action="/documents/{document.id}/sharing"' in page
    assert f'data-upload-to="/api/v1/documents/{document.id}/versions"' in page
    exported = user.client.get(f"/api/v1/documents/{document.id}/tables", params={"format": "csv", "table": 0})
    assert exported.status_code == 200
    assert "quokka margin" in exported.text


def test_restore_and_delete_follow_post_redirect_get(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    document = upload(sample_container, user, tmp_path, "a.csv", make_csv(*FUNDAMENTALS))
    upload(sample_container, user, tmp_path, "b.csv", make_csv(["x", "y"], [[1, 2]]), document_id=document.id)
    user.page(f"/documents/{document.id}")
    restored = user.submit(f"/documents/{document.id}/restore", {"version": 1})
    assert restored.status_code == 303
    assert restored.headers["location"] == f"/documents/{document.id}?notice=document_restored"
    page = user.page(restored.headers["location"]).text
    assert "The version was restored and is being indexed again." in page
    assert "3 of 3" in page
    bad = user.submit(f"/documents/{document.id}/restore", {"version": "zero"})
    assert bad.status_code == 422
    assert "version" in bad.text
    missing = user.submit(f"/documents/{document.id}/restore", {"version": 99})
    assert missing.status_code == 404
    deleted = user.submit(f"/documents/{document.id}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/documents?notice=document_deleted"
    listing = user.page(deleted.headers["location"]).text
    assert "The document was deleted" in listing
    assert f'data-document-id="{document.id}"' not in listing
    user.page(f"/documents/{document.id}", status=404)


def test_sharing_changes_who_can_read_and_refuses_bad_input(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    owner, reader, officer = web(), web(), web(role=Role.COMPLIANCE_OFFICER)
    document = upload(sample_container, owner, tmp_path, "s.csv", make_csv(*FUNDAMENTALS), title="Shared later")
    reader.page(f"/documents/{document.id}", status=404)
    owner.page(f"/documents/{document.id}")
    refused = owner.submit(f"/documents/{document.id}/sharing", {"visibility": "roles"})
    assert refused.status_code == 422
    assert "needs at least one allowed role" in refused.text
    assert 'role="alert"' in refused.text
    refused = owner.submit(f"/documents/{document.id}/sharing", {"visibility": "everyone"})
    assert refused.status_code == 422
    assert "not changed" in refused.text
    refused = owner.submit(f"/documents/{document.id}/sharing", {"visibility": "roles", "allowed_roles": "king"})
    assert refused.status_code == 422
    no_token = owner.client.post(f"/documents/{document.id}/sharing", data={"visibility": "organisation"})
    assert no_token.status_code == 403
    shared = owner.submit(
        f"/documents/{document.id}/sharing", {"visibility": "roles", "allowed_roles": ["compliance-officer"]}
    )
    assert shared.status_code == 303
    assert shared.headers["location"] == f"/documents/{document.id}?notice=document_updated"
    assert "Shared later" in officer.page(f"/documents/{document.id}").text
    reader.page(f"/documents/{document.id}", status=404)
    shared = owner.submit(f"/documents/{document.id}/sharing", {"visibility": "organisation"})
    assert shared.status_code == 303
    assert "Shared later" in reader.page(f"/documents/{document.id}").text
    # a reader who is not the owner cannot change it: the same 404 as for a document they cannot see
    reader.page(f"/documents/{document.id}")
    assert reader.submit(f"/documents/{document.id}/sharing", {"visibility": "private"}).status_code == 404
    assert reader.submit(f"/documents/{document.id}/delete").status_code == 404


def test_another_users_private_document_is_not_found_everywhere(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    owner, other = web(), web()
    stranger = web(organisation="org_other")
    private = upload(sample_container, owner, tmp_path, "p.pdf", make_pdf(PDF_PAGES), title="Secret plan")
    shared = upload(sample_container, owner, tmp_path, "o.csv", make_csv(*FUNDAMENTALS), visibility="organisation")
    for user in (other, stranger):
        for path in (f"/documents/{private.id}", f"/documents/{private.id}/view"):
            page = user.page(path, status=404).text
            assert "Secret plan" not in page
        assert "Secret plan" not in user.page("/documents").text
        user.page(f"/documents/{private.id}/view", status=404, page=1, chunk=f"{private.id}:1:0")
        assert user.submit(f"/documents/{private.id}/restore", {"version": 1}).status_code == 404
        assert user.submit(f"/documents/{private.id}/delete").status_code == 404
    stranger.page(f"/documents/{shared.id}", status=404)
    stranger.page(f"/documents/{shared.id}/view", status=404)
    other.page(f"/documents/{shared.id}")
    owner.page(f"/documents/{private.id}")


def test_titles_and_text_are_escaped(web: Callable[..., WebUser], sample_container: Container, tmp_path: Path) -> None:
    user = web()
    pages = [f"Attack page\n\nThe payload {XSS} sits in the text with the word marmalade."]
    document = upload(sample_container, user, tmp_path, "x.pdf", make_pdf(pages), title=XSS, tags=[XSS[:60]])
    for path in ("/documents", f"/documents/{document.id}", f"/documents/{document.id}/view"):
        page = user.page(path).text
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "&lt;script&gt;alert(" in page, path


# --- the viewer ------------------------------------------------------------------------------------------------


def test_a_text_citation_opens_the_page_with_the_passage_marked(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    pages = [text.replace("xylophone", "vibraphone") for text in PDF_PAGES]
    document = upload(sample_container, user, tmp_path, "v.pdf", make_pdf(pages), title="Viewer note")
    results = user.page("/knowledge", q="vibraphone capacity squeeze", mode="keyword").text
    href = first_citation_href(results)
    assert href.startswith(f"/documents/{document.id}/view?version=1&page=2&chunk=")
    assert href.endswith("#cited")
    page = user.page(href.split("#")[0]).text
    assert "<h1>Viewer note</h1>" in page
    cited = re.search(r'<mark class="cited" id="cited">(.*?)</mark>', page, re.S)
    assert cited
    assert "vibraphone capacity squeeze" in cited.group(1)
    assert "Page 2 of 3" in page
    assert f"Investment AI Agent {__version__} ·" in page  # the page's own context leaves the footer alone
    assert f'href="/documents/{document.id}/view?version=1&amp;page=1" rel="prev"' in page
    assert f'href="/documents/{document.id}/view?version=1&amp;page=3" rel="next"' in page
    assert '<label for="page-select">Page</label>' in page
    other_page = user.page(f"/documents/{document.id}/view", version=1, page=3).text
    assert 'id="cited"' not in other_page
    assert "consumer electronics" in other_page
    user.page(f"/documents/{document.id}/view", status=404, version=1, page=9)
    user.page(f"/documents/{document.id}/view", status=404, version=7)
    user.page(f"/documents/{document.id}/view", status=422, page="two")


def test_a_passage_that_left_the_index_still_opens_its_page(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    document = upload(sample_container, user, tmp_path, "w.pdf", make_pdf(PDF_PAGES))
    page = user.page(f"/documents/{document.id}/view", version=1, page=2, chunk=f"{document.id}:1:999").text
    assert "no longer in the knowledge base" in page
    assert "xylophone" in page
    assert 'id="cited"' not in page


def test_a_table_citation_highlights_the_cited_row(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    rows = [[f"T{i:03d}", i, "plain"] for i in range(1, 60)] + [["QZX", 2.2, "zebrafish margin"]]
    document = upload(sample_container, user, tmp_path, "t.csv", make_csv(["ticker", "eps", "note"], rows))
    page = user.page(f"/documents/{document.id}/view", version=1, table="data", row=60).text
    if "has no table" in page:  # pragma: no cover - the CSV table's name is the parser's
        pytest.fail(page)
    cited = re.search(r'<tr class="highlight" id="cited">(.*?)</tr>', page, re.S)
    assert cited
    assert "QZX" in cited.group(1)
    assert "zebrafish margin" in cited.group(1)
    assert "Rows 40\u201360 of 60" in page
    results = user.page("/knowledge", q="zebrafish margin", mode="keyword", type="csv").text
    href = first_citation_href(results)
    assert f"/documents/{document.id}/view?version=1&chunk=" in href
    assert "table=" in href
    opened = user.page(href.split("#")[0]).text
    assert '<tr class="highlight" id="cited">' in opened
    user.page(f"/documents/{document.id}/view", status=404, version=1, table="no such table")


def test_documents_without_pages_open_on_their_first_table(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    document = upload(sample_container, user, tmp_path, "u.csv", make_csv(*FUNDAMENTALS))
    page = user.page(f"/documents/{document.id}/view").text
    assert "quokka margin" in page
    assert 'id="cited"' not in page
    assert f"/api/v1/documents/{document.id}/tables?version=1&amp;table=0&amp;format=csv" in page


def test_a_visibility_choice_is_kept_in_the_sharing_form(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    document = upload(
        sample_container,
        user,
        tmp_path,
        "r.csv",
        make_csv(*FUNDAMENTALS),
        visibility=Visibility.ROLES,
        allowed_roles=[Role.PORTFOLIO_MANAGER],
    )
    page = user.page(f"/documents/{document.id}").text
    assert '<option value="roles" selected>' in page
    assert '<option value="portfolio-manager" selected>' in page
    assert "roles: portfolio manager" in page
