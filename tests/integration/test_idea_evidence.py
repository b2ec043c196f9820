"""Evidence that supports the idea, quoted properly, on the sample corpus; and model text that must be supported.

For ideas from each of the five request templates, every document passage an idea cites names its instrument
(or, for sector evidence, which says so, its sector) in the passage's own text, its quote is whole sentences of
that passage (or, for a table, the row naming the instrument as ``column: value`` pairs) that start and end on a
word boundary, and a table citation names the row that holds the instrument: the KO and MRK ideas cite the rows
those symbols have in the sample tables. A research summary written through the OpenAI-compatible provider that
reads well but says what the passages do not is kept out of the idea, and its rejection is recorded.

The container's evidence search hands the research agent each passage whole (a window would leave it quoting
part-sentences and unable to number a table row).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from investai.adapters.local.clock import FakeClock
from investai.adapters.models.openai_compatible import OpenAICompatibleProvider
from investai.agents.supervisor import Supervisor
from investai.bootstrap import Container, build_container
from investai.bootstrap.models import build_model_router
from investai.config import Settings
from investai.domain.agents import AgentMessage, MessageType
from investai.domain.citations import DocumentCitation, Evidence, EvidenceScope
from investai.domain.idea_request import REQUEST_TEMPLATES, IdeaRequest, request_from_template
from investai.domain.ideas import InvestmentIdea
from investai.domain.instruments import instrument_names, sector_names
from investai.domain.knowledge import AccessScope, Chunk, ChunkKind
from investai.observability.metrics import Metrics
from investai.ports.knowledge import Embedder
from investai.ports.research import EvidenceSearch
from investai.sample.tables import analyst_estimates_json, fundamentals_csv
from investai.services.auth_common import CallContext
from investai.services.knowledge import KnowledgeEvidence
from tests.conftest import drain, sign_up
from tests.factories import T0

ORG = "org_evidence"
UNSUPPORTED = (
    "{name} is well positioned to capture secular growth in emerging markets through its digital transformation "
    "strategy [1]. Management's disciplined capital allocation should drive durable shareholder value [2]."
)
UNSUPPORTED_MARKERS = ("digital transformation", "durable shareholder value")
SUPPORTED_PREFIX = "In short,"
PAIR = IdeaRequest(tickers=["KO", "MRK"], max_ideas=2, min_confidence=0, risk_tolerance="very_aggressive")


@dataclass
class Sample:
    container: Container
    reader: AccessScope
    chunks: dict[str, Chunk]
    filenames: dict[str, str] = field(default_factory=dict, metadata={"doc": "document id -> file name"})

    def evidence(self) -> KnowledgeEvidence:
        """The evidence search the container's supervisor is wired with."""
        return KnowledgeEvidence(index=self.container.knowledge.index, embedder=self.container.knowledge.embedder)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Sample]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("evidence") / "var")
    container = build_container(settings, clock=FakeClock(T0), embedder=embedder)
    account = sign_up(container, organisation=ORG)
    assert container.knowledge.samples.ensure_loaded(ORG) > 0
    drain(container)
    container.market.load_sample()
    principal = container.identity.verifier.verify(account.tokens.access_token)
    documents = container.knowledge.documents.list_documents(principal, CallContext(), limit=500)
    chunks = {chunk.id: chunk for document in documents for chunk in container.knowledge.index.chunks(document.id)}
    reader = AccessScope(user_id=account.user.id, organisation_id=ORG, role=account.user.role.value)
    filenames = {document.id: document.versions[0].filename for document in documents}
    yield Sample(container=container, reader=reader, chunks=chunks, filenames=filenames)
    container.close()


@dataclass
class Generated:
    ideas: list[InvestmentIdea]
    messages: list[AgentMessage]


def generate(sample: Sample, request: IdeaRequest, *, supervisor: Any = None, name: str = "req") -> Generated:
    generator = supervisor or sample.container.idea_requests.generator
    messages: list[AgentMessage] = []
    result = generator.generate(request, request_id=f"req_{name}", reader=sample.reader, on_message=messages.append)
    return Generated(ideas=list(result.ideas), messages=messages)


