"""The knowledge base's search index on OpenSearch (a managed domain, or a local container for tests).

One index holds every chunk as one OpenSearch document (``_id`` = the chunk id), with its vector in an HNSW
``knn_vector`` field, ``text`` and ``title`` analysed for BM25, keyword fields for everything a predicate tests
(``readers``: the chunk's access tokens, :func:`~investai.domain.documents.access_tokens`) and the whole chunk
in a stored-only ``payload`` object, from which hits and :meth:`~OpenSearchSearchIndex.chunks` rebuild the
:class:`Chunk` exactly.

Searches, each one request:

* keyword: ``bool`` with a ``multi_match`` over ``text`` and ``title`` (BM25) and the predicate as ``filter``;
* semantic: a ``knn`` query with the predicate as the knn ``filter``, so the engine searches only the chunks
  the caller may see (efficient filtering, exact search when the filter leaves few), never the best chunks
  overall minus the ones the caller may not see;
* hybrid: the neural-search plugin's ``hybrid`` query with both of those as sub-queries, each carrying the
  predicate inside it, run through a search pipeline whose ``normalization-processor`` min-max normalises
  each sub-query's scores and combines them by a weighted arithmetic mean (``weights``: keyword, semantic):
  the convex combination of normalised scores the port describes, by default with the same keyword weight
  (:data:`~investai.ports.knowledge.KEYWORD_WEIGHT`, 0.1) as the LanceDB adapter.

The predicate (access scope and filters) is never a ``post_filter``. As in the LanceDB adapter, every hit is
checked once more against :meth:`AccessScope.allows`, independently of the query.

Scores: keyword hits carry the BM25 score; semantic hits the cosine similarity (OpenSearch reports
``(1 + cos) / 2`` for ``cosinesimil``; it is converted back); hybrid hits the pipeline's combined score in
[0, 1]. One difference from the LanceDB adapter remains: the pipeline min-max normalises the semantic half too
(over its candidates), where LanceDB normalises cosine from its theoretical minimum -1 (the paper's TMM); the
normalization processor takes no such lower bound on OpenSearch 2.17. Min-max spreads the semantic scores
further, so weak candidates score lower here, which is why the hybrid relevance floor is lower
(:data:`HYBRID_FLOOR`). A hybrid hit's component scores come from the sub-queries being named (``_name``) and
``include_named_queries_score``: the raw BM25 score and the cosine similarity, ``None`` for a half that did not
find the chunk; component ranks are positions by that score among the hybrid query's candidates.

Every search is cut at the port's relevance floor (:func:`~investai.ports.knowledge.above_floor`) applied to
the scores above, after the access check: the best few hits, then those close enough to the best one, with
``limit`` only a maximum.

Writes: :meth:`~OpenSearchSearchIndex.replace_document` first indexes the new chunks with the bulk API under
their deterministic ids (refreshed, so a search right after sees them), then removes the document's other
chunks with a delete-by-query (document id, not one of the new ids, written by an earlier replace). Never the
other way round, so a search running meanwhile never finds the document without chunks; and because ids are
the chunk ids, running it again (a retry) overwrites rather than duplicates. OpenSearch has no multi-document
transactions, so between the two steps a search may find both the old and the new chunks: each chunk records
the write that produced it (``generation``, nanoseconds since the epoch), and a search keeps, per document, only
the chunks of the newest write among its hits. The delete also spares chunks of a *newer* write, so two
replaces of one document racing each other cannot delete each other's chunks and leave none.
:meth:`~OpenSearchSearchIndex.count` and :meth:`~OpenSearchSearchIndex.chunks` report what is stored, so during
that window they may include the old chunks too.

Failures: a connection failure, a timeout, a 429 or a 5xx (from the cluster or in a bulk item) raises
:class:`~investai.domain.errors.StoreUnavailable` (503 to clients: retry later); malformed input raises
``ValueError`` before any request, as the LanceDB adapter does.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
from numpy.typing import NDArray
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from investai.domain.documents import access_tokens
from investai.domain.errors import StoreUnavailable
from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchHit, SearchMode
from investai.observability.logging import get_logger
from investai.ports.knowledge import KEYWORD_WEIGHT, RELATIVE_FLOOR, Vectors, above_floor

log = get_logger(__name__)

HNSW_M = 16
"""Graph degree: OpenSearch's and Lucene's default, the usual recall/memory balance for 384-1024 dimensions."""
HNSW_EF_CONSTRUCTION = 128
"""Build-time beam width: a little above the default 100 for better graph quality; chunks are written once per
document version, so a slower build costs little."""
KNN_MIN_K = 100
"""A knn query asks for at least this many neighbours (then keeps the best ``size``). The Lucene engine uses
``k`` as its search beam, so a small ``limit`` does not mean a narrow, less accurate graph search."""
HYBRID_FLOOR = 0.55
"""The hybrid relevance floor here: past the first few hits, one is returned when its combined score is at least
this share of the best hit's. Chosen as the port's floors are, the highest (in steps of 0.05) that loses no
answer from the top 5 on the labelled sets over the sample corpus, but on this pipeline's normalisation, which
``benchmarks/knowledge.py`` recomputes over the LanceDB adapter's candidates (an estimate: not measured on a
cluster). With ``limit`` 20 it returns 9.2 hits on average; the port's 0.8 would lose 5 of 96 answers here, as
min-max spreads the semantic scores further than the LanceDB adapter's normalisation does."""
HYBRID_MIN_CANDIDATES = 50
"""A hybrid query gathers and normalises this many candidates per half (``limit`` when larger), as the LanceDB
adapter fuses 50: min-max normalisation depends on the candidates' depth, so the depth is fixed and a hit's
score does not change with ``limit``."""
MAX_WINDOW = 10_000
"""OpenSearch's default ``index.max_result_window`` and the largest ``k`` a knn query accepts."""
PAGE_SIZE = 1_000
BULK_MAX_BYTES = 5 * 1024 * 1024
BULK_MAX_ACTIONS = 500
"""A bulk request carries at most this many chunks or bytes (before compression): well under the 10 MiB
HTTP payload limit of the smallest managed-domain instance types."""
WRITE_TIMEOUT_S = 120.0
"""Bulk and delete-by-query requests may take longer than a search; they get this timeout."""

