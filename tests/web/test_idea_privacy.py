"""The idea pages and a private research note: the analyst who uploaded it reads its passage on the idea page;
a portfolio manager and a compliance officer of the same organisation see the idea page, the list and the
comparison with the note's passage, rating and research summary withheld and a restricted source marked,
while evidence from the organisation's shared sample notes stays."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from investai.bootstrap import Container
from investai.domain.citations import DocumentCitation
from investai.domain.documents import DocumentMetadata
from investai.domain.ideas import InvestmentIdea
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from tests.conftest import Account, sign_up
from tests.document_files import make_pdf
from tests.web.conftest import ORG, WebUser, drain, sign_in

MARKER = "Zanzibar lattice covenant"
RATING = "underweight"
PRIVATE_NOTE = (
    f"{MARKER}: Procter & Gamble (PG) will quietly lose shelf share to private labels in 2024.\n\n"
    "PG: Underweight.\n\n"
    "The desk sees margin pressure at Procter & Gamble from input costs."
)


@dataclass(frozen=True)
class Generated:
    owner: Account
    document_id: str
    idea: InvestmentIdea
    other: InvestmentIdea


@pytest.fixture(scope="module")
def generated(sample_container: Container, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """An analyst's private note on PG, and ideas for PG and JNJ requested by that analyst."""
    owner = sign_up(sample_container, role=Role.ANALYST, organisation=ORG)
    principal = sample_container.identity.verifier.verify(owner.tokens.access_token)
    path = tmp_path_factory.mktemp("notes") / "desk-note.pdf"
    path.write_bytes(make_pdf([PRIVATE_NOTE]))
    document = sample_container.knowledge.documents.upload(
        principal,
        CallContext(),
        content=Path(path).read_bytes(),
        filename=path.name,
        metadata=DocumentMetadata(title="Desk note", published_at="2022-12-01"),  # within the sample history
    )
    drain(sample_container)
    body = {"tickers": ["PG", "JNJ"], "max_ideas": 2, "min_confidence": 0, "risk_tolerance": "very_aggressive"}
    record = sample_container.idea_requests.submit(principal, CallContext(), body)
    drain(sample_container)
    ideas = sample_container.idea_requests.results(principal, CallContext(), record.id)
    idea = next(item for item in ideas if item.instruments[0].symbol == "PG")
    assert any(
        isinstance(item.citation, DocumentCitation) and item.citation.document_id == document.id
        for item in idea.supporting_evidence
    ), "the private note should be cited by the PG idea"
    other = next(item for item in ideas if item.id != idea.id)
    return Generated(owner=owner, document_id=document.id, idea=idea, other=other)


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def shared_citations(idea: InvestmentIdea, private_id: str) -> list[str]:
    return [
        item.citation.document_id
        for item in idea.supporting_evidence
        if isinstance(item.citation, DocumentCitation) and item.citation.document_id != private_id
    ]


@pytest.mark.parametrize("role", [Role.PORTFOLIO_MANAGER, Role.COMPLIANCE_OFFICER])
def test_only_the_notes_reader_sees_it_on_the_idea_pages(
    sample_app: FastAPI, web: Callable[..., WebUser], generated: Generated, role: Role
) -> None:
    owner_page = sign_in(sample_app, generated.owner).page(f"/ideas/{generated.idea.id}").text
    assert MARKER in text_of(owner_page)
    assert RATING in text_of(owner_page).lower()
    assert 'id="restricted-sources"' not in owner_page
    assert f"/documents/{generated.document_id}/view" in owner_page

    reader = web(role=role)
    reader.page(f"/documents/{generated.document_id}/view", status=404)
    page = reader.page(f"/ideas/{generated.idea.id}").text
    compare = reader.page("/ideas/compare", id=[generated.idea.id, generated.other.id]).text
    listed = reader.page("/ideas").text
    for name, markup in (("idea page", page), ("compare page", compare), ("list", listed)):
        seen = text_of(markup).lower()
        assert MARKER.lower() not in seen, name
        assert RATING not in seen, name
        assert "lose shelf share" not in seen, name
    assert 'id="restricted-sources"' in page
    assert "Restricted document" in text_of(page)
    assert f"/documents/{generated.document_id}/view" not in page
    for document_id in shared_citations(generated.idea, generated.document_id):
        assert f"/documents/{document_id}/view" in page  # the organisation's notes stay cited
    assert 'id="restricted-sources"' in compare
    assert generated.idea.title in text_of(compare)
