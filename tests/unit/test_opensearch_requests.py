"""The OpenSearch search index's requests, checked offline: an ``opensearch-py`` connection that records every
request (method, path, query parameters, body) and answers with canned JSON stands in for the cluster.

What a live cluster does with these requests (ranking, HNSW recall, the hybrid pipeline) is the contract
suite's job (``tests/contract/test_search_index.py`` with ``OPENSEARCH_URL`` set). Here: the mapping, the
pipeline, that the access predicate sits inside every query (both halves of a hybrid one) and never in a
post-filter, the bulk and delete-by-query bodies, the parsing of hits back into chunks, and error mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from opensearchpy import OpenSearch
from opensearchpy.connection import Connection
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import RequestError

from investai.adapters.aws import opensearch_index
from investai.adapters.aws.opensearch_index import (
    OpenSearchIndexError,
    OpenSearchSearchIndex,
    build_opensearch_client,
    chunk_source,
)
from investai.domain.documents import DocumentType, Visibility
from investai.domain.errors import StoreUnavailable
from investai.domain.knowledge import AccessScope, Chunk, ChunkKind, SearchFilters, SearchMode
from tests.contract.knowledge_fixtures import ALICE, BOB, DIMENSION, MALLORY, HashingEmbedder, make_chunk
from tests.factories import T0

INDEX = "kb-test"
PIPELINE = f"{INDEX}-hybrid"
EMBEDDER = HashingEmbedder()


# --- a recording cluster ------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    body: Any
    """Parsed JSON; for NDJSON (bulk) the list of parsed lines."""


Answer = tuple[int, Any]
Handler = Callable[[Request], Answer]


@dataclass
class FakeCluster:
    """Answers by ``(method, path)``: a fixed answer, a handler, or a queue of either (first in, first out)."""

    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer | Handler | Exception) -> None:
        self.routes[(method, path)] = list(answers) if len(answers) > 1 else answers[0]

    def handle(self, request: Request) -> Answer:
        self.requests.append(request)
        route = self.routes.get((request.method, request.path))
        if route is None:
            raise AssertionError(f"unexpected request {request.method} {request.path}")
        if isinstance(route, list):
            route = route.pop(0) if len(route) > 1 else route[0]
        if isinstance(route, Exception):
            raise route
        return route(request) if callable(route) else route

    def sent(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def one(self, method: str, path: str) -> Request:
        found = self.sent(method, path)
        assert len(found) == 1, [(r.method, r.path) for r in self.requests]
        return found[0]


class RecordingConnection(Connection):
    def __init__(self, *, cluster: FakeCluster, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster = cluster

    def close(self) -> None:
        pass

    def perform_request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        body: bytes | str | None = None,
        timeout: float | None = None,
        ignore: Any = (),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        text = body.decode() if isinstance(body, bytes) else body
        parsed: Any = None
        if text:
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            parsed = lines if url.endswith("/_bulk") else lines[0]
        sent = {key: value.decode() if isinstance(value, bytes) else value for key, value in (params or {}).items()}
        status, payload = self.cluster.handle(Request(method, url, sent, parsed))
        raw = "" if payload is None else json.dumps(payload)
        if not 200 <= status < 300 and status not in ignore:
            self._raise_error(status, raw, "application/json")
        return status, {"content-type": "application/json"}, raw


def mapping(dimension: int = DIMENSION) -> dict[str, Any]:
    return {INDEX: {"mappings": opensearch_index.index_body(dimension)["mappings"]}}


def bulk_ok(request: Request) -> Answer:
    actions = request.body[::2]
    items = [{"index": {"_id": a["index"]["_id"], "status": 201, "result": "created"}} for a in actions]
    return 200, {"took": 1, "errors": False, "items": items}


def empty_hits(_: Request) -> Answer:
    return 200, {"hits": {"hits": []}}


@pytest.fixture
def cluster() -> FakeCluster:
    """A cluster where the index and the pipeline exist and every call succeeds with nothing found."""
    fake = FakeCluster()
    fake.on("HEAD", f"/{INDEX}", (200, None))
    fake.on("GET", f"/{INDEX}/_mapping", (200, mapping()))
    fake.on("PUT", f"/_search/pipeline/{PIPELINE}", (200, {"acknowledged": True}))
    fake.on("POST", f"/{INDEX}/_bulk", bulk_ok)
    fake.on("POST", f"/{INDEX}/_delete_by_query", (200, {"deleted": 0, "failures": [], "timed_out": False}))
    fake.on("POST", f"/{INDEX}/_search", empty_hits)
    fake.on("POST", f"/{INDEX}/_count", (200, {"count": 0}))
    return fake


def client_for(cluster: FakeCluster, *, max_retries: int = 0) -> OpenSearch:
    return OpenSearch(
        hosts=[{"host": "opensearch.test", "port": 9200}],
        connection_class=RecordingConnection,
        cluster=cluster,
        max_retries=max_retries,
    )


@pytest.fixture
def index(cluster: FakeCluster) -> Iterator[OpenSearchSearchIndex]:
    built = OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION)
    yield built
    built.close()


def search(
    index: OpenSearchSearchIndex,
    query: str,
    mode: SearchMode,
    *,
    scope: AccessScope = ALICE,
    filters: SearchFilters | None = None,
    limit: int = 10,
) -> list[Any]:
    return index.search(
        query=query,
        vector=EMBEDDER.embed_one(query),
        mode=mode,
        scope=scope,
        filters=filters or SearchFilters(),
        limit=limit,
    )


def searches(cluster: FakeCluster) -> list[Request]:
    return cluster.sent("POST", f"/{INDEX}/_search")


# --- a tiny evaluator of the filters used, to show what a predicate lets through ---------------------------------


def matches(clause: dict[str, Any], source: dict[str, Any]) -> bool:
    ((kind, spec),) = clause.items()
    if kind == "bool":
        return all(matches(c, source) for c in spec.get("filter", [])) and not any(
            matches(c, source) for c in spec.get("must_not", [])
        )
    if kind in {"terms", "term"}:
        ((name, wanted),) = spec.items()
        values = source[name] if isinstance(source[name], list) else [source[name]]
        wanted = wanted if isinstance(wanted, list) else [wanted]
        return bool(set(values) & set(wanted))
    if kind == "range":
        ((name, bounds),) = spec.items()
        value = source[name]
        return ("gte" not in bounds or value >= bounds["gte"]) and ("lte" not in bounds or value <= bounds["lte"])
    raise AssertionError(f"unexpected clause {kind}")


def no_post_filter(body: dict[str, Any]) -> None:
    assert "post_filter" not in body
    assert "post_filter" not in json.dumps(body)


# --- the index and the pipeline ------------------------------------------------------------------------------


def test_ensure_creates_the_index_with_an_hnsw_vector_and_bm25_text_fields(cluster: FakeCluster) -> None:
    cluster.on("HEAD", f"/{INDEX}", (404, None))
    cluster.on("PUT", f"/{INDEX}", (200, {"acknowledged": True}))
    OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION).ensure()

    body = cluster.one("PUT", f"/{INDEX}").body
    assert body["settings"]["index"]["knn"] is True
    properties = body["mappings"]["properties"]
    assert body["mappings"]["dynamic"] == "strict"
    vector = properties["vector"]
    assert (vector["type"], vector["dimension"]) == ("knn_vector", DIMENSION)
    assert vector["method"]["name"] == "hnsw"
    assert vector["method"]["engine"] in {"lucene", "faiss"}
    assert vector["method"]["space_type"] == "cosinesimil"
    assert set(vector["method"]["parameters"]) == {"m", "ef_construction"}
    assert properties["text"] == {"type": "text"}
    assert properties["title"] == {"type": "text"}
    for name in ("id", "document_id", "doc_type", "tags", "readers", "owner_id", "organisation_id", "visibility"):
        assert properties[name] == {"type": "keyword"}, name
    assert properties["document_date"]["type"] in {"date", "date_nanos"}
    assert properties["payload"] == {"type": "object", "enabled": False}
    assert cluster.sent("GET", f"/{INDEX}/_mapping") == []  # just created: nothing to check


def test_ensure_puts_the_hybrid_pipeline_with_the_weights(cluster: FakeCluster) -> None:
    OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION, weights=(0.4, 0.6)).ensure()

    body = cluster.one("PUT", f"/_search/pipeline/{PIPELINE}").body
    (processor,) = body["phase_results_processors"]
    normalization = processor["normalization-processor"]
    assert normalization["normalization"] == {"technique": "min_max"}
    assert normalization["combination"] == {"technique": "arithmetic_mean", "parameters": {"weights": [0.4, 0.6]}}


def test_weights_are_scaled_to_sum_to_one_and_checked(cluster: FakeCluster) -> None:
    OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION, weights=(1, 3)).ensure()
    body = cluster.one("PUT", f"/_search/pipeline/{PIPELINE}").body
    weights = body["phase_results_processors"][0]["normalization-processor"]["combination"]["parameters"]["weights"]
    assert weights == [0.25, 0.75]
    for bad in [(0.0, 0.0), (-0.1, 1.1), (float("nan"), 1.0)]:
        with pytest.raises(ValueError, match="weights"):
            OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION, weights=bad)


def test_ensure_runs_once_lazily_and_accepts_an_index_created_concurrently(cluster: FakeCluster) -> None:
    cluster.on("HEAD", f"/{INDEX}", (404, None))
    error = {"error": {"type": "resource_already_exists_exception", "reason": "exists"}, "status": 400}
    cluster.on("PUT", f"/{INDEX}", (400, error))
    index = OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION)

    assert index.count() == 0
    assert index.count("doc_a") == 0
    assert len(cluster.sent("HEAD", f"/{INDEX}")) == 1  # the first call ensured; later ones do not
    assert len(cluster.sent("GET", f"/{INDEX}/_mapping")) == 1  # the other process's index was checked
    assert len(cluster.sent("PUT", f"/_search/pipeline/{PIPELINE}")) == 1


def test_ensure_refuses_an_index_of_another_dimension(cluster: FakeCluster) -> None:
    cluster.on("GET", f"/{INDEX}/_mapping", (200, mapping(dimension=768)))
    with pytest.raises(ValueError, match="768"):
        OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION).ensure()


def test_an_operators_pipeline_is_created_only_when_missing(cluster: FakeCluster) -> None:
    cluster.on("GET", "/_search/pipeline/ops-pipeline", (200, {"ops-pipeline": {"phase_results_processors": []}}))
    cluster.on("PUT", "/_search/pipeline/ops-pipeline", (200, {"acknowledged": True}))
    index = OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION, pipeline="ops-pipeline")
    index.ensure()
    assert cluster.sent("PUT", "/_search/pipeline/ops-pipeline") == []

    search(index, "margins", SearchMode.HYBRID)
    assert searches(cluster)[-1].params["search_pipeline"] == "ops-pipeline"

    cluster.on("GET", "/_search/pipeline/ops-pipeline", (404, {"error": "not found", "status": 404}))
    index.ensure()
    assert len(cluster.sent("PUT", "/_search/pipeline/ops-pipeline")) == 1


@pytest.mark.parametrize("name", ["Upper", "_hidden", "a b", "a/b", "", "-x"])
def test_index_names_are_checked(cluster: FakeCluster, name: str) -> None:
    with pytest.raises(ValueError, match="index name"):
        OpenSearchSearchIndex(client_for(cluster), index=name, dimension=DIMENSION)


# --- queries -------------------------------------------------------------------------------------------------


def test_hybrid_query_carries_the_access_predicate_inside_both_halves(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    search(index, "lithium supply", SearchMode.HYBRID, limit=5)

    request = searches(cluster)[-1]
    assert request.params["search_pipeline"] == PIPELINE
    assert request.params["include_named_queries_score"] == "true"
    no_post_filter(request.body)
    keyword, semantic = request.body["query"]["hybrid"]["queries"]
    expected = [{"terms": {"readers": ALICE.tokens()}}]
    assert keyword["bool"]["filter"] == expected
    assert keyword["bool"]["must"] == [{"multi_match": {"query": "lithium supply", "fields": ["text", "title"]}}]
    assert keyword["bool"]["_name"] == "keyword"
    knn = semantic["knn"]["vector"]
    assert knn["filter"] == {"bool": {"filter": expected}}
    assert knn["_name"] == "semantic"
    assert knn["vector"] == pytest.approx(EMBEDDER.embed_one("lithium supply"))
    assert knn["k"] >= request.body["size"] >= 5


ACCESS_CASES = [
    ({"owner": ALICE}, True),
    ({"owner": BOB}, False),
    ({"owner": BOB, "visibility": Visibility.ORGANISATION}, True),
    ({"owner": MALLORY, "visibility": Visibility.ORGANISATION}, False),
    ({"owner": BOB, "visibility": Visibility.ROLES, "allowed_roles": ["analyst"]}, True),
    ({"owner": MALLORY, "visibility": Visibility.ROLES, "allowed_roles": ["analyst"]}, False),
    ({"owner": BOB, "visibility": Visibility.USERS, "allowed_users": ["user_alice"]}, True),
    ({"owner": MALLORY, "visibility": Visibility.USERS, "allowed_users": ["user_alice"]}, False),
]


@pytest.mark.parametrize(("fields", "visible"), ACCESS_CASES)
@pytest.mark.parametrize("mode", list(SearchMode))
def test_the_predicate_sent_lets_through_exactly_what_the_scope_may_see(
    index: OpenSearchSearchIndex, cluster: FakeCluster, mode: SearchMode, fields: dict[str, Any], visible: bool
) -> None:
    """Evaluated over the document a chunk is indexed as: another organisation's chunk never matches, even
    when it is shared with the organisation, the reader's role or the reader's user id."""
    chunk = make_chunk("memo", **fields)
    stored = chunk_source(chunk, generation=1)
    search(index, "memo", mode)

    body = searches(cluster)[-1].body
    query = body["query"]
    if mode is SearchMode.KEYWORD:
        predicates = [query["bool"]["filter"]]
    elif mode is SearchMode.SEMANTIC:
        predicates = [query["knn"]["vector"]["filter"]["bool"]["filter"]]
    else:
        keyword, semantic = query["hybrid"]["queries"]
        predicates = [keyword["bool"]["filter"], semantic["knn"]["vector"]["filter"]["bool"]["filter"]]
    for clauses in predicates:
        assert all(matches(clause, stored) for clause in clauses) is visible is ALICE.allows(chunk)


def test_keyword_search_is_bm25_over_text_and_title_with_the_filters(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    filters = SearchFilters(
        document_ids=["d1", "d3"],
        doc_types=[DocumentType.PDF, DocumentType.CSV],
        tags=["macro"],
        date_from=T0,
        date_to=datetime(2024, 3, 1, 12, 0, 0, 250000),  # naive: taken as UTC
    )
    search(index, "market outlook", SearchMode.KEYWORD, filters=filters, limit=3)

    request = searches(cluster)[-1]
    assert "search_pipeline" not in request.params
    no_post_filter(request.body)
    query = request.body["query"]["bool"]
    assert query["must"] == [{"multi_match": {"query": "market outlook", "fields": ["text", "title"]}}]
    assert query["filter"] == [
        {"terms": {"readers": ALICE.tokens()}},
        {"terms": {"document_id": ["d1", "d3"]}},
        {"terms": {"doc_type": ["pdf", "csv"]}},
        {"terms": {"tags": ["macro"]}},
        {"range": {"document_date": {"gte": "2024-01-02T09:30:00.000000Z", "lte": "2024-03-01T12:00:00.250000Z"}}},
    ]
    assert "knn" not in json.dumps(request.body)
    assert request.body["size"] >= 3


def test_semantic_search_is_a_filtered_knn_query(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    search(index, "oil price", SearchMode.SEMANTIC, filters=SearchFilters(tags=["energy"]), limit=4)

    request = searches(cluster)[-1]
    assert "search_pipeline" not in request.params
    no_post_filter(request.body)
    assert set(request.body["query"]) == {"knn"}
    knn = request.body["query"]["knn"]["vector"]
    assert knn["filter"] == {
        "bool": {"filter": [{"terms": {"readers": ALICE.tokens()}}, {"terms": {"tags": ["energy"]}}]}
    }
    assert knn["k"] >= request.body["size"] >= 4
    assert knn["vector"] == pytest.approx(EMBEDDER.embed_one("oil price"))


def test_hostile_values_travel_as_data(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    text = "x' OR '1'='1\" } ] {"
    scope = AccessScope.model_construct(user_id=text, organisation_id="org_1", role="analyst")
    search(index, text, SearchMode.HYBRID, scope=scope, filters=SearchFilters.model_construct(document_ids=[text]))

    keyword, _ = searches(cluster)[-1].body["query"]["hybrid"]["queries"]
    assert keyword["bool"]["must"][0]["multi_match"]["query"] == text
    assert {"terms": {"document_id": [text]}} in keyword["bool"]["filter"]
    assert f"user/org_1/{text}" in keyword["bool"]["filter"][0]["terms"]["readers"]


def test_dates_outside_what_the_index_holds_are_clamped_or_answer_nothing(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    old = datetime(1900, 1, 1, tzinfo=UTC)
    search(index, "x", SearchMode.KEYWORD, filters=SearchFilters(date_from=old))
    bounds = searches(cluster)[-1].body["query"]["bool"]["filter"][-1]["range"]["document_date"]
    assert bounds == {"gte": "1970-01-01T00:00:00.000000Z"}

    sent = len(searches(cluster))
    assert search(index, "x", SearchMode.KEYWORD, filters=SearchFilters(date_to=old)) == []
    assert len(searches(cluster)) == sent


def test_searches_check_their_input_before_any_request(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    for mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
        with pytest.raises(ValueError, match="vector"):
            index.search(query="x", vector=None, mode=mode, scope=ALICE, filters=SearchFilters(), limit=5)
        with pytest.raises(ValueError, match="vector"):
            index.search(query="x", vector=[0.1, 0.2], mode=mode, scope=ALICE, filters=SearchFilters(), limit=5)
    assert search(index, "x", SearchMode.HYBRID, limit=0) == []
    assert search(index, "   ", SearchMode.KEYWORD) == []
    assert cluster.requests == []


# --- writes ----------------------------------------------------------------------------------------------------


def rich_chunk(**overrides: Any) -> Chunk:
    fields: dict[str, Any] = {
        "ordinal": 2,
        "version": 3,
        "kind": ChunkKind.TABLE,
        "title": 'Quarterly "report" — O\'Neil',
        "section": "Results",
        "page": 4,
        "table": "Revenue by region",
        "row_start": 1,
        "row_end": 20,
        "start_offset": 17,
        "end_offset": 99,
        "visibility": Visibility.USERS,
        "allowed_roles": ["analyst", "portfolio-manager"],
        "allowed_users": ["user_bob", "user_carol"],
        "doc_type": DocumentType.XLSX,
        "tags": ["emea", "q3 2024", "it's tagged"],
        "document_date": T0 + timedelta(microseconds=123456),
    }
    fields.update(overrides)
    return make_chunk("Region | Revenue\nEMEA | 12.5", **fields)


def test_replace_writes_one_bulk_action_per_chunk_under_its_id_then_deletes_the_rest(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    chunks = [make_chunk(f"passage {n}", ordinal=n) for n in range(3)] + [rich_chunk()]
    vectors = EMBEDDER.embed([c.text for c in chunks])
    index.replace_document("doc_a", chunks, vectors)

    writes = [r for r in cluster.requests if r.path.endswith(("/_bulk", "/_delete_by_query"))]
    assert [r.path for r in writes] == [f"/{INDEX}/_bulk", f"/{INDEX}/_delete_by_query"]  # new first, then old
    bulk, delete = writes
    assert bulk.params["refresh"] == "true"
    actions, sources = bulk.body[::2], bulk.body[1::2]
    assert actions == [{"index": {"_id": c.id}} for c in chunks]
    for chunk, source, vector in zip(chunks, sources, vectors, strict=True):
        assert source["id"] == chunk.id
        assert source["document_id"] == "doc_a"
        assert source["text"] == chunk.text
        assert source["readers"] == sorted(source["readers"])
        assert np.asarray(source["vector"], dtype=np.float32).tolist() == vector.tolist()
        assert Chunk.model_validate({**source["payload"], "text": source["text"]}) == chunk
    assert sources[-1]["readers"] == ["user/org_1/user_alice", "user/org_1/user_bob", "user/org_1/user_carol"]
    assert sources[-1]["document_date"] == "2024-01-02T09:30:00.123456Z"
    generation = sources[0]["generation"]
    assert {s["generation"] for s in sources} == {generation}

    assert delete.params["refresh"] == "true"
    assert delete.params["conflicts"] == "proceed"
    assert delete.body == {
        "query": {
            "bool": {
                "filter": [{"term": {"document_id": "doc_a"}}, {"range": {"generation": {"lt": generation}}}],
                "must_not": [{"ids": {"values": [c.id for c in chunks]}}],
            }
        }
    }


def test_a_retried_replace_writes_the_same_ids(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    chunks = [make_chunk(f"passage {n}", ordinal=n) for n in range(3)]
    vectors = EMBEDDER.embed([c.text for c in chunks])
    cluster.on("POST", f"/{INDEX}/_delete_by_query", OpenSearchConnectionError("N/A", "reset", Exception()), (200, {}))

    with pytest.raises(StoreUnavailable):
        index.replace_document("doc_a", chunks, vectors)  # written, but the old chunks not yet deleted
    index.replace_document("doc_a", chunks, vectors)

    first, second = cluster.sent("POST", f"/{INDEX}/_bulk")
    assert first.body[::2] == second.body[::2] == [{"index": {"_id": c.id}} for c in chunks]
    assert [s["text"] for s in first.body[1::2]] == [s["text"] for s in second.body[1::2]]
    last_delete = cluster.sent("POST", f"/{INDEX}/_delete_by_query")[-1].body["query"]["bool"]
    assert last_delete["must_not"] == [{"ids": {"values": [c.id for c in chunks]}}]


def test_replacing_with_no_chunks_deletes_every_earlier_chunk(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    index.replace_document("doc_a", [], np.zeros((0, DIMENSION), dtype=np.float32))

    assert cluster.sent("POST", f"/{INDEX}/_bulk") == []
    query = cluster.one("POST", f"/{INDEX}/_delete_by_query").body["query"]["bool"]
    assert "must_not" not in query
    assert query["filter"][0] == {"term": {"document_id": "doc_a"}}


def test_large_documents_are_written_in_several_bulk_requests(
    index: OpenSearchSearchIndex, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opensearch_index, "BULK_MAX_ACTIONS", 4)
    chunks = [make_chunk(f"passage {n}", ordinal=n) for n in range(10)]
    index.replace_document("doc_a", chunks, EMBEDDER.embed([c.text for c in chunks]))

    bulks = cluster.sent("POST", f"/{INDEX}/_bulk")
    assert [len(b.body) // 2 for b in bulks] == [4, 4, 2]
    assert [a["index"]["_id"] for b in bulks for a in b.body[::2]] == [c.id for c in chunks]
    assert cluster.requests[-1].path == f"/{INDEX}/_delete_by_query"  # only after every chunk is written


def test_replace_rejects_malformed_input_before_any_request(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    chunk = make_chunk("some text")
    with pytest.raises(ValueError, match="vectors"):
        index.replace_document("doc_a", [chunk], EMBEDDER.embed(["a", "b"]))
    with pytest.raises(ValueError, match="doc_b"):
        index.replace_document("doc_b", [chunk], EMBEDDER.embed(["some text"]))
    with pytest.raises(ValueError, match="shape"):
        index.replace_document("doc_a", [chunk], np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        index.replace_document("doc_a", [chunk], np.full((1, DIMENSION), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="unique"):
        index.replace_document("doc_a", [chunk, chunk], EMBEDDER.embed(["a", "b"]))
    assert cluster.requests == []


def test_delete_document_counts_what_delete_by_query_removed(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    cluster.on("POST", f"/{INDEX}/_delete_by_query", (200, {"deleted": 3, "failures": [], "timed_out": False}))
    assert index.delete_document("doc_a") == 3
    request = cluster.one("POST", f"/{INDEX}/_delete_by_query")
    assert request.body == {"query": {"term": {"document_id": "doc_a"}}}
    assert request.params["refresh"] == "true"


def test_count_asks_for_one_document_or_all(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    cluster.on("POST", f"/{INDEX}/_count", (200, {"count": 7}), (200, {"count": 2}))
    assert index.count() == 7
    assert index.count("doc_b") == 2
    assert [r.body for r in cluster.sent("POST", f"/{INDEX}/_count")] == [
        {"query": {"match_all": {}}},
        {"query": {"term": {"document_id": "doc_b"}}},
    ]


# --- hits back into chunks -------------------------------------------------------------------------------------


def stored(chunk: Chunk, generation: int = 1) -> dict[str, Any]:
    """What the index returns for a chunk it holds (the requested ``_source`` fields)."""
    source = chunk_source(chunk, generation)
    return {key: source[key] for key in ("text", "payload", "generation")}


def answer(*hits: dict[str, Any]) -> Handler:
    return lambda _request: (200, {"hits": {"hits": list(hits)}})


def raw_hit(chunk: Chunk, score: float, *, generation: int = 1, **extra: Any) -> dict[str, Any]:
    return {"_index": INDEX, "_id": chunk.id, "_score": score, "_source": stored(chunk, generation), **extra}


def test_keyword_hits_rebuild_every_field_of_the_chunk(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    rich, plain = rich_chunk(allowed_users=["user_alice"]), make_chunk("plain text", ordinal=5)
    cluster.on("POST", f"/{INDEX}/_search", answer(raw_hit(rich, 3.5), raw_hit(plain, 1.25)))

    hits = search(index, "revenue", SearchMode.KEYWORD)

    assert [h.chunk for h in hits] == [rich, plain]
    assert [(h.score, h.keyword_score, h.keyword_rank) for h in hits] == [(3.5, 3.5, 1), (1.25, 1.25, 2)]
    assert all(h.semantic_score is None and h.semantic_rank is None for h in hits)


def test_semantic_scores_are_cosine_similarities(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    a, b = make_chunk("a", ordinal=0), make_chunk("b", ordinal=1)
    cluster.on("POST", f"/{INDEX}/_search", answer(raw_hit(a, 0.95), raw_hit(b, 0.5)))  # (1 + cos) / 2

    hits = search(index, "a", SearchMode.SEMANTIC)

    assert [h.score for h in hits] == pytest.approx([0.9, 0.0])
    assert [h.semantic_score for h in hits] == pytest.approx([0.9, 0.0])
    assert [h.semantic_rank for h in hits] == [1, 2]
    assert all(h.keyword_score is None for h in hits)


def test_hybrid_hits_keep_the_combined_score_and_both_components(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    both, vector_only, text_only = (make_chunk(t, ordinal=n) for n, t in enumerate(["both", "vector", "text"]))
    cluster.on(
        "POST",
        f"/{INDEX}/_search",
        answer(
            raw_hit(both, 1.0, matched_queries={"keyword": 2.0, "semantic": 0.9}),
            raw_hit(vector_only, 0.6, matched_queries={"semantic": 0.95}),
            raw_hit(text_only, 0.2, matched_queries={"keyword": 4.0}),
        ),
    )

    hits = search(index, "both", SearchMode.HYBRID)

    assert [h.chunk for h in hits] == [both, vector_only, text_only]
    assert [h.score for h in hits] == [1.0, 0.6, 0.2]
    assert [h.keyword_score for h in hits] == [2.0, None, 4.0]
    assert [h.keyword_rank for h in hits] == [2, None, 1]
    assert [h.semantic_score for h in hits] == pytest.approx([0.8, 0.9, None])
    assert [h.semantic_rank for h in hits] == [2, 1, None]


def test_hybrid_hits_without_named_scores_have_no_components(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    chunk = make_chunk("x")
    cluster.on("POST", f"/{INDEX}/_search", answer(raw_hit(chunk, 0.7, matched_queries=["keyword", "semantic"])))
    (hit,) = search(index, "x", SearchMode.HYBRID)
    assert (hit.score, hit.keyword_score, hit.semantic_rank) == (0.7, None, None)


@pytest.mark.parametrize("mode", list(SearchMode))
def test_a_search_keeps_only_the_newest_write_of_each_document(
    index: OpenSearchSearchIndex, cluster: FakeCluster, mode: SearchMode
) -> None:
    """Between a replace's bulk write and its delete, both versions are stored: a search shows one."""
    old = [make_chunk(f"rotating {n}", ordinal=n, version=1) for n in range(2)]
    new = [make_chunk(f"rotating {n}", ordinal=n, version=2) for n in range(2)]
    other = make_chunk("rotating other", document_id="doc_b")
    cluster.on(
        "POST",
        f"/{INDEX}/_search",
        answer(
            raw_hit(old[0], 0.9, generation=10),
            raw_hit(new[0], 0.8, generation=20),
            raw_hit(other, 0.7, generation=5),
            raw_hit(old[1], 0.6, generation=10),
            raw_hit(new[1], 0.5, generation=20),
        ),
    )

    hits = search(index, "rotating", mode, limit=3)

    assert [h.chunk for h in hits] == [new[0], other, new[1]]
    if mode is SearchMode.KEYWORD:
        assert [h.keyword_rank for h in hits] == [1, 2, 3]


