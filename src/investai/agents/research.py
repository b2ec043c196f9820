"""The research agent: passages from the firm's knowledge base about each candidate, as the requester.

Searches run through :class:`~investai.ports.research.EvidenceSearch` with the requester's access scope and
the request's as-of moment, so an analyst never sees (or cites) a document they could not open and nothing
uploaded after the as-of moment is read. A passage is kept only when it names the candidate (symbol or
name). The summary is extractive offline (the first sentences of the best passages, each with its citation
number); a model-written summary must state only numbers that appear in the cited passages, or the
extractive one is used. Passages are quoted to the model as untrusted data, and nothing the model answers
can change which passages are cited or any decision: the summary is prose shown to the reader.

Analyst ratings found in the passages (``Buy``, ``Overweight``, ``Sell``...) give the research stance that the
supervisor weighs against the analysis signal when the two disagree.

The findings name the document versions the passages came from (``sources``): everything the evidence,
summary, stance and credibility were made from. The idea records them so that readers who may not read one of
those documents are shown the idea without their text (:mod:`investai.domain.idea_views`); the messages that
carry research carry the same sources.
"""

from __future__ import annotations

import re

from pydantic import Field

from investai.agents.context import RunContext
from investai.agents.grounding import check_numbers, written_numbers
from investai.agents.planning import Plan
from investai.agents.prompts import NUMBERS_RULE, UNTRUSTED_RULE, PromptTemplate, quote_untrusted
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import DocumentSource, Evidence, MarketCitation
from investai.domain.common import DomainModel
from investai.domain.knowledge import KnowledgeHit, snippet_text
from investai.domain.llm import TaskKind
from investai.ports.research import EvidenceSearch

PASSAGES_PER_QUERY = 4
MAX_PASSAGES = 6
POSITIVE = ("buy", "outperform", "overweight", "strong buy", "accumulate")
NEGATIVE = ("sell", "underperform", "underweight", "reduce", "strong sell")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

SUMMARY_TEMPLATE = PromptTemplate(
    name="research.summary",
    version="1",
    task=TaskKind.FAST,
    system=f"You summarise research passages for an investment analyst in three sentences. {UNTRUSTED_RULE} "
    f"{NUMBERS_RULE} Cite passages by their number in square brackets.",
    user="Company: $name ($symbol).\nPassages:\n$passages",
    max_tokens=400,
)


class ResearchFindings(DomainModel):
    symbol: str
    evidence: list[Evidence] = Field(default_factory=list)
    summary: str = ""
    summary_offline: bool = True
    stance: float = Field(default=0.0, ge=-1.0, le=1.0, description="-1 all negative ratings .. +1 all positive")
    ratings: list[str] = Field(default_factory=list)
    credibility: float = Field(default=0.0, ge=0.0, le=1.0)
    passages_numbers: list[float] = Field(default_factory=list)
    sources: list[DocumentSource] = Field(
        default_factory=list, description="the document versions of every passage read for these findings"
    )


def _mentions(hit: KnowledgeHit, symbol: str, name: str) -> bool:
    text = f"{hit.title} {snippet_text(hit.snippet)}"
    short_name = name.split(" ")[0].strip(",.") if name else symbol
    return bool(re.search(rf"\b{re.escape(symbol)}\b", text)) or (
        len(short_name) > 2 and short_name.lower() in text.lower()
    )


def _stance(texts: list[str], symbol: str) -> tuple[float, list[str]]:
    """Net analyst rating in the passages, from rating words on lines that name the symbol."""
    found: list[str] = []
    for text in texts:
        for line in text.splitlines():
            if not re.search(rf"\b{re.escape(symbol)}\b", line):
                continue
            lowered = line.lower()
            found.extend(word for word in (*POSITIVE, *NEGATIVE) if re.search(rf"\b{word}\b", lowered))
    positive = sum(word in POSITIVE for word in found)
    negative = sum(word in NEGATIVE for word in found)
    total = positive + negative
    return ((positive - negative) / total if total else 0.0), found


