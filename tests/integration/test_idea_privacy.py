"""Private documents stay private through ideas: an analyst's idea drawn from a private research note shows
the note's text to the analyst only. A portfolio manager and a compliance officer of the same organisation
read the same idea, its versions, explanation, exports, the request's results, messages and event stream, and
the ideas list with the passage withheld, its rating and research summary left out of the narrative and the
scores, and a restricted source shown in its place. Access is decided at every read: sharing a note shows its
text, revoking the sharing or deleting the note withholds it again."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.citations import DocumentCitation, Evidence
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.server import create_app
from tests.conftest import Account, drain, sign_up
from tests.document_files import make_pdf
from tests.factories import make_idea

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
PUBLISHED = "2022-11-01"
"""The notes' publication date: within the sample market history, which ends more than a week before NOW, so
ideas requested without an as-of date are generated as of its last day and read notes published by then."""
ORG = "org_1"
MARKER = "Zanzibar lattice covenant"
RATING = "underweight"
PRIVATE_NOTE = (
    f"{MARKER}: Procter & Gamble (PG) will quietly lose shelf share to private labels in 2024.\n\n"
    "PG: Underweight.\n\n"
    "The desk sees margin pressure at Procter & Gamble from input costs."
)
SHARED_MARKER = "Quillfeather dividend ladder"
SHARED_NOTE = (
    f"{SHARED_MARKER}: Johnson & Johnson (JNJ) keeps raising its payout through the pharmaceutical cycle.\n\n"
    "JNJ: Underweight.\n\n"
    "Johnson & Johnson faces talc litigation costs, the desk notes."
)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Container]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("privacy") / "var")
    built = build_container(settings, clock=FakeClock(NOW), embedder=embedder)
    built.market.load_sample()
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@dataclass(frozen=True)
class People:
    owner: Account
    manager: Account
    officer: Account


@pytest.fixture(scope="module")
def people(container: Container) -> People:
    return People(
        owner=sign_up(container, role=Role.ANALYST, organisation=ORG),
        manager=sign_up(container, role=Role.PORTFOLIO_MANAGER, organisation=ORG),
        officer=sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation=ORG),
    )


@dataclass(frozen=True)
class Generated:
    document_id: str
    chunk_id: str
    request_id: str
    idea: dict[str, Any]
    others: list[dict[str, Any]]


def upload(client: TestClient, account: Account, text: str, **form: Any) -> str:
    response = client.post(
        "/api/v1/documents",
        headers=account.headers,
        files={"file": ("desk-note.pdf", io.BytesIO(make_pdf([text])))},
        data={"title": "Desk note", "published_at": PUBLISHED, **form},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def request_ideas(client: TestClient, container: Container, account: Account, tickers: list[str]) -> str:
    body = {"tickers": tickers, "max_ideas": len(tickers), "min_confidence": 0, "risk_tolerance": "very_aggressive"}
    response = client.post("/api/v1/ideas/requests", headers=account.headers, json=body)
    assert response.status_code == 202, response.text
    drain(container)
    return str(response.json()["request_id"])


def results(client: TestClient, account: Account, request_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/ideas/requests/{request_id}/results", headers=account.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["ideas"])


def cited(idea: dict[str, Any], document_id: str) -> list[dict[str, Any]]:
    return [
        item
        for item in idea["supporting_evidence"]
        if item["citation"]["kind"] == "document" and item["citation"]["document_id"] == document_id
    ]


@pytest.fixture(scope="module")
def generated(client: TestClient, container: Container, people: People) -> Generated:
    """Ideas for PG (drawn from the owner's private note) and JNJ, requested by the owner."""
    document_id = upload(client, people.owner, PRIVATE_NOTE)
    drain(container)
    request_id = request_ideas(client, container, people.owner, ["PG", "JNJ"])
    ideas = results(client, people.owner, request_id)
    idea = next(item for item in ideas if item["instruments"][0]["symbol"] == "PG")
    evidence = cited(idea, document_id)
    assert evidence, "the private note should be cited by the PG idea"
    return Generated(
        document_id=document_id,
        chunk_id=evidence[0]["citation"]["chunk_id"],
        request_id=request_id,
        idea=idea,
        others=[item for item in ideas if item["id"] != idea["id"]],
    )


def sse_text(client: TestClient, account: Account, request_id: str) -> str:
    lines = []
    with client.stream("GET", f"/api/v1/ideas/requests/{request_id}/events", headers=account.headers) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("event:") and line.split(":", 1)[1].strip() == "done":
                break
    return "\n".join(lines)


def reads(client: TestClient, account: Account, generated: Generated) -> dict[str, str]:
    """Every read of the idea and its request, by route: the text each answers."""
    idea_id, request_id = generated.idea["id"], generated.request_id
    paths = {
        "idea": f"/api/v1/ideas/{idea_id}",
        "first version": f"/api/v1/ideas/{idea_id}?version=1",
        "versions": f"/api/v1/ideas/{idea_id}/versions",
        "explanation": f"/api/v1/ideas/{idea_id}/explanation",
        "markdown export": f"/api/v1/ideas/{idea_id}/export?format=markdown",
        "html export": f"/api/v1/ideas/{idea_id}/export?format=html",
        "results": f"/api/v1/ideas/requests/{request_id}/results",
        "messages": f"/api/v1/ideas/requests/{request_id}/messages",
        "list": "/api/v1/ideas",
        "list by symbol": "/api/v1/ideas?symbol=PG",
    }
    answers = {}
    for name, path in paths.items():
        response = client.get(path, headers=account.headers)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:300]}"
        answers[name] = response.text
    answers["events"] = sse_text(client, account, request_id)
    return answers


