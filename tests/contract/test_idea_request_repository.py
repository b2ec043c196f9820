"""Contract of the IdeaRequestRepository port: SQLite, and DynamoDB on the session's moto server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.aws.dynamodb_idea_requests import DynamoDbIdeaRequestRepository
from investai.adapters.aws.dynamodb_ideas import DynamoDbIdeaRepository
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
from tests.aws import MotoServer
from tests.contract.test_repositories import dynamodb_tables
from tests.factories import idea_data

T0 = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)


Stores = tuple[IdeaRequestRepository, IdeaRepository]


def sqlite_stores(_request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    db = SqliteDatabase(path=tmp_path / "db.sqlite", migrations=MIGRATIONS)
    db.migrate()
    ideas = SqliteIdeaRepository(db=db)
    yield SqliteIdeaRequestRepository(db=db, ideas=ideas), ideas
    db.close()


def dynamodb_stores(request: pytest.FixtureRequest, _tmp_path: Path) -> Iterator[Stores]:
    with dynamodb_tables(request.getfixturevalue("moto")) as (client, names):
        ideas = DynamoDbIdeaRepository(client=client, table=names.table("ideas"))
        requests = DynamoDbIdeaRequestRepository(
            client=client,
            requests_table=names.table("idea-requests"),
            messages_table=names.table("agent-messages"),
            ideas=ideas,
        )
        yield requests, ideas


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[Stores]]] = {
    "sqlite": sqlite_stores,
    "dynamodb": dynamodb_stores,
}


@pytest.fixture(params=sorted(ADAPTERS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """The repository and the idea repository its completions write to."""
    yield from ADAPTERS[request.param](request, tmp_path)


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


def test_concurrent_messages_get_distinct_consecutive_numbers(repository: IdeaRequestRepository) -> None:
    repository.add(record("req_1"))
    writers, each = 6, 4
    start = threading.Barrier(writers)

    def append(writer: int) -> list[int]:
        start.wait()
        return [repository.append_message(message("req_1", f"{writer}.{index}")) for index in range(each)]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        numbers = [seq for taken in pool.map(append, range(writers)) for seq in taken]

    assert sorted(numbers) == list(range(1, writers * each + 1))
    stored = repository.messages("req_1")
    assert [seq for seq, _ in stored] == list(range(1, writers * each + 1))
    assert len({item.content["text"] for _, item in stored}) == writers * each


def test_running_a_completion_again_stores_nothing_twice(stores: tuple[IdeaRequestRepository, IdeaRepository]) -> None:
    requests, ideas = stores
    requests.add(record("r1"))
    produced = [InvestmentIdea(**idea_data(owner_id="u1", organisation_id="org1")) for _ in range(2)]
    finished = record("r1").model_copy(update={"status": RequestStatus.SUCCEEDED})
    requests.complete(finished, produced)
    with pytest.raises(Conflict):
        requests.complete(finished.model_copy(update={"error": "second run"}), produced)
    assert requests.get("r1") == finished
    assert [ideas.history(idea.id) for idea in produced] == [[idea] for idea in produced]


def test_completing_an_unknown_request_stores_no_ideas(stores: tuple[IdeaRequestRepository, IdeaRepository]) -> None:
    requests, ideas = stores
    produced = InvestmentIdea(**idea_data(owner_id="u1", organisation_id="org1"))
    with pytest.raises(NotFound):
        requests.complete(record("r_missing").model_copy(update={"status": RequestStatus.SUCCEEDED}), [produced])
    with pytest.raises(NotFound):
        ideas.get(produced.id)


def test_a_completion_keeps_a_cancel_request(stores: tuple[IdeaRequestRepository, IdeaRepository]) -> None:
    requests, _ = stores
    requests.add(record("r1"))
    requests.request_cancel("r1")
    requests.complete(record("r1").model_copy(update={"status": RequestStatus.SUCCEEDED}), [])
    assert requests.cancel_requested("r1")
    assert requests.get("r1").status is RequestStatus.SUCCEEDED


def test_listing_by_owner_and_status_together(repository: IdeaRequestRepository) -> None:
    for index in range(4):
        repository.add(record(f"req_{index}", owner="u1" if index < 3 else "u2", at=T0 + timedelta(minutes=index)))
    for request_id in ("req_0", "req_2", "req_3"):
        stored = repository.get(request_id)
        repository.update(stored.model_copy(update={"status": RequestStatus.FAILED}))
    failed_u1 = repository.list_requests(organisation_id="org1", owner_id="u1", status=RequestStatus.FAILED)
    assert [item.id for item in failed_u1] == ["req_2", "req_0"]
    assert [item.id for item in repository.list_requests(organisation_id="org1", status=RequestStatus.QUEUED)] == [
        "req_1"
    ]


def test_requests_made_in_the_same_millisecond_list_by_id(repository: IdeaRequestRepository) -> None:
    for request_id in ("req_b", "req_a", "req_c"):
        repository.add(record(request_id))
    assert [item.id for item in repository.list_requests(organisation_id="org1")] == ["req_c", "req_b", "req_a"]
    assert [item.id for item in repository.list_requests(organisation_id="org1", since=T0, until=T0)] == [
        "req_c",
        "req_b",
        "req_a",
    ]


# -- DynamoDB specifics -------------------------------------------------------------------------------


@pytest.fixture
def dynamodb(moto: MotoServer) -> Iterator[tuple[DynamoDbIdeaRequestRepository, DynamoDbIdeaRepository, Any]]:
    with dynamodb_tables(moto) as (client, names):
        ideas = DynamoDbIdeaRepository(client=client, table=names.table("ideas"))
        requests = DynamoDbIdeaRequestRepository(
            client=client,
            requests_table=names.table("idea-requests"),
            messages_table=names.table("agent-messages"),
            ideas=ideas,
        )
        yield requests, ideas, client


def test_dynamodb_a_completion_too_large_for_one_transaction_is_refused_whole(
    dynamodb: tuple[DynamoDbIdeaRequestRepository, DynamoDbIdeaRepository, Any],
) -> None:
    requests, ideas, client = dynamodb
    requests.add(record("r1"))
    produced = [InvestmentIdea(**idea_data(owner_id="u1", organisation_id="org1")) for _ in range(50)]
    client.calls.clear()
    with pytest.raises(ValueError, match="100"):  # 50 ideas are 100 writes, and the request one more
        requests.complete(record("r1").model_copy(update={"status": RequestStatus.SUCCEEDED}), produced)
    assert "transact_write_items" not in client.operations
    assert requests.get("r1").status is RequestStatus.QUEUED
    requests.complete(record("r1").model_copy(update={"status": RequestStatus.SUCCEEDED}), produced[:49])
    assert ideas.get(produced[48].id) == produced[48]


def test_dynamodb_messages_are_read_across_pages(
    dynamodb: tuple[DynamoDbIdeaRequestRepository, DynamoDbIdeaRepository, Any],
) -> None:
    requests, _, client = dynamodb
    requests.add(record("r1"))
    bulky = [message("r1", f"{index:03d}" + "x" * 40_000) for index in range(30)]  # about 1.2 MB in all
    assert [requests.append_message(item) for item in bulky] == list(range(1, 31))
    client.calls.clear()
    assert [item for _, item in requests.messages("r1")] == bulky
    assert client.operations.count("query") >= 2
    assert [seq for seq, _ in requests.messages("r1", after=25)] == [26, 27, 28, 29, 30]
