"""Versioned object store on the local file system.

Layout: ``<root>/<key segments>/.versions/<version id>.blob`` holds the encrypted bytes and
``<version id>.json`` its sidecar metadata. Both are written atomically, blob first; a version exists
once its sidecar does, so a crash between the two leaves only an unreferenced blob. A blob changes only when
its data key is re-wrapped after a key rotation: the same ciphertext, replaced whole. Version ids are
zero-padded nanosecond stamps plus a random suffix, so they sort by age.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from investai.adapters.local.fsutil import TEMP_PREFIX, atomic_write, ensure_private_dir
from investai.domain.errors import IntegrityError
from investai.ports.clock import Clock
from investai.ports.object_store import ObjectStore, ObjectVersion, StorageClass, validate_key
from investai.security.envelope import EnvelopeCipher

VERSIONS_DIR = ".versions"
VERSION_ID = re.compile(r"[0-9]{20}[0-9a-f]{8}")


class LocalObjectStore(ObjectStore):
    rewraps_in_place = True  # a blob file is replaced whole (new inode), so readers and backups see old or new

    def __init__(self, *, root: Path, cipher: EnvelopeCipher, clock: Clock) -> None:
        super().__init__(cipher=cipher, clock=clock)
        self._root = root
        self._stamp_lock = threading.Lock()
        self._last_stamp = 0

    def check(self) -> None:
        ensure_private_dir(self._root)
        probe = self._root / f"{TEMP_PREFIX}ready-{secrets.token_hex(4)}"
        probe.write_bytes(b"ok")
        probe.unlink()

    # -- hooks --------------------------------------------------------------------------------------
    def _write_version(self, version: ObjectVersion, blob: bytes | None) -> ObjectVersion:
        directory = ensure_private_dir(self._versions_dir(version.key))
        newest = self._sidecars(version.key)
        stored = replace(version, version_id=self._new_version_id(int(newest[0].stem[:20]) if newest else 0))
        if blob is not None:
            atomic_write(directory / f"{stored.version_id}.blob", blob)
        atomic_write(directory / f"{stored.version_id}.json", _encode(stored))
        return stored

    def _read_blob(self, key: str, version_id: str) -> bytes:
        try:
            return (self._versions_dir(key) / f"{version_id}.blob").read_bytes()
        except FileNotFoundError as exc:
            raise IntegrityError(f"object {key!r} version {version_id} has metadata but no data") from exc

    def _rewrite_blob(self, key: str, version_id: str, blob: bytes) -> None:
        path = self._versions_dir(key) / f"{version_id}.blob"
        if path.is_file():  # never resurrect a blob removed meanwhile
            atomic_write(path, blob)

    def _list_versions(self, key: str) -> list[ObjectVersion]:
        return [_decode(key, path) for path in self._sidecars(key)]

    def _latest_version(self, key: str) -> ObjectVersion | None:
        sidecars = self._sidecars(key)
        return _decode(key, sidecars[0]) if sidecars else None

    def _read_version(self, key: str, version_id: str) -> ObjectVersion | None:
        path = self._versions_dir(key) / f"{version_id}.json"
        if not VERSION_ID.fullmatch(version_id) or not path.is_file():
            return None
        return _decode(key, path)

    def _list_keys(self, prefix: str) -> Iterable[str]:
        if not self._root.is_dir():
            return
        for directory, subdirs, _files in os.walk(self._root):
            subdirs[:] = [d for d in subdirs if d != VERSIONS_DIR and not d.startswith(".")]
            if VERSIONS_DIR in os.listdir(directory):
                key = Path(directory).relative_to(self._root).as_posix()
                if key.startswith(prefix):
                    yield key

    def _set_storage_class(self, version: ObjectVersion, storage_class: StorageClass) -> ObjectVersion:
        updated = replace(version, storage_class=storage_class)
        atomic_write(self._versions_dir(version.key) / f"{version.version_id}.json", _encode(updated))
        return updated

    # -- internals ----------------------------------------------------------------------------------
    def _sidecars(self, key: str) -> list[Path]:
        """Sidecar files of committed versions, newest first (temporary files are not versions)."""
        directory = self._versions_dir(key)
        if not directory.is_dir():
            return []
        names = (p for p in directory.iterdir() if p.suffix == ".json" and VERSION_ID.fullmatch(p.stem))
        return sorted(names, reverse=True)

    def _versions_dir(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key).split("/"), VERSIONS_DIR)

    def _new_version_id(self, newest: int) -> str:
        """An id after ``newest`` (the key's latest stamp), even if the wall clock stepped back."""
        with self._stamp_lock:
            self._last_stamp = max(time.time_ns(), self._last_stamp + 1, newest + 1)
            return f"{self._last_stamp:020d}{secrets.token_hex(4)}"


def _encode(version: ObjectVersion) -> bytes:
    body: dict[str, Any] = {
        "key": version.key,
        "version_id": version.version_id,
        "created_at": version.created_at.isoformat(),
        "size": version.size,
        "sha256": version.sha256,
        "content_type": version.content_type,
        "metadata": dict(version.metadata),
        "storage_class": version.storage_class.value,
        "delete_marker": version.delete_marker,
    }
    return json.dumps(body, sort_keys=True).encode()


def _decode(key: str, path: Path) -> ObjectVersion:
    try:
        body = json.loads(path.read_bytes())
        version = ObjectVersion(
            key=body["key"],
            version_id=body["version_id"],
            created_at=datetime.fromisoformat(body["created_at"]),
            size=int(body["size"]),
            sha256=str(body["sha256"]),
            content_type=str(body["content_type"]),
            metadata={str(k): str(v) for k, v in body["metadata"].items()},
            storage_class=StorageClass(body["storage_class"]),
            delete_marker=bool(body["delete_marker"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"metadata of {path.name} for object {key!r} is unreadable") from exc
    if version.key != key or f"{version.version_id}.json" != path.name:
        raise IntegrityError(f"metadata of {path.name} does not belong to object {key!r}")
    return version