def test_the_owner_reads_the_passage_everywhere(client: TestClient, people: People, generated: Generated) -> None:
    idea = generated.idea
    assert MARKER in idea["rationale"]
    assert any(RATING in text.lower() for text in idea["counter_arguments"])
    assert all(MARKER in item["claim"] for item in cited(idea, generated.document_id))
    assert idea["restricted_sources"] == 0
    assert idea["analysis"]["conflict"]
    assert RATING in idea["analysis"]["conflict"].lower()
    answers = reads(client, people.owner, generated)
    for name in ("idea", "versions", "markdown export", "html export", "results", "list", "list by symbol"):
        assert MARKER in answers[name], name
    for name in ("explanation", "messages", "events"):
        assert RATING in answers[name].lower(), name


@pytest.mark.parametrize("role", ["manager", "officer"])
def test_colleagues_who_may_not_read_the_note_never_see_its_text(
    client: TestClient, people: People, generated: Generated, role: str
) -> None:
    reader: Account = getattr(people, role)
    assert client.get(f"/api/v1/documents/{generated.document_id}", headers=reader.headers).status_code == 404
    assert client.get(f"/api/v1/knowledge/chunks/{generated.chunk_id}", headers=reader.headers).status_code == 404
    for name, text in reads(client, reader, generated).items():
        assert MARKER.lower() not in text.lower(), name
        assert RATING not in text.lower(), name
        assert "lose shelf share" not in text.lower(), name


@pytest.mark.parametrize("role", ["manager", "officer"])
def test_a_restricted_source_is_shown_without_its_text_or_its_influence(
    client: TestClient, people: People, generated: Generated, role: str
) -> None:
    reader: Account = getattr(people, role)
    idea = client.get(f"/api/v1/ideas/{generated.idea['id']}", headers=reader.headers).json()
    assert idea["restricted_sources"] == 1
    (withheld,) = cited(idea, generated.document_id)  # one restricted source, however many passages it gave
    citation = withheld["citation"]
    assert citation["restricted"] is True
    assert (citation["page"], citation["chunk_id"], citation["snippet"], citation["table"]) == (None,) * 4
    assert withheld["weight"] == 0.0
    market = [item for item in idea["supporting_evidence"] if item["citation"]["kind"] == "market"]
    assert market == [item for item in generated.idea["supporting_evidence"] if item["citation"]["kind"] == "market"]

    # the narrative and the scores are the ones written without the note: no summary, no rating, no stance
    explanation = client.get(f"/api/v1/ideas/{idea['id']}/explanation", headers=reader.headers).json()
    breakdown = explanation["confidence_breakdown"]
    assert breakdown["research_conflict"] is None
    assert idea["confidence"] == pytest.approx(min(0.95, max(0.05, breakdown["before_research"])), abs=1e-4)
    assert idea["confidence"] > generated.idea["confidence"]  # the owner's was cut by the note's rating
    components = idea["analysis"]["ranking_components"]
    assert components["confidence"] == pytest.approx(idea["confidence"], abs=1e-4)
    assert components["quality_novelty"] == pytest.approx(0.4)  # no cited passage, not held
    assert idea["analysis"]["ranking_score"] == pytest.approx(
        sum(explanation["ranking"]["weights"][k] * v for k, v in components.items())
    )
    assert "Research:" not in idea["rationale"]
    assert idea["title"] == generated.idea["title"]  # the template title never reads a document
    markdown = client.get(f"/api/v1/ideas/{idea['id']}/export", headers=reader.headers).text
    assert "restricted" in markdown.lower()

    # the idea without documents is unchanged for every reader
    other = client.get(f"/api/v1/ideas/{generated.others[0]['id']}", headers=reader.headers).json()
    assert other["restricted_sources"] == 0
    assert {k: v for k, v in other.items() if k != "restricted_sources"} == {
        k: v for k, v in generated.others[0].items() if k != "restricted_sources"
    }


