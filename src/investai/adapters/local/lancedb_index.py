"""The knowledge base's search index on LanceDB: one table of chunks with their vectors.

Keyword search is LanceDB's native BM25 full-text search over ``text`` and ``title``; semantic search is a
cosine nearest-neighbour query (exact on small tables, an IVF-SQ index once a table grows past
``ann_threshold`` rows); hybrid search fuses the two ranked lists here, by reciprocal rank. The access scope and
the metadata filters become one SQL predicate that LanceDB applies *before* ranking (a prefilter), so a caller
gets the best chunks they may see, never the best chunks overall minus the ones they may not.

Index upkeep: the full-text and scalar indexes exist from the table's creation, and rows written after an
index was last built are still searched (LanceDB scans them exhaustively), so results are correct right after
every write. Scanning unindexed rows gets slower as they pile up, so after enough writes or unindexed rows the
table is optimised: files compacted, new rows merged into every index, versions older than a week pruned.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, Bitmap, BTree, IvfSq, LabelList
from lancedb.query import FullTextOperator, LanceVectorQueryBuilder, MultiMatchQuery
from lancedb.table import Table

from investai.adapters.local.fsutil import ensure_private_dir
from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchHit, SearchMode
from investai.observability.logging import get_logger
from investai.ports.knowledge import Vectors

log = get_logger(__name__)

RRF_K = 60
"""The reciprocal-rank-fusion constant: a hit ranked ``r`` in one list adds ``1 / (RRF_K + r)``."""
MIN_CANDIDATES = 50
"""Hybrid search fuses at least this many candidates from each list (four times ``limit`` when larger)."""
OPTIMIZE_EVERY_WRITES = 20
OPTIMIZE_UNINDEXED_ROWS = 2_000
MAX_VECTOR_INDEX_DELTAS = 10
"""Each optimisation adds the new rows to the ANN index as a delta searched separately; past this many the
index is rebuilt whole."""
ROWS_PER_PARTITION = 1_000
MAX_PARTITIONS = 256
ANN_NPROBES = 8
ANN_REFINE_FACTOR = 4
"""ANN queries probe at least ``ANN_NPROBES`` IVF partitions (more while a narrow access filter leaves too few
candidates) and re-rank ``ANN_REFINE_FACTOR`` times ``limit`` candidates by exact cosine: recall@10 of 1.0
against exact search on 100,000 clustered 384-dimensional vectors, with or without a narrow filter (see
`benchmarks/knowledge.py`, where 8 probes were as accurate as 20 and faster)."""

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_FTS_COLUMNS = ["text", "title"]
_SCALAR_INDEXES: dict[str, Callable[[], BTree | Bitmap | LabelList]] = {
    # every column the access predicate and the filters test: the predicate is then answered from indexes
    "document_id": BTree,
    "organisation_id": BTree,
    "owner_id": BTree,
    "visibility": Bitmap,
    "doc_type": Bitmap,
    "allowed_roles": LabelList,
    "allowed_users": LabelList,
    "tags": LabelList,
}


def chunk_schema(dimension: int) -> pa.Schema:
    """Every :class:`Chunk` field (``table`` is stored as ``table_name``) plus the vector."""
    text, number, texts = pa.string(), pa.int64(), pa.list_(pa.string())
    return pa.schema(
        [
            pa.field("id", text, nullable=False),
            pa.field("document_id", text, nullable=False),
            pa.field("version", number, nullable=False),
            pa.field("ordinal", number, nullable=False),
            pa.field("kind", text, nullable=False),
            pa.field("text", text, nullable=False),
            pa.field("title", text, nullable=False),
            pa.field("section", text),
            pa.field("page", number),
            pa.field("table_name", text),
            pa.field("row_start", number),
            pa.field("row_end", number),
            pa.field("start_offset", number, nullable=False),
            pa.field("end_offset", number, nullable=False),
            pa.field("content_hash", text, nullable=False),
            pa.field("owner_id", text, nullable=False),
            pa.field("organisation_id", text, nullable=False),
            pa.field("visibility", text, nullable=False),
            pa.field("allowed_roles", texts, nullable=False),
            pa.field("allowed_users", texts, nullable=False),
            pa.field("doc_type", text, nullable=False),
            pa.field("tags", texts, nullable=False),
            pa.field("document_date", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


_CHUNK_COLUMNS = [name for name in chunk_schema(1).names if name != "vector"]

# --- SQL predicates: every value goes through _literal ---------------------------------------------------------


def _literal(value: str) -> str:
    """A SQL string literal. Doubling the quote is the only escape DataFusion's standard strings have (a
    backslash is an ordinary character), so no value can close the literal early."""
    return "'" + str(value).replace("'", "''") + "'"


def _literals(values: Sequence[str]) -> str:
    return ", ".join(_literal(value) for value in values)


def _timestamp(moment: datetime) -> str:
    """A timestamp literal; a naive datetime is taken to be UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"TIMESTAMP '{aware.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"


