"""Ideas as JSON, each unrestricted revision serialised once (investai.api.idea_json)."""

from __future__ import annotations

import json

from investai.api.idea_json import IDEA_VIEW, IdeaJson
from investai.domain.citations import DocumentSource
from investai.domain.idea_views import view_for
from tests.factories import make_idea


def every(source: DocumentSource) -> bool:
    return True


def none(source: DocumentSource) -> bool:
    return False


def test_a_kept_view_is_the_view_serialised_and_a_restricted_one_is_never_kept() -> None:
    kept = IdeaJson()
    idea = make_idea()
    full, withheld = view_for(idea, every), view_for(idea, none)
    assert withheld.restricted_sources == 1  # the factory's idea cites a document

    assert kept.one(full) == IDEA_VIEW.dump_json(full)
    assert kept.one(full) is kept.one(full)  # the second time from the cache
    assert kept.one(withheld) == IDEA_VIEW.dump_json(withheld)
    assert kept.one(withheld) != kept.one(full)
    assert len(kept) == 1  # only the unrestricted view was kept
    assert json.loads(kept.many([full, withheld])) == [json.loads(kept.one(full)), json.loads(kept.one(withheld))]
    assert kept.many([]) == b"[]"


def test_each_revision_is_kept_apart_and_the_cache_is_bounded() -> None:
    kept = IdeaJson(max_entries=2)
    first = make_idea()
    revised = first.model_copy(update={"timestamp": first.timestamp + 1, "title": "Revised title"})
    other = make_idea(id="idea_other")
    for idea in (first, revised, other):
        view = view_for(idea, every)
        assert kept.one(view) == IDEA_VIEW.dump_json(view)
    assert b"Revised title" in kept.one(view_for(revised, every))
    assert b"Revised title" not in kept.one(view_for(first, every))
    assert len(kept) == 2


def test_switched_off_nothing_is_kept() -> None:
    kept = IdeaJson(max_entries=0)
    view = view_for(make_idea(), every)
    assert kept.one(view) == IDEA_VIEW.dump_json(view)
    assert len(kept) == 0