def test_an_officer_approves_the_idea_without_changing_what_the_owner_reads(
    client: TestClient, people: People, generated: Generated
) -> None:
    idea_id = generated.idea["id"]
    moved = client.post(f"/api/v1/ideas/{idea_id}/status", headers=people.owner.headers, json={"status": "in_review"})
    assert moved.status_code == 200, moved.text
    approved = client.post(
        f"/api/v1/ideas/{idea_id}/status",
        headers=people.officer.headers,
        json={"status": "approved", "reason": "suitable"},
    )
    assert approved.status_code == 200, approved.text
    assert MARKER not in approved.text
    assert RATING not in approved.text.lower()
    assert approved.json()["restricted_sources"] == 1
    stored = client.get(f"/api/v1/ideas/{idea_id}", headers=people.owner.headers).json()
    assert stored["status"] == "approved"
    assert MARKER in stored["rationale"]
    assert stored["confidence"] == generated.idea["confidence"]
    versions = client.get(f"/api/v1/ideas/{idea_id}/versions", headers=people.manager.headers).text
    assert MARKER not in versions


def test_sharing_decides_at_every_read(client: TestClient, container: Container, people: People) -> None:
    document_id = upload(client, people.owner, SHARED_NOTE, visibility="organisation")
    drain(container)
    request_id = request_ideas(client, container, people.owner, ["JNJ"])
    (idea,) = results(client, people.owner, request_id)
    assert cited(idea, document_id), "the shared note should be cited by the JNJ idea"
    path = f"/api/v1/ideas/{idea['id']}"

    def seen_by(account: Account) -> dict[str, Any]:
        response = client.get(path, headers=account.headers)
        assert response.status_code == 200
        body = dict(response.json())
        # the same revision in the reader's list reads the same, however often it was served before
        listed = client.get("/api/v1/ideas?limit=200", headers=account.headers).json()
        assert [entry for entry in listed if entry["id"] == idea["id"]] == [body]
        body["text"] = response.text
        return body

    shared = seen_by(people.manager)
    assert SHARED_MARKER in shared["text"]
    assert shared["restricted_sources"] == 0
    assert shared["rationale"] == idea["rationale"]

    def share(**metadata: Any) -> None:
        response = client.patch(f"/api/v1/documents/{document_id}", headers=people.owner.headers, json=metadata)
        assert response.status_code == 200, response.text

    share(visibility="private")
    for account in (people.manager, people.officer):
        revoked = seen_by(account)
        assert SHARED_MARKER not in revoked["text"]
        assert RATING not in revoked["text"].lower()
        assert revoked["restricted_sources"] == 1
    assert SHARED_MARKER in seen_by(people.owner)["text"]

    share(visibility="roles", allowed_roles=["compliance-officer"])
    assert SHARED_MARKER in seen_by(people.officer)["text"]
    assert SHARED_MARKER not in seen_by(people.manager)["text"]

    share(visibility="users", allowed_users=[people.manager.user.id])
    assert SHARED_MARKER in seen_by(people.manager)["text"]
    messages = client.get(f"/api/v1/ideas/requests/{request_id}/messages", headers=people.manager.headers).text
    assert RATING in messages.lower()

    assert client.delete(f"/api/v1/documents/{document_id}", headers=people.owner.headers).status_code == 200
    for account in (people.manager, people.owner):
        deleted = seen_by(account)
        assert SHARED_MARKER not in deleted["text"]
        assert deleted["restricted_sources"] == 1
    messages = client.get(f"/api/v1/ideas/requests/{request_id}/messages", headers=people.manager.headers).text
    assert RATING not in messages.lower()


def test_ideas_stored_before_sources_were_recorded_are_redacted_from_their_citations(
    client: TestClient, container: Container, people: People, generated: Generated
) -> None:
    passage = f"{MARKER}: pricing power fades."
    evidence = Evidence(
        claim=passage,
        citation=DocumentCitation(document_id=generated.document_id, version=1, page=1, snippet=passage),
    )
    legacy = make_idea(
        owner_id=people.owner.user.id,
        organisation_id=ORG,
        rationale=f"Momentum leads. Research: {passage} [1]",
        counter_arguments=["Analyst ratings in the firm's documents lean negative: underweight."],
        supporting_evidence=[evidence],
    )
    container.ideas.add(legacy)
    path = f"/api/v1/ideas/{legacy.id}"
    assert MARKER in client.get(path, headers=people.owner.headers).text
    seen = client.get(path, headers=people.manager.headers)
    assert seen.status_code == 200
    assert MARKER not in seen.text
    assert RATING not in seen.text.lower()
    body = seen.json()
    assert body["restricted_sources"] == 1
    assert body["supporting_evidence"][0]["citation"]["restricted"] is True
    listed = client.get("/api/v1/ideas", headers=people.manager.headers, params={"owner": people.owner.user.id})
    assert legacy.id in {item["id"] for item in listed.json()}
    assert MARKER not in listed.text


def test_the_event_stream_withholds_research_messages_drawn_from_the_note(
    client: TestClient, people: People, generated: Generated
) -> None:
    text = sse_text(client, people.manager, generated.request_id)
    payloads = [json.loads(line.split(":", 1)[1]) for line in text.splitlines() if line.startswith("data:")]
    messages = [payload for payload in payloads if "sender" in payload]
    research = [m for m in messages if m["sender"] == "research" and m["content"].get("symbol") == "PG"]
    assert research
    assert all(m["content"].get("restricted_sources") == 1 for m in research)
    assert all("passages" not in m["content"] for m in research)
