"""The research agent: passages from the firm's knowledge base about each candidate, as the requester.

Searches run through :class:`~investai.ports.research.EvidenceSearch` with the requester's access scope and
the request's as-of moment, so an analyst never sees (or cites) a document they could not open and nothing
uploaded after the as-of moment is read. Besides the plan's questions, one search asks for the candidate's
analyst ratings.

A passage supports the idea only when its text (never the document's title) names the candidate: its symbol or
one of the names derived from the symbol master (:mod:`investai.domain.instruments`). What is kept of it
(:mod:`investai.agents.evidence`) is a quote: the whole sentences that name the candidate, without page
furniture or citation markers, or for a table the row that names it as ``column: value`` pairs, cited by that
row's own number. A passage that names only the candidate's sector is kept as sector evidence (at most
``MAX_SECTOR_PASSAGES``, after the candidate's own), and says so. The claim of each piece of evidence is written
by code from the quote.

The summary is extractive offline (the first quoted sentence of the best passages, each followed by its
citation number). A model-written summary must state only numbers that appear in the quotes
(:mod:`investai.agents.grounding`) and every sentence must be supported by the quotes it cites
(:mod:`investai.agents.faithfulness`), or the extractive one is used and the rejection is recorded with its
reasons. Passages are quoted to the model as untrusted data, and nothing the model answers can change which
passages are cited or any decision: the summary is prose shown to the reader.

Analyst ratings in the same record as the candidate (a sentence or line naming it, a table row naming it:
``Buy``, ``Overweight``, ``hold``, ``Sell``...) give the research stance that the supervisor weighs against the
analysis signal when the two disagree (:mod:`investai.agents.ratings`).

The findings name the document versions the passages came from (``sources``): everything the evidence,
summary, stance and credibility were made from. The idea records them so that readers who may not read one of
those documents are shown the idea without their text (:mod:`investai.domain.idea_views`); the messages that
carry research carry the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from investai.agents.context import RunContext
from investai.agents.evidence import Passage, Quote, passage_of, quote_passage
from investai.agents.faithfulness import check_faithfulness
from investai.agents.grounding import check_numbers, written_numbers
from investai.agents.planning import Plan
from investai.agents.prompts import NUMBERS_RULE, UNTRUSTED_RULE, PromptTemplate, quote_untrusted
from investai.agents.ratings import ratings_in, stance
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import DocumentCitation, DocumentSource, Evidence, EvidenceScope, MarketCitation
from investai.domain.common import DomainModel
from investai.domain.instruments import InstrumentNames, SectorNames, instrument_names, sector_names
from investai.domain.knowledge import ChunkKind, KnowledgeHit
from investai.domain.llm import TaskKind
from investai.ports.research import EvidenceSearch

PASSAGES_PER_QUERY = 4
MAX_PASSAGES = 6
MAX_SECTOR_PASSAGES = 2
SECTOR_WEIGHT = 0.5
"""Sector evidence weighs half as much as evidence about the instrument itself."""
SUMMARY_SENTENCES = 3
RATINGS_QUESTION = "{name} ({symbol}) analyst rating, recommendation and price target"

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


@dataclass(frozen=True)
class _Read:
    """A passage read for a candidate: what it supports (``quote``) and the ratings it gives."""

    hit: KnowledgeHit
    quote: Quote | None
    ratings: tuple[str, ...]

    @property
    def rank(self) -> tuple[bool, float]:
        return (self.quote is not None, self.hit.score)


def _read(hit: KnowledgeHit, names: InstrumentNames, sector: SectorNames) -> _Read | None:
    passage: Passage = passage_of(hit)
    quote = quote_passage(passage, names, sector)
    ratings = tuple(ratings_in(passage, names))
    return _Read(hit=hit, quote=quote, ratings=ratings) if quote is not None or ratings else None


def _choose(reads: list[_Read]) -> list[_Read]:
    """The best passages about the instrument, then at most ``MAX_SECTOR_PASSAGES`` about its sector; a quote
    already taken from another passage (overlapping chunks, a table in two files) is not taken twice."""
    ordered = sorted((read for read in reads if read.quote is not None), key=lambda read: -read.hit.score)
    chosen: list[_Read] = []
    seen: set[str] = set()
    for scope, limit in ((EvidenceScope.INSTRUMENT, MAX_PASSAGES), (EvidenceScope.SECTOR, MAX_SECTOR_PASSAGES)):
        taken = 0
        for read in ordered:
            assert read.quote is not None
            if read.quote.scope is not scope or read.quote.quote in seen or taken >= limit:
                continue
            if len(chosen) >= MAX_PASSAGES:
                return chosen
            chosen.append(read)
            seen.add(read.quote.quote)
            taken += 1
    return chosen


def _evidence(read: _Read) -> Evidence:
    quote = read.quote
    assert quote is not None
    citation = read.hit.citation
    update: dict[str, object] = {"snippet": quote.quote}
    if read.hit.kind is ChunkKind.TABLE:
        update["row"] = quote.row
    weight = min(1.0, max(0.0, read.hit.score)) * (SECTOR_WEIGHT if quote.scope is EvidenceScope.SECTOR else 1.0)
    return Evidence(
        claim=quote.claim,
        citation=citation.model_copy(update=update),
        weight=weight,
        quote=quote.quote,
        scope=quote.scope,
        subject=quote.subject,
    )


def _label(read: _Read) -> str:
    citation: DocumentCitation = read.hit.citation
    where = f"row {read.quote.row}" if read.quote is not None and read.quote.row else f"p.{citation.page or '-'}"
    return f"{read.hit.title} {where}"


class ResearchAgent:
    name = AgentName.RESEARCH

    def __init__(self, evidence: EvidenceSearch) -> None:
        self._evidence = evidence

    def research(
        self, ctx: RunContext, plan: Plan, symbol: str, market_facts: list[tuple[str, MarketCitation]]
    ) -> ResearchFindings:
        name = plan.names.get(symbol, symbol)
        names = instrument_names(symbol, name)
        sector = sector_names(plan.sectors.get(symbol))
        reads = self._read_passages(ctx, plan, symbol, name, names, sector)
        chosen = _choose(reads)
        rated = [read for read in reads if read.ratings]
        ratings = [rating for read in rated for rating in read.ratings]
        sources = list(dict.fromkeys(read.hit.citation.source for read in [*chosen, *rated]))
        evidence = [_evidence(read) for read in chosen]
        evidence.extend(Evidence(claim=claim, citation=citation, weight=1.0) for claim, citation in market_facts)
        quotes = [read.quote for read in chosen if read.quote is not None]
        allowed = [number.value for quote in quotes for number in written_numbers(quote.quote)]
        summary, offline = self._summary(ctx, symbol, name, names, chosen, allowed, sources)
        credibility = min(1.0, 0.4 + 0.1 * len(chosen)) if chosen else 0.0
        value = stance(ratings)
        ctx.message(
            AgentName.RESEARCH,
            MessageType.RESPONSE,
            {
                "symbol": symbol,
                "passages": [
                    item.citation.model_dump(mode="json", exclude={"snippet"}) for item in evidence[: len(chosen)]
                ],
                "stance": value,
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
            stance=value,
            ratings=ratings,
            credibility=credibility,
            passages_numbers=allowed,
            sources=sources,
        )

    def _read_passages(
        self, ctx: RunContext, plan: Plan, symbol: str, name: str, names: InstrumentNames, sector: SectorNames
    ) -> list[_Read]:
        """Every passage the searches found that names the candidate or its sector, or rates the candidate: the
        best-scoring reading of each chunk."""
        found: dict[str, _Read] = {}
        for question in dict.fromkeys([*plan.research_questions, RATINGS_QUESTION]):
            ctx.check_cancelled()
            query = question.replace("{name}", name).replace("{symbol}", symbol)[:500]
            for hit in self._evidence.passages(
                reader=ctx.reader, query=query, as_of=ctx.as_of, limit=PASSAGES_PER_QUERY, request_id=ctx.request_id
            ):
                key = hit.citation.chunk_id or f"{hit.citation.document_id}:{hit.citation.page}"
                if key in found and found[key].rank >= (True, hit.score):
                    continue
                read = _read(hit, names, sector)
                if read is not None and (key not in found or read.rank > found[key].rank):
                    found[key] = read
        return list(found.values())

    def _summary(
        self,
        ctx: RunContext,
        symbol: str,
        name: str,
        names: InstrumentNames,
        chosen: list[_Read],
        allowed: list[float],
        sources: list[DocumentSource],
    ) -> tuple[str, bool]:
        if not chosen:
            return f"No passage in the documents you can read discusses {name} ({symbol}) as of this date.", True
        quotes = {number: read.quote.quote for number, read in enumerate(chosen, start=1) if read.quote is not None}
        extractive = _extractive(chosen, name, symbol)
        passages = "\n".join(
            f"[{number}] " + quote_untrusted(quotes[number], source=_label(read))
            for number, read in enumerate(chosen, start=1)
        )
        rendered = SUMMARY_TEMPLATE.render(offline_answer=extractive, name=name, symbol=symbol, passages=passages)
        answer = ctx.router.complete(rendered, step="research")
        ctx.record_answer(AgentName.RESEARCH, answer, symbol=symbol)
        text = answer.response.text.strip()
        if answer.response.offline:
            return extractive, True
        numbers = check_numbers(text, allowed)
        faithful = check_faithfulness(text, quotes, known_names=(symbol, name, *names.aliases))
        if text and numbers.ok and faithful.ok:
            return text[:4000], False
        reasons = (
            [f"states numbers the passages do not: {', '.join(numbers.unsupported)}"] if numbers.unsupported else []
        )
        reasons += faithful.reasons
        ctx.message(
            AgentName.RESEARCH,
            MessageType.UPDATE,
            {
                "symbol": symbol,
                "grounding": "summary rejected",
                "reason": reasons[0] if reasons else "the text is empty",
                "reasons": reasons[:10],
                "unsupported_numbers": numbers.unsupported,
            },
            sources=sources,
        )
        return extractive, True


def _extractive(chosen: list[_Read], name: str, symbol: str) -> str:
    """Up to ``SUMMARY_SENTENCES`` quoted sentences about the instrument, each followed by the number of its
    passage; sentences about its sector (said to be so) only when no passage has one about the instrument, and
    when no passage has prose at all, a sentence saying which table rows give its figures."""
    for scope in (EvidenceScope.INSTRUMENT, EvidenceScope.SECTOR):
        sentences: list[str] = []
        for number, read in enumerate(chosen, start=1):
            quote = read.quote
            if quote is None or quote.scope is not scope or not quote.sentences:
                continue
            lead = quote.sentences[0]
            if scope is EvidenceScope.SECTOR:
                lead = f"{quote.subject} sector: {lead}"
            if not any(sentence.startswith(lead) for sentence in sentences):
                sentences.append(f"{lead} [{number}]")
            if len(sentences) >= SUMMARY_SENTENCES:
                break
        if sentences:
            return " ".join(sentences)
    rows = " ".join(f"[{number}]" for number, read in enumerate(chosen, start=1) if read.quote and read.quote.row)
    return f"The documents give figures for {name} ({symbol}) in table rows. {rows}".strip()
