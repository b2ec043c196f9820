"""The knowledge base's search index on LanceDB: one table of chunks with their vectors.

Keyword search is LanceDB's native BM25 full-text search over ``text`` and ``title``; semantic search is a
cosine nearest-neighbour query (exact on small tables, an IVF-SQ index once a table grows past
``ann_threshold`` rows); hybrid search fuses the two ranked lists here (:func:`fuse`). The access scope and the
metadata filters become one SQL predicate that LanceDB applies *before* ranking (a prefilter), so a caller
gets the best chunks they may see, never the best chunks overall minus the ones they may not. Each row carries
its access tokens (:func:`~investai.domain.documents.access_tokens`) in a label-list-indexed ``readers``
column, so the access half of the predicate is one index lookup however the chunk is shared.

Fusion is a convex combination of normalised scores (Bruch, Gai and Ingber, "An Analysis of Fusion Functions
for Hybrid Retrieval", ACM TOIS 2023): ``alpha * minmax(BM25) + (1 - alpha) * tmm(cosine)``, BM25 min-max
normalised over the keyword candidates and the cosine normalised from its theoretical minimum -1 to the best
semantic candidate (the paper's TMM), a half that missed the chunk counting 0; alpha is
:data:`~investai.ports.knowledge.KEYWORD_WEIGHT`, 0.1, chosen on both labelled question sets pooled and
cross-validated (the data and the procedure are there). It replaced reciprocal-rank fusion (k = 60), which
counts positions only: the top BM25 hit of a question worded unlike its answer is often a passage sharing one
common word with it, and RRF scored it as high as the semantic half's best. On the sample corpus, recall@5 /
MRR@10 of RRF against this fusion: 0.948 / 0.852 and 0.948 / 0.863 on the 58 questions in the documents' own
words, 0.776 / 0.603 and 0.857 / 0.699 on the 49 paraphrases, where semantic search alone scores 0.837 / 0.652
(``benchmarks/knowledge.py``; page furniture already out of the index in both).

Every mode returns hits down to a relevance floor relative to its best hit
(:func:`~investai.ports.knowledge.above_floor`), ``limit`` being only a maximum.

Every search reads one table version from start to end (a snapshot), so a hybrid query's two halves and its
final fetch agree even while documents are rewritten.

Search results are kept (:class:`_ResultCache`, least recently used, ``result_cache_entries``) by table version,
the query (text, vector, mode, filters, limit) and the reader's *effective* access tokens: those of the
reader's three tokens that some row of that version carries. Two readers with the same effective tokens match
exactly the same rows, so they get the same hits; a token no row carries changes nothing. Any write (a
document added, replaced, re-shared or deleted, by any process) makes a new version, which every search looks
up first, so a kept result is never served for a version it was not computed on. Whether a version's rows
carry a reader's own token is one label-list index lookup, once per reader and version.

Index upkeep: the full-text and scalar indexes exist from the table's creation, and rows written after an
index was last built are still searched (LanceDB scans them exhaustively), so results are correct right after
every write. Scanning unindexed rows gets slower as they pile up, so after enough writes or unindexed rows the
table is optimised: files compacted, new rows merged into every index, versions older than a week pruned.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import lancedb
import numpy as np
import orjson
import pyarrow as pa
from filelock import FileLock
from lancedb.db import AsyncConnection
from lancedb.index import FTS, Bitmap, BTree, IvfSq, LabelList
from lancedb.query import AsyncVectorQuery, FullTextOperator, MultiMatchQuery
from lancedb.table import AsyncTable, Table

from investai.adapters.local.fsutil import ensure_private_dir
from investai.domain.documents import access_tokens
from investai.domain.errors import StoreUnavailable
from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchHit, SearchMode
from investai.observability.logging import get_logger
from investai.ports.knowledge import KEYWORD_WEIGHT, RELATIVE_FLOOR, Vectors, above_floor

log = get_logger(__name__)
_T = TypeVar("_T")

MIN_CANDIDATES = 50
"""Hybrid search fuses this many candidates from each list (``limit`` when larger). A fixed depth rather than a
multiple of ``limit``: the keyword half's min-max normalisation depends on how deep its list goes, and a hit's
score and place should not change with how many hits the caller asked for."""
OPTIMIZE_EVERY_WRITES = 20
OPTIMIZE_UNINDEXED_ROWS = 2_000
MAX_VECTOR_INDEX_DELTAS = 10
"""Each optimisation adds the new rows to the ANN index as a delta searched separately; past this many the
index is rebuilt whole."""
ROWS_PER_PARTITION = 1_000
MAX_PARTITIONS = 256
ANN_NPROBES = 24
ANN_REFINE_FACTOR = 2
"""ANN queries probe ``ANN_NPROBES`` IVF partitions and re-rank ``ANN_REFINE_FACTOR`` times ``limit``
candidates by exact cosine; when a narrow filter leaves fewer than ``limit`` rows in those partitions, the
query is run again over every partition. Measured on 100,000 384-dimensional vectors in 100 partitions
(`benchmarks/knowledge.py`): recall@10 against exact search 0.84 with 4 probes, 0.91 with 8, 0.96 with 16,
0.97 with 24; re-ranking twice the limit gains 0.02 and four times nothing more."""

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_FTS_COLUMNS = ["text", "title"]
_SCALAR_INDEXES: dict[str, Callable[[], BTree | Bitmap | LabelList]] = {
    # every column a predicate tests: the access tokens, the filters and the fetch by id are index lookups
    "id": BTree,
    "readers": LabelList,
    "document_id": BTree,
    "doc_type": Bitmap,
    "tags": LabelList,
    "document_date": BTree,
}


UNREADABLE_RETRY_AFTER_S = 60.0


class SearchIndexUnreadable(StoreUnavailable):
    """The index's files cannot be read (a damaged manifest or data file, a table this release cannot use):
    searches answer 503 until it is restored from a backup or rebuilt; nothing here rewrites or removes the
    damaged files."""

    code = "search_index_unavailable"


@contextmanager
def _readable(operation: str) -> Iterator[None]:
    """Raise what LanceDB raises for files it cannot read as :class:`SearchIndexUnreadable`, with the reason
    logged (see :func:`_unreadable_files`)."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:
        if not _unreadable_files(error):
            raise
        reason = _reason(error)
        log.error("search_index.unreadable", operation=operation, error=reason)
        raise SearchIndexUnreadable(
            f"the search index cannot be read ({reason[:200]}); restore it from a backup or rebuild it",
            retry_after_s=UNREADABLE_RETRY_AFTER_S,
        ) from error


