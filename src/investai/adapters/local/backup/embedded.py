"""Backups of the embedded deployment: a consistent snapshot of every store, taken while the service runs.

Order, and why it is consistent:

1. The search index is frozen (its cross-process write lock: no document write, compaction or index build).
2. SQLite is copied with its online backup API (one read snapshot; the service keeps writing).
3. The index's files are copied; nothing changes them while it is frozen. A document job that wrote its chunks
   but not yet its status shows as still processing in the snapshot, and its job, leased at the time, runs again
   after a restore; so the index and the records agree.
4. The index is released; the market database is copied inside one DuckDB transaction (``COPY FROM DATABASE``).
5. The object store's files: every object a record of step 2 names was written before that record, so it is
   there; objects written later are harmless extras. Blobs never change; metadata files are replaced whole.
6. The keyring, last, so it holds every key any copied object was sealed with.

Files whose inode, modification time and size match the previous snapshot's entry reuse its blob without being
read (objects and index files never change in place), so an hourly backup costs what changed since the last.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from investai.adapters.local.backup.crypto import RepositoryKeys
from investai.adapters.local.backup.repository import BackupRepository, FileEntry, Manifest, new_snapshot_id
from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.adapters.local.fsutil import TEMP_PREFIX, ensure_private_dir
from investai.adapters.local.lancedb_index import LanceDbSearchIndex
from investai.adapters.local.sqlite import SqliteDatabase
from investai.domain.backups import BackupSummary, BackupVerification
from investai.domain.errors import DomainError
from investai.ports.clock import Clock
from investai.ports.keys import KeyManager

DATABASE_FILE = "investai.db"
MARKET_FILE = "market.duckdb"
KNOWLEDGE_DIR = "knowledge"
OBJECTS_DIR = "objects"
KEYRING_FILE = "keys/keyring.json"
LOCK_SUFFIXES = (".lock", ".want")


@dataclass(frozen=True)
class BackupSources:
    """The stores of one data directory."""

    database: SqliteDatabase
    index: LanceDbSearchIndex
    market: DuckDbTimeSeriesStore
    objects_dir: Path
    keyring_path: Path
    scratch_dir: Path


class _Writer:
    """Adds files to one snapshot, reusing the previous snapshot's blobs for files that did not change."""

    def __init__(self, repository: BackupRepository, keys: RepositoryKeys, previous: Manifest | None) -> None:
        self.repository = repository
        self.keys = keys
        self.previous = {entry.path: entry for entry in previous.files} if previous else {}
        self.entries: list[FileEntry] = []
        self.new_bytes = 0

    def add(self, source: Path, path: str, *, stable: bool) -> None:
        """Store ``source`` as ``path``; ``stable`` files (never changed in place) may reuse an earlier blob."""
        try:
            handle = source.open("rb")
        except FileNotFoundError:
            return  # removed since it was listed (a replaced metadata file's old name): not part of the snapshot
        with handle:
            info = os.fstat(handle.fileno())
            stamp = (info.st_ino, info.st_mtime_ns) if stable else None
            earlier = self.previous.get(path)
            if (
                stamp is not None
                and earlier is not None
                and earlier.stamp == stamp
                and earlier.size == info.st_size
                and self.repository.has_blob(earlier.blob)
            ):
                self.entries.append(earlier)
                return
            digests, written = self.repository.store(self.keys, handle)
        if written:
            self.new_bytes += digests.size
        self.entries.append(
            FileEntry(path=path, size=digests.size, sha256=digests.sha256, blob=digests.blob_id, stamp=stamp)
        )

    def add_tree(self, root: Path, prefix: str) -> int:
        count = 0
        for source in _files(root):
            self.add(source, f"{prefix}/{source.relative_to(root).as_posix()}", stable=True)
            count += 1
        return count


