"""SQLite connections belong to threads and do not outlive them."""

from __future__ import annotations

import gc
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
