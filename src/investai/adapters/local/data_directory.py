"""Who uses a data directory: every process that opens the stores holds a shared ``flock`` on
``<data dir>/.in-use`` for as long as it does; a restore holds it exclusively. So a restore refuses a directory
any server, worker or command is using, and nothing starts on a directory while a restore fills it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from investai.adapters.local.fsutil import ensure_private_dir
from investai.domain.backups import BackupError

IN_USE = ".in-use"


class DataDirectoryBusy(BackupError):
    code = "data_directory_busy"


class DataDirectoryUse:
    """This process's shared claim on a data directory (released by :meth:`close` or when the process ends)."""

    def __init__(self, path: Path) -> None:
        ensure_private_dir(path)
        self._fd: int | None = os.open(path / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            self._fd = None
            raise DataDirectoryBusy(
                f"{path} is being restored from a backup; start again when the restore has finished"
            ) from exc

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


@contextmanager
def claim_empty(path: Path) -> Iterator[Path]:
    """Hold ``path`` exclusively while it is filled; refuse it unless it is empty (or missing) and unused."""
    if path.exists() and not path.is_dir():
        raise BackupError(f"{path} is not a directory")
    _refuse_content(path)
    ensure_private_dir(path)
    fd = os.open(path / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataDirectoryBusy(
                f"{path} is in use by a running server, worker or command: restore into an empty directory, or"
                " stop them and move the directory aside first"
            ) from exc
        _refuse_content(path)  # nothing arrived between the first look and the lock
        yield path
    finally:
        os.close(fd)


def _refuse_content(path: Path) -> None:
    if path.is_dir() and any(entry.name != IN_USE for entry in path.iterdir()):
        raise BackupError(
            f"{path} is not empty: a restore never overwrites a data directory; restore into an empty directory"
            " and point INVESTAI_DATA_DIR at it"
        )