class ResearchAgent:
    name = AgentName.RESEARCH

    def __init__(self, evidence: EvidenceSearch) -> None:
        self._evidence = evidence

    def research(
        self, ctx: RunContext, plan: Plan, symbol: str, market_facts: list[tuple[str, MarketCitation]]
    ) -> ResearchFindings:
        name = plan.names.get(symbol, symbol)
        hits: dict[str, KnowledgeHit] = {}
        for question in plan.research_questions:
            ctx.check_cancelled()
            query = question.replace("{name}", name).replace("{symbol}", symbol)[:500]
            for hit in self._evidence.passages(
                reader=ctx.reader, query=query, as_of=ctx.as_of, limit=PASSAGES_PER_QUERY, request_id=ctx.request_id
            ):
                key = hit.citation.chunk_id or f"{hit.citation.document_id}:{hit.citation.page}"
                if _mentions(hit, symbol, name) and (key not in hits or hits[key].score < hit.score):
                    hits[key] = hit
        chosen = sorted(hits.values(), key=lambda hit: -hit.score)[:MAX_PASSAGES]
        sources = list(dict.fromkeys(hit.citation.source for hit in chosen))
        evidence = [
            Evidence(
                claim=snippet_text(hit.snippet)[:2000] or hit.title, citation=hit.citation, weight=min(1.0, hit.score)
            )
            for hit in chosen
        ]
        evidence.extend(Evidence(claim=claim, citation=citation, weight=1.0) for claim, citation in market_facts)
        texts = [snippet_text(hit.snippet) for hit in chosen]
        stance, ratings = _stance(texts, symbol)
        allowed = [number.value for text in texts for number in written_numbers(text)]
        summary, offline = self._summary(ctx, symbol, name, chosen, allowed, sources)
        credibility = min(1.0, 0.4 + 0.1 * len(chosen)) if chosen else 0.0
        ctx.message(
            AgentName.RESEARCH,
            MessageType.RESPONSE,
            {
                "symbol": symbol,
                "passages": [hit.citation.model_dump(mode="json", exclude={"snippet"}) for hit in chosen],
                "stance": stance,
                "ratings": ratings,
            },
            recipient=AgentName.SUPERVISOR,
            sources=sources,
        )
        return ResearchFindings(
            symbol=symbol,
            evidence=evidence,
            summary=summary,
            summary_offline=offline,
            stance=stance,
            ratings=ratings,
            credibility=credibility,
            passages_numbers=allowed,
            sources=sources,
        )

    def _summary(
        self,
        ctx: RunContext,
        symbol: str,
        name: str,
        chosen: list[KnowledgeHit],
        allowed: list[float],
        sources: list[DocumentSource],
    ) -> tuple[str, bool]:
        if not chosen:
            return f"No passage in the documents you can read discusses {name} ({symbol}) as of this date.", True
        sentences = []
        for number, hit in enumerate(chosen[:3], start=1):
            first = _SENTENCE.split(snippet_text(hit.snippet).replace("…", "").strip())[0].strip()
            if first:
                sentences.append(f"{first} [{number}]")
        extractive = " ".join(sentences)
        passages = "\n".join(
            f"[{number}] "
            + quote_untrusted(snippet_text(hit.snippet), source=f"{hit.title} p.{hit.citation.page or '-'}")
            for number, hit in enumerate(chosen, start=1)
        )
        rendered = SUMMARY_TEMPLATE.render(offline_answer=extractive, name=name, symbol=symbol, passages=passages)
        answer = ctx.router.complete(rendered, step="research")
        ctx.record_use(answer.use)
        text = answer.response.text.strip()
        if answer.response.offline:
            return extractive, True
        report = check_numbers(text, [*allowed, *range(1, len(chosen) + 1)])
        if text and report.ok:
            return text[:4000], False
        ctx.message(
            AgentName.RESEARCH,
            MessageType.UPDATE,
            {"symbol": symbol, "grounding": "summary rejected", "unsupported_numbers": report.unsupported},
            sources=sources,
        )
        return extractive, True