KEYWORD = "keyword"
SEMANTIC = "semantic"
"""The hybrid query's sub-query names (``_name``), in order: the pipeline's weights follow this order."""

_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,254}$")
_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_AOSS_HOST = re.compile(r"\.aoss(-fips)?\.amazonaws\.com(\.cn)?$")
_SOURCE_FIELDS = ["text", "payload", "generation"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_NANOS = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)
"""``date_nanos`` holds instants from the epoch to this one; filter bounds are clamped into that range."""


# --- the index and the pipeline ------------------------------------------------------------------------------


def index_body(dimension: int) -> dict[str, Any]:
    """Settings and mapping of the chunk index.

    The vector field is HNSW on the Lucene engine with ``cosinesimil``: Lucene's filtered HNSW search is the
    efficient filtering every query here needs (the access predicate always filters, and when it leaves fewer
    chunks than ``k`` Lucene scores those exactly instead of walking the graph), it supports cosine natively,
    and its graphs live in ordinary segment files (no native-memory cache to size, unlike Faiss). Faiss pays off
    for tens of millions of vectors or quantisation, which a firm's research library does not reach.
    """
    keyword = {"type": "keyword"}
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "id": keyword,
                "document_id": keyword,
                "version": {"type": "integer"},
                "ordinal": {"type": "integer"},
                "kind": keyword,
                "text": {"type": "text"},
                "title": {"type": "text"},
                "owner_id": keyword,
                "organisation_id": keyword,
                "visibility": keyword,
                "readers": keyword,
                "doc_type": keyword,
                "tags": keyword,
                "document_date": {"type": "date_nanos"},
                "generation": {"type": "long"},
                "payload": {"type": "object", "enabled": False},
                "vector": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {
                        "name": "hnsw",
                        "engine": "lucene",
                        "space_type": "cosinesimil",
                        "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
                    },
                },
            },
        },
    }


