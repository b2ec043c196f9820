"""The knowledge search page without a browser: the search the API answers, hits with safely marked
snippets and citation links, filters, the empty and no-result states, refused input and access rules."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from markupsafe import Markup

from investai.bootstrap import Container
from investai.domain.users import Role
from investai.web.routes.knowledge import safe_snippet
from tests.document_files import make_csv, make_pdf
from tests.web.conftest import WebUser
from tests.web.test_documents import upload

NOTE = [
    "Outlook\n\nThe pangolin freight index rose for a third month as carriers cut capacity on Pacific lanes.",
    "Risks\n\nA sharp <b>fall</b> in spot rates & bunker costs would reverse the move.",
]


def hits(page: str) -> list[str]:
    return re.findall(r'<article class="hit card">(.*?)</article>', page, re.S)


def test_the_empty_page_explains_the_search(web: Callable[..., WebUser]) -> None:
    page = web().page("/knowledge").text
    assert "<h1>Knowledge search</h1>" in page
    assert '<label for="q">Search</label>' in page
    assert 'name="q"' in page
    assert '<label for="mode">Mode</label>' in page
    for field in ("type", "tag", "date_from", "date_to"):
        assert f'<label for="{field}">' in page
    assert ">Search</button>" in page
    assert "Search your research library" in page
    assert not hits(page)


def test_a_search_returns_marked_snippets_with_citation_links(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    document = upload(sample_container, user, tmp_path, "freight.pdf", make_pdf(NOTE), title="Freight monitor")
    for mode in ("hybrid", "keyword", "semantic"):
        page = user.page("/knowledge", q="pangolin freight index", mode=mode).text
        found = hits(page)
        assert found, mode
        first = found[0]
        assert "Freight monitor" in first
        assert f'href="/documents/{document.id}"' in first
        assert "page 1" in first
        assert "score " in first
        link = re.search(r'<a class="citation" href="([^"]+)">Open passage</a>', first)
        assert link, first
        assert html.unescape(link.group(1)).startswith(f"/documents/{document.id}/view?version=1&page=1&chunk=")
        if mode != "semantic":
            assert "<mark>pangolin</mark>" in first.lower() or "<mark>Pangolin</mark>" in first
    assert "selected>Semantic (meaning)</option>" in page


def test_snippets_are_escaped_by_the_service_and_only_then_trusted(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    user = web()
    upload(sample_container, user, tmp_path, "rates.pdf", make_pdf(NOTE), title="Rates note")
    page = user.page("/knowledge", q="bunker costs spot rates", mode="keyword").text
    first = hits(page)[0]
    assert "&lt;b&gt;fall&lt;/b&gt;" in first
    assert "<b>fall</b>" not in first
    assert "&amp; <mark>bunker</mark>" in first
    assert safe_snippet("a &lt;b&gt; <mark>x</mark>") == Markup("a &lt;b&gt; <mark>x</mark>")
    assert safe_snippet('<img src=x onerror="alert(1)"> <mark>x</mark>') == Markup(
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &lt;mark&gt;x&lt;/mark&gt;"
    )


def test_filters_narrow_the_hits(web: Callable[..., WebUser], sample_container: Container, tmp_path: Path) -> None:
    user = web()
    upload(sample_container, user, tmp_path, "okapi.pdf", make_pdf(["Okapi\n\nThe okapi ledger grew."]), tags=["zoo"])
    upload(sample_container, user, tmp_path, "okapi.csv", make_csv(["name", "note"], [["okapi", "okapi ledger"]]))
    both = hits(user.page("/knowledge", q="okapi ledger", mode="keyword").text)
    assert any(">PDF<" in hit for hit in both)
    assert any(">CSV<" in hit for hit in both)
    csv_only = hits(user.page("/knowledge", q="okapi ledger", mode="keyword", type="csv").text)
    assert csv_only
    assert all(">CSV<" in hit for hit in csv_only)
    tagged = hits(user.page("/knowledge", q="okapi ledger", mode="keyword", tag="zoo").text)
    assert tagged
    assert all(">PDF<" in hit for hit in tagged)
    later = user.page("/knowledge", q="okapi ledger", mode="keyword", date_from="2100-01-01").text
    assert not hits(later)
    assert "No results" in later
    assert "with these filters" in later


def test_no_results_are_said_plainly(web: Callable[..., WebUser]) -> None:
    page = web().page("/knowledge", q="qwxzv unfindable", mode="keyword").text
    assert "No results" in page
    assert "No passage matches “qwxzv unfindable”" in page
    assert not hits(page)


def test_refused_input_is_a_message_never_a_500(web: Callable[..., WebUser]) -> None:
    user = web()
    long = user.page("/knowledge", status=422, q="word " * 250).text
    assert "limited to 1000 characters" in long
    assert 'role="alert"' in long
    mode = user.page("/knowledge", status=422, q="rates", mode="psychic").text
    assert "unknown search mode" in mode
    kind = user.page("/knowledge", status=422, q="rates", type="docx").text
    assert "unknown document type" in kind
    when = user.page("/knowledge", status=422, q="rates", date_from="yesterday").text
    assert "must be an ISO date" in when
    huge = user.client.get("/knowledge", params={"q": "x" * 1500})
    assert huge.status_code == 422
    assert "limited to 1000 characters" in huge.text


def test_search_terms_are_escaped_in_the_page(web: Callable[..., WebUser]) -> None:
    # (script-capable payloads never reach the page: the WAF refuses them in the query string)
    page = web().page("/knowledge", q='"><b>bold</b> & co', mode="keyword").text
    assert "<b>bold</b>" not in page
    assert 'value="&#34;&gt;&lt;b&gt;bold&lt;/b&gt; &amp; co"' in page
    assert "“&#34;&gt;&lt;b&gt;bold&lt;/b&gt; &amp; co”" in page


def test_other_peoples_private_passages_never_appear(
    web: Callable[..., WebUser], sample_container: Container, tmp_path: Path
) -> None:
    owner, other = web(), web()
    stranger = web(organisation="org_other")
    pages = ["Secret\n\nThe narwhal accumulation plan starts in March."]
    upload(sample_container, owner, tmp_path, "secret.pdf", make_pdf(pages), title="Narwhal plan")
    assert "Narwhal plan" in owner.page("/knowledge", q="narwhal accumulation", mode="keyword").text
    for user in (other, stranger):
        for mode in ("keyword", "hybrid"):
            assert "Narwhal plan" not in user.page("/knowledge", q="narwhal accumulation", mode=mode).text


def test_roles_without_search_get_the_forbidden_page(web: Callable[..., WebUser]) -> None:
    page = web(role=Role.ADMINISTRATOR).page("/knowledge", status=403, q="rates").text
    assert "Your role does not allow this page." in page
    officer = web(role=Role.COMPLIANCE_OFFICER).page("/knowledge", q="semiconductors").text
    assert hits(officer)  # the sample notes are shared with the organisation
