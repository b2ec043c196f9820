"""Idea requests through the API on the sample data (market history and the sample documents, embedded with
the real model), offline models: submit, follow the SSE stream while a worker runs the job, read the results
and resolve every citation; synchronous mode, cancel, validation, permissions and other organisations."""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.server import create_app
from investai.services.auth_common import CallContext
from investai.services.idea_requests import RUN_ATTEMPTS
from tests.conftest import Account, drain, sign_up

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
ORG = "org_1"


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Container]:
    settings = Settings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("ideas") / "var", idea_callback_hosts=["localhost"]
    )
    built = build_container(settings, clock=FakeClock(NOW), embedder=embedder)
    built.market.load_sample()
    assert built.knowledge.samples.ensure_loaded(ORG) > 0
    drain(built)
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def analyst(container: Container) -> Account:
    return sign_up(container, role=Role.ANALYST, organisation=ORG)


def sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif line == "" and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


def test_a_request_runs_streams_progress_and_every_citation_resolves(
    client: TestClient, container: Container, analyst: Account
) -> None:
    response = client.post(
        "/api/v1/ideas/requests",
        headers=analyst.headers,
        json={"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 5},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    request_id = body["request_id"]
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/api/v1/ideas/requests/{request_id}"
    assert {item["agent"] for item in body["progress"]} == {
        "planning",
        "analysis",
        "research",
        "compliance",
        "synthesis",
    }

    worker = threading.Thread(target=drain, args=(container,))
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", f"/api/v1/ideas/requests/{request_id}/events", headers=analyst.headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        worker.start()
        for event in sse(stream.iter_lines()):
            events.append(event)
            if event[0] == "done":
                break
    worker.join(timeout=120)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "progress"
    assert kinds[-1] == "done"
    assert "message" in kinds
    percents = [data["percent"] for kind, data in events if kind == "progress"]
    assert percents == sorted(percents)
    assert events[-1][1]["status"] == "succeeded"
    assert all(item["state"] == "done" for item in events[-1][1]["progress"])
    senders = {data["sender"] for kind, data in events if kind == "message"}
    assert {"supervisor", "planning", "analysis", "research", "compliance"} <= senders

    results = client.get(f"/api/v1/ideas/requests/{request_id}/results", headers=analyst.headers)
    assert results.status_code == 200
    ideas = results.json()["ideas"]
    assert len(ideas) == 5
    documents_cited = 0
    for idea in ideas:
        for field in (
            "title",
            "summary",
            "rationale",
            "instruments",
            "strategy",
            "time_horizon",
            "confidence",
            "risk_level",
            "expected_return",
            "outcomes",
            "metrics",
            "position_sizing",
            "levels",
            "counter_arguments",
            "supporting_evidence",
            "compliance",
            "status",
            "provenance",
            "generated_at",
            "expires_at",
            "owner_id",
            "tags",
        ):
            assert idea[field] not in (None, [], ""), field
        for evidence in idea["supporting_evidence"]:
            citation = evidence["citation"]
            if citation["kind"] == "document":
                documents_cited += 1
                assert "<mark>" not in evidence["claim"]
                assert not re.search(r"&(#x?[0-9a-fA-F]+|amp|lt|gt|quot);", evidence["claim"])
                if citation["chunk_id"] is None:  # a fundamentals row: the table and row are named
                    assert citation["table"], citation
                    assert citation["row"] is not None, citation
                    continue
                chunk = client.get(f"/api/v1/knowledge/chunks/{citation['chunk_id']}", headers=analyst.headers)
                assert chunk.status_code == 200, citation
                assert chunk.json()["document_id"] == citation["document_id"]
                assert chunk.json()["page"] == citation["page"]
                # the quote is the passage's own words: each part is in the chunk's text (whitespace aside)
                text = " ".join(chunk.json()["text"].split())
                if citation["row"] is not None:
                    assert citation["table"], citation
                elif evidence["quote"]:
                    for part in evidence["quote"].split(" … "):
                        assert " ".join(part.split())[:60] in text, (part, citation)
            else:
                bars = client.get(
                    f"/api/v1/market/{citation['symbol']}/bars",
                    headers=analyst.headers,
                    params={"start": citation["end"], "end": citation["end"], "as_of": citation["as_of"]},
                )
                assert bars.status_code == 200
                if citation["series"] == "adj_close":
                    assert bars.json()["bars"][-1]["adj_close"] == pytest.approx(citation["value"])
    assert documents_cited > 0  # the sample notes are found and cited

    listed = client.get("/api/v1/ideas", headers=analyst.headers).json()
    assert {idea["id"] for idea in ideas} <= {idea["id"] for idea in listed}
    trail = client.get(f"/api/v1/ideas/requests/{request_id}/messages", headers=analyst.headers).json()
    assert len(trail) == kinds.count("message")
    history = client.get("/api/v1/ideas/requests", headers=analyst.headers, params={"status": "succeeded"}).json()
    assert request_id in [item["request_id"] for item in history]


def test_synchronous_mode_with_a_template(client: TestClient, analyst: Account) -> None:
    response = client.post(
        "/api/v1/ideas/requests",
        headers=analyst.headers,
        params={"mode": "sync"},
        json={"template": "short_term_tactical", "max_ideas": 2},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request"]["status"] == "succeeded"
    assert body["request"]["template"] == "short_term_tactical"
    assert body["request"]["request"]["investment_horizon"] == "short"
    assert len(body["ideas"]) == 2
    assert any("short horizon" in warning for warning in body["request"]["warnings"])
    too_big = client.post(
        "/api/v1/ideas/requests", headers=analyst.headers, params={"mode": "sync"}, json={"max_ideas": 10}
    )
    assert too_big.status_code == 422
    assert too_big.json()["error"]["details"][0]["loc"] == ["max_ideas"]


def test_cancel_a_queued_request(client: TestClient, container: Container, analyst: Account) -> None:
    request_id = client.post("/api/v1/ideas/requests", headers=analyst.headers, json={"max_ideas": 1}).json()[
        "request_id"
    ]
    cancelled = client.delete(f"/api/v1/ideas/requests/{request_id}", headers=analyst.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    drain(container)
    assert client.get(f"/api/v1/ideas/requests/{request_id}", headers=analyst.headers).json()["status"] == "cancelled"
    assert client.delete(f"/api/v1/ideas/requests/{request_id}", headers=analyst.headers).status_code == 409
    assert client.get(f"/api/v1/ideas/requests/{request_id}/results", headers=analyst.headers).status_code == 409


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"risk_tolerance": "reckless"}, "risk_tolerance"),
        ({"investment_horizon": "forever"}, "investment_horizon"),
        ({"max_ideas": 21}, "max_ideas"),
        ({"max_ideas": 0}, "max_ideas"),
        ({"template": "yolo"}, "template"),
        ({"tickers": ["AAPL"], "exclusions": ["aapl"]}, None),
        ({"callback_url": "https://evil.example.com/hook"}, "callback_url"),
        ({"callback_url": "ftp://hooks.example.org/hook"}, "callback_url"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_requests_are_clear_422s(
    client: TestClient, analyst: Account, body: dict[str, Any], where: str | None
) -> None:
    response = client.post("/api/v1/ideas/requests", headers=analyst.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["request_id"]
    if where is not None:
        assert any(where in [str(part) for part in detail["loc"]] for detail in error["details"]), error


def test_validate_returns_warnings(client: TestClient, analyst: Account) -> None:
    response = client.post(
        "/api/v1/ideas/requests/validate",
        headers=analyst.headers,
        json={"risk_tolerance": "very_aggressive", "investment_horizon": "intraday"},
    )
    assert response.status_code == 200
    assert any("very_aggressive" in warning for warning in response.json()["warnings"])
    templates = client.get("/api/v1/ideas/requests/templates", headers=analyst.headers).json()
    assert len(templates) == 5


def test_other_users_and_roles(client: TestClient, container: Container, analyst: Account) -> None:
    request_id = client.post("/api/v1/ideas/requests", headers=analyst.headers, json={"max_ideas": 1}).json()[
        "request_id"
    ]
    outsider = sign_up(container, role=Role.ANALYST, organisation="org_2")
    colleague = sign_up(container, role=Role.ANALYST, organisation=ORG)
    officer = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation=ORG)
    for account in (outsider, colleague):
        assert client.get(f"/api/v1/ideas/requests/{request_id}", headers=account.headers).status_code == 404
        assert client.delete(f"/api/v1/ideas/requests/{request_id}", headers=account.headers).status_code == 404
        assert client.get(f"/api/v1/ideas/requests/{request_id}/events", headers=account.headers).status_code == 404
    assert client.get(f"/api/v1/ideas/requests/{request_id}", headers=officer.headers).status_code == 200
    assert client.post("/api/v1/ideas/requests", headers=officer.headers, json={}).status_code == 403
    drain(container)


def test_the_callback_receives_the_outcome(client: TestClient, container: Container, analyst: Account) -> None:
    import http.server
    import socket

    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    # Callbacks name hosts, not IP addresses (the WAF's remote-file-inclusion rule refuses URLs with an IP), so
    # the hook listens where "localhost" resolves first.
    family, _, _, _, address = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0]
    server_class = type("Server", (http.server.HTTPServer,), {"address_family": family})
    server = server_class((address[0], 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://localhost:{server.server_port}/hooks/ideas"
        response = client.post(
            "/api/v1/ideas/requests", headers=analyst.headers, json={"max_ideas": 1, "callback_url": url}
        )
        assert response.status_code == 202, response.text
        drain(container)
    finally:
        server.shutdown()
    assert received == [
        {"request_id": response.json()["request_id"], "status": "succeeded", "idea_ids": received[0]["idea_ids"]}
    ]
    assert len(received[0]["idea_ids"]) == 1


def test_lifecycle_permissions_and_feedback(client: TestClient, container: Container, analyst: Account) -> None:
    response = client.post(
        "/api/v1/ideas/requests", headers=analyst.headers, params={"mode": "sync"}, json={"max_ideas": 2}
    )
    first, second = (idea["id"] for idea in response.json()["ideas"])
    officer = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation=ORG)
    foreign_officer = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation="org_2")
    colleague = sign_up(container, role=Role.ANALYST, organisation=ORG)

    def move(account: Account, idea_id: str, status: str, reason: str | None = None) -> Any:
        return client.post(
            f"/api/v1/ideas/{idea_id}/status", headers=account.headers, json={"status": status, "reason": reason}
        )

    assert move(officer, first, "approved").status_code == 409  # a draft is not in review yet
    assert move(analyst, first, "in_review").status_code == 200
    denied = move(analyst, first, "approved")
    assert denied.status_code == 403  # an analyst cannot approve, not even their own idea
    assert denied.json()["error"]["code"] == "forbidden"
    assert move(colleague, first, "archived").status_code == 404  # another analyst's idea is invisible
    assert move(foreign_officer, first, "approved").status_code == 404  # so is another organisation's
    assert client.get(f"/api/v1/ideas/{first}", headers=foreign_officer.headers).status_code == 404
    approved = move(officer, first, "approved", "suitable for the model portfolio")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["compliance"]["state"] == "compliant"
    assert body["status_history"][-1]["by"] == officer.user.id
    seen = client.get(f"/api/v1/ideas/{first}", headers=analyst.headers).json()
    assert seen["status"] == "approved"
    assert [v["status"] for v in client.get(f"/api/v1/ideas/{first}/versions", headers=analyst.headers).json()] == [
        "draft",
        "in_review",
        "approved",
    ]

    assert move(analyst, second, "in_review").status_code == 200
    assert move(officer, second, "rejected").status_code == 422  # a rejection needs a reason
    rejected = move(officer, second, "rejected", "concentration in one sector")
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["status_history"][-1]["reason"] == "concentration in one sector"

    feedback = client.post(
        f"/api/v1/ideas/{first}/feedback",
        headers=analyst.headers,
        json={
            "rating": 4,
            "usefulness": 5,
            "accuracy": 3,
            "insight": 4,
            "action_taken": "watchlist",
            "comments": {"accuracy": "the stop looks tight"},
        },
    )
    assert feedback.status_code == 201, feedback.text
    assert feedback.json()["idea_version"] == 3
    assert (
        client.post(f"/api/v1/ideas/{first}/feedback", headers=analyst.headers, json={"rating": 9}).status_code == 422
    )
    assert (
        client.post(f"/api/v1/ideas/{first}/feedback", headers=colleague.headers, json={"rating": 3}).status_code == 404
    )
    listed = client.get(f"/api/v1/ideas/{first}/feedback", headers=officer.headers).json()
    assert [item["rating"] for item in listed] == [4]


def test_explanation_performance_and_exports(client: TestClient, container: Container, analyst: Account) -> None:
    response = client.post(
        "/api/v1/ideas/requests",
        headers=analyst.headers,
        params={"mode": "sync"},
        json={"max_ideas": 1, "as_of": "2022-06-30"},
    )
    idea = response.json()["ideas"][0]
    idea_id, symbol = idea["id"], idea["instruments"][0]["symbol"]

    explanation = client.get(f"/api/v1/ideas/{idea_id}/explanation", headers=analyst.headers).json()
    assert {
        "decision_path",
        "factor_contributions",
        "data_sources",
        "confidence_breakdown",
        "ranking",
        "sensitivity",
    } <= set(explanation)
    assert explanation["decision_path"][0]["sender"] == "supervisor"
    assert explanation["ranking"]["score"] == pytest.approx(
        sum(explanation["ranking"]["weights"][k] * v for k, v in explanation["ranking"]["components"].items())
    )
    assert all(source["age_days"] >= 0 for source in explanation["data_sources"] if source["kind"] == "market")

    performance = client.get(f"/api/v1/ideas/{idea_id}/performance", headers=analyst.headers).json()
    closes = container.market.bar_frame(symbol, start=date(2022, 6, 30))
    expected = closes["adj_close"].iloc[-1] / closes["adj_close"].iloc[0] - 1
    assert performance["since"] == "2022-06-30"
    assert performance["until"] == "2022-12-28"
    assert performance["realised_return"] == pytest.approx(expected)
    assert performance["benchmark"] == "SPX"
    assert performance["excess_return"] == pytest.approx(
        performance["realised_return"] - performance["benchmark_return"]
    )

    markdown = client.get(f"/api/v1/ideas/{idea_id}/export", headers=analyst.headers)
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# {idea['title']}")
    assert "data:image/png;base64," in markdown.text
    commentary = idea["analysis"]["commentary"]
    assert commentary["written_by"] == "code"
    assert f"### Quantitative commentary\n\n{commentary['text']}\n" in markdown.text
    page = client.get(f"/api/v1/ideas/{idea_id}/export", headers=analyst.headers, params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<h3>Quantitative commentary</h3>" in page.text
    assert html.escape(commentary["text"]) in page.text
    assert "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert (
        client.get(f"/api/v1/ideas/{idea_id}/export", headers=analyst.headers, params={"format": "pdf"}).status_code
        == 422
    )
    stranger = sign_up(container, role=Role.ANALYST, organisation="org_2")
    for path in ("explanation", "performance", "export"):
        assert client.get(f"/api/v1/ideas/{idea_id}/{path}", headers=stranger.headers).status_code == 404


def test_the_scheduler_expires_approved_ideas_past_their_validity(
    client: TestClient, container: Container, analyst: Account
) -> None:
    idea_id = client.post(
        "/api/v1/ideas/requests", headers=analyst.headers, params={"mode": "sync"}, json={"max_ideas": 1}
    ).json()["ideas"][0]["id"]
    officer = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation=ORG)
    client.post(f"/api/v1/ideas/{idea_id}/status", headers=analyst.headers, json={"status": "in_review"})
    client.post(f"/api/v1/ideas/{idea_id}/status", headers=officer.headers, json={"status": "approved"})
    clock = container.clock
    assert isinstance(clock, FakeClock)
    assert container.idea_lifecycle.expire_due() == 0
    clock.set(NOW + timedelta(days=31))
    try:
        container.jobs.enqueue("ideas.expire")
        drain(container)
        assert container.ideas.get(idea_id).status.value == "expired"
        assert container.ideas.get(idea_id).status_history[-1].by == "scheduler"
    finally:
        clock.set(NOW)


def test_listing_ideas_with_filters(client: TestClient, container: Container, analyst: Account) -> None:
    made = client.post(
        "/api/v1/ideas/requests", headers=analyst.headers, params={"mode": "sync"}, json={"max_ideas": 3}
    ).json()["ideas"]
    symbol, strategy = made[0]["instruments"][0]["symbol"], made[0]["strategy"]

    def listed(account: Account, **params: Any) -> list[dict[str, Any]]:
        response = client.get("/api/v1/ideas", headers=account.headers, params=params)
        assert response.status_code == 200, response.text
        return list(response.json())

    assert all(i["instruments"][0]["symbol"] == symbol for i in listed(analyst, symbol=symbol.lower()))
    assert made[0]["id"] in {i["id"] for i in listed(analyst, symbol=symbol)}
    assert all(i["strategy"] == strategy for i in listed(analyst, strategy=strategy))
    assert {i["id"] for i in made} <= {i["id"] for i in listed(analyst, date=NOW.date().isoformat())}
    assert listed(analyst, date="2001-01-01") == []
    assert len(listed(analyst, limit=2)) == 2
    manager = sign_up(container, role=Role.PORTFOLIO_MANAGER, organisation=ORG)
    assert {i["id"] for i in made} <= {i["id"] for i in listed(manager, owner=analyst.user.id)}
    assert listed(sign_up(container, role=Role.ANALYST, organisation=ORG), owner=analyst.user.id) == []
    assert client.get("/api/v1/ideas", headers=analyst.headers, params={"strategy": "yolo"}).status_code == 422


def test_a_request_whose_worker_stopped_mid_run_runs_again_and_stores_its_ideas_once(
    container: Container, analyst: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = container.identity.verifier.verify(analyst.tokens.access_token)
    service = container.idea_requests
    record = service.submit(
        principal, CallContext(), {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 2}
    )
    assert record.job_id is not None
    assert container.jobs.get(record.job_id).max_attempts == RUN_ATTEMPTS
    leased = container.jobs.lease(visibility_timeout=timedelta(0))  # a worker takes the job ...
    assert leased is not None
    assert leased.id == record.job_id
    generate = service.generator.generate

    def killed(*args: Any, **kwargs: Any) -> Any:
        generate(*args, **kwargs)  # ... computes every idea, and its process dies before storing them
        raise SystemExit("killed")

    monkeypatch.setattr(service.generator, "generate", killed)
    with pytest.raises(SystemExit):
        service.run(record.id)
    monkeypatch.undo()
    assert service.peek(principal, record.id).status.value == "running"
    assert [
        idea for idea in container.ideas.list_by_user(principal.user_id) if idea.provenance.request_id == record.id
    ] == []

    drain(container)  # the lease has run out: another worker runs the request again
    finished = service.peek(principal, record.id)
    assert finished.status.value == "succeeded"
    assert len(finished.idea_ids) == 2
    stored = [
        idea.id for idea in container.ideas.list_by_user(principal.user_id) if idea.provenance.request_id == record.id
    ]
    assert sorted(stored) == sorted(finished.idea_ids)


def test_a_request_whose_worker_stopped_on_every_attempt_reads_as_failed(
    client: TestClient, container: Container, analyst: Account
) -> None:
    principal = container.identity.verifier.verify(analyst.tokens.access_token)
    record = container.idea_requests.submit(
        principal, CallContext(), {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 1}
    )
    for _ in range(RUN_ATTEMPTS):  # each worker that takes it dies: its lease runs out
        assert container.jobs.lease(visibility_timeout=timedelta(0)) is not None
    assert container.jobs.lease(visibility_timeout=timedelta(0)) is None  # dead-lettered now
    answer = client.get(f"/api/v1/ideas/requests/{record.id}", headers=analyst.headers)
    assert answer.status_code == 200
    assert answer.json()["status"] == "failed"
    assert "submit it again" in container.idea_requests.peek(principal, record.id).error