def access_predicate(scope: AccessScope) -> str:
    """:meth:`AccessScope.allows` as SQL."""
    user = _literal(scope.user_id)
    return (
        f"organisation_id = {_literal(scope.organisation_id)} AND (owner_id = {user}"
        " OR visibility = 'organisation'"
        f" OR (visibility = 'roles' AND array_has(allowed_roles, {_literal(scope.role)}))"
        f" OR (visibility = 'users' AND array_has(allowed_users, {user})))"
    )


def where_clause(scope: AccessScope, filters: SearchFilters) -> str:
    """The access predicate and the filters: ids and types any of, tags any of, dates inclusive."""
    parts = [f"({access_predicate(scope)})"]
    if filters.document_ids:
        parts.append(f"document_id IN ({_literals(filters.document_ids)})")
    if filters.doc_types:
        parts.append(f"doc_type IN ({_literals([kind.value for kind in filters.doc_types])})")
    if filters.tags:
        parts.append(f"array_has_any(tags, make_array({_literals(filters.tags)}))")
    if filters.date_from is not None:
        parts.append(f"document_date >= {_timestamp(filters.date_from)}")
    if filters.date_to is not None:
        parts.append(f"document_date <= {_timestamp(filters.date_to)}")
    return " AND ".join(parts)


# --- rows <-> chunks -------------------------------------------------------------------------------------------


def _to_rows(chunks: Sequence[Chunk], vectors: Vectors, schema: pa.Schema) -> pa.Table:
    records = [chunk.model_dump(mode="python") for chunk in chunks]
    for record in records:
        record["table_name"] = record.pop("table")
    columns: dict[str, Any] = {name: [record[name] for record in records] for name in _CHUNK_COLUMNS}
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
    return pa.table(columns, schema=schema)


def _to_chunks(rows: pa.Table) -> list[Chunk]:
    chunks = []
    for record in rows.select(_CHUNK_COLUMNS).to_pylist():
        record["table"] = record.pop("table_name")
        chunks.append(Chunk.model_validate(record))
    return chunks


def fuse(keyword: Sequence[SearchHit], semantic: Sequence[SearchHit], limit: int) -> list[SearchHit]:
    """Reciprocal-rank fusion: each hit scores ``sum(1 / (RRF_K + rank))`` over the lists it is in and keeps
    both components' scores and ranks (``None`` for a list it is missing from)."""
    fields: dict[str, dict[str, Any]] = {}
    for hit in keyword:
        fields[hit.chunk.id] = {
            "chunk": hit.chunk,
            "keyword_score": hit.keyword_score,
            "keyword_rank": hit.keyword_rank,
        }
    for hit in semantic:
        entry = fields.setdefault(hit.chunk.id, {"chunk": hit.chunk})
        entry.update(semantic_score=hit.semantic_score, semantic_rank=hit.semantic_rank)
    hits = []
    for entry in fields.values():
        ranks = [rank for rank in (entry.get("keyword_rank"), entry.get("semantic_rank")) if rank is not None]
        hits.append(SearchHit(score=sum(1.0 / (RRF_K + rank) for rank in ranks), **entry))
    hits.sort(key=lambda h: (-h.score, min(h.keyword_rank or math.inf, h.semantic_rank or math.inf), h.chunk.id))
    return hits[:limit]


