"""What a reader sees of an idea and of the agents' messages: document text only from the document versions
the reader may read now.

An idea is made from the requester's documents: research passages become evidence (claim and snippet), the
research summary goes into the rationale, analyst ratings into the counter-arguments and the conflict note,
the research stance into confidence and the number of cited passages into the ranking; a model writing the
narrative or reviewing compliance reads the summary too. Other readers of the idea (a portfolio manager, a
compliance officer) may not be allowed to read those documents, and what anyone may read changes (sharing
revoked, a document deleted). So an idea records when it is generated which document versions fed it
(:attr:`~investai.domain.ideas.InvestmentIdea.document_sources`) and how it reads without any of them
(:attr:`~investai.domain.ideas.InvestmentIdea.document_free`), and every read goes through :func:`view_for`
with the reader's access decided at that moment:

* a reader who may read every source sees the idea as stored;
* any other reader sees the document-free narrative, confidence and ranking; the evidence from documents they
  may read; one restricted citation (the document version, nothing of its content) in place of the passages of
  each other document; compliance issues raised by a model with their text withheld (severity and state stay:
  the review is still owed); and no hash of a prompt that carried document text. ``restricted_sources`` counts
  the document versions withheld.

A reader who may read some sources but not all gets the whole document-free narrative, not one rewritten
without the unreadable passages only: the narrative is written once, when the idea is, and text a model
wrote from several passages cannot be split by passage afterwards.

Ideas stored before sources were recorded carry neither field. Their sources are their document citations;
their narrative fields that could hold passage text are withheld whole (the title and summary are kept when
the synthesis step ran offline: its templates never put research into them), and confidence and ranking are
recomputed from the analysis they kept, without the research stance and passage count.

Agent messages follow the same rule (:func:`message_view`): a message whose content was shaped by a
document the reader may not read keeps only the symbol it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field

from investai.domain.agents import AgentMessage, AgentName, MessageType
from investai.domain.citations import Citation, DocumentCitation, DocumentSource, Evidence
from investai.domain.idea_parts import (
    DOCUMENT_READING_STEPS,
    MODEL_REVIEW_RULE,
    ComplianceStatus,
    DocumentFreeRendering,
    Provenance,
)
from investai.domain.ideas import InvestmentIdea
from investai.domain.scoring import confidence_before_research, passage_quality, ranking_score

MayRead = Callable[[DocumentSource], bool]
"""Whether the reader may read a document version now."""

WITHHELD_PASSAGE = "A passage of a document you may not read; its text is withheld."
WITHHELD_SUMMARY = "This idea's summary drew on documents you may not read; it is withheld."
WITHHELD_RATIONALE = "This idea's rationale drew on documents you may not read; it is withheld."
WITHHELD_COUNTER = "Counter-arguments drawn from documents you may not read are withheld."
WITHHELD_ISSUE = "A concern raised by the review model from documents you may not read; its text is withheld."
WITHHELD_MESSAGE = "This message drew on documents you may not read; its content is withheld."
LEGACY_DOCUMENT_READERS = frozenset(
    {AgentName.RESEARCH, AgentName.SUPERVISOR, AgentName.SYNTHESIS, AgentName.COMPLIANCE}
)
"""Agents whose messages about a symbol may carry its research (for messages sent before sources were kept)."""


class IdeaView(InvestmentIdea):
    """An idea as one reader sees it. Never stored: revising a view fails on ``restricted_sources``."""

    restricted_sources: int = Field(
        default=0,
        ge=0,
        description="document versions behind this idea that you may not read: their passages are shown as "
        "restricted citations, and the narrative, confidence and ranking shown are those written without documents",
    )


# --- ideas -------------------------------------------------------------------------------------------------------


def cited_sources(idea: InvestmentIdea) -> list[DocumentSource]:
    """The document versions the idea's citations point at, in order, once each."""
    citations: list[Citation] = [item.citation for item in idea.supporting_evidence]
    citations += idea.metrics.sources
    if idea.expected_return.citation is not None:
        citations.append(idea.expected_return.citation)
    return _unique(c.source for c in citations if isinstance(c, DocumentCitation))


def idea_sources(idea: InvestmentIdea) -> list[DocumentSource]:
    """Every document version behind the idea: those recorded at generation and any it cites."""
    return _unique([*(idea.document_sources or []), *cited_sources(idea)])