def supervisor_with(sample: Sample, evidence: EvidenceSearch, router: Any = None) -> Supervisor:
    container = sample.container
    return Supervisor(
        market=container.market, evidence=evidence, router=router or container.models, clock=container.clock
    )


@pytest.fixture(scope="module")
def by_template(sample: Sample) -> dict[str, Generated]:
    return {name: generate(sample, request_from_template(name, {}), name=name) for name in REQUEST_TEMPLATES}


@pytest.fixture(scope="module")
def whole_pair(sample: Sample) -> Generated:
    return generate(sample, PAIR, name="whole")


# --- checks ------------------------------------------------------------------------------------------------------


def document_evidence(idea: InvestmentIdea) -> list[tuple[Evidence, DocumentCitation]]:
    return [(item, item.citation) for item in idea.supporting_evidence if isinstance(item.citation, DocumentCitation)]


def flat(text: str) -> str:
    return " ".join(text.split())


def at_word_boundaries(part: str, source: str) -> bool:
    """``part`` occurs in ``source`` (whitespace aside) with no letter or digit right before or after it."""
    text = flat(source)
    for match in re.finditer(re.escape(part), text):
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end()] if match.end() < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
    return False


def cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def table_line(chunk: Chunk, row: int) -> str:
    """The rendered line of data row ``row`` in a table chunk (title line and header first)."""
    assert chunk.row_start is not None
    assert chunk.row_end is not None
    assert chunk.row_start <= row <= chunk.row_end
    return chunk.text.splitlines()[2 + row - chunk.row_start]


RESEARCH_LEAD = "From the firm's documents:"


def check_evidence(sample: Sample, idea: InvestmentIdea) -> int:
    """Assert what every document passage of ``idea`` must be; how many there are."""
    instrument = idea.instruments[0]
    names = instrument_names(instrument.symbol, instrument.name)
    sector = sector_names(instrument.sector)
    found = document_evidence(idea)
    for item, citation in found:
        if citation.chunk_id is None:  # the fundamentals row the value, quality and growth factors came from
            assert citation.table, citation
            assert citation.row is not None, citation
            assert item.subject == instrument.symbol, item
            continue
        chunk = sample.chunks[citation.chunk_id]
        assert item.quote, item
        assert citation.snippet == item.quote
        assert item.claim[:1].isupper() or item.claim[:1].isdigit(), item.claim
        named = names if item.scope is EvidenceScope.INSTRUMENT else sector
        assert item.scope in (EvidenceScope.INSTRUMENT, EvidenceScope.SECTOR)
        assert item.subject == (instrument.symbol if item.scope is EvidenceScope.INSTRUMENT else instrument.sector)
        if chunk.kind is ChunkKind.TABLE:
            assert citation.row is not None
            line = table_line(chunk, citation.row)
            assert any(names.is_cell(cell) or sector.is_cell(cell) for cell in cells(line)), (line, item.quote)
            header = cells(chunk.text.splitlines()[1])
            pairs = dict(zip(header, cells(line), strict=False))
            for pair in item.quote.split("; "):
                column, value = pair.split(": ", 1)
                assert pairs[column] == value, pair
        else:
            assert named.named_in(item.quote), (idea.instruments[0].symbol, item.quote)
            for sentence in item.quote.split(" … "):
                assert at_word_boundaries(sentence, chunk.text), (sentence, chunk.text)
            assert item.quote[:1].isupper() or item.quote[:1] in "\"'(0123456789", item.quote
            assert item.quote.rstrip("\"')")[-1] in ".!?", item.quote
            assert not re.search(r"\[\d+\]", item.quote)
            assert "Page " not in item.quote
            if item.scope is EvidenceScope.SECTOR:
                assert item.claim.startswith(f"{instrument.sector} sector: ")
    return len(found)


