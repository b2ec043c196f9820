"""What a reader is shown of an idea and of agent messages, given the document versions they may read now:
ideas and messages stored before sources were recorded, readers of some sources but not all, and the access
rule evaluated per document version (deleted documents, versions that no longer exist, sharing)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from investai.domain.access import Principal
from investai.domain.agents import AgentMessage, AgentName, MessageType
from investai.domain.citations import DocumentCitation, DocumentSource, Evidence, MarketCitation
from investai.domain.documents import Document, Visibility
from investai.domain.errors import NotFound
from investai.domain.idea_parts import ComplianceIssue, ComplianceStatus, IdeaAnalysis, ModelUse, Provenance, Severity
from investai.domain.idea_views import (
    WITHHELD_COUNTER,
    WITHHELD_ISSUE,
    WITHHELD_PASSAGE,
    WITHHELD_RATIONALE,
    WITHHELD_SUMMARY,
    message_view,
    research_sources,
    view_for,
)
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import Role
from investai.services.source_access import SourceAccess
from tests.factories import T0, make_document, make_idea

PASSAGE = "Services revenue grew"
SOURCE = DocumentSource(document_id="doc_1", version=1)


def none(source: DocumentSource) -> bool:
    return False


def every(source: DocumentSource) -> bool:
    return True


def passage(document_id: str, page: int, text: str) -> Evidence:
    return Evidence(claim=text, citation=DocumentCitation(document_id=document_id, version=1, page=page, snippet=text))


def analysis(**overrides: Any) -> IdeaAnalysis:
    data: dict[str, Any] = {
        "composite": 1.2,
        "rank": 1,
        "screened": 20,
        "confidence_inputs": {"composite_percentile": 0.9, "probability_of_gain": 0.6, "history_share": 1.0},
        "ranking_components": {
            "confidence": 0.5,
            "risk_return_fit": 0.7,
            "quality_novelty": 0.6,
            "horizon_fit": 1.0,
            "timing": 0.6,
        },
        "ranking_score": 0.0,
        "data_start": date(2020, 1, 1),
        "data_end": date(2022, 12, 30),
        "conflict": "documents lean negative (ratings: underweight)",
    }
    return IdeaAnalysis.model_validate({**data, **overrides})


def test_an_older_idea_is_withheld_by_its_document_citations() -> None:
    idea = make_idea(
        counter_arguments=["Analyst ratings in the firm's documents lean negative: underweight."],
        analysis=analysis(),
    )
    assert idea.document_sources is None
    assert idea.document_free is None
    view = view_for(idea, none)
    assert view.restricted_sources == 1
    assert PASSAGE not in view.model_dump_json()
    assert "underweight" not in view.model_dump_json()
    (market, withheld) = view.supporting_evidence
    assert market == idea.supporting_evidence[0]
    assert withheld.claim == WITHHELD_PASSAGE
    assert withheld.weight == 0.0
    assert withheld.citation == DocumentCitation(document_id="doc_1", version=1, restricted=True)
    assert (view.summary, view.rationale, view.counter_arguments) == (
        WITHHELD_SUMMARY,
        WITHHELD_RATIONALE,
        [WITHHELD_COUNTER],
    )
    assert view.title == "Apple Inc. (AAPL): momentum idea"  # a model may have written the stored one
    # confidence and ranking as the analysis alone gives them: no stance, no cited passage
    assert view.confidence == pytest.approx(0.5 * 0.9 + 0.3 * 0.6 + 0.2 * 1.0)
    assert view.analysis is not None
    assert view.analysis.conflict is None
    components = view.analysis.ranking_components
    assert components["confidence"] == view.confidence
    assert components["quality_novelty"] == pytest.approx(0.4)
    weights = {"confidence": 0.3, "risk_return_fit": 0.25, "quality_novelty": 0.2, "horizon_fit": 0.15, "timing": 0.1}
    assert view.analysis.ranking_score == pytest.approx(sum(weights[k] * v for k, v in components.items()))


def test_an_older_offline_idea_keeps_its_template_title_and_summary() -> None:
    offline = ModelUse(step="synthesis", provider="offline", model_id="offline", offline=True)
    idea = make_idea(provenance=Provenance(data_as_of=T0, code_version="test", models=[offline]))
    view = view_for(idea, none)
    assert (view.title, view.summary) == (idea.title, idea.summary)
    assert view.rationale == WITHHELD_RATIONALE


def test_a_reader_of_every_source_sees_the_idea_as_stored() -> None:
    idea = make_idea(analysis=analysis(), document_sources=[SOURCE])
    view = view_for(idea, every)
    assert view.restricted_sources == 0
    assert view.model_dump(exclude={"restricted_sources"}) == idea.model_dump()


def test_a_reader_of_some_sources_keeps_their_passages_and_one_placeholder_per_other_document() -> None:
    idea = make_idea(
        supporting_evidence=[
            passage("doc_open", 1, "Open passage one"),
            passage("doc_closed", 2, "Closed passage one"),
            passage("doc_closed", 3, "Closed passage two"),
            passage("doc_open", 4, "Open passage two"),
        ],
        document_sources=[
            DocumentSource(document_id="doc_open", version=1),
            DocumentSource(document_id="doc_closed", version=1),
        ],
    )
    view = view_for(idea, lambda source: source.document_id == "doc_open")
    assert view.restricted_sources == 1
    assert [item.claim for item in view.supporting_evidence] == [
        "Open passage one",
        WITHHELD_PASSAGE,
        "Open passage two",
    ]
    assert "Closed passage" not in view.model_dump_json()


def test_a_source_recorded_but_not_cited_still_withholds_the_narrative() -> None:
    """Research read a document that shaped the summary without becoming evidence."""
    idea = make_idea(supporting_evidence=[], document_sources=[SOURCE], rationale=f"Research: {PASSAGE} [1]")
    view = view_for(idea, none)
    assert view.restricted_sources == 1
    assert PASSAGE not in view.rationale


def test_compliance_issues_a_model_raised_and_prompt_hashes_are_withheld() -> None:
    issues = [
        ComplianceIssue(rule="model_review", severity=Severity.MEDIUM, message=f"The note says {PASSAGE}"),
        ComplianceIssue(rule="liquidity", severity=Severity.INFO, message="days to liquidate not computed"),
    ]
    uses = [
        ModelUse(step=step, provider="bedrock", model_id="m", prompt_hash="a" * 64)
        for step in ("planning", "research", "synthesis", "compliance")
    ]
    idea = make_idea(
        compliance=ComplianceStatus(issues=issues),
        provenance=Provenance(data_as_of=T0, code_version="test", models=uses),
    )
    view = view_for(idea, none)
    assert [issue.message for issue in view.compliance.issues] == [WITHHELD_ISSUE, issues[1].message]
    assert [use.prompt_hash for use in view.provenance.models] == ["a" * 64, None, None, None]


def test_a_view_is_never_stored_as_a_revision() -> None:
    view = view_for(make_idea(), none)
    with pytest.raises(ValidationError):
        view.transition(IdeaStatus.IN_REVIEW, by="user_1", at=T0 + timedelta(minutes=1))


def test_a_restricted_citation_names_the_version_only() -> None:
    with pytest.raises(ValidationError):
        DocumentCitation(document_id="doc_1", version=1, page=3, restricted=True)
    with pytest.raises(ValidationError):
        DocumentCitation(document_id="doc_1", version=1, snippet="text", restricted=True)


def message(sender: AgentName, kind: MessageType, content: dict[str, Any], **fields: Any) -> AgentMessage:
    return AgentMessage(
        sender=sender, type=kind, content=content, conversation_id="req_1", request_id="req_1", created_at=T0, **fields
    )


def test_older_messages_are_withheld_by_the_research_their_symbol_cited() -> None:
    cited = {"kind": "document", "document_id": "doc_1", "version": 1, "page": 3, "chunk_id": "doc_1:1:0"}
    trail = [
        message(AgentName.PLANNING, MessageType.RESPONSE, {"universe": ["AAPL"]}),
        message(AgentName.RESEARCH, MessageType.RESPONSE, {"symbol": "AAPL", "passages": [cited], "ratings": ["sell"]}),
        message(AgentName.SUPERVISOR, MessageType.UPDATE, {"symbol": "AAPL", "conflict": "ratings: sell"}),
        message(AgentName.ANALYSIS, MessageType.RESPONSE, {"symbol": "AAPL", "composite": 1.2}),
        message(AgentName.RESEARCH, MessageType.RESPONSE, {"symbol": "MSFT", "passages": [], "ratings": []}),
    ]
    research = research_sources(trail)
    assert research == {"AAPL": [SOURCE], "MSFT": []}
    shown = [message_view(item, none, research) for item in trail]
    assert shown[1].content == {"symbol": "AAPL", "restricted_sources": 1, "withheld": shown[1].content["withheld"]}
    assert "sell" not in str(shown[2].content)
    assert [shown[0], shown[3], shown[4]] == [trail[0], trail[3], trail[4]]
    assert [message_view(item, every, research) for item in trail] == trail


def test_a_recorded_message_is_withheld_by_its_own_sources() -> None:
    recorded = message(AgentName.COMPLIANCE, MessageType.RESPONSE, {"symbol": "AAPL"}, document_sources=[SOURCE])
    plain = message(AgentName.COMPLIANCE, MessageType.RESPONSE, {"symbol": "AAPL"}, document_sources=[])
    assert message_view(recorded, none, {}).content["restricted_sources"] == 1
    assert message_view(plain, none, {"AAPL": [SOURCE]}) == plain


class Documents:
    """An in-memory document repository counting lookups."""

    def __init__(self, *documents: Document) -> None:
        self.documents = {document.id: document for document in documents}
        self.lookups: list[str] = []

    def get(self, document_id: str) -> Document:
        self.lookups.append(document_id)
        if document_id not in self.documents:
            raise NotFound(document_id)
        return self.documents[document_id]


def principal(user_id: str = "user_2", role: Role = Role.PORTFOLIO_MANAGER) -> Principal:
    return Principal(
        user_id=user_id, organisation_id="org_1", role=role, session_id="s", token_id="t", authenticated_at=T0
    )


def test_access_is_the_sharing_rule_for_the_cited_version_now() -> None:
    documents = Documents(
        make_document(id="doc_private"),
        make_document(id="doc_shared", visibility=Visibility.ORGANISATION),
        make_document(id="doc_roles", visibility=Visibility.ROLES, allowed_roles=["compliance-officer"]),
        make_document(id="doc_deleted", visibility=Visibility.ORGANISATION, deleted_at=T0),
    )
    access = SourceAccess(documents=documents)  # type: ignore[arg-type]
    wanted = [
        DocumentSource(document_id=name, version=version)
        for name in ("doc_private", "doc_shared", "doc_roles", "doc_deleted", "doc_gone")
        for version in (1, 2)
    ]
    manager = access.may_read(principal(), wanted)
    assert [source for source in wanted if manager(source)] == [DocumentSource(document_id="doc_shared", version=1)]
    officer = access.may_read(principal(role=Role.COMPLIANCE_OFFICER), wanted)
    assert {s.document_id for s in wanted if officer(s)} == {"doc_shared", "doc_roles"}
    owner = access.may_read(principal(user_id="user_1", role=Role.ANALYST), wanted)
    assert {s.document_id for s in wanted if owner(s)} == {"doc_private", "doc_shared", "doc_roles"}
    names = ["doc_private", "doc_shared", "doc_roles", "doc_deleted", "doc_gone"]
    assert sorted(documents.lookups) == sorted(3 * names)  # each document once per reader, whatever the versions


def test_a_list_of_ideas_looks_each_document_up_once() -> None:
    documents = Documents(make_document(id="doc_1"), make_document(id="doc_2", visibility=Visibility.ORGANISATION))
    access = SourceAccess(documents=documents)  # type: ignore[arg-type]
    ideas = [make_idea(supporting_evidence=[passage("doc_1", 1, "one"), passage("doc_2", 2, "two")]) for _ in range(20)]
    views = access.ideas(principal(), ideas)
    assert sorted(documents.lookups) == ["doc_1", "doc_2"]
    assert all(view.restricted_sources == 1 for view in views)
    assert all([item.claim for item in view.supporting_evidence] == [WITHHELD_PASSAGE, "two"] for view in views)


def test_market_citations_are_never_withheld() -> None:
    citation = MarketCitation(symbol="AAPL", series="adj_close", start=date(2023, 1, 2), end=date(2023, 12, 29))
    idea = make_idea(supporting_evidence=[Evidence(claim="Last close 190.0", citation=citation)])
    assert view_for(idea, none).model_dump(exclude={"restricted_sources"}) == idea.model_dump()