DOCUMENT_FACTORS = frozenset({"value", "quality", "growth"})
"""Factors computed from documents (the fundamentals tables): withheld with them."""


def view_for(idea: InvestmentIdea, may_read: MayRead, sources: Sequence[DocumentSource] | None = None) -> IdeaView:
    """``idea`` as a reader sees it who may read exactly the document versions ``may_read`` allows;
    ``sources``: ``idea_sources(idea)`` when the caller has it already."""
    withheld = {source for source in (idea_sources(idea) if sources is None else sources) if not may_read(source)}
    if not withheld:  # the idea as stored: its (immutable, validated) parts are shared, not copied and checked again
        parts = {name: getattr(idea, name) for name in InvestmentIdea.model_fields}
        return IdeaView.model_construct(**{**parts, "document_free": None, "restricted_sources": 0})
    data = idea.model_dump()
    data["document_free"] = None
    if withheld:
        data.update(_restricted_fields(idea, withheld))
    return IdeaView.model_validate({**data, "restricted_sources": len(withheld)})


def document_free_rendering(idea: InvestmentIdea) -> DocumentFreeRendering:
    """How the idea reads without documents: as recorded at generation, or derived for an older idea."""
    return idea.document_free or _derived_rendering(idea)


def _restricted_fields(idea: InvestmentIdea, withheld: set[DocumentSource]) -> dict[str, Any]:
    free = document_free_rendering(idea)
    fields: dict[str, Any] = {
        "title": free.title,
        "summary": free.summary,
        "rationale": free.rationale,
        "counter_arguments": free.counter_arguments,
        "confidence": free.confidence,
        "supporting_evidence": [item.model_dump() for item in _evidence_view(idea.supporting_evidence, withheld)],
        "metrics": idea.metrics.model_copy(
            update={"sources": [_citation_view(citation, withheld) for citation in idea.metrics.sources]}
        ).model_dump(),
        "compliance": _compliance_view(idea.compliance).model_dump(),
        "provenance": _provenance_view(idea.provenance).model_dump(),
    }
    if idea.expected_return.citation is not None:
        citation = _citation_view(idea.expected_return.citation, withheld)
        fields["expected_return"] = idea.expected_return.model_copy(update={"citation": citation}).model_dump()
    if idea.analysis is not None:
        update: dict[str, Any] = {
            "conflict": None,
            "confidence_adjustment": None,
            # value, quality and growth come from fundamentals tables, which may be among the withheld documents
            "factor_scores": {
                name: (None if name in DOCUMENT_FACTORS else score)
                for name, score in idea.analysis.factor_scores.items()
            },
            "contributions": {
                name: (0.0 if name in DOCUMENT_FACTORS else value)
                for name, value in idea.analysis.contributions.items()
            },
        }
        if free.ranking_score is not None:
            update |= {"ranking_components": free.ranking_components, "ranking_score": free.ranking_score}
        fields["analysis"] = idea.analysis.model_copy(update=update).model_dump()
    return fields


def _evidence_view(evidence: Sequence[Evidence], withheld: set[DocumentSource]) -> list[Evidence]:
    """Evidence from readable documents as it is; one restricted item per withheld document version, where its
    first passage was (how many passages it gave is left out with their text)."""
    shown: list[Evidence] = []
    placed: set[DocumentSource] = set()
    for item in evidence:
        citation = item.citation
        if not isinstance(citation, DocumentCitation) or citation.source not in withheld:
            shown.append(item)
        elif citation.source not in placed:
            placed.add(citation.source)
            shown.append(Evidence(claim=WITHHELD_PASSAGE, citation=citation.withheld(), weight=0.0))
    return shown


def _citation_view(citation: Citation, withheld: set[DocumentSource]) -> Citation:
    if isinstance(citation, DocumentCitation) and citation.source in withheld:
        return citation.withheld()
    return citation


def _compliance_view(status: ComplianceStatus) -> ComplianceStatus:
    issues = [
        issue.model_copy(update={"message": WITHHELD_ISSUE}) if issue.rule == MODEL_REVIEW_RULE else issue
        for issue in status.issues
    ]
    return status.model_copy(update={"issues": issues})