def sample_rows(filename: str) -> dict[str, int]:
    """Symbol -> its data row (from 1) in a sample table file."""
    if filename == "analyst_estimates.json":
        return {record["ticker"]: number for number, record in enumerate(json.loads(analyst_estimates_json()), 1)}
    rows = list(csv.reader(io.StringIO(fundamentals_csv().decode())))
    return {row[0]: number for number, row in enumerate(rows[1:], start=1)}  # the CSV and the XLSX sheet alike


# --- every template, through the container ---------------------------------------------------------------------


@pytest.mark.parametrize("template", list(REQUEST_TEMPLATES))
def test_every_passage_an_idea_cites_names_its_instrument_or_sector_and_is_quoted_whole(
    sample: Sample, by_template: dict[str, Generated], template: str
) -> None:
    generated = by_template[template]
    assert generated.ideas
    cited = sum(check_evidence(sample, idea) for idea in generated.ideas)
    assert cited >= len(generated.ideas)  # the sample notes cover every idea's instrument or sector
    for idea in generated.ideas:
        if RESEARCH_LEAD in idea.rationale:
            research = idea.rationale.split(RESEARCH_LEAD, 1)[1]
            assert not re.search(r"\w \[\d+\] \w", research)  # markers end sentences, never split one


def stances(generated: Generated) -> dict[str, tuple[float, list[str]]]:
    return {
        message.content["symbol"]: (message.content["stance"], message.content["ratings"])
        for message in generated.messages
        if message.type is MessageType.RESPONSE and "stance" in message.content
    }


def test_the_rating_in_the_sample_estimates_gives_the_research_stance(whole_pair: Generated) -> None:
    rated = {record["ticker"]: record["rating"] for record in json.loads(analyst_estimates_json())}
    found = stances(whole_pair)
    assert (rated["MRK"], rated["KO"]) == ("buy", "hold")
    assert found["MRK"] == (1.0, ["buy"])
    assert found["KO"] == (0.0, ["hold"])


def test_no_stance_contradicts_the_sample_estimates(by_template: dict[str, Generated]) -> None:
    rated = {record["ticker"]: record["rating"] for record in json.loads(analyst_estimates_json())}
    found = {symbol: value for generated in by_template.values() for symbol, value in stances(generated).items()}
    assert any(stance > 0 for symbol, (stance, _) in found.items() if rated.get(symbol) == "buy")
    for symbol, (stance, ratings) in found.items():
        assert set(ratings) <= {rated[symbol]}, symbol  # a rating read is the symbol's own, from its row
        assert stance == {"buy": 1.0, "hold": 0.0, "sell": -1.0}[rated[symbol]] or not ratings, symbol


# --- table rows ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["KO", "MRK"])
def test_table_citations_name_the_row_of_the_instrument_in_the_sample_tables(
    sample: Sample, whole_pair: Generated, symbol: str
) -> None:
    idea = next(idea for idea in whole_pair.ideas if idea.instruments[0].symbol == symbol)
    check_evidence(sample, idea)
    rows = [
        (sample.filenames[citation.document_id], citation.row)
        for _, citation in document_evidence(idea)
        if sample.filenames[citation.document_id] in ("fundamentals.csv", "fundamentals.xlsx", "analyst_estimates.json")
    ]
    assert rows, f"the {symbol} idea cites no row of the sample tables"
    for filename, row in rows:
        assert row == sample_rows(filename)[symbol], (filename, row)
    assert sample_rows("fundamentals.csv")[symbol] == {"KO": 10, "MRK": 12}[symbol]


def test_the_container_cites_table_rows(sample: Sample) -> None:
    generated = generate(sample, PAIR, name="container_rows")
    idea = next(idea for idea in generated.ideas if idea.instruments[0].symbol == "KO")
    assert any(
        sample.filenames[citation.document_id] in ("fundamentals.csv", "analyst_estimates.json")
        for _, citation in document_evidence(idea)
    )


# --- model text must be supported ----------------------------------------------------------------------------------


class ScriptedServer:
    """An OpenAI-compatible chat server: the research summary is answered by ``summary``; every other request is
    refused (HTTP 400), so those steps fall back to the offline provider."""

    def __init__(self, summary: Any) -> None:
        self.summary = summary
        self.research_calls = 0

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if not system.startswith("You summarise research passages"):
            return httpx2.Response(400, json={"error": {"message": "not scripted"}})
        self.research_calls += 1
        content = self.summary(user)
        return httpx2.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
            },
        )