class LanceDbSearchIndex:
    """The :class:`~investai.ports.knowledge.SearchIndex` of the embedded deployment.

    Thread safety: writes (and index maintenance) are serialised by a lock; searches run concurrently with
    them on the same table handle. The connection checks for a newer table version on every read, so a
    search sees every write committed before it started, including another process's.
    """

    def __init__(self, *, path: Path, dimension: int, table_name: str = "chunks", ann_threshold: int = 50_000) -> None:
        if not _TABLE_NAME.match(table_name):
            raise ValueError(f"invalid table name {table_name!r}")
        if dimension < 1:
            raise ValueError("dimension must be positive")
        self._path = path
        self._dimension = dimension
        self._table_name = table_name
        self._ann_threshold = ann_threshold
        self._schema = chunk_schema(dimension)
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._handle: Table | None = None
        self._writes_since_optimize = 0
        self._hybrid_pool: ThreadPoolExecutor | None = None

    # --- writes ------------------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """One atomic merge: the document's rows become exactly ``chunks``, so searches running meanwhile see
        the old chunks or the new ones, never neither or both."""
        self._check_batch(document_id, chunks, vectors)
        rows = _to_rows(chunks, vectors, self._schema)
        with self._write_lock:
            table = self._table()
            (
                table.merge_insert("id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(f"document_id = {_literal(document_id)}")
                .execute(rows)
            )
            self._maintain(table)

    def delete_document(self, document_id: str) -> int:
        with self._write_lock:
            table = self._table()
            where = f"document_id = {_literal(document_id)}"
            removed = table.count_rows(where)
            if removed:
                table.delete(where)
                self._maintain(table)
            return removed

    def build_vector_index(self) -> None:
        """(Re)build the ANN index now: IVF partitions of about ``ROWS_PER_PARTITION`` 8-bit scalar-quantised
        vectors (at most ``MAX_PARTITIONS``; more make k-means slow and leave clusters empty).

        IVF-SQ rather than HNSW: as accurate here once candidates are re-ranked, several times faster to build,
        and LanceDB rewrites a fresh HNSW index whole on its next optimisation.
        """
        with self._write_lock:
            self._build_vector_index(self._table())

    def optimize(self) -> None:
        """Compact the table and bring every index up to date (also done automatically after writes)."""
        with self._write_lock:
            table = self._table()
            table.optimize()
            self._writes_since_optimize = 0

    # --- reads -------------------------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        where = None if document_id is None else f"document_id = {_literal(document_id)}"
        return int(self._table().count_rows(where))

    def chunks(self, document_id: str) -> list[Chunk]:
        query = self._table().search().where(f"document_id = {_literal(document_id)}")
        found = _to_chunks(query.select(_CHUNK_COLUMNS).limit(None).to_arrow())
        return sorted(found, key=lambda chunk: chunk.ordinal)

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
        where = where_clause(scope, filters)
        if mode is SearchMode.KEYWORD:
            hits = self._keyword(query, where, limit)
        elif mode is SearchMode.SEMANTIC:
            hits = self._semantic(self._query_vector(vector), where, limit, exact=False)
        else:
            candidates = max(limit * 4, MIN_CANDIDATES)
            query_vector = self._query_vector(vector)
            # both halves run at once: LanceDB releases the GIL while it searches, so the hybrid query costs
            # about the slower half rather than the sum
            keyword_half = self._pool().submit(self._keyword, query, where, candidates)
            semantic = self._semantic(query_vector, where, candidates, exact=False)
            hits = fuse(keyword_half.result(), semantic, limit)
        # the predicate already enforced the scope; this is a second, independent check of the same rule
        return [hit for hit in hits if scope.allows(hit.chunk)]

    def search_exact_vectors(
        self, vector: Sequence[float], scope: AccessScope, limit: int, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        """Semantic search by exhaustive scan, ignoring any ANN index: the reference for measuring its recall."""
        where = where_clause(scope, filters or SearchFilters())
        hits = self._semantic(self._query_vector(vector), where, limit, exact=True)
        return [hit for hit in hits if scope.allows(hit.chunk)]

    def has_vector_index(self) -> bool:
        """Whether semantic search goes through the ANN index (else it scans every candidate exactly)."""
        return any(config.columns == ["vector"] for config in self._table().list_indices())

    # --- internals ---------------------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._open_lock:
            if self._hybrid_pool is None:
                self._hybrid_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lancedb-keyword")
            return self._hybrid_pool

    def _keyword(self, query: str, where: str, limit: int) -> list[SearchHit]:
        if not query.strip():
            return []
        # a structured match query: the text is only ever tokenised, never parsed as query syntax
        builder = self._table().search(
            MultiMatchQuery(query, _FTS_COLUMNS, boosts=None, operator=FullTextOperator.OR), query_type="fts"
        )
        rows = builder.where(where, prefilter=True).select([*_CHUNK_COLUMNS, "_score"]).limit(limit).to_arrow()
        scores = rows.column("_score").to_pylist()
        return [
            SearchHit(chunk=chunk, score=score, keyword_score=score, keyword_rank=rank)
            for rank, (chunk, score) in enumerate(zip(_to_chunks(rows), scores, strict=True), start=1)
        ]

    def _semantic(self, vector: Vectors, where: str, limit: int, *, exact: bool) -> list[SearchHit]:
        builder = cast(
            LanceVectorQueryBuilder, self._table().search(vector, query_type="vector", vector_column_name="vector")
        )
        builder = builder.distance_type("cosine").where(where, prefilter=True)
        if exact:
            builder = builder.bypass_vector_index()
        else:  # ignored while the table has no ANN index
            builder = builder.minimum_nprobes(ANN_NPROBES).maximum_nprobes(0).refine_factor(ANN_REFINE_FACTOR)
        rows = builder.select([*_CHUNK_COLUMNS, "_distance"]).limit(limit).to_arrow()
        scores = [1.0 - distance for distance in rows.column("_distance").to_pylist()]
        return [
            SearchHit(chunk=chunk, score=score, semantic_score=score, semantic_rank=rank)
            for rank, (chunk, score) in enumerate(zip(_to_chunks(rows), scores, strict=True), start=1)
        ]

    def _query_vector(self, vector: Sequence[float] | None) -> Vectors:
        if vector is None:
            raise ValueError("semantic and hybrid search need the query's vector")
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self._dimension,) or not np.all(np.isfinite(array)):
            raise ValueError(f"the query vector must hold {self._dimension} finite numbers")
        return array

    def _check_batch(self, document_id: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if len(chunks) and (vectors.ndim != 2 or vectors.shape[1] != self._dimension):
            raise ValueError(f"vectors must have shape (n, {self._dimension}), not {vectors.shape}")
        if len(chunks) and not np.all(np.isfinite(vectors)):
            raise ValueError("vectors must be finite")
        if any(chunk.document_id != document_id for chunk in chunks):
            raise ValueError(f"every chunk must belong to document {document_id!r}")
        if len({chunk.id for chunk in chunks}) != len(chunks):
            raise ValueError("chunk ids must be unique")

    def _maintain(self, table: Table) -> None:
        """Keep search fast as writes accumulate (called under the write lock, after a commit). A failure here
        is logged, not raised: the write is done and searches stay correct, only slower."""
        self._writes_since_optimize += 1
        try:
            self._upkeep(table)
        except Exception:
            log.exception("search_index.maintenance_failed", table=self._table_name)

    def _upkeep(self, table: Table) -> None:
        """Build the ANN index once the table is big enough; else optimise after enough writes or unindexed
        rows, rebuilding the ANN index whole once it has gathered too many deltas."""
        if table.count_rows() >= self._ann_threshold and not self.has_vector_index():
            self._build_vector_index(table)
            return
        text = table.index_stats("text_idx")
        unindexed = (text.num_unindexed_rows or 0) if text is not None else 0
        if self._writes_since_optimize < OPTIMIZE_EVERY_WRITES and unindexed < OPTIMIZE_UNINDEXED_ROWS:
            return
        table.optimize()
        self._writes_since_optimize = 0
        vector = table.index_stats("vector_idx")
        if vector is not None and (vector.num_indices or 1) > MAX_VECTOR_INDEX_DELTAS:
            self._build_vector_index(table)

    def _build_vector_index(self, table: Table) -> None:
        rows = table.count_rows()
        if rows == 0:
            return
        table.optimize()  # compacted files and current FTS/scalar indexes first
        partitions = max(1, min(MAX_PARTITIONS, rows // ROWS_PER_PARTITION))
        table.create_index("vector", config=IvfSq(distance_type="cosine", num_partitions=partitions), replace=True)
        self._writes_since_optimize = 0

    def _table(self) -> Table:
        if self._handle is None:
            with self._open_lock:
                if self._handle is None:
                    self._handle = self._open()
        return self._handle

    def _open(self) -> Table:
        ensure_private_dir(self._path)
        db = lancedb.connect(self._path, read_consistency_interval=timedelta(0))
        table = db.create_table(self._table_name, schema=self._schema, exist_ok=True)
        stored = table.schema.field("vector").type
        if stored != self._schema.field("vector").type:
            raise ValueError(f"table {self._table_name!r} holds vectors of type {stored}, not {self._dimension} floats")
        existing = {config.name for config in table.list_indices()}
        for column in _FTS_COLUMNS:
            if f"{column}_idx" not in existing:
                table.create_index(column, config=FTS(), replace=True)
        for column, config in _SCALAR_INDEXES.items():
            if f"{column}_idx" not in existing:
                table.create_index(column, config=config(), replace=True)
        return table