def _provenance_view(provenance: Provenance) -> Provenance:
    models = [
        use.model_copy(update={"prompt_hash": None}) if use.step in DOCUMENT_READING_STEPS else use
        for use in provenance.models
    ]
    return provenance.model_copy(update={"models": models})


def _derived_rendering(idea: InvestmentIdea) -> DocumentFreeRendering:
    """The document-free rendering of an idea stored before it was recorded (see the module docstring). An idea
    without an analysis keeps its confidence: there is nothing to recompute it from, and the agents always
    keep one, so such an idea was not adjusted by research."""
    templated = _synthesis_offline(idea)
    instrument = idea.instruments[0]
    fallback_title = f"{instrument.name or instrument.symbol} ({instrument.symbol}): {idea.strategy.value} idea"
    text: dict[str, Any] = {
        "title": idea.title if templated else fallback_title[:200],
        "summary": idea.summary if templated else WITHHELD_SUMMARY,
        "rationale": WITHHELD_RATIONALE,
        "counter_arguments": [WITHHELD_COUNTER],
    }
    analysis = idea.analysis
    if analysis is None:
        return DocumentFreeRendering(**text, confidence=idea.confidence)
    confidence = round(confidence_before_research(analysis.confidence_inputs), 4)
    components = dict(analysis.ranking_components)
    if not components:
        return DocumentFreeRendering(**text, confidence=confidence)
    passages = sum(1 for item in idea.supporting_evidence if isinstance(item.citation, DocumentCitation))
    components["confidence"] = confidence
    if "quality_novelty" in components:
        components["quality_novelty"] = max(0.0, components["quality_novelty"] - passage_quality(passages))
    return DocumentFreeRendering(
        **text, confidence=confidence, ranking_components=components, ranking_score=ranking_score(components)
    )


def _synthesis_offline(idea: InvestmentIdea) -> bool:
    uses = [use for use in idea.provenance.models if use.step == "synthesis"]
    return bool(uses) and all(use.offline for use in uses)


# --- agent messages ----------------------------------------------------------------------------------------------


def research_sources(messages: Iterable[AgentMessage]) -> dict[str, list[DocumentSource]]:
    """The document versions each symbol's research cited, read from the research agent's answers: the sources
    of messages sent before messages recorded their own."""
    found: dict[str, list[DocumentSource]] = {}
    for message in messages:
        symbol = message.content.get("symbol")
        if message.sender is not AgentName.RESEARCH or message.type is not MessageType.RESPONSE:
            continue
        if isinstance(symbol, str):
            found[symbol] = _unique([*found.get(symbol, []), *_passage_sources(message.content.get("passages"))])
    return found


def message_sources(message: AgentMessage, research: Mapping[str, list[DocumentSource]]) -> list[DocumentSource]:
    """The document versions whose text shaped ``message``: as recorded, or for an older message from an
    agent that reads research, everything its symbol's research cited (``research``, see
    :func:`research_sources`)."""
    if message.document_sources is not None:
        return list(message.document_sources)
    symbol = message.content.get("symbol")
    if message.sender not in LEGACY_DOCUMENT_READERS or not isinstance(symbol, str):
        return []
    return list(research.get(symbol, []))


def message_view(
    message: AgentMessage, may_read: MayRead, research: Mapping[str, list[DocumentSource]]
) -> AgentMessage:
    """``message`` as a reader sees it: as sent, or, when a document behind it is one the reader may not read,
    with its content withheld but for the symbol it is about."""
    withheld = [source for source in _unique(message_sources(message, research)) if not may_read(source)]
    if not withheld:
        return message
    symbol = message.content.get("symbol")
    content: dict[str, Any] = {"symbol": symbol} if isinstance(symbol, str) else {}
    content |= {"restricted_sources": len(withheld), "withheld": WITHHELD_MESSAGE}
    return message.model_copy(update={"content": content})


def _passage_sources(passages: object) -> list[DocumentSource]:
    if not isinstance(passages, list):
        return []
    found = []
    for passage in passages:
        if isinstance(passage, dict) and passage.get("kind", "document") == "document":
            try:
                found.append(DocumentSource(document_id=passage["document_id"], version=passage["version"]))
            except (KeyError, ValueError):
                continue
    return found


def _unique(sources: Iterable[DocumentSource]) -> list[DocumentSource]:
    return list(dict.fromkeys(sources))