def _unreadable_files(error: Exception) -> bool:
    """Whether LanceDB failed on the files themselves: ``RuntimeError`` (I/O and format errors), ``ValueError``
    (a file that is not Lance's), ``OSError``, or a panic of its Rust runtime on garbled bytes (``RustPanic``,
    a class no importable module exports)."""
    return isinstance(error, RuntimeError | OSError | ValueError) or type(error).__name__ == "RustPanic"


def _reason(error: BaseException) -> str:
    """The first line of ``error`` without the source location LanceDB appends (``, /path/file.rs:1:2``)."""
    text = (str(error).splitlines() or [type(error).__name__])[0]
    return re.sub(r",\s*/\S+:\d+:\d+\s*$", "", text)


def chunk_schema(dimension: int) -> pa.Schema:
    """Every :class:`Chunk` field (``table`` is stored as ``table_name``), its access tokens and its vector."""
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
            pa.field("readers", texts, nullable=False),
            pa.field("payload", text, nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


_CHUNK_COLUMNS = [name for name in chunk_schema(1).names if name not in {"readers", "payload", "vector"}]
"""The chunk's fields as columns, for predicates and filters."""
_READ_COLUMNS = ["text", "payload"]
"""What a read selects to rebuild a chunk: its text and the rest of its fields as one JSON value. Reading two
columns instead of two dozen halves the cost of fetching a result row."""

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
    """:meth:`AccessScope.allows` as SQL: the row's access tokens meet the reader's."""
    return f"array_has_any(readers, make_array({_literals(scope.tokens())}))"


def where_clause(scope: AccessScope, filters: SearchFilters) -> str:
    """The access predicate and the filters: ids and types any of, tags any of, dates inclusive."""
    return " AND ".join([f"({access_predicate(scope)})", *filter_clauses(filters)])


def filter_clauses(filters: SearchFilters) -> list[str]:
    """The filters' half of :func:`where_clause`, one predicate each."""
    parts = []
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
    return parts


# --- rows <-> chunks -------------------------------------------------------------------------------------------


def _to_rows(chunks: Sequence[Chunk], vectors: Vectors, schema: pa.Schema) -> pa.Table:
    records = [chunk.model_dump(mode="python") for chunk in chunks]
    for record in records:
        record["table_name"] = record.pop("table")
    columns: dict[str, Any] = {name: [record[name] for record in records] for name in _CHUNK_COLUMNS}
    columns["readers"] = [access_tokens(chunk) for chunk in chunks]
    columns["payload"] = [orjson.dumps(chunk.model_dump(mode="json", exclude={"text"})).decode() for chunk in chunks]
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
    return pa.table(columns, schema=schema)


def _to_chunks(rows: pa.Table) -> list[Chunk]:
    """Chunks from rows holding :data:`_READ_COLUMNS`."""
    texts = rows.column("text").to_pylist()
    payloads = rows.column("payload").to_pylist()
    return [
        Chunk.model_validate({**orjson.loads(payload), "text": text})
        for text, payload in zip(texts, payloads, strict=True)
    ]


def _columns_to_chunks(rows: pa.Table) -> list[Chunk]:
    """Chunks from rows holding :data:`_CHUNK_COLUMNS` (tables written before the payload column)."""
    chunks = []
    for record in rows.select(_CHUNK_COLUMNS).to_pylist():
        record["table"] = record.pop("table_name")
        chunks.append(Chunk.model_validate(record))
    return chunks


def _scored_chunks(rows: pa.Table | None) -> list[tuple[Chunk, float]]:
    """Rows of a keyword (``_score``) or vector (``_distance``) query as chunks with a higher-is-better score;
    a vector query's score is the cosine similarity."""
    if rows is None:
        return []
    return list(zip(_to_chunks(rows), _scores(rows), strict=True))


def _ranking(rows: pa.Table | None) -> Ranking:
    if rows is None:
        return []
    return list(zip(rows.column("id").to_pylist(), _scores(rows), strict=True))


def _scores(rows: pa.Table) -> list[float]:
    if "_score" in rows.column_names:
        return [float(score) for score in rows.column("_score").to_pylist()]
    return [1.0 - float(distance) for distance in rows.column("_distance").to_pylist()]


Ranking = list[tuple[str, float]]
"""A ranked list of chunk ids with their scores, best first (rank 1 is the first entry)."""


def fuse(
    keyword: Ranking, semantic: Ranking, limit: int, *, keyword_weight: float = KEYWORD_WEIGHT
) -> list[dict[str, Any]]:
    """The convex combination of two rankings (BM25 and cosine similarity, best first): each chunk scores
    ``keyword_weight * k + (1 - keyword_weight) * s``, where ``k`` is its BM25 score min-max normalised over
    ``keyword`` (1 when all tie) and ``s`` its cosine similarity normalised from -1 to the best in ``semantic``;
    0 for a list it is missing from. Each chunk keeps both components' raw scores and ranks (``None`` for a
    list it is missing from). Returns the best ``limit`` as :class:`SearchHit` fields with ``id`` in place of
    ``chunk``; ties go to the chunk ranked higher in either list, then to the smaller id."""
    fields: dict[str, dict[str, Any]] = {}
    for rank, ((chunk_id, score), normalised) in enumerate(zip(keyword, _min_max(keyword), strict=True), start=1):
        fields[chunk_id] = {
            "id": chunk_id,
            "keyword_score": score,
            "keyword_rank": rank,
            "score": keyword_weight * normalised,
        }
    for rank, ((chunk_id, score), normalised) in enumerate(zip(semantic, _from_minus_one(semantic), strict=True), 1):
        entry = fields.setdefault(chunk_id, {"id": chunk_id, "score": 0.0})
        entry.update(semantic_score=score, semantic_rank=rank, score=entry["score"] + (1 - keyword_weight) * normalised)
    fused = sorted(
        fields.values(),
        key=lambda e: (
            -e["score"],
            min(e.get("keyword_rank") or math.inf, e.get("semantic_rank") or math.inf),
            e["id"],
        ),
    )
    return fused[:limit]


def _min_max(ranking: Ranking) -> list[float]:
    """Scores rescaled to [0, 1] over the ranking: the best 1, the weakest 0 (all 1 when they tie)."""
    scores = np.fromiter((score for _, score in ranking), dtype=np.float64, count=len(ranking))
    if not len(scores):
        return []
    spread = float(scores.max() - scores.min())
    return ((scores - scores.min()) / spread).tolist() if spread > 0 else [1.0] * len(scores)


def _from_minus_one(ranking: Ranking) -> list[float]:
    """Cosine similarities rescaled from their theoretical minimum -1 (to 0) to the best in the ranking (to 1)."""
    cosines = np.fromiter((score for _, score in ranking), dtype=np.float64, count=len(ranking))
    if not len(cosines):
        return []
    top = float(cosines.max()) + 1.0
    return ((cosines + 1.0) / top).tolist() if top > 0 else [1.0] * len(cosines)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """A read-only handle on one table version, and whether that version has an ANN index."""

    version: int
    table: AsyncTable
    has_vector_index: bool


RESULT_CACHE_ENTRIES = 512
"""Search results kept by default: about 20 KB each (ten chunks' text and metadata), so about 10 MB at most."""

ResultKey = tuple[int, tuple[str, ...], str, str, bytes, str, int]
"""(table version, effective reader tokens, mode, query text, query vector digest, filters, limit)."""


class _ResultCache:
    """Search results by :data:`ResultKey`, least recently used first out. Entries of superseded versions are
    never looked up again and age out."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(0, max_entries)
        self._entries: OrderedDict[ResultKey, tuple[SearchHit, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._present: tuple[int, dict[str, bool]] = (-1, {})  # version, and whether its rows carry a user token
        self.hits = 0
        self.misses = 0

    def get(self, key: ResultKey) -> tuple[SearchHit, ...] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: ResultKey, hits: Sequence[SearchHit]) -> None:
        with self._lock:
            self._entries[key] = tuple(hits)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    async def effective_tokens(self, snapshot: _Snapshot, scope: AccessScope) -> tuple[str, ...]:
        """The reader's tokens that matter at ``snapshot``: the organisation's and the role's (every reader of
        the same organisation and role holds them), and the reader's own only when some row of that version
        carries it (the reader owns a document there or has one shared by name). One label-list index lookup
        per reader and version."""
        tokens = scope.tokens()
        own = next(token for token in tokens if token.startswith("user/"))
        shared = [token for token in tokens if token != own]
        with self._lock:
            if self._present[0] != snapshot.version:
                self._present = (snapshot.version, {})
            present = self._present[1]
            known = present.get(own)
        if known is None:
            known = await snapshot.table.count_rows(f"array_has_any(readers, make_array({_literal(own)}))") > 0
            with self._lock:
                if self._present[0] == snapshot.version:
                    present[own] = known
        return (own, *shared) if known else tuple(shared)


def _vector_digest(vector: Vectors | None) -> bytes:
    return b"" if vector is None else hashlib.blake2b(np.ascontiguousarray(vector).tobytes(), digest_size=16).digest()


async def _keyword_rows(snapshot: _Snapshot, query: str, where: str, limit: int, columns: list[str]) -> pa.Table | None:
    """BM25 over text and title, best first, with ``_score``; ``None`` for a blank query."""
    if not query.strip():
        return None
    # a structured match query: the text is only ever tokenised, never parsed as query syntax
    match = MultiMatchQuery(query, _FTS_COLUMNS, boosts=None, operator=FullTextOperator.OR)
    search = snapshot.table.query().nearest_to_text(match).where(where)  # where filters before ranking
    return await search.select([*columns, "_score"]).limit(limit).to_arrow()


async def _semantic_rows(
    snapshot: _Snapshot, vector: Vectors, where: str, limit: int, columns: list[str], *, exact: bool
) -> pa.Table:
    """Nearest by cosine, best first, with ``_distance``."""

    def search(probe_all: bool) -> AsyncVectorQuery:
        query = snapshot.table.query().nearest_to(vector).distance_type("cosine").where(where)  # a prefilter
        if exact:
            return query.bypass_vector_index()
        if probe_all:
            return query.maximum_nprobes(0).minimum_nprobes(ANN_NPROBES).refine_factor(ANN_REFINE_FACTOR)
        if snapshot.has_vector_index:
            return query.nprobes(ANN_NPROBES).refine_factor(ANN_REFINE_FACTOR)
        return query  # no ANN index yet: an exact scan

    rows = await search(probe_all=False).select([*columns, "_distance"]).limit(limit).to_arrow()
    if rows.num_rows < limit and snapshot.has_vector_index and not exact:
        # the filter left too few rows in the probed partitions (or allows fewer than limit): probe them all
        rows = await search(probe_all=True).select([*columns, "_distance"]).limit(limit).to_arrow()
    return rows


async def _fetch(snapshot: _Snapshot, ids: list[str], where: str) -> dict[str, Chunk]:
    """The chunks with these ids, read from the same snapshot and under the same predicate."""
    if not ids:
        return {}
    query = snapshot.table.query().where(f"id IN ({_literals(ids)}) AND ({where})")
    rows = await query.select(_READ_COLUMNS).limit(len(ids)).to_arrow()
    return {chunk.id: chunk for chunk in _to_chunks(rows)}


class _Reads:
    """Every search runs as a coroutine on this event loop, in its own thread, through LanceDB's async API:
    one hand-off between threads per search (the synchronous API makes several per query), and a hybrid
    search's two halves overlap on the loop. Each search reads one snapshot: the latest table version,
    opened once and kept until a write makes a newer one."""

    def __init__(
        self, path: Path | str, table_name: str, session: lancedb.Session, storage_options: dict[str, str] | None
    ) -> None:
        self._path = path
        self._storage_options = storage_options
        self._table_name = table_name
        self._session = session
        self._db: AsyncConnection | None = None
        self._live: AsyncTable | None = None
        self._pinned: _Snapshot | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lancedb-reads", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def snapshot(self) -> _Snapshot:
        if self._db is None or self._live is None:
            self._db = await lancedb.connect_async(
                self._path,
                read_consistency_interval=timedelta(0),
                session=self._session,
                storage_options=self._storage_options,
            )
            self._live = await self._db.open_table(self._table_name)
        version = await self._live.version()  # the latest committed, by any writer
        pinned = self._pinned
        if pinned is not None and pinned.version == version:
            return pinned
        table = await self._db.open_table(self._table_name)
        await table.checkout(version)
        indexed = any(config.columns == ["vector"] for config in await table.list_indices())
        snapshot = _Snapshot(version=version, table=table, has_vector_index=indexed)
        if self._pinned is None or self._pinned.version < version:
            self._pinned = snapshot
        return snapshot

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


class _ProcessWriteLock:
    """Writes and index upkeep one at a time across threads and processes (the server, a separate worker and CLI
    commands write the same table). LanceDB resolves most concurrent commits itself, but index builds and
    compactions preempted by another process's commit fail; taking turns costs nothing measurable, as documents
    are processed one job at a time anyway. Reentrant within a thread (maintenance runs inside a write)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._threads = threading.RLock()
        self._file = FileLock(path, mode=0o600)

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            ensure_private_dir(self._path.parent)
            self._file.acquire()
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            self._file.release()
        finally:
            self._threads.release()


