"""Ideas and messages record the documents they were made from, and how the idea reads without them, when
they are generated: a reader who may not read the note is shown nothing a model wrote from it, nothing the
compliance model raised from it, and no message content drawn from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.agents import AgentMessage, AgentName
from investai.domain.citations import DocumentSource
from investai.domain.idea_parts import MODEL_REVIEW_RULE
from investai.domain.idea_request import IdeaRequest
from investai.domain.idea_views import message_view, research_sources, view_for
from investai.domain.ideas import InvestmentIdea
from investai.domain.llm import ModelRequest, ModelResponse, Usage
from tests.unit.agents.test_supervisor import Passages, run, scripted_router, supervisor

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
PUBLISHED = datetime(2022, 11, 1, tzinfo=UTC)
"""Within the sample market history, which ends more than a week before NOW: requests without an as-of date
are generated as of its last day, and a note must be published by then to be read."""
MARKER = "Zanzibar lattice covenant"
NOTE = f"Exxon Mobil (XOM) {MARKER} keeps upstream costs sticky.\nXOM: Underweight."
NOTE_SOURCE = DocumentSource(document_id="doc-XOM", version=1)
REQUEST = IdeaRequest(tickers=["XOM"], max_ideas=1, min_confidence=0, risk_tolerance="very_aggressive")


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build_container(
        Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("sources") / "var"), clock=FakeClock(NOW)
    )
    built.market.load_sample()
    yield built
    built.close()


class Quoting:
    """A model that repeats the research it is shown: in the idea's narrative and as a compliance concern."""

    name = "bedrock"

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        answer = request.offline_answer
        quoted = MARKER if MARKER in request.rendered_text() else "nothing"
        if request.prompt.name == "synthesis.idea":
            assert isinstance(answer, dict)
            answer = {**answer, "title": f"Exxon: {quoted}", "rationale": f"The desk writes of the {quoted}."}
        elif request.prompt.name == "compliance.review":
            answer = {"issues": [{"severity": "medium", "message": f"The note mentions the {quoted}."}]}
        text = json.dumps(answer) if isinstance(answer, dict) else str(answer)
        data = answer if isinstance(answer, dict) and request.json_schema is not None else None
        return ModelResponse(text=text, data=data, provider=self.name, model_id=model_id, usage=Usage(input_tokens=5))


@pytest.fixture(scope="module")
def generated(container: Container) -> tuple[InvestmentIdea, list[AgentMessage]]:
    messages: list[AgentMessage] = []
    evidence = Passages({"XOM": [(NOTE, PUBLISHED)]})
    result = run(supervisor(container, evidence, scripted_router(Quoting())), REQUEST, messages)
    (idea,) = result.ideas
    return idea, messages


def test_the_idea_records_its_sources_and_a_rendering_without_them(
    generated: tuple[InvestmentIdea, list[AgentMessage]],
) -> None:
    idea, _ = generated
    assert idea.document_sources == [NOTE_SOURCE]
    assert MARKER in idea.title
    assert MARKER in idea.rationale
    assert any(MARKER in issue.message for issue in idea.compliance.issues if issue.rule == MODEL_REVIEW_RULE)
    assert idea.analysis is not None
    assert idea.analysis.conflict
    free = idea.document_free
    assert free is not None
    assert MARKER not in free.model_dump_json()
    assert "underweight" not in free.model_dump_json().lower()
    assert free.confidence > idea.confidence
    assert free.ranking_components["quality_novelty"] == pytest.approx(0.4)


def test_a_reader_without_the_note_sees_nothing_drawn_from_it(
    generated: tuple[InvestmentIdea, list[AgentMessage]],
) -> None:
    idea, _ = generated
    view = view_for(idea, lambda source: False)
    shown = view.model_dump_json()
    assert MARKER not in shown
    assert "underweight" not in shown.lower()
    assert view.restricted_sources == 1
    assert idea.document_free is not None
    assert (view.title, view.rationale, view.confidence) == (
        idea.document_free.title,
        idea.document_free.rationale,
        idea.document_free.confidence,
    )
    assert [issue.severity for issue in view.compliance.issues] == [i.severity for i in idea.compliance.issues]
    assert view.compliance.state is idea.compliance.state  # the review is still owed
    reading = [use for use in view.provenance.models if use.step in ("research", "synthesis", "compliance")]
    assert reading
    assert all(use.prompt_hash is None for use in reading)

    allowed = view_for(idea, lambda source: True)
    assert allowed.restricted_sources == 0
    assert allowed.model_dump(exclude={"restricted_sources", "document_free"}) == idea.model_dump(
        exclude={"document_free"}
    )


def test_messages_drawn_from_the_note_name_it_and_are_withheld_from_others(
    generated: tuple[InvestmentIdea, list[AgentMessage]],
) -> None:
    _, messages = generated
    drawn = [m for m in messages if MARKER in json.dumps(m.content) or "underweight" in json.dumps(m.content)]
    assert {m.sender for m in drawn} >= {AgentName.RESEARCH, AgentName.SUPERVISOR, AgentName.COMPLIANCE}
    assert all(m.document_sources == [NOTE_SOURCE] for m in drawn)
    research = research_sources(messages)
    shown = [message_view(m, lambda source: False, research) for m in messages]
    assert not any(MARKER in json.dumps(m.content) or "underweight" in json.dumps(m.content) for m in shown)
    assert [message_view(m, lambda source: True, research) for m in messages] == messages
    untouched = [m for m in messages if not m.document_sources]
    assert untouched
    assert all(message_view(m, lambda source: False, research) == m for m in untouched)
