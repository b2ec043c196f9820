"""Research as of a date inside the sample market history reads the sample notes published by then: ideas
generated as of 2022-12-30 (two days after the market data ends) cite the notes, and a note published later
than the as-of date is not read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from investai.adapters.local.clock import FakeClock
from investai.agents.supervisor import Supervisor
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.ports.knowledge import Embedder
from investai.sample import note_consumer
from investai.services.knowledge import KnowledgeEvidence
from tests.conftest import drain
from tests.factories import T0

ORG = "org_1"
READER = AccessScope(user_id="analyst-1", organisation_id=ORG, role="analyst")
CONSUMER_NOTE = note_consumer.NOTE.title
CONSUMER_NOTE_PUBLISHED = datetime(2022, 12, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Container]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("pit") / "var")
    built = build_container(settings, clock=FakeClock(T0), embedder=embedder)
    built.market.load_sample()
    assert built.knowledge.samples.ensure_loaded(ORG) > 0
    drain(built)
    yield built
    built.close()


def evidence(container: Container) -> KnowledgeEvidence:
    return KnowledgeEvidence(index=container.knowledge.index, embedder=container.knowledge.embedder)


def titles(container: Container, query: str, as_of: datetime) -> set[str]:
    hits = evidence(container).passages(reader=READER, query=query, as_of=as_of, limit=10)
    return {hit.title for hit in hits}


def test_a_note_is_read_from_its_publication_date_on(container: Container) -> None:
    query = "Coca-Cola organic revenue growth pricing"
    assert CONSUMER_NOTE in titles(container, query, CONSUMER_NOTE_PUBLISHED)
    assert CONSUMER_NOTE not in titles(container, query, CONSUMER_NOTE_PUBLISHED - timedelta(seconds=1))
    assert titles(container, query, datetime(2022, 10, 1, tzinfo=UTC)) == set()  # nothing published yet


def test_ideas_as_of_the_end_of_the_market_history_cite_the_notes(container: Container) -> None:
    generator = Supervisor(
        market=container.market, evidence=evidence(container), router=container.models, clock=container.clock
    )
    request = IdeaRequest(tickers=["KO", "PEP", "PG", "WMT"], max_ideas=2, min_confidence=0, as_of=date(2022, 12, 30))
    result = generator.generate(request, request_id="req_pit", reader=READER)
    assert result.ideas
    for idea in result.ideas:
        assert idea.provenance.data_as_of == datetime(2022, 12, 31, tzinfo=UTC)  # the end of the requested date
        cited = [e.citation for e in idea.supporting_evidence if e.citation.kind == "document"]
        assert cited, idea.title
        assert idea.as_of_note is None  # the request named its date
