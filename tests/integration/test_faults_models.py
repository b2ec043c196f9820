"""Model faults for every agent that asks a model: HTTP 429 with ``Retry-After``, HTTP 503, an answer slower than
the call's timeout, and a malformed answer (a chat completion cut off halfway), from a real OpenAI-compatible
server on 127.0.0.1 that the product is configured to use (``INVESTAI_MODEL_PROVIDER=openai``) with small
timeouts, two attempts per model and short back-off.

The server tells the agents apart by their prompts' system text and misbehaves for the agents a test names;
every other prompt gets a well-formed answer. In each case an idea request completes with the deterministic
fallback (the offline provider's answer) for the failing agent, yields the same ideas (by symbol) as with a
healthy model, records the failing step as offline in each idea's provenance, and each model call was asked at
most ``model_max_attempts`` times per model down its chain (retryable faults exactly that often, a malformed
answer once, a ``Retry-After`` beyond ``model_max_wait_s`` once, one within it waited out).

Coverage of the 4 faults x 5 agents: four requests, each giving every agent a fault, rotated so that every
agent meets every fault once (``ROTATIONS``); then each agent alone with HTTP 503, checking that its failure
(which model, what error) is in the request's agent messages and that the other agents' calls still reach the
model; and ``Retry-After`` within the wait bound, honoured, on the planning agent.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.agents.commentary import COMMENTARY_STEP, COMMENTARY_TEMPLATE
from investai.agents.compliance import REVIEW_TEMPLATE
from investai.agents.planning import PLAN_TEMPLATE
from investai.agents.research import SUMMARY_TEMPLATE
from investai.agents.synthesis import IDEA_TEMPLATE
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.documents import DocumentMetadata
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.server import create_app
from investai.services.auth_common import CallContext
from tests.conftest import Account, drain, sign_up
from tests.document_files import make_csv
from tests.model_server import ModelServer, Reply, Seen, completion, error, model_server

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
PUBLISHED = datetime(2020, 6, 1, tzinfo=UTC)
ORG = "org_model_faults"
REQUEST = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 1}

REASONING, FAST, QUANTITATIVE = "test-reasoning", "test-fast", "test-quantitative"
MAX_ATTEMPTS = 2
TIMEOUT_S = 0.5
SLOW_S = 2.0
MAX_WAIT_S = 2.0
RETRY_AFTER_BEYOND_S = 30
RETRY_AFTER_WITHIN_S = 1

AGENT_OF_SYSTEM = {
    PLAN_TEMPLATE.system: "planning",
    SUMMARY_TEMPLATE.system: "research",
    COMMENTARY_TEMPLATE.system: "analysis",
    REVIEW_TEMPLATE.system: "compliance",
    IDEA_TEMPLATE.system: "synthesis",
}
AGENTS = list(AGENT_OF_SYSTEM.values())
STEP = {"planning": "planning", "research": "research", "analysis": COMMENTARY_STEP}
STEP |= {"compliance": "compliance", "synthesis": "synthesis"}
CHAIN = {  # the models each agent's calls go through, in order (bootstrap/models.py)
    "planning": [REASONING, FAST],
    "research": [FAST],
    "analysis": [QUANTITATIVE, FAST],
    "compliance": [FAST],
    "synthesis": [REASONING, FAST],
}


class Fault(StrEnum):
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    SLOW = "slow"
    MALFORMED = "malformed"


FAULTS = list(Fault)
ROTATIONS = [{agent: FAULTS[(index + shift) % len(FAULTS)] for index, agent in enumerate(AGENTS)} for shift in range(4)]
ERROR_TEXT = {  # what the recorded failure says for each fault
    Fault.THROTTLED: "rate limited (HTTP 429",
    Fault.SERVER_ERROR: "HTTP 503",
    Fault.SLOW: "APITimeoutError",
    Fault.MALFORMED: "not a chat completion",
}


def agent_of(seen: Seen) -> str:
    return AGENT_OF_SYSTEM[seen.system]


def healthy(seen: Seen) -> Reply:
    """A well-formed answer each agent accepts: words without numbers, naming only what the prompt gave."""
    agent = agent_of(seen)
    answer: Any
    if agent == "planning":
        answer = {"focus": "Steady compounders with improving trends.", "research_questions": []}
    elif agent == "research":
        answer = "The passages describe the company's business and what the firm's analysts think of it."
    elif agent == "analysis":
        key = re.search(r"^- (\S+): ", seen.user, re.MULTILINE)
        assert key is not None, seen.user
        text = "The computed metrics show how the instrument traded over the window and what its scenarios imply."
        answer = {"commentary": text, "metrics": [key.group(1)]}
    elif agent == "compliance":
        answer = {"issues": []}
    else:
        answer = {
            "title": "A long position on the computed trend",
            "summary": "The computed figures support a long position. The research is consistent with it.",
            "rationale": "The screen ranks the instrument well on the plan's factors, and its risk fits the request.",
            "counter_arguments": ["The trend may reverse."],
        }
    return completion(seen.model, answer if isinstance(answer, str) else json.dumps(answer))


def faulty(fault: Fault, seen: Seen, retry_after_s: int) -> Reply:
    if fault is Fault.THROTTLED:
        return error(429, "slow down", {"Retry-After": str(retry_after_s)})
    if fault is Fault.SERVER_ERROR:
        return error(503, "the model is overloaded")
    if fault is Fault.SLOW:
        return Reply(**{**vars(healthy(seen)), "delay_s": SLOW_S})
    whole = json.dumps(healthy(seen).body).encode()
    return Reply(200, whole[: len(whole) // 2])  # a proxy cut the answer off


class Script:
    """Which agents' prompts get which fault (the rest are answered well)."""

    def __init__(self) -> None:
        self.faults: dict[str, Fault] = {}
        self.retry_after_s = RETRY_AFTER_BEYOND_S

    def __call__(self, seen: Seen) -> Reply:
        fault = self.faults.get(agent_of(seen))
        return healthy(seen) if fault is None else faulty(fault, seen, self.retry_after_s)


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@pytest.fixture(scope="module")
def server(script: Script) -> Iterator[ModelServer]:
    with model_server(script) as running:
        yield running


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, server: ModelServer) -> Iterator[Container]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("model-faults") / "var",
        model_provider="openai",
        openai_base_url=server.url,
        model_reasoning=REASONING,
        model_fast=FAST,
        model_quantitative=QUANTITATIVE,
        model_timeout_s=TIMEOUT_S,
        model_max_attempts=MAX_ATTEMPTS,
        model_backoff_base_s=0.01,
        model_backoff_max_s=0.05,
        model_max_wait_s=MAX_WAIT_S,
    )
    built = build_container(settings, clock=FakeClock(NOW), embedder=embedder)
    built.market.load_sample()
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def requester(container: Container) -> Account:
    """An analyst with one research note on every sample symbol (fewer passages to index than the sample
    corpus, and every candidate has some for the research agent to summarise)."""
    account = sign_up(container, role=Role.ANALYST, organisation=ORG)
    principal = container.identity.verifier.verify(account.tokens.access_token)
    rows = [
        [info.symbol, info.name, f"{info.name} ({info.symbol}) keeps a sound balance sheet, the research team notes."]
        for info in container.market.symbols(limit=100)
    ]
    container.knowledge.documents.upload(
        principal,
        CallContext(),
        content=make_csv(["ticker", "company", "note"], rows),
        filename="notes.csv",
        metadata=DocumentMetadata(published_at=PUBLISHED),
    )
    assert drain(container) == 1
    return account


