"""SQLite connections belong to threads and do not outlive them."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase


def test_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    db = SqliteDatabase(path=tmp_path / "app.db", migrations=MIGRATIONS)
    db.migrate()

    def query() -> None:
        db.connection().execute("SELECT 1").fetchall()

    for _ in range(20):  # e.g. a lease heartbeat thread per job
        thread = threading.Thread(target=query)
        thread.start()
        thread.join()
    gc.collect()
    assert db.open_connections() == 1  # only this thread's, from migrate()
    db.close()
    assert db.open_connections() == 0


def test_nested_transactions_join_the_outer_one(tmp_path: Path) -> None:
    db = SqliteDatabase(path=tmp_path / "app.db", migrations=MIGRATIONS)
    db.migrate()
    try:
        with db.transaction() as outer:
            outer.execute("INSERT INTO feedback VALUES ('f1', 'i1', 'u1', 0, '{}')")
            with db.transaction() as inner:
                inner.execute("INSERT INTO feedback VALUES ('f2', 'i1', 'u1', 0, '{}')")
            raise RuntimeError("roll everything back")
    except RuntimeError:
        pass
    assert db.connection().execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    db.close()


def test_database_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    db = SqliteDatabase(path=tmp_path / "app.db", migrations=MIGRATIONS)
    db.migrate()
    files = [tmp_path / name for name in ("app.db", "app.db-wal", "app.db-shm")]
    assert all(path.exists() for path in files)
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}
    db.close()


_OTHER_PROCESS = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode=WAL")
connection.execute("SELECT count(*) FROM feedback").fetchall()
print("open", flush=True)
sys.stdin.readline()
connection.close()  # SQLite deletes the WAL here if it believes no other process has the database open
print("closed", flush=True)
"""


def test_opening_connections_never_drops_this_process_s_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a database file drops every POSIX lock the process holds on it; if opening a
    thread's connection did that, another process closing its own connection would take itself for the last
    user and delete the WAL under this process, and the writes that followed would be lost."""
    path = tmp_path / "app.db"
    db = SqliteDatabase(path=path, migrations=MIGRATIONS)
    db.migrate()
    with db.transaction() as conn:
        conn.execute("INSERT INTO feedback VALUES ('f1', 'i1', 'u1', 0, '{}')")
    other = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdin is not None
    assert other.stdout is not None
    assert other.stdout.readline().strip() == "open"
    for _ in range(5):  # new threads, each opening its own connection
        thread = threading.Thread(target=lambda: db.connection().execute("SELECT 1").fetchall())
        thread.start()
        thread.join()
    other.stdin.write("\n")
    other.stdin.flush()
    assert other.stdout.readline().strip() == "closed"
    other.wait(timeout=30)
    with db.transaction() as conn:
        conn.execute("INSERT INTO feedback VALUES ('f2', 'i1', 'u1', 0, '{}')")
    assert (tmp_path / "app.db-wal").exists()
    fresh = sqlite3.connect(path)
    try:
        assert fresh.execute("SELECT id FROM feedback ORDER BY id").fetchall() == [("f1",), ("f2",)]
    finally:
        fresh.close()
    db.close()