def _files(root: Path) -> Iterator[Path]:
    """Regular files under ``root`` in a stable order, without temporary files and lock files."""
    if not root.is_dir():
        return
    for directory, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            if name.startswith(TEMP_PREFIX) or name.endswith(LOCK_SUFFIXES):
                continue
            yield Path(directory) / name


class EmbeddedBackups:
    """The :class:`~investai.ports.backups.Backups` of the embedded deployment (see the module notes)."""

    def __init__(
        self,
        *,
        root: Path,
        sources: BackupSources,
        keys: KeyManager,
        clock: Clock,
        retention: timedelta,
        product_version: str,
        master_secret: str,
    ) -> None:
        self._repository = BackupRepository(root)
        self._sources = sources
        self._keys = keys
        self._clock = clock
        self._retention = retention
        self._version = product_version
        self._master_secret = master_secret

    @property
    def root(self) -> Path:
        return self._repository.root

    def create(self) -> BackupSummary:
        repository = self._repository
        with repository.locked(exclusive=True):
            keys = repository.keys(self._keys, create=True)
            started = time.perf_counter()
            at = self._clock.now()
            writer = _Writer(repository, keys, repository.latest())
            stores = self._copy_stores(writer)
            keyring = self._sources.keyring_path.read_bytes()
            manifest = Manifest(
                id=new_snapshot_id(at),
                created_at=at,
                files=writer.entries,
                stores=stores,
                product_version=self._version,
                seconds=time.perf_counter() - started,
                new_bytes=writer.new_bytes,
            )
            repository.save(keys, manifest, keyring)
        return manifest.summary()

    def _copy_stores(self, writer: _Writer) -> dict[str, object]:
        sources = self._sources
        scratch = ensure_private_dir(sources.scratch_dir)
        with tempfile.TemporaryDirectory(dir=scratch, prefix=f"{TEMP_PREFIX}backup-") as work:
            with sources.index.frozen() as (index_dir, table_version):
                database = Path(work) / DATABASE_FILE
                sources.database.backup_to(database)
                writer.add(database, DATABASE_FILE, stable=False)
                index_files = writer.add_tree(index_dir, KNOWLEDGE_DIR)
            market = Path(work) / MARKET_FILE
            counts = sources.market.snapshot_to(market)
            writer.add(market, MARKET_FILE, stable=False)
        objects = writer.add_tree(sources.objects_dir, OBJECTS_DIR)
        return {
            "sqlite": {"schema_version": sources.database.schema_version()},
            "search_index": {"table_version": table_version, "files": index_files},
            "market": counts,
            "objects": {"files": objects},
            "keyring": {"current_key": self._keys.current_key_id()},
        }

    def list_backups(self) -> list[BackupSummary]:
        repository = self._repository
        with repository.locked(exclusive=False):
            return [repository.load(snapshot_id).summary() for snapshot_id in repository.snapshot_ids()]

    def latest(self) -> BackupSummary | None:
        found = self._repository.latest()
        return None if found is None else found.summary()

    def verify(self, backup_id: str) -> BackupVerification:
        repository = self._repository
        with repository.locked(exclusive=False):
            keys = repository.keys(self._keys, create=False)
            found = repository.verify(keys, backup_id)
            scratch = ensure_private_dir(self._sources.scratch_dir)
            with tempfile.TemporaryDirectory(dir=scratch, prefix=f"{TEMP_PREFIX}verify-") as work:
                try:  # what a restore will do: open the snapshot's keyring copy with the master secret
                    repository.snapshot_keys(
                        backup_id, Path(work) / "keyring.json", master_secret=self._master_secret, clock=self._clock
                    )
                except (DomainError, OSError) as exc:
                    problem = f"the backup's keyring copy does not open it: {exc}"
                    return found.model_copy(update={"ok": False, "problems": [*found.problems, problem]})
            return found

    def prune(self, now: datetime) -> list[str]:
        repository = self._repository
        if not repository.root.is_dir():
            return []
        with repository.locked(exclusive=True):
            return repository.prune(now=now, retention=self._retention)