class Run:
    """One idea request run to its end: its status, ideas, agent messages and the model requests it made."""

    def __init__(self, client: TestClient, container: Container, account: Account, server: ModelServer) -> None:
        server.clear()
        answer = client.post("/api/v1/ideas/requests", headers=account.headers, json=REQUEST)
        assert answer.status_code == 202, answer.text
        request_id = answer.json()["request_id"]
        assert drain(container) == 1
        base = f"/api/v1/ideas/requests/{request_id}"
        self.status = client.get(base, headers=account.headers).json()
        self.ideas = client.get(f"{base}/results", headers=account.headers).json()["ideas"]
        self.messages = client.get(f"{base}/messages", headers=account.headers).json()
        self.seen = server.seen()

    @property
    def symbols(self) -> list[str]:
        return [idea["instruments"][0]["symbol"] for idea in self.ideas]

    def calls(self, agent: str) -> dict[str, list[Seen]]:
        """The agent's model requests, by prompt (one router call each), in the order the server saw them."""
        found: dict[str, list[Seen]] = defaultdict(list)
        for seen in self.seen:
            if agent_of(seen) == agent:
                found[seen.user].append(seen)
        return found

    def uses(self, agent: str) -> list[dict[str, Any]]:
        """The provenance records of the agent's model step, over every idea."""
        return [use for idea in self.ideas for use in idea["provenance"]["models"] if use["step"] == STEP[agent]]


