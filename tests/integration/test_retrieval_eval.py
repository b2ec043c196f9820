"""Retrieval evaluation over the sample corpus and its labelled queries (``tests/data/retrieval_queries.json``):
recall@5 of each search mode, through the same service the API calls, with the real embedder.

A query counts as answered when a top-5 hit cites its labelled place: the document and page for a note, the
document and a table chunk holding the labelled ticker's row for a table. Hybrid must do at least as well as
the better single mode; the figures are printed (``pytest -s``) and quoted in the README."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.knowledge import KnowledgeHit, SearchMode
from investai.ports.knowledge import Embedder
from investai.services.auth_common import CallContext
from tests.conftest import Account, sign_up
from tests.factories import T0

QUERIES = json.loads((Path(__file__).resolve().parents[1] / "data" / "retrieval_queries.json").read_text())
K = 5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[tuple[Container, Account]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("eval") / "var", _env_file=None)
    container = build_container(settings, clock=FakeClock(T0), embedder=embedder)
    reader = sign_up(container, organisation="org_eval")
    assert container.knowledge.samples.ensure_loaded("org_eval") > 0
    worker = container.worker_pool().workers[0]
    while worker.run_once():
        pass
    yield container, reader
    container.close()


def _principal(container: Container, account: Account) -> Any:
    return container.identity.verifier.verify(account.tokens.access_token)


def _answers(container: Container, hit: KnowledgeHit, label: dict[str, Any], ids: dict[str, str]) -> bool:
    names = [label["filename"], *label.get("equivalent_filenames", [])]
    if hit.citation.document_id not in {ids[name] for name in names}:
        return False
    if label.get("page") is not None:
        return hit.citation.page == label["page"]
    ticker = label["table_row"]["ticker"]
    chunks = {chunk.id: chunk for chunk in container.knowledge.index.chunks(hit.citation.document_id)}
    chunk = chunks.get(hit.citation.chunk_id or "")
    return chunk is not None and any(
        cell.strip() == ticker for line in chunk.text.splitlines() for cell in line.split("|")
    )


def recall_at_k(container: Container, account: Account, mode: SearchMode) -> float:
    principal = _principal(container, account)
    documents = container.knowledge.documents.list_documents(principal, CallContext(), limit=500)
    ids = {document.versions[0].filename: document.id for document in documents}
    answered = 0
    for label in QUERIES:
        hits = container.knowledge.search.search(principal, CallContext(), query=label["query"], mode=mode, limit=K)
        answered += any(_answers(container, hit, label, ids) for hit in hits)
    return answered / len(QUERIES)


def test_the_labelled_set_is_large_enough() -> None:
    assert len(QUERIES) >= 30


def test_hybrid_recall_at_5_is_at_least_the_better_single_mode(corpus: tuple[Container, Account]) -> None:
    container, account = corpus
    recall = {mode: recall_at_k(container, account, mode) for mode in SearchMode}
    print("\nrecall@5 over", len(QUERIES), "queries:", {mode.value: round(value, 3) for mode, value in recall.items()})
    assert recall[SearchMode.HYBRID] >= max(recall[SearchMode.KEYWORD], recall[SearchMode.SEMANTIC])
    assert recall[SearchMode.HYBRID] >= 0.8