class LanceDbSearchIndex:
    """The :class:`~investai.ports.knowledge.SearchIndex` of the embedded deployment.

    Thread safety: writes (and index maintenance) are serialised by a lock; searches run concurrently with
    them on the reader's event loop. Each search first looks up the latest table version, so it sees every
    write committed before it started, including another process's, and reads that version throughout.
    Call :meth:`close` when done with the index.
    """

    def __init__(
        self,
        *,
        path: Path | str,
        dimension: int,
        table_name: str = "chunks",
        ann_threshold: int = 50_000,
        storage_options: dict[str, str] | None = None,
        write_lock: Callable[[], AbstractContextManager[None]] | None = None,
        keyword_weight: float = KEYWORD_WEIGHT,
        floors: Mapping[SearchMode, float] | None = None,
        result_cache_entries: int = RESULT_CACHE_ENTRIES,
    ) -> None:
        """``path``: a local directory, or an object-store URI (``s3://bucket/prefix``) with the
        ``storage_options`` LanceDB takes for it. Writers take turns through ``write_lock`` (a cross-process
        lock; default: a file lock beside a local directory, which an object store cannot hold).
        ``keyword_weight``: hybrid search's alpha (see :func:`fuse`), in [0, 1]; ``floors``: relevance floors by
        mode in place of the port's :data:`~investai.ports.knowledge.RELATIVE_FLOOR` (0 returns ``limit`` hits
        wherever there are that many: for measuring); ``result_cache_entries``: search results kept (0: none)."""
        if not _TABLE_NAME.match(table_name):
            raise ValueError(f"invalid table name {table_name!r}")
        if dimension < 1:
            raise ValueError("dimension must be positive")
        if not 0.0 <= keyword_weight <= 1.0:
            raise ValueError("keyword_weight must be between 0 and 1")
        self._keyword_weight = float(keyword_weight)
        self._floors = {**RELATIVE_FLOOR, **(floors or {})}
        self._path = path
        self._dimension = dimension
        self._table_name = table_name
        self._ann_threshold = ann_threshold
        self._schema = chunk_schema(dimension)
        self._open_lock = threading.Lock()
        self._storage_options = storage_options
        if write_lock is not None:
            self._write_lock: Callable[[], AbstractContextManager[None]] = write_lock
        elif isinstance(path, Path):
            file_lock = _ProcessWriteLock(path / ".write.lock")
            self._write_lock = lambda: file_lock
        else:
            raise ValueError("an object-store index needs a cross-process write_lock")
        self._session = lancedb.Session()  # one index and metadata cache for the writing and reading sides
        self._handle: Table | None = None
        self._reader: _Reads | None = None
        self._writes_since_optimize = 0
        self._rows_since_optimize = 0
        self._rows_since_count = 0
        self._counted: int | None = None  # rows at the last exact count (see _upkeep)
        self._results = _ResultCache(result_cache_entries)

    # --- writes ------------------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """One atomic merge: the document's rows become exactly ``chunks``, so searches running meanwhile see
        the old chunks or the new ones, never neither or both."""
        self._check_batch(document_id, chunks, vectors)
        rows = _to_rows(chunks, vectors, self._schema)
        with self._write_lock():
            table = self._table()
            (
                table.merge_insert("id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(f"document_id = {_literal(document_id)}")
                .execute(rows)
            )
            self._maintain(table, len(chunks))

    def delete_document(self, document_id: str) -> int:
        with self._write_lock():
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
        with self._write_lock():
            self._build_vector_index(self._table())

    def optimize(self) -> None:
        """Compact the table and bring every index up to date (also done automatically after writes)."""
        with self._write_lock():
            table = self._table()
            table.optimize()
            self._writes_since_optimize = self._rows_since_optimize = 0

    @contextmanager
    def frozen(self) -> Iterator[tuple[Path, int]]:
        """Hold off every write, compaction and index build, in every process, while the caller copies the table's
        files; yields the table's directory and version. Searches go on meanwhile."""
        path = self._path
        if not isinstance(path, Path):
            raise ValueError("an object-store index is kept by its bucket's versioning, not copied")
        with self._write_lock():
            table = self._table()
            yield path, int(table.version)

    # --- reads -------------------------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        where = None if document_id is None else f"document_id = {_literal(document_id)}"
        table = self._table()
        with _readable("count"):
            return int(table.count_rows(where))

    def chunks(self, document_id: str) -> list[Chunk]:
        query = self._table().search().where(f"document_id = {_literal(document_id)}")
        with _readable("chunks"):
            found = _to_chunks(query.select(_READ_COLUMNS).limit(None).to_arrow())
        return sorted(found, key=lambda chunk: chunk.ordinal)

    health_name = "search_index"

    def check(self) -> None:
        """Readiness: the table opens and one row of it reads, without the write lock (a backup freezing the
        index does not hold the probe up). A table not created yet passes: the first write creates it."""
        with _readable("check"):
            db = lancedb.connect(
                self._path,
                read_consistency_interval=timedelta(0),
                session=self._session,
                storage_options=self._storage_options,
            )
            if self._table_name not in db.list_tables().tables:
                return
            db.open_table(self._table_name).search().select(["id"]).limit(1).to_arrow()

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
        reads = self._reads()
        with _readable("search"):
            hits = reads.run(self._kept_or_searched(query, query_vector, mode, scope, filters, limit))
        # the predicate already enforced the scope; this is a second, independent check of the same rule
        return above_floor([hit for hit in hits if scope.allows(hit.chunk)], mode, floor=self._floors[mode])

    def search_exact_vectors(
        self, vector: Sequence[float], scope: AccessScope, limit: int, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        """Semantic search by exhaustive scan, ignoring any ANN index: the reference for measuring its recall."""
        return self._nearest(vector, scope, limit, filters, exact=True)

    def search_approximate_vectors(
        self, vector: Sequence[float], scope: AccessScope, limit: int, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        """Semantic search as :meth:`search` runs it (through the ANN index once there is one) but always
        ``limit`` hits, without the relevance floor: what :meth:`search_exact_vectors` is compared with."""
        return self._nearest(vector, scope, limit, filters, exact=False)

    def has_vector_index(self) -> bool:
        """Whether semantic search goes through the ANN index (else it scans every candidate exactly)."""
        return any(config.columns == ["vector"] for config in self._table().list_indices())

    def close(self) -> None:
        """Stop the reader thread (searches after this fail); writes need nothing closed."""
        with self._open_lock:
            reads, self._reader = self._reader, None
        if reads is not None:
            reads.close()

    # --- internals: reads, on one event loop through LanceDB's async API -------------------------------------

    def _nearest(
        self, vector: Sequence[float], scope: AccessScope, limit: int, filters: SearchFilters | None, *, exact: bool
    ) -> list[SearchHit]:
        where = where_clause(scope, filters or SearchFilters())
        query_vector = self._query_vector(vector)

        async def nearest() -> list[SearchHit]:
            snapshot = await self._reads().snapshot()
            return await self._semantic_hits(snapshot, query_vector, where, limit, exact=exact)

        reads = self._reads()
        with _readable("search"):
            hits = reads.run(nearest())
        return [hit for hit in hits if scope.allows(hit.chunk)]

    async def _kept_or_searched(
        self,
        query: str,
        vector: Vectors | None,
        mode: SearchMode,
        scope: AccessScope,
        filters: SearchFilters,
        limit: int,
    ) -> list[SearchHit]:
        """The hits of the latest version: kept ones when this query was answered on it for the same effective
        access tokens, else searched (and kept)."""
        snapshot = await self._reads().snapshot()
        where = where_clause(scope, filters)
        if not self._results.max_entries:
            return await self._search(snapshot, query, vector, mode, where, limit)
        effective = await self._results.effective_tokens(snapshot, scope)
        filtered = " AND ".join(filter_clauses(filters))
        key = (snapshot.version, effective, mode.value, query, _vector_digest(vector), filtered, limit)
        kept = self._results.get(key)
        if kept is not None:
            return list(kept)
        hits = await self._search(snapshot, query, vector, mode, where, limit)
        self._results.put(key, hits)
        return hits

    async def _search(
        self, snapshot: _Snapshot, query: str, vector: Vectors | None, mode: SearchMode, where: str, limit: int
    ) -> list[SearchHit]:
        if mode is SearchMode.KEYWORD:
            rows = await _keyword_rows(snapshot, query, where, limit, _READ_COLUMNS)
            return [
                SearchHit(chunk=chunk, score=score, keyword_score=score, keyword_rank=rank)
                for rank, (chunk, score) in enumerate(_scored_chunks(rows), start=1)
            ]
        if mode is SearchMode.SEMANTIC:
            return await self._semantic_hits(snapshot, cast(Vectors, vector), where, limit, exact=False)
        return await self._hybrid(snapshot, query, cast(Vectors, vector), where, limit)

    async def _hybrid(
        self, snapshot: _Snapshot, query: str, vector: Vectors, where: str, limit: int
    ) -> list[SearchHit]:
        """Both rankings over ids only and at once, fused, then the winners' rows fetched in one indexed
        lookup: reading every column of every candidate cost more than both searches together."""
        candidates = max(limit, MIN_CANDIDATES)
        keyword_rows, semantic_rows = await asyncio.gather(
            _keyword_rows(snapshot, query, where, candidates, ["id"]),
            _semantic_rows(snapshot, vector, where, candidates, ["id"], exact=False),
        )
        fused = fuse(_ranking(keyword_rows), _ranking(semantic_rows), limit, keyword_weight=self._keyword_weight)
        chunks = await _fetch(snapshot, [entry["id"] for entry in fused], where)
        return [SearchHit(chunk=chunks[entry.pop("id")], **entry) for entry in fused if entry["id"] in chunks]

    async def _semantic_hits(
        self, snapshot: _Snapshot, vector: Vectors, where: str, limit: int, *, exact: bool
    ) -> list[SearchHit]:
        rows = await _semantic_rows(snapshot, vector, where, limit, _READ_COLUMNS, exact=exact)
        return [
            SearchHit(chunk=chunk, score=score, semantic_score=score, semantic_rank=rank)
            for rank, (chunk, score) in enumerate(_scored_chunks(rows), start=1)
        ]

    def _reads(self) -> _Reads:
        self._table()  # created, or migrated, before the first read
        with self._open_lock:
            if self._reader is None:
                self._reader = _Reads(self._path, self._table_name, self._session, self._storage_options)
            return self._reader

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

    def _maintain(self, table: Table, rows: int = 0) -> None:
        """Keep search fast as writes accumulate (called under the write lock, after a commit). A failure here
        is logged, not raised: the write is done and searches stay correct, only slower."""
        self._writes_since_optimize += 1
        self._rows_since_optimize += rows
        self._rows_since_count += rows
        try:
            self._upkeep(table)
        except Exception:
            log.exception("search_index.maintenance_failed", table=self._table_name)

    def _upkeep(self, table: Table) -> None:
        """Build the ANN index once the table is big enough; else optimise after enough writes or unindexed
        rows, rebuilding the ANN index whole once it has gathered too many deltas.

        The table is counted exactly only when the rows known at the last count plus the rows written since
        could have reached the threshold, and the unindexed rows are the rows written since the last
        optimisation: each check is a read of the table's metadata, which on object storage is a request or
        two per write. (Rows another process writes are counted by that process.)"""
        if self._counted is None or self._counted + self._rows_since_count >= self._ann_threshold:
            self._counted, self._rows_since_count = table.count_rows(), 0
            if self._counted >= self._ann_threshold and not self.has_vector_index():
                self._build_vector_index(table)
                return
        due = self._writes_since_optimize >= OPTIMIZE_EVERY_WRITES
        if not due and self._rows_since_optimize < OPTIMIZE_UNINDEXED_ROWS:
            return
        table.optimize()
        self._writes_since_optimize = self._rows_since_optimize = 0
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
        self._writes_since_optimize = self._rows_since_optimize = 0

    def _table(self) -> Table:
        if self._handle is None:
            with self._write_lock():  # creation, migration and first indexes: one thread and process at a time
                if self._handle is None:
                    with _readable("open"):
                        self._handle = self._open()
        return self._handle

    def _open(self) -> Table:
        if isinstance(self._path, Path):
            ensure_private_dir(self._path)
        db = lancedb.connect(
            self._path,
            read_consistency_interval=timedelta(0),
            session=self._session,
            storage_options=self._storage_options,
        )
        try:
            table = db.open_table(self._table_name)
        except ValueError:  # not created yet (another process may be creating it: exist_ok)
            table = db.create_table(self._table_name, schema=self._schema, exist_ok=True)
        stored = table.schema.field("vector").type
        if stored != self._schema.field("vector").type:
            raise ValueError(f"table {self._table_name!r} holds vectors of type {stored}, not {self._dimension} floats")
        if table.schema != self._schema:
            table = self._migrate(db, table)
        self._ensure_indexes(table)
        return table

    def _migrate(self, db: lancedb.DBConnection, table: Table) -> Table:
        """Rewrite a table written by an earlier release into the current schema (a one-off on first open):
        every chunk is read back from its field columns and written again with the columns this release
        added (access tokens, the read payload) and fresh indexes."""
        rows = table.to_arrow()
        missing = set(_CHUNK_COLUMNS) - set(rows.column_names)
        if missing:
            raise ValueError(f"table {self._table_name!r} lacks the columns {sorted(missing)}; rebuild the index")
        chunks = _columns_to_chunks(rows)
        flat = rows.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float32).reshape(len(chunks), self._dimension)
        migrated = _to_rows(chunks, vectors, self._schema)
        log.info("search_index.migrating", table=self._table_name, rows=len(chunks))
        table = db.create_table(self._table_name, data=migrated, schema=self._schema, mode="overwrite")
        if table.count_rows() >= self._ann_threshold:
            self._ensure_indexes(table)
            self._build_vector_index(table)
        return table

    def _ensure_indexes(self, table: Table) -> None:
        existing = {config.name for config in table.list_indices()}
        for column in _FTS_COLUMNS:
            if f"{column}_idx" not in existing:
                table.create_index(column, config=FTS(), replace=True)
        for column, config in _SCALAR_INDEXES.items():
            if f"{column}_idx" not in existing:
                table.create_index(column, config=config(), replace=True)
