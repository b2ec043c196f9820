"""Contract of the IdeaRequestRepository port (SQLite now; DynamoDB joins the parametrisation with its adapter)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_idea_requests import SqliteIdeaRequestRepository
from investai.adapters.local.sqlite_ideas import SqliteIdeaRepository
from investai.domain.agents import AgentMessage, AgentName, AgentState, MessageType
from investai.domain.errors import Conflict, NotFound
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus
from investai.domain.idea_request import IdeaRequest
from investai.domain.ideas import InvestmentIdea
from investai.ports.repositories import IdeaRepository, IdeaRequestRepository
from tests.factories import idea_data

T0 = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)


def sqlite_stores(tmp_path: Path) -> Iterator[tuple[IdeaRequestRepository, IdeaRepository]]:
    db = SqliteDatabase(path=tmp_path / "db.sqlite", migrations=MIGRATIONS)
    db.migrate()
    ideas = SqliteIdeaRepository(db=db)
    yield SqliteIdeaRequestRepository(db=db, ideas=ideas), ideas
    db.close()


ADAPTERS: dict[str, Callable[[Path], Iterator[tuple[IdeaRequestRepository, IdeaRepository]]]] = {
    "sqlite": sqlite_stores
}


@pytest.fixture(params=sorted(ADAPTERS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[IdeaRequestRepository, IdeaRepository]]:
    """The repository and the idea repository its completions write to."""
    yield from ADAPTERS[request.param](tmp_path)


@pytest.fixture
def repository(stores: tuple[IdeaRequestRepository, IdeaRepository]) -> IdeaRequestRepository:
    return stores[0]


def record(request_id: str, *, owner: str = "u1", organisation: str = "org1", at: datetime = T0) -> IdeaRequestRecord:
    return IdeaRequestRecord(
        id=request_id,
        owner_id=owner,
        organisation_id=organisation,
        role="analyst",
        request=IdeaRequest(max_ideas=3),
        created_at=at,
        updated_at=at,
    )


def message(request_id: str, text: str) -> AgentMessage:
    return AgentMessage(
        sender=AgentName.PLANNING,
        type=MessageType.UPDATE,
        content={"text": text},
        conversation_id=request_id,
        request_id=request_id,
        created_at=T0,
    )


def test_add_get_update_round_trip(repository: IdeaRequestRepository) -> None:
    stored = record("req_1")
    repository.add(stored)
    assert repository.get("req_1") == stored
    with pytest.raises(Conflict):
        repository.add(stored)
    progressed = stored.model_copy(
        update={
            "status": RequestStatus.RUNNING,
            "progress": {
                **stored.progress,
                AgentName.PLANNING: stored.progress[AgentName.PLANNING].model_copy(
                    update={"state": AgentState.DONE, "percent": 100.0}
                ),
            },
            "updated_at": T0 + timedelta(seconds=5),
        }
    )
    repository.update(progressed)
    assert repository.get("req_1") == progressed
    with pytest.raises(NotFound):
        repository.get("req_missing")
    with pytest.raises(NotFound):
        repository.update(record("req_missing"))


def test_a_cancel_request_survives_a_concurrent_progress_update(repository: IdeaRequestRepository) -> None:
    stored = record("req_1")
    repository.add(stored)
    assert not repository.cancel_requested("req_1")
    repository.request_cancel("req_1")
    repository.update(stored.model_copy(update={"status": RequestStatus.RUNNING}))  # a worker's stale copy
    assert repository.cancel_requested("req_1")
    assert repository.get("req_1").cancel_requested
    with pytest.raises(NotFound):
        repository.request_cancel("req_missing")


def test_listing_filters_and_orders_newest_first(repository: IdeaRequestRepository) -> None:
    for index in range(5):
        repository.add(record(f"req_{index}", owner="u1" if index % 2 else "u2", at=T0 + timedelta(minutes=index)))
    repository.add(record("req_other", organisation="org2"))
    everyone = repository.list_requests(organisation_id="org1")
    assert [item.id for item in everyone] == ["req_4", "req_3", "req_2", "req_1", "req_0"]
    assert [item.id for item in repository.list_requests(organisation_id="org1", owner_id="u1")] == ["req_3", "req_1"]
    window = repository.list_requests(
        organisation_id="org1", since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)
    )
    assert [item.id for item in window] == ["req_3", "req_2", "req_1"]
    repository.update(record("req_2", at=T0 + timedelta(minutes=2)).model_copy(update={"status": RequestStatus.FAILED}))
    assert [item.id for item in repository.list_requests(organisation_id="org1", status=RequestStatus.FAILED)] == [
        "req_2"
    ]
    assert len(repository.list_requests(organisation_id="org1", limit=2)) == 2
    assert [item.id for item in repository.list_requests(organisation_id="org2")] == ["req_other"]


def test_messages_are_numbered_in_order_per_request(repository: IdeaRequestRepository) -> None:
    repository.add(record("req_1"))
    repository.add(record("req_2"))
    assert [repository.append_message(message("req_1", str(index))) for index in range(3)] == [1, 2, 3]
    assert repository.append_message(message("req_2", "x")) == 1
    assert [(seq, item.content["text"]) for seq, item in repository.messages("req_1")] == [(1, "0"), (2, "1"), (3, "2")]
    assert [seq for seq, _ in repository.messages("req_1", after=2)] == [3]
    assert [seq for seq, _ in repository.messages("req_1", limit=1)] == [1]
    with pytest.raises(NotFound):
        repository.append_message(message("req_missing", "x"))


def test_a_completed_request_and_its_ideas_are_stored_together(
    stores: tuple[IdeaRequestRepository, IdeaRepository],
) -> None:
    requests, ideas = stores
    requests.add(record("r1"))
    produced = [InvestmentIdea(**idea_data(owner_id="u1", organisation_id="org1")) for _ in range(3)]
    finished = record("r1").model_copy(
        update={"status": RequestStatus.SUCCEEDED, "idea_ids": [idea.id for idea in produced]}
    )
    requests.complete(finished, produced)
    assert requests.get("r1").status is RequestStatus.SUCCEEDED
    assert [ideas.get(idea.id) for idea in produced] == produced


def test_a_completion_that_cannot_store_every_idea_stores_nothing(
    stores: tuple[IdeaRequestRepository, IdeaRepository],
) -> None:
    requests, ideas = stores
    requests.add(record("r1"))
    clash = InvestmentIdea(**idea_data(owner_id="u1", organisation_id="org1"))
    ideas.add(clash)
    fresh = InvestmentIdea(**idea_data(owner_id="u1", organisation_id="org1"))
    finished = record("r1").model_copy(update={"status": RequestStatus.SUCCEEDED})
    with pytest.raises(Conflict):
        requests.complete(finished, [fresh, clash])  # the second is already stored at version 1
    assert requests.get("r1").status is RequestStatus.QUEUED
    with pytest.raises(NotFound):
        ideas.get(fresh.id)
