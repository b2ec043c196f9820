"""Restore a backup into an empty data directory, never over a live one.

The snapshot's own keyring copy is written first (it is the restored deployment's keyring), opened with the
master secret, and used to unwrap the repository secret; so a backup taken before a key rotation, or on a
machine whose keyring is gone, restores as long as the master secret is known. Every file is decrypted to a
temporary name, checked against the manifest's SHA-256, synced and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path, PurePosixPath

from investai.adapters.local.backup.crypto import RepositoryKeys
from investai.adapters.local.backup.embedded import (
    DATABASE_FILE,
    KEYRING_FILE,
    KNOWLEDGE_DIR,
    MARKET_FILE,
    OBJECTS_DIR,
)
from investai.adapters.local.backup.repository import BackupRepository, FileEntry
from investai.adapters.local.data_directory import IN_USE, claim_empty
from investai.adapters.local.fsutil import TEMP_PREFIX, ensure_private_dir, fsync_dir
from investai.domain.backups import RestoreReport
from investai.domain.errors import IntegrityError
from investai.ports.clock import Clock

_FILES = frozenset({DATABASE_FILE, MARKET_FILE})
_TREES = (f"{KNOWLEDGE_DIR}/", f"{OBJECTS_DIR}/")


def _destination(target: Path, entry: FileEntry) -> Path:
    """Where ``entry`` goes under ``target``; a path outside the stores' own places is refused."""
    path = PurePosixPath(entry.path)
    if path.is_absolute() or ".." in path.parts or not (entry.path in _FILES or entry.path.startswith(_TREES)):
        raise IntegrityError(f"backup manifest names a file outside the data directory: {entry.path[:120]!r}")
    return target.joinpath(*path.parts)


def _write_files(repository: BackupRepository, keys: RepositoryKeys, entries: list[FileEntry], target: Path) -> None:
    directories: set[Path] = {target}
    for entry in entries:
        destination = _destination(target, entry)
        directories.add(ensure_private_dir(destination.parent))
        temporary = destination.with_name(f"{TEMP_PREFIX}{destination.name}")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as sink:
            repository.read(keys, entry, sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, destination)
    for directory in directories:
        fsync_dir(directory)


def _empty(target: Path) -> None:
    for entry in target.iterdir():
        if entry.name == IN_USE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def restore_backup(
    *, repository_root: Path, backup_id: str | None, target: Path, master_secret: str, clock: Clock
) -> RestoreReport:
    """Restore ``backup_id`` (default: the newest) into ``target``, which must be empty and unused."""
    repository = BackupRepository(repository_root)
    started = time.perf_counter()
    with repository.locked(exclusive=False):
        chosen = repository.chosen(backup_id)
        repository.load(chosen)  # an unknown id is refused before the target is touched
        with claim_empty(target):
            try:
                keys = repository.snapshot_keys(chosen, target / KEYRING_FILE, master_secret=master_secret, clock=clock)
                manifest = repository.load(chosen, keys)
                _write_files(repository, keys, manifest.files, target)
            except BaseException:
                _empty(target)  # it was empty and ours alone: leave it so, ready for another attempt
                raise
    return RestoreReport(
        id=chosen,
        target=str(target),
        files=len(manifest.files),
        bytes=sum(entry.size for entry in manifest.files),
        seconds=round(time.perf_counter() - started, 3),
    )