def test_a_hit_the_scope_may_not_see_is_dropped_even_if_the_cluster_returns_it(
    index: OpenSearchSearchIndex, cluster: FakeCluster
) -> None:
    mine, bobs = make_chunk("mine"), make_chunk("bob's", document_id="d2", owner=BOB)
    cluster.on("POST", f"/{INDEX}/_search", answer(raw_hit(bobs, 2.0), raw_hit(mine, 1.0)))
    assert [h.chunk for h in search(index, "x", SearchMode.KEYWORD)] == [mine]


def test_chunks_come_back_in_ordinal_order_page_by_page(
    index: OpenSearchSearchIndex, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opensearch_index, "PAGE_SIZE", 2)
    chunks = [make_chunk(f"c{n}", ordinal=n) for n in range(3)] + [rich_chunk(ordinal=3)]
    pages = [chunks[:2], chunks[2:], []]

    def page(request: Request) -> Answer:
        part = pages.pop(0)
        return 200, {"hits": {"hits": [{**raw_hit(c, 0.0), "sort": [c.ordinal, c.id]} for c in part]}}

    cluster.on("POST", f"/{INDEX}/_search", page)

    assert index.chunks("doc_a") == chunks
    first, second, _ = searches(cluster)
    assert first.body["query"] == {"bool": {"filter": [{"term": {"document_id": "doc_a"}}]}}
    assert first.body["sort"] == [{"ordinal": "asc"}, {"id": "asc"}]
    assert "search_after" not in first.body
    assert second.body["search_after"] == [1, "doc_a:v1:1"]


