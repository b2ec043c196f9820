"""Stored bodies parsed once: a hit is the very record stored, a changed body is parsed again, and the map
stays within its bound."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from investai.adapters.local.parsed_cache import ParsedBodies
from investai.domain.documents import Document
from investai.domain.ideas import InvestmentIdea
from tests.factories import make_document, make_idea


def test_a_body_read_again_is_the_same_parsed_record_and_a_changed_body_is_parsed_afresh() -> None:
    bodies = ParsedBodies(InvestmentIdea, max_entries=8)
    idea = make_idea()
    body = idea.model_dump_json()

    first = bodies.parse(body)
    assert first == idea
    copy = "".join(list(body))
    assert copy is not body
    assert bodies.parse(copy) is first  # equal text in another string object: the same record
    changed = idea.model_copy(update={"title": "Long AAPL on a different thesis"})
    assert bodies.parse(changed.model_dump_json()) == changed
    assert bodies.parse(changed.model_dump_json()) is not first


def test_the_map_keeps_the_most_recently_read_within_its_bound() -> None:
    bodies = ParsedBodies(Document, max_entries=3)
    documents = [make_document() for _ in range(5)]
    for document in documents:
        bodies.parse(document.model_dump_json())
    assert len(bodies) == 3
    assert bodies.parse(documents[-1].model_dump_json()) == documents[-1]
    uncached = ParsedBodies(Document, max_entries=0)
    assert uncached.parse(documents[0].model_dump_json()) == documents[0]
    assert len(uncached) == 0


def test_a_body_that_does_not_parse_is_not_kept() -> None:
    bodies = ParsedBodies(Document, max_entries=3)
    with pytest.raises(ValidationError):
        bodies.parse('{"id": "doc_1"}')
    assert len(bodies) == 0


def test_threads_reading_at_once_get_correct_records() -> None:
    bodies = ParsedBodies(InvestmentIdea, max_entries=4)
    ideas = [make_idea() for _ in range(10)]
    texts = [idea.model_dump_json() for idea in ideas]

    def read(index: int) -> bool:
        return bodies.parse(texts[index % 10]) == ideas[index % 10]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(read, range(400)))
    assert len(bodies) <= 4
