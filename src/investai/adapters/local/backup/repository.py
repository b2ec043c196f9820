"""A backup repository in a directory: encrypted, content-addressed blobs shared by every snapshot.

Layout::

    repository.json                 format and the repository secret, wrapped by the keyring (as a data key)
    blobs/<ab>/<blob id>            one encrypted file content (see :mod:`.crypto`), stored once
    snapshots/<id>.json             a snapshot's manifest: its files (path, size, SHA-256, blob) and stores,
                                    authenticated by an HMAC under the repository's identity key
    snapshots/<id>.keyring.json     the keyring as it was at that snapshot (sealed by the master secret)
    .lock                           flock: writers (create, prune) exclusive, readers (verify, restore) shared

Each snapshot keeps its own keyring copy, so a backup stays restorable after the live keyring rotates or is lost:
the master secret (never stored here) opens that copy, which unwraps the repository secret. Blobs are written to
a temporary name and renamed when complete, and a manifest is written last, so an interrupted backup leaves only
unreferenced blobs, which the next prune removes.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from investai.adapters.local.backup.crypto import Digests, RepositoryKeys, open_sealed, seal
from investai.adapters.local.fsutil import atomic_write, ensure_private_dir, fsync_dir
from investai.adapters.local.keyring import LocalKeyring
from investai.domain.backups import BackupError, BackupSummary, BackupVerification
from investai.domain.errors import IntegrityError
from investai.ports.clock import Clock
from investai.ports.keys import KeyManager

FORMAT = 1
SNAPSHOT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
BLOB_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileEntry:
    """One file of a snapshot: where it goes in a data directory, and the blob holding its bytes."""

    path: str
    size: int
    sha256: str
    blob: str
    stamp: tuple[int, int] | None = None  # (inode, mtime ns) of the source, to skip unchanged files next time

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256, "blob": self.blob}
        if self.stamp is not None:
            body["stamp"] = list(self.stamp)
        return body

    @classmethod
    def of(cls, body: dict[str, Any]) -> FileEntry:
        stamp = body.get("stamp")
        return cls(
            path=str(body["path"]),
            size=int(body["size"]),
            sha256=str(body["sha256"]),
            blob=str(body["blob"]),
            stamp=(int(stamp[0]), int(stamp[1])) if stamp else None,
        )


@dataclass(frozen=True)
class Manifest:
    id: str
    created_at: datetime
    files: list[FileEntry]
    stores: dict[str, Any]
    product_version: str
    seconds: float
    new_bytes: int

    def summary(self) -> BackupSummary:
        return BackupSummary(
            id=self.id,
            created_at=self.created_at,
            files=len(self.files),
            bytes=sum(entry.size for entry in self.files),
            new_bytes=self.new_bytes,
            seconds=self.seconds,
            stores=self.stores,
        )

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "product_version": self.product_version,
            "seconds": round(self.seconds, 3),
            "new_bytes": self.new_bytes,
            "stores": self.stores,
            "files": [entry.as_json() for entry in self.files],
        }

    @classmethod
    def of(cls, body: dict[str, Any]) -> Manifest:
        return cls(
            id=str(body["id"]),
            created_at=datetime.fromisoformat(body["created_at"]),
            files=[FileEntry.of(entry) for entry in body["files"]],
            stores=dict(body["stores"]),
            product_version=str(body["product_version"]),
            seconds=float(body["seconds"]),
            new_bytes=int(body["new_bytes"]),
        )


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def new_snapshot_id(at: datetime) -> str:
    return f"{at.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


class BackupRepository:
    """See the module notes. ``keys`` unwraps the repository secret: the live keyring when backing up, the
    snapshot's own keyring copy when restoring."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- locking and keys ------------------------------------------------------------------------------------

    @contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        ensure_private_dir(self.root)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def keys(self, key_manager: KeyManager, *, create: bool) -> RepositoryKeys:
        """The repository's keys; with ``create``, a new repository secret when there is none yet."""
        path = self.root / "repository.json"
        if not path.exists():
            if not create:
                raise BackupError(f"{self.root} holds no backups")
            data_key = key_manager.generate_data_key()
            body = {"format": FORMAT, "key_id": data_key.key_id, "wrapped": base64.b64encode(data_key.wrapped).decode()}
            atomic_write(path, json.dumps(body).encode(), exclusive=True)  # a racing creator's file wins
        body = json.loads(path.read_bytes())
        try:
            secret = key_manager.unwrap(base64.b64decode(body["wrapped"]))
        except IntegrityError as exc:
            raise BackupError(
                f"the backups in {self.root} were made with another keyring or master secret"
                f" (key {body.get('key_id')}): {exc}"
            ) from exc
        return RepositoryKeys.derive(secret)

    def snapshot_keys(
        self, snapshot_id: str, keyring_path: Path, *, master_secret: str, clock: Clock
    ) -> RepositoryKeys:
        """The repository's keys as a restore gets them: unwrapped by the snapshot's own keyring, copied to
        ``keyring_path`` and opened with the master secret."""
        atomic_write(
            ensure_private_dir(keyring_path.parent) / keyring_path.name, self.keyring_path(snapshot_id).read_bytes()
        )
        keyring = LocalKeyring(path=keyring_path, master_secret=master_secret, clock=clock)
        return self.keys(keyring, create=False)

    # --- blobs -----------------------------------------------------------------------------------------------

    def blob_path(self, blob_id: str) -> Path:
        if not BLOB_ID.fullmatch(blob_id):
            raise IntegrityError(f"backup manifest names an invalid blob {blob_id[:80]!r}")
        return self.root / "blobs" / blob_id[:2] / blob_id

    def has_blob(self, blob_id: str) -> bool:
        return self.blob_path(blob_id).is_file()

    def store(self, keys: RepositoryKeys, source: BinaryIO) -> tuple[Digests, bool]:
        """Encrypt ``source`` into the repository; the digests, and whether a new blob was written."""
        incoming = ensure_private_dir(self.root / "blobs")
        temporary = incoming / f".tmp-{secrets.token_hex(8)}"
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as sink:
                digests = seal(keys, source, sink)
                sink.flush()
                os.fsync(sink.fileno())
            final = self.blob_path(digests.blob_id)
            if final.exists():
                temporary.unlink()
                return digests, False
            ensure_private_dir(final.parent)
            os.replace(temporary, final)
            fsync_dir(final.parent)
            return digests, True
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def read(self, keys: RepositoryKeys, entry: FileEntry, sink: BinaryIO | None) -> None:
        """Decrypt ``entry``'s blob into ``sink`` (or only check it) and check it is that file's content."""
        path = self.blob_path(entry.blob)
        try:
            source = path.open("rb")
        except FileNotFoundError as exc:
            raise IntegrityError(f"{entry.path}: blob {entry.blob[:12]}… is missing") from exc
        with source:
            try:
                found = open_sealed(keys, source, sink)
            except IntegrityError as exc:
                raise IntegrityError(f"{entry.path}: {exc}") from exc
        if found.blob_id != entry.blob:
            raise IntegrityError(f"{entry.path}: blob {entry.blob[:12]}… holds other content")
        if found.sha256 != entry.sha256 or found.size != entry.size:
            raise IntegrityError(f"{entry.path}: content differs from the manifest (SHA-256 or size)")

    # --- snapshots -------------------------------------------------------------------------------------------

    def _manifest_path(self, snapshot_id: str) -> Path:
        if not SNAPSHOT_ID.fullmatch(snapshot_id):
            raise BackupError(f"{snapshot_id[:80]!r} is not a backup id")
        return self.root / "snapshots" / f"{snapshot_id}.json"

    def keyring_path(self, snapshot_id: str) -> Path:
        return self._manifest_path(snapshot_id).with_suffix(".keyring.json")

    def save(self, keys: RepositoryKeys, manifest: Manifest, keyring: bytes) -> None:
        """Write the snapshot's keyring copy, then its authenticated manifest (which makes it exist)."""
        directory = ensure_private_dir(self.root / "snapshots")
        atomic_write(self.keyring_path(manifest.id), keyring)
        body = manifest.body()
        body["mac"] = keys.mac(_canonical(body))
        atomic_write(self._manifest_path(manifest.id), json.dumps(body, indent=1).encode())
        fsync_dir(directory)

    def load(self, snapshot_id: str, keys: RepositoryKeys | None = None) -> Manifest:
        """A snapshot's manifest; with ``keys``, only if its HMAC holds."""
        path = self._manifest_path(snapshot_id)
        try:
            body = json.loads(path.read_bytes())
        except FileNotFoundError as exc:
            raise BackupError(f"no backup {snapshot_id} in {self.root}") from exc
        except ValueError as exc:
            raise IntegrityError(f"the manifest of backup {snapshot_id} is not readable") from exc
        if keys is not None:
            mac = body.pop("mac", "")
            if not isinstance(mac, str) or mac != keys.mac(_canonical(body)):
                raise IntegrityError(f"the manifest of backup {snapshot_id} failed its authentication check")
        if body.get("format") != FORMAT or body.get("id") != snapshot_id:
            raise IntegrityError(f"the manifest of backup {snapshot_id} does not describe it")
        return Manifest.of(body)

    def snapshot_ids(self) -> list[str]:
        """Every snapshot's id, newest first (ids start with their UTC time)."""
        directory = self.root / "snapshots"
        if not directory.is_dir():
            return []
        names = (path.name.removesuffix(".json") for path in directory.glob("*.json"))
        return sorted((name for name in names if SNAPSHOT_ID.fullmatch(name)), reverse=True)

    def chosen(self, snapshot_id: str | None) -> str:
        """``snapshot_id``, or the newest snapshot's when ``None``."""
        if snapshot_id is not None:
            return snapshot_id
        ids = self.snapshot_ids()
        if not ids:
            raise BackupError(f"{self.root} holds no backups")
        return ids[0]

    def latest(self) -> Manifest | None:
        for snapshot_id in self.snapshot_ids():
            try:
                return self.load(snapshot_id)
            except (BackupError, IntegrityError):
                continue
        return None

    def verify(self, keys: RepositoryKeys, snapshot_id: str) -> BackupVerification:
        problems: list[str] = []
        checked = checked_bytes = 0
        try:
            manifest = self.load(snapshot_id, keys)
        except IntegrityError as exc:
            return BackupVerification(id=snapshot_id, ok=False, files_checked=0, bytes_checked=0, problems=[str(exc)])
        if not self.keyring_path(snapshot_id).is_file():
            problems.append("the snapshot's keyring copy is missing")
        for entry in manifest.files:
            try:
                self.read(keys, entry, None)
            except IntegrityError as exc:
                problems.append(str(exc))
                continue
            checked += 1
            checked_bytes += entry.size
        return BackupVerification(
            id=snapshot_id, ok=not problems, files_checked=checked, bytes_checked=checked_bytes, problems=problems
        )

    def prune(self, *, now: datetime, retention: timedelta) -> list[str]:
        """Delete snapshots older than ``retention`` (the newest always stays), then every blob no remaining
        snapshot names. Call while holding the exclusive lock."""
        ids = self.snapshot_ids()
        removed = []
        for snapshot_id in ids[1:]:
            manifest = self.load(snapshot_id)
            if now - manifest.created_at > retention:
                self._manifest_path(snapshot_id).unlink()
                self.keyring_path(snapshot_id).unlink(missing_ok=True)
                removed.append(snapshot_id)
        kept = {entry.blob for snapshot_id in self.snapshot_ids() for entry in self.load(snapshot_id).files}
        blobs = self.root / "blobs"
        if blobs.is_dir():
            for path in blobs.glob("*/*"):
                if path.name not in kept:
                    path.unlink()
            for path in blobs.glob(".tmp-*"):
                path.unlink()
        return removed
