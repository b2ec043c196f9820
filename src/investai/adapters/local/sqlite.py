"""SQLite access shared by the embedded repositories: WAL, ``synchronous=FULL``, versioned migrations.

Several processes (the server, a worker, CLI commands) use one database file at once, which SQLite supports
as long as nothing else touches the file: POSIX advisory locks belong to a process and a file, and closing ANY
descriptor of the file drops every lock the process holds on it, so another process may decide it is the last
user and delete the WAL ("How To Corrupt An SQLite Database File", section 2.2). This module therefore never
opens the database file itself except to create it, once, with ``O_EXCL`` (a file nobody can have open yet).

Each thread gets its own connection (sqlite3 connections must not cross threads), closed when the
thread ends. Writes go through
:meth:`SqliteDatabase.transaction`, which takes the write lock up front (``BEGIN IMMEDIATE``) and rolls
back unless the block completes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from investai.domain.errors import IntegrityError

_CREATE_LOCK = threading.Lock()


class _Connection:
    """A thread's connection; closed when the thread ends and its thread-local data is released."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(IntegrityError):
    code = "migration_error"


class SqliteDatabase:
    health_name = "sqlite"

    def __init__(self, *, path: Path, migrations: Sequence[Migration], busy_timeout_ms: int = 10_000) -> None:
        self._path = path
        self._migrations = sorted(migrations, key=lambda m: m.version)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._open_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def connection(self) -> sqlite3.Connection:
        holder: _Connection | None = getattr(self._local, "holder", None)
        if holder is None:
            create_private_file(self._path)
            conn = sqlite3.connect(
                self._path, isolation_level=None, timeout=self._busy_timeout_ms / 1000, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            holder = _Connection(conn)
            self._local.holder = holder
            with self._open_lock:
                self._open.add(holder)
        return holder.conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if conn.in_transaction:  # nested use joins the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; refuse if an applied one was edited. Returns versions applied."""
        applied: list[int] = []
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row["version"]: row["checksum"] for row in conn.execute("SELECT * FROM schema_migrations")}
            for migration in self._migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(f"migration {migration.version} changed after it was applied")
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, migration.checksum, datetime.now(UTC).isoformat()),
                )
                applied.append(migration.version)
        return applied

    def schema_version(self) -> int:
        row = self.connection().execute("SELECT MAX(version) AS v FROM schema_migrations").fetchone()
        return int(row["v"] or 0)

    def check(self) -> None:
        expected = self._migrations[-1].version if self._migrations else 0
        if self.schema_version() != expected:
            raise MigrationError(f"schema at version {self.schema_version()}, expected {expected}")

    def backup_to(self, destination: Path) -> None:
        """Copy the database to a new file ``destination`` with SQLite's online backup API: one consistent
        snapshot, taken while other connections and processes go on reading and writing."""
        create_private_file(destination)
        target = sqlite3.connect(destination)
        try:
            self.connection().backup(target)
        finally:
            target.close()

    def integrity_check(self) -> str:
        return str(self.connection().execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._open_lock:
            for holder in list(self._open):
                holder.conn.close()
            self._open.clear()
        self._local = threading.local()

    def open_connections(self) -> int:
        """Connections not yet closed (one per live thread that used the database)."""
        with self._open_lock:
            return len(self._open)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only (SQLite then gives its ``-wal`` and ``-shm`` files the same mode)
    unless it exists. ``O_EXCL`` makes the create-and-close touch only a file this call made, never one a
    connection of this process has open: closing a descriptor of an open database would drop its locks."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _CREATE_LOCK:  # a thread of this process connecting meanwhile waits here until the descriptor is closed
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return
        os.close(descriptor)


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (``executescript`` would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise MigrationError(f"incomplete SQL statement in migration: {buffer[:80]!r}")
