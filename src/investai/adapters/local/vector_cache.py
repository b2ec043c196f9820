"""The embedded deployment's :class:`~investai.adapters.embedding_cache.VectorCache`: an SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from investai.adapters.embedding_cache import Vector, decode_vector, encode_vector
from investai.adapters.local.sqlite import create_private_file

_SQL_PARAMS_PER_QUERY = 500  # well below SQLite's bound-parameter limit


class SqliteVectorCache:
    """An SQLite table ``key -> float32 bytes`` in an owner-only file, created on first use. One connection
    behind a lock: each operation is short and the lock also keeps the connection from being used by two
    threads at once. :meth:`close` closes the connection; a later call opens it again."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self._path

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

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Vector]:
        found: dict[bytes, Vector] = {}
        if not keys:
            return found
        with self._connection() as conn:
            for start in range(0, len(keys), _SQL_PARAMS_PER_QUERY):
                part = list(keys[start : start + _SQL_PARAMS_PER_QUERY])
                marks = ",".join("?" * len(part))
                rows = conn.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", part)  # noqa: S608
                for key, blob in rows:
                    vector = decode_vector(blob)
                    if vector is not None:  # anything else is damage: the text is embedded again
                        found[bytes(key)] = vector
        return found

    def put_many(self, entries: Mapping[bytes, Vector]) -> None:
        if not entries:
            return
        rows = [(key, encode_vector(vector)) for key, vector in entries.items()]
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