@pytest.fixture(scope="module")
def baseline(client: TestClient, container: Container, requester: Account, server: ModelServer) -> Run:
    """The request with every prompt answered well."""
    run = Run(client, container, requester, server)
    assert run.status["status"] == "succeeded", run.status
    assert run.symbols, "the sample data yields ideas"
    for agent in AGENTS:
        assert run.calls(agent), f"{agent} asked the model"
        assert run.uses(agent), f"{agent}'s model step is in the provenance"
    return run


def expected_attempts(fault: Fault) -> int:
    """Requests per model for one call: retryable faults use every attempt; a malformed answer is not retried;
    a ``Retry-After`` beyond the wait bound ends the model's turn at once."""
    return MAX_ATTEMPTS if fault in (Fault.SERVER_ERROR, Fault.SLOW) else 1


def check_fell_back(run: Run, baseline: Run, agent: str, fault: Fault) -> None:
    assert run.status["status"] == "succeeded", run.status
    assert run.symbols == baseline.symbols, f"{agent} {fault}: ideas lost or changed"
    calls = run.calls(agent)
    assert calls, f"{agent} asked the model"
    attempts = expected_attempts(fault)
    for prompt, seen in calls.items():
        models = [item.model for item in seen]
        assert models == [model for model in CHAIN[agent] for _ in range(attempts)], (agent, fault, prompt[:80])
    uses = run.uses(agent)
    assert uses, f"{agent}'s fallback is in the provenance"
    assert all(use["offline"] and use["provider"] == "offline" for use in uses), (agent, fault, uses)


@pytest.mark.parametrize("faults", ROTATIONS, ids=lambda faults: "-".join(f"{a}:{f}" for a, f in faults.items()))
def test_every_agent_falls_back_under_every_fault(
    client: TestClient,
    container: Container,
    requester: Account,
    server: ModelServer,
    script: Script,
    baseline: Run,
    faults: dict[str, Fault],
) -> None:
    script.faults = dict(faults)
    try:
        run = Run(client, container, requester, server)
    finally:
        script.faults = {}
    for agent, fault in faults.items():
        check_fell_back(run, baseline, agent, fault)
    slow = [seen for seen in run.seen if faults[agent_of(seen)] is Fault.SLOW]
    assert slow, "the slow answers were asked for"


def failure_messages(run: Run, agent: str) -> list[str]:
    """The request's messages from ``agent`` (as JSON text) that name a model failure."""
    texts = [json.dumps(message["content"]) for message in run.messages if message["sender"] == agent]
    return [text for text in texts if "fell_back" in text or "failures" in text or "error" in text]


@pytest.mark.parametrize("agent", AGENTS)
def test_one_agents_failure_is_recorded_and_the_others_still_use_the_model(
    client: TestClient,
    container: Container,
    requester: Account,
    server: ModelServer,
    script: Script,
    baseline: Run,
    agent: str,
) -> None:
    script.faults = {agent: Fault.SERVER_ERROR}
    try:
        run = Run(client, container, requester, server)
    finally:
        script.faults = {}
    check_fell_back(run, baseline, agent, Fault.SERVER_ERROR)
    for other in AGENTS:
        if other != agent:
            answered = [use for use in run.uses(other) if not use["offline"]]
            assert answered, f"{other} still had its answers from the model"
    recorded = failure_messages(run, agent)
    for model in CHAIN[agent]:
        assert any(model in text and ERROR_TEXT[Fault.SERVER_ERROR] in text for text in recorded), (
            f"{agent}'s messages name {model} and its error: {recorded}"
        )


def test_a_retry_after_within_the_wait_bound_is_waited_out(
    client: TestClient,
    container: Container,
    requester: Account,
    server: ModelServer,
    script: Script,
    baseline: Run,
) -> None:
    script.faults, script.retry_after_s = {"planning": Fault.THROTTLED}, RETRY_AFTER_WITHIN_S
    try:
        run = Run(client, container, requester, server)
    finally:
        script.faults, script.retry_after_s = {}, RETRY_AFTER_BEYOND_S
    assert run.status["status"] == "succeeded", run.status
    assert run.symbols == baseline.symbols
    (seen,) = run.calls("planning").values()
    assert [item.model for item in seen] == [REASONING] * MAX_ATTEMPTS + [FAST] * MAX_ATTEMPTS
    for model in (REASONING, FAST):
        times = [item.at for item in seen if item.model == model]
        gaps = [later - earlier for earlier, later in pairwise(times)]
        assert len(gaps) == MAX_ATTEMPTS - 1
        assert all(gap >= RETRY_AFTER_WITHIN_S - 0.05 for gap in gaps), gaps
        assert all(gap < RETRY_AFTER_WITHIN_S + MAX_WAIT_S for gap in gaps), gaps
    assert all(use["offline"] for use in run.uses("planning"))