def through_openai(sample: Sample, server: ScriptedServer) -> Generated:
    settings = Settings(_env_file=None, data_dir=sample.container.settings.data_dir, model_provider="openai")
    provider = OpenAICompatibleProvider(
        base_url=settings.openai_base_url,
        api_key="not-needed",
        http_client=httpx2.Client(transport=httpx2.MockTransport(server.handle)),
    )
    router = build_model_router(settings, metrics=Metrics(), providers={"openai": provider}, sleep=lambda s: None)
    return generate(sample, PAIR, supervisor=supervisor_with(sample, sample.evidence(), router), name="openai")


def unsupported(prompt: str) -> str:
    name = re.search(r"Company: (.+) \(", prompt)
    return UNSUPPORTED.format(name=name.group(1) if name else "The company")


def supported(prompt: str) -> str:
    """A paraphrase of the first prose passage shown: one of its sentences, introduced, with its number."""
    for number, passage in re.findall(r"\[(\d+)\] <untrusted[^>]*>\n(.*?)\n</untrusted>", prompt, re.S):
        if passage.rstrip().endswith("."):
            sentence = re.split(r"(?<=\.) (?=[A-Z])", passage.replace(" … ", " "))[0]
            return f"{SUPPORTED_PREFIX} {sentence[0].lower()}{sentence[1:-1]} [{number}]."
    return "Nothing to add [1]."


def test_fluent_unsupported_research_text_from_the_model_never_reaches_the_idea(sample: Sample) -> None:
    server = ScriptedServer(unsupported)
    generated = through_openai(sample, server)
    assert server.research_calls >= 2
    assert {idea.instruments[0].symbol for idea in generated.ideas} == {"KO", "MRK"}
    for idea in generated.ideas:
        shown = " ".join(
            [
                idea.title,
                idea.summary,
                idea.rationale,
                *idea.counter_arguments,
                *(item.claim for item in idea.supporting_evidence),
                *(item.quote or "" for item in idea.supporting_evidence),
            ]
        )
        for marker in UNSUPPORTED_MARKERS:
            assert marker not in shown
        assert RESEARCH_LEAD in idea.rationale  # the extractive summary took its place
    rejected = [message for message in generated.messages if message.content.get("grounding") == "summary rejected"]
    assert {message.content["symbol"] for message in rejected} >= {"KO", "MRK"}
    for message in rejected:
        assert "content words" in message.content["reason"]


def test_a_supported_model_summary_is_used(sample: Sample) -> None:
    server = ScriptedServer(supported)
    generated = through_openai(sample, server)
    assert server.research_calls >= 2
    assert any(SUPPORTED_PREFIX in idea.rationale for idea in generated.ideas)
    assert not [m for m in generated.messages if m.content.get("grounding") == "summary rejected"]


def test_fundamentals_and_ratings_reach_the_ideas(by_template: dict[str, Generated], sample: Sample) -> None:
    ideas = [idea for generated in by_template.values() for idea in generated.ideas]
    with_fundamentals = [
        idea
        for idea in ideas
        if idea.analysis is not None
        and all(idea.analysis.factor_scores.get(name) is not None for name in ("value", "quality", "growth"))
    ]
    assert with_fundamentals, "no idea has value, quality and growth factors from the fundamentals table"
    for idea in with_fundamentals:
        rows = [
            item.citation
            for item in idea.supporting_evidence
            if isinstance(item.citation, DocumentCitation) and item.citation.table and item.citation.row
        ]
        assert rows, f"{idea.instruments[0].symbol}: its fundamentals row is not cited"
        assert any(source.document_id == rows[0].document_id for source in idea.document_sources)
    stances = [idea.analysis.confidence_adjustment for idea in ideas if idea.analysis is not None]
    assert any(stance and "buy" in stance for stance in stances), "no analyst rating moved any confidence"