def pipeline_body(weights: tuple[float, float]) -> dict[str, Any]:
    """The hybrid search pipeline: min-max normalisation of each sub-query's scores, then their weighted
    arithmetic mean (weights in sub-query order: keyword, semantic)."""
    return {
        "description": "investai hybrid search: min-max normalised BM25 and knn scores, weighted mean",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": list(weights)}},
                }
            }
        ],
    }


def _normalised_weights(weights: tuple[float, float]) -> tuple[float, float]:
    """The weights scaled to sum to 1, as the normalization processor requires."""
    if len(weights) != 2 or not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be two non-negative numbers (keyword, semantic), not both zero")
    total = float(weights[0]) + float(weights[1])
    keyword = round(float(weights[0]) / total, 6)
    return keyword, round(1.0 - keyword, 6)


# --- predicates: every value travels as JSON data, never as query syntax ------------------------------------


def access_filter(scope: AccessScope) -> dict[str, Any]:
    """:meth:`AccessScope.allows` as a filter: the chunk's access tokens meet the reader's."""
    return {"terms": {"readers": scope.tokens()}}


def _instant(moment: datetime) -> str:
    """An instant as ``date_nanos`` text, in UTC; a naive datetime is taken to be UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def filter_clauses(scope: AccessScope, filters: SearchFilters) -> list[dict[str, Any]] | None:
    """The access predicate and the filters (ids, types and tags any of; dates inclusive) as ``filter``
    clauses; ``None`` when the dates exclude every instant an index can hold."""
    clauses = [access_filter(scope)]
    if filters.document_ids:
        clauses.append({"terms": {"document_id": list(filters.document_ids)}})
    if filters.doc_types:
        clauses.append({"terms": {"doc_type": [kind.value for kind in filters.doc_types]}})
    if filters.tags:
        clauses.append({"terms": {"tags": list(filters.tags)}})
    bounds: dict[str, str] = {}
    if filters.date_from is not None:
        start = _aware(filters.date_from)
        if start > _LAST_NANOS:
            return None
        bounds["gte"] = _instant(max(start, _EPOCH))
    if filters.date_to is not None:
        end = _aware(filters.date_to)
        if end < _EPOCH:
            return None
        bounds["lte"] = _instant(min(end, _LAST_NANOS))
    if bounds:
        clauses.append({"range": {"document_date": bounds}})
    return clauses


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def keyword_query(query: str, clauses: list[dict[str, Any]], *, name: str | None = None) -> dict[str, Any]:
    """BM25 over text and title; the text is analysed, never parsed as query syntax."""
    body: dict[str, Any] = {"must": [{"multi_match": {"query": query, "fields": ["text", "title"]}}], "filter": clauses}
    if name is not None:
        body["_name"] = name
    return {"bool": body}


def knn_query(vector: list[float], k: int, clauses: list[dict[str, Any]], *, name: str | None = None) -> dict[str, Any]:
    """The ``k`` nearest chunks by cosine among those passing ``clauses`` (the knn query's own filter)."""
    body: dict[str, Any] = {"vector": vector, "k": k, "filter": {"bool": {"filter": clauses}}}
    if name is not None:
        body["_name"] = name
    return {"knn": {"vector": body}}


# --- chunks <-> documents --------------------------------------------------------------------------------------


def chunk_source(chunk: Chunk, generation: int) -> dict[str, Any]:
    """The indexed fields of a chunk (its vector is added when the bulk body is encoded)."""
    return {
        "id": chunk.id,
        "document_id": chunk.document_id,
        "version": chunk.version,
        "ordinal": chunk.ordinal,
        "kind": chunk.kind.value,
        "text": chunk.text,
        "title": chunk.title,
        "owner_id": chunk.owner_id,
        "organisation_id": chunk.organisation_id,
        "visibility": chunk.visibility.value,
        "readers": access_tokens(chunk),
        "doc_type": chunk.doc_type.value,
        "tags": list(chunk.tags),
        "document_date": _instant(chunk.document_date),
        "generation": generation,
        "payload": chunk.model_dump(mode="json", exclude={"text"}),
    }


def source_chunk(source: dict[str, Any]) -> Chunk:
    """The chunk a stored document holds (its ``text`` and ``payload``)."""
    return Chunk.model_validate({**source["payload"], "text": source["text"]})


def _bulk_batches(chunks: Sequence[Chunk], vectors: NDArray[np.float32], generation: int) -> Iterator[bytes]:
    """NDJSON bulk bodies: one ``index`` action per chunk under its own id, at most ``BULK_MAX_ACTIONS`` chunks
    or about ``BULK_MAX_BYTES`` each."""
    batch: list[bytes] = []
    size = 0
    for chunk, vector in zip(chunks, vectors, strict=True):
        source = chunk_source(chunk, generation)
        source["vector"] = vector
        entry = (
            orjson.dumps({"index": {"_id": chunk.id}})
            + b"\n"
            + orjson.dumps(source, option=orjson.OPT_SERIALIZE_NUMPY)
            + b"\n"
        )
        if batch and (len(batch) >= BULK_MAX_ACTIONS or size + len(entry) > BULK_MAX_BYTES):
            yield b"".join(batch)
            batch, size = [], 0
        batch.append(entry)
        size += len(entry)
    if batch:
        yield b"".join(batch)


class _Hit:
    __slots__ = ("chunk", "generation", "named", "score")

    def __init__(self, raw: dict[str, Any]) -> None:
        source = raw["_source"]
        self.chunk = source_chunk(source)
        self.generation = int(source.get("generation") or 0)
        self.score = float(raw.get("_score") or 0.0)
        matched = raw.get("matched_queries")
        self.named: dict[str, float] = (
            {str(name): float(score) for name, score in matched.items()} if isinstance(matched, dict) else {}
        )


def _newest_writes(hits: list[_Hit]) -> list[_Hit]:
    """Per document, only the hits of its newest write among ``hits``: during a replace, a search may meet the
    new chunks before the old ones are deleted."""
    newest: dict[str, int] = {}
    for hit in hits:
        document = hit.chunk.document_id
        newest[document] = max(newest.get(document, hit.generation), hit.generation)
    return [hit for hit in hits if hit.generation == newest[hit.chunk.document_id]]


def _cosine(score: float) -> float:
    """The cosine similarity behind a ``cosinesimil`` knn score ``(1 + cos) / 2``."""
    return 2.0 * score - 1.0


def _component_ranks(hits: list[_Hit], name: str) -> dict[int, int]:
    """Positions (from 1) of the hits the named sub-query found, by its score: index in ``hits`` -> rank."""
    found = sorted((i for i, hit in enumerate(hits) if name in hit.named), key=lambda i: (-hits[i].named[name], i))
    return {i: rank for rank, i in enumerate(found, start=1)}


# --- errors ------------------------------------------------------------------------------------------------------


class OpenSearchIndexError(RuntimeError):
    """OpenSearch refused a request for a reason retrying will not cure (a mapping conflict, a bad request)."""


def _retryable(status: object) -> bool:
    return isinstance(status, int) and (status == 429 or status >= 500)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Connection failures, timeouts, throttling and server errors as :class:`StoreUnavailable`."""
    try:
        yield
    except OpenSearchConnectionError as exc:  # includes timeouts and TLS failures
        raise StoreUnavailable(f"OpenSearch could not be reached ({action}): {exc.error}") from exc
    except TransportError as exc:
        if _retryable(exc.status_code):
            retry_after = 1.0 if exc.status_code == 429 else None
            raise StoreUnavailable(
                f"OpenSearch is unavailable ({action}): {exc.status_code} {exc.error}", retry_after_s=retry_after
            ) from exc
        raise


def _check_items(response: dict[str, Any], action: str) -> None:
    """Raise for the failed items of a bulk response."""
    if not response.get("errors"):
        return
    failures = [
        outcome
        for item in response.get("items", [])
        for outcome in item.values()
        if isinstance(outcome, dict) and outcome.get("error") is not None
    ]
    if not failures:
        return
    first = failures[0]
    message = f"{len(failures)} {action} operations failed, e.g. {first.get('status')} {first.get('error')}"
    if any(_retryable(failure.get("status")) for failure in failures):
        raise StoreUnavailable(f"OpenSearch is unavailable: {message}")
    raise OpenSearchIndexError(message)


def _check_by_query(response: dict[str, Any], action: str) -> None:
    """Raise when a delete-by-query stopped before its end."""
    failures = response.get("failures") or []
    if failures:
        message = f"{action} failed: {failures[0]}"
        if any(_retryable(failure.get("status")) for failure in failures):
            raise StoreUnavailable(f"OpenSearch is unavailable: {message}")
        raise OpenSearchIndexError(message)
    if response.get("timed_out"):
        raise StoreUnavailable(f"OpenSearch timed out during {action}")


# --- the adapter -------------------------------------------------------------------------------------------------


class OpenSearchSearchIndex:
    """The :class:`~investai.ports.knowledge.SearchIndex` of the AWS shape on an OpenSearch domain.

    ``client`` is an :class:`opensearchpy.OpenSearch` (see :func:`build_opensearch_client`), owned by this index
    from now on (:meth:`close` closes it). ``index`` is the chunk index; ``weights`` the keyword and semantic
    weights of hybrid search (scaled to sum to 1; by default those of the port,
    :data:`~investai.ports.knowledge.KEYWORD_WEIGHT`); ``pipeline`` names the hybrid search pipeline: by default
    ``<index>-hybrid``, which this index owns and keeps at ``weights``; a pipeline named here is an operator's,
    created with ``weights`` only if it is missing and otherwise used as it is. ``floors``: relevance floors by
    mode in place of the port's :data:`~investai.ports.knowledge.RELATIVE_FLOOR` and :data:`HYBRID_FLOOR`.

    The index and the pipeline are created by :meth:`ensure`, which the first call of any other method runs
    too. Thread safe: the client is, and the one-off :meth:`ensure` runs under a lock.
    """

    def __init__(
        self,
        client: OpenSearch,
        *,
        index: str,
        dimension: int,
        weights: tuple[float, float] = (KEYWORD_WEIGHT, 1.0 - KEYWORD_WEIGHT),
        pipeline: str | None = None,
        floors: Mapping[SearchMode, float] | None = None,
    ) -> None:
        if not _INDEX_NAME.match(index) or index in {".", ".."}:
            raise ValueError(f"invalid index name {index!r}")
        if dimension < 1:
            raise ValueError("dimension must be positive")
        if pipeline is not None and not _PIPELINE_NAME.match(pipeline):
            raise ValueError(f"invalid search pipeline name {pipeline!r}")
        self._client = client
        self._index = index
        self._dimension = dimension
        self._weights = _normalised_weights(weights)
        self._pipeline = pipeline or f"{index}-hybrid"
        self._owns_pipeline = pipeline is None
        self._floors = {**RELATIVE_FLOOR, SearchMode.HYBRID: HYBRID_FLOOR, **(floors or {})}
        self._ready = False
        self._ready_lock = threading.Lock()

    @property
    def index_name(self) -> str:
        return self._index

    @property
    def pipeline_name(self) -> str:
        return self._pipeline

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the index and the hybrid search pipeline if missing (idempotent, safe to race: an index another
        process created meanwhile is accepted). An existing index must hold vectors of ``dimension`` compared by
        cosine, else ``ValueError``."""
        with self._ready_lock:
            self._ensure_index()
            self._ensure_pipeline()
            self._ready = True

    def check(self) -> None:
        """A readiness probe: returns when the cluster answers (with these credentials), raises
        :class:`StoreUnavailable` when it cannot be reached."""
        with _translated("check"):
            self._client.indices.exists(index=self._index)

    def drop(self) -> None:
        """Delete the index and, when this index owns it, the pipeline (tests and teardown; no undo)."""
        with _translated("drop"):
            self._client.indices.delete(index=self._index, ignore=[404])
            if self._owns_pipeline:
                with suppress(NotFoundError):
                    self._client.search_pipeline.delete(id=self._pipeline)
        with self._ready_lock:
            self._ready = False

    def close(self) -> None:
        """Close the client's connections; the index is not used afterwards."""
        self._client.close()

    # --- writes ----------------------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Index ``chunks`` under their ids (bulk, refreshed), then delete the document's other chunks written
        before (delete-by-query, refreshed): searches meanwhile find the old chunks, or the new ones, never none;
        a retry overwrites the same ids."""
        rows = self._check_batch(document_id, chunks, vectors)
        self._ensure_once()
        generation = time.time_ns()
        for body in _bulk_batches(chunks, rows, generation):
            with _translated("bulk index"):
                response = self._client.bulk(
                    body=body, index=self._index, refresh=True, request_timeout=WRITE_TIMEOUT_S
                )
            _check_items(response, "bulk index")
        stale: dict[str, Any] = {
            "bool": {
                "filter": [
                    {"term": {"document_id": document_id}},
                    {"range": {"generation": {"lt": generation}}},
                ]
            }
        }
        if chunks:
            stale["bool"]["must_not"] = [{"ids": {"values": [chunk.id for chunk in chunks]}}]
        self._delete_by_query(stale, "delete replaced chunks")

    def delete_document(self, document_id: str) -> int:
        self._ensure_once()
        return self._delete_by_query({"term": {"document_id": document_id}}, "delete document")

    # --- reads -----------------------------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        self._ensure_once()
        query = {"match_all": {}} if document_id is None else {"term": {"document_id": document_id}}
        with _translated("count"):
            response = self._client.count(index=self._index, body={"query": query})
        return int(response["count"])

    def chunks(self, document_id: str) -> list[Chunk]:
        """Every stored chunk of the document by ordinal, paged with ``search_after`` (no result-window cap)."""
        self._ensure_once()
        found: list[Chunk] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": PAGE_SIZE,
                "_source": ["text", "payload"],
                "query": {"bool": {"filter": [{"term": {"document_id": document_id}}]}},
                "sort": [{"ordinal": "asc"}, {"id": "asc"}],
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            with _translated("chunks"):
                response = self._client.search(index=self._index, body=body)
            page = response["hits"]["hits"]
            found.extend(source_chunk(hit["_source"]) for hit in page)
            if len(page) < PAGE_SIZE:
                return found
            after = page[-1]["sort"]

    def search(
        self,
        *,
        query: str,
        vector: Sequence[float] | None,
        mode: SearchMode,
        scope: AccessScope,
        filters: SearchFilters,
        limit: int,
    ) -> list[SearchHit]:
        if limit < 1:
            return []
        query_vector = None if mode is SearchMode.KEYWORD else self._query_vector(vector)
        clauses = filter_clauses(scope, filters)
        if clauses is None or (mode is SearchMode.KEYWORD and not query.strip()):
            return []
        self._ensure_once()
        if mode is SearchMode.KEYWORD:
            hits = self._keyword(query, clauses, limit)
        elif mode is SearchMode.SEMANTIC:
            assert query_vector is not None
            hits = self._semantic(query_vector, clauses, limit)
        else:
            assert query_vector is not None
            hits = self._hybrid(query, query_vector, clauses, limit)
        # the query already enforced the scope; this is a second, independent check of the same rule
        visible = [hit for hit in hits if scope.allows(hit.chunk)]
        return above_floor(visible, mode, floor=self._floors[mode])

    # --- internals -------------------------------------------------------------------------------------------------

    def _keyword(self, query: str, clauses: list[dict[str, Any]], limit: int) -> list[SearchHit]:
        body = {
            "size": min(2 * limit, MAX_WINDOW),  # room for the hits _newest_writes may drop
            "_source": _SOURCE_FIELDS,
            "track_total_hits": False,
            "query": keyword_query(query, clauses),
        }
        hits = _newest_writes(self._hits(body, {}, "keyword search"))[:limit]
        return [
            SearchHit(chunk=hit.chunk, score=hit.score, keyword_score=hit.score, keyword_rank=rank)
            for rank, hit in enumerate(hits, start=1)
        ]

    def _semantic(self, vector: list[float], clauses: list[dict[str, Any]], limit: int) -> list[SearchHit]:
        size = min(2 * limit, MAX_WINDOW)
        body = {
            "size": size,
            "_source": _SOURCE_FIELDS,
            "track_total_hits": False,
            "query": knn_query(vector, min(max(size, KNN_MIN_K), MAX_WINDOW), clauses),
        }
        hits = _newest_writes(self._hits(body, {}, "semantic search"))[:limit]
        return [
            SearchHit(chunk=hit.chunk, score=_cosine(hit.score), semantic_score=_cosine(hit.score), semantic_rank=rank)
            for rank, hit in enumerate(hits, start=1)
        ]

    def _hybrid(self, query: str, vector: list[float], clauses: list[dict[str, Any]], limit: int) -> list[SearchHit]:
        candidates = min(max(limit, HYBRID_MIN_CANDIDATES), MAX_WINDOW)
        body = {
            "size": candidates,
            "_source": _SOURCE_FIELDS,
            "query": {
                "hybrid": {
                    "queries": [
                        keyword_query(query, clauses, name=KEYWORD),
                        knn_query(vector, min(max(candidates, KNN_MIN_K), MAX_WINDOW), clauses, name=SEMANTIC),
                    ]
                }
            },
        }
        params = {"search_pipeline": self._pipeline, "include_named_queries_score": "true"}
        hits = _newest_writes(self._hits(body, params, "hybrid search"))
        keyword_ranks = _component_ranks(hits, KEYWORD)
        semantic_ranks = _component_ranks(hits, SEMANTIC)
        results = []
        for i, hit in enumerate(hits[:limit]):
            semantic = hit.named.get(SEMANTIC)
            results.append(
                SearchHit(
                    chunk=hit.chunk,
                    score=hit.score,
                    keyword_score=hit.named.get(KEYWORD),
                    keyword_rank=keyword_ranks.get(i),
                    semantic_score=None if semantic is None else _cosine(semantic),
                    semantic_rank=semantic_ranks.get(i),
                )
            )
        return results

    def _hits(self, body: dict[str, Any], params: dict[str, str], action: str) -> list[_Hit]:
        with _translated(action):
            response = self._client.search(index=self._index, body=body, params=params)
        return [_Hit(raw) for raw in response["hits"]["hits"]]

    def _delete_by_query(self, query: dict[str, Any], action: str) -> int:
        with _translated(action):
            response = self._client.delete_by_query(
                index=self._index,
                body={"query": query},
                refresh=True,
                conflicts="proceed",  # a chunk rewritten meanwhile by a newer replace is left to it
                request_timeout=WRITE_TIMEOUT_S,
            )
        _check_by_query(response, action)
        return int(response.get("deleted", 0))

    def _ensure_once(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:  # another thread may have ensured while this one waited
                self._ensure_index()
                self._ensure_pipeline()
                self._ready = True

    def _ensure_index(self) -> None:
        with _translated("create index"):
            if not self._client.indices.exists(index=self._index):
                try:
                    self._client.indices.create(index=self._index, body=index_body(self._dimension))
                    log.info("search_index.created", index=self._index, dimension=self._dimension)
                    return
                except RequestError as exc:
                    if exc.error != "resource_already_exists_exception":
                        raise
            mapping = self._client.indices.get_mapping(index=self._index)
        self._check_mapping(mapping)

    def _check_mapping(self, mapping: dict[str, Any]) -> None:
        stored: dict[str, Any] = next(iter(mapping.values()), {}) if mapping else {}
        field = stored.get("mappings", {}).get("properties", {}).get("vector", {})
        method = field.get("method", {})
        if field.get("type") != "knn_vector" or field.get("dimension") != self._dimension:
            raise ValueError(
                f"index {self._index!r} holds {field.get('type')} vectors of dimension {field.get('dimension')},"
                f" not knn_vector of {self._dimension}"
            )
        space = method.get("space_type", field.get("space_type"))
        if space is not None and space != "cosinesimil":
            raise ValueError(f"index {self._index!r} compares vectors by {space}, not cosinesimil")

    def _ensure_pipeline(self) -> None:
        body = pipeline_body(self._weights)
        with _translated("create search pipeline"):
            if not self._owns_pipeline:
                try:
                    self._client.search_pipeline.get(id=self._pipeline)
                    return  # the operator's pipeline, used as it is
                except NotFoundError:
                    pass
            self._client.search_pipeline.put(id=self._pipeline, body=body)  # an idempotent upsert

    def _query_vector(self, vector: Sequence[float] | None) -> list[float]:
        if vector is None:
            raise ValueError("semantic and hybrid search need the query's vector")
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self._dimension,) or not np.all(np.isfinite(array)):
            raise ValueError(f"the query vector must hold {self._dimension} finite numbers")
        if not np.any(array):
            raise ValueError("the query vector must not be zero (cosine similarity is undefined)")
        return [float(x) for x in array]

    def _check_batch(self, document_id: str, chunks: Sequence[Chunk], vectors: Vectors) -> NDArray[np.float32]:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if len(chunks) and (vectors.ndim != 2 or vectors.shape[1] != self._dimension):
            raise ValueError(f"vectors must have shape (n, {self._dimension}), not {vectors.shape}")
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(chunks) and not np.all(np.isfinite(rows)):
            raise ValueError("vectors must be finite")
        if len(chunks) and not np.all(np.any(rows, axis=1)):
            raise ValueError("vectors must not be zero (cosine similarity is undefined)")
        if any(chunk.document_id != document_id for chunk in chunks):
            raise ValueError(f"every chunk must belong to document {document_id!r}")
        if len({chunk.id for chunk in chunks}) != len(chunks):
            raise ValueError("chunk ids must be unique")
        return rows


# --- the client --------------------------------------------------------------------------------------------------


def build_opensearch_client(url: str, *, region: str, auth: str, timeout_s: float = 10.0) -> OpenSearch:
    """An OpenSearch client for ``url`` (``https://…`` for a domain, ``http://127.0.0.1:9200`` for a container).

    ``auth="sigv4"`` signs every request with the AWS credentials of the default chain (environment, profile,
    container or instance role; refreshed as they rotate) for service ``es``, or ``aoss`` when the host is an
    OpenSearch Serverless endpoint (``*.aoss.amazonaws.com``). ``auth="none"`` sends no credentials (a local
    container with its security plugin disabled). Certificates are verified for https. Requests time out
    after ``timeout_s`` (bulk and delete-by-query get longer, see ``WRITE_TIMEOUT_S``) and are retried three
    times on connection errors, timeouts and 502/503/504, which the index's idempotent writes make safe.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"the OpenSearch URL must be http(s)://host[:port], not {url!r}")
    if auth not in {"sigv4", "none"}:
        raise ValueError(f"auth must be 'sigv4' or 'none', not {auth!r}")
    http_auth: Any = None
    if auth == "sigv4":
        import boto3
        from opensearchpy import Urllib3AWSV4SignerAuth

        if not region:
            raise ValueError("SigV4 signing needs the AWS region")
        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise ValueError("SigV4 signing needs AWS credentials, and none were found")
        service = "aoss" if _AOSS_HOST.search(parts.hostname) else "es"
        # the signer of opensearch-py's default (urllib3) connection; AWSV4SignerAuth is the same signer for
        # the requests-based connection
        http_auth = Urllib3AWSV4SignerAuth(credentials, region, service)
    https = parts.scheme == "https"
    return OpenSearch(
        hosts=[url],
        http_auth=http_auth,
        use_ssl=https,
        verify_certs=https,
        ssl_show_warn=https,
        http_compress=True,
        timeout=timeout_s,
        max_retries=3,
        retry_on_timeout=True,
        pool_maxsize=16,
    )