# --- errors ----------------------------------------------------------------------------------------------------


def test_an_unreachable_cluster_is_store_unavailable(cluster: FakeCluster) -> None:
    cluster.on("HEAD", f"/{INDEX}", OpenSearchConnectionError("N/A", "connection refused", Exception()))
    index = OpenSearchSearchIndex(client_for(cluster, max_retries=2), index=INDEX, dimension=DIMENSION)

    with pytest.raises(StoreUnavailable, match="could not be reached"):
        index.check()
    assert len(cluster.sent("HEAD", f"/{INDEX}")) == 3  # the client retried twice first
    with pytest.raises(StoreUnavailable):
        search(index, "x", SearchMode.HYBRID)


def test_check_passes_when_the_cluster_answers(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    index.check()
    assert [(r.method, r.path) for r in cluster.requests] == [("HEAD", f"/{INDEX}")]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_store_unavailable(
    index: OpenSearchSearchIndex, cluster: FakeCluster, status: int
) -> None:
    cluster.on("POST", f"/{INDEX}/_search", (status, {"error": {"type": "boom", "reason": "x"}, "status": status}))
    with pytest.raises(StoreUnavailable) as caught:
        search(index, "x", SearchMode.KEYWORD)
    assert caught.value.retry_after_s == (1.0 if status == 429 else 5.0)


def test_a_bad_request_is_not_store_unavailable(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    cluster.on("POST", f"/{INDEX}/_search", (400, {"error": {"type": "parsing_exception", "reason": "x"}}))
    with pytest.raises(RequestError) as caught:
        search(index, "x", SearchMode.KEYWORD)
    assert not isinstance(caught.value, StoreUnavailable)


@pytest.mark.parametrize(("status", "error"), [(429, StoreUnavailable), (400, OpenSearchIndexError)])
def test_failed_bulk_items_raise(
    index: OpenSearchSearchIndex, cluster: FakeCluster, status: int, error: type[Exception]
) -> None:
    failed = {"index": {"_id": "doc_a:v1:0", "status": status, "error": {"type": "x", "reason": "y"}}}
    cluster.on("POST", f"/{INDEX}/_bulk", (200, {"errors": True, "items": [failed]}))
    with pytest.raises(error):
        index.replace_document("doc_a", [make_chunk("t")], EMBEDDER.embed(["t"]))
    assert cluster.sent("POST", f"/{INDEX}/_delete_by_query") == []  # the old chunks stay until the write succeeds


def test_a_delete_by_query_with_failures_raises(index: OpenSearchSearchIndex, cluster: FakeCluster) -> None:
    failure = {"index": INDEX, "id": "doc_a:v1:0", "status": 503, "cause": {"type": "unavailable"}}
    cluster.on("POST", f"/{INDEX}/_delete_by_query", (200, {"deleted": 0, "failures": [failure]}))
    with pytest.raises(StoreUnavailable):
        index.delete_document("doc_a")


# --- the client ------------------------------------------------------------------------------------------------


def connection_of(client: OpenSearch) -> Any:
    return client.transport.connection_pool.connections[0]


def test_a_local_container_client_sends_no_credentials() -> None:
    client = build_opensearch_client("http://127.0.0.1:9200", region="eu-west-1", auth="none")
    connection = connection_of(client)
    assert connection.http_auth is None
    assert connection.host == "http://127.0.0.1:9200"
    client.close()


@pytest.mark.parametrize(
    ("url", "service"),
    [
        ("https://search-kb-abc.eu-west-1.es.amazonaws.com", "es"),
        ("https://abc123.eu-west-1.aoss.amazonaws.com", "aoss"),
    ],
)
def test_sigv4_signs_for_the_right_service(monkeypatch: pytest.MonkeyPatch, url: str, service: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client = build_opensearch_client(url, region="eu-west-1", auth="sigv4")
    connection = connection_of(client)

    assert connection.host == url + ":443"
    assert connection.use_ssl
    signer = connection.http_auth
    assert signer.service == service
    headers = signer("GET", f"{url}/kb/_count", None, {})
    assert f"/eu-west-1/{service}/aws4_request" in headers["Authorization"]
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    client.close()


@pytest.mark.parametrize(
    ("url", "auth", "message"),
    [("ftp://host", "none", "URL"), ("https://", "none", "URL"), ("http://127.0.0.1:9200", "basic", "auth")],
)
def test_bad_client_settings_are_refused(url: str, auth: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_opensearch_client(url, region="eu-west-1", auth=auth)


def test_generation_marks_the_newest_write(cluster: FakeCluster) -> None:
    """Each replace stamps its chunks with a later generation than any before it in this process."""
    index = OpenSearchSearchIndex(client_for(cluster), index=INDEX, dimension=DIMENSION)
    chunk = make_chunk("t")
    for _ in range(2):
        index.replace_document("doc_a", [chunk], EMBEDDER.embed(["t"]))
    first, second = (b.body[1]["generation"] for b in cluster.sent("POST", f"/{INDEX}/_bulk"))
    assert second > first
