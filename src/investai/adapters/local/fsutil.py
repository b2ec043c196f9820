"""Durable file writes: temporary file, fsync, atomic rename, fsync of the directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part.

    With ``exclusive`` the write succeeds only if ``path`` does not exist yet (returns False otherwise).
    """
    directory = path.parent
    temp = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
            finally:
                temp.unlink(missing_ok=True)
        else:
            os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    return True


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
