"""A market-data provider that reads bar files dropped into a folder: ``*.csv`` and ``*.parquet``.

A file is offered until the refresh has ingested it, and again whenever its content changes (it is known by
the SHA-256 of its bytes, not its name or timestamp). A file named after a symbol (``AAPL.csv``) supplies that
symbol to rows without a symbol column. Files still being written are left for the next run: only files
whose size and modification time have not changed for ``settle_seconds`` are offered.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

from investai.domain.errors import ValidationFailed
from investai.domain.market import TICKER_PATTERN
from investai.ports.market import ProviderFile

SUFFIXES = (".csv", ".parquet")
_TICKER = re.compile(TICKER_PATTERN)


class DirectoryProvider:
    def __init__(self, path: Path, *, settle_seconds: float = 2.0, name: str = "directory") -> None:
        self._path = path
        self._settle_seconds = settle_seconds
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def pending(self, seen: set[str]) -> Iterator[ProviderFile]:
        for path in self._files():
            fingerprint = _sha256(path)
            if fingerprint in seen:
                continue
            stem = path.stem.strip().upper()
            yield ProviderFile(
                name=path.name,
                fingerprint=fingerprint,
                symbol=stem if _TICKER.match(stem) else None,
            )

    def read(self, file: ProviderFile) -> bytes:
        path = self._path / file.name
        if Path(file.name).name != file.name or not path.is_file() or path.is_symlink():
            raise ValidationFailed(f"{file.name} is no longer in the drop folder")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != file.fingerprint:
            raise ValidationFailed(f"{file.name} changed while it was being read; it is taken on the next refresh")
        return data

    def _files(self) -> list[Path]:
        if not self._path.is_dir():
            return []
        settled_before = time.time() - self._settle_seconds
        files = [
            path
            for path in self._path.iterdir()
            if path.is_file()
            and not path.is_symlink()
            and path.suffix.lower() in SUFFIXES
            and not path.name.startswith(".")
            and path.stat().st_mtime <= settled_before
        ]
        return sorted(files, key=lambda path: (path.stat().st_mtime, path.name))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
