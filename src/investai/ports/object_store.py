"""Versioned, encrypted object storage (the local file system here, S3 on AWS).

The public methods hold the shared behaviour: key validation, envelope encryption, integrity checks,
delete markers and restore. Backends implement the small ``_`` hooks.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog

from investai.domain.errors import IntegrityError, InvalidKey, NotFound
from investai.ports.clock import Clock
from investai.security.envelope import EnvelopeCipher, RewrapCount

_log = structlog.get_logger(__name__)

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=-]{0,199}$")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9._=-]{1,1024}")
MAX_KEY_SEGMENTS = 16
MAX_METADATA_ENTRIES = 32


class StorageClass(StrEnum):
    STANDARD = "STANDARD"
    STANDARD_IA = "STANDARD_IA"
    GLACIER = "GLACIER"


@dataclass(frozen=True)
class ObjectVersion:
    """Metadata of one stored version, or of a delete marker."""

    key: str
    version_id: str
    created_at: datetime
    size: int = 0
    sha256: str = ""
    content_type: str = "application/octet-stream"
    metadata: Mapping[str, str] = field(default_factory=dict)
    storage_class: StorageClass = StorageClass.STANDARD
    delete_marker: bool = False


@dataclass(frozen=True)
class StoredObject:
    version: ObjectVersion
    data: bytes = field(repr=False)


def validate_key(key: str) -> str:
    """Raise :class:`InvalidKey` unless ``key`` is ``segment/segment/...`` of safe characters."""
    segments = key.split("/")
    if not 1 <= len(segments) <= MAX_KEY_SEGMENTS or not all(KEY_PATTERN.fullmatch(s) for s in segments):
        raise InvalidKey(f"object key {key[:80]!r} is not allowed")
    return key


def associated_data(key: str, sha256: str, size: int, content_type: str, metadata: Mapping[str, str]) -> bytes:
    """What a blob is authenticated against: its key and the metadata a reader trusts."""
    return json.dumps(
        {"key": key, "sha256": sha256, "size": size, "content_type": content_type, "metadata": dict(metadata)},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


class ObjectStore(ABC):
    health_name = "object_store"
    version_pattern = VERSION_PATTERN
    """The version ids the backend issues; anything else is NotFound before the backend is asked."""
    tiers_managed_by_lifecycle = False
    """True where the backend moves versions between tiers itself (S3 lifecycle rules), so the scheduled
    document-lifecycle job is not needed and :meth:`set_storage_class` may refuse."""
    rewraps_in_place = False
    """True where a version's blob can be replaced whole with the same ciphertext under a re-wrapped data key."""

    def __init__(self, *, cipher: EnvelopeCipher, clock: Clock) -> None:
        self._cipher = cipher
        self._clock = clock

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        storage_class: StorageClass = StorageClass.STANDARD,
    ) -> ObjectVersion:
        """Store ``data`` as a new version of ``key``; returns once it is durable."""
        validate_key(key)
        meta = dict(metadata or {})
        if len(meta) > MAX_METADATA_ENTRIES or any(len(k) > 128 or len(v) > 1024 for k, v in meta.items()):
            raise InvalidKey("object metadata is too large")
        digest = hashlib.sha256(data).hexdigest()
        blob = self._cipher.seal(data, aad=associated_data(key, digest, len(data), content_type, meta))
        draft = ObjectVersion(
            key=key,
            version_id="",
            created_at=self._clock.now(),
            size=len(data),
            sha256=digest,
            content_type=content_type,
            metadata=meta,
            storage_class=storage_class,
        )
        return self._write_version(draft, blob)

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        """The object's bytes, decrypted and verified; :class:`IntegrityError` if anything was altered."""
        version = self.head(key, version_id)
        if version.delete_marker:
            raise NotFound(f"object {key!r} version {version.version_id} is a delete marker")
        blob = self._read_blob(key, version.version_id)
        aad = associated_data(key, version.sha256, version.size, version.content_type, version.metadata)
        try:
            data = self._cipher.open(blob, aad=aad)
        except IntegrityError as exc:
            raise type(exc)(f"object {key!r} version {version.version_id}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != version.sha256 or len(data) != version.size:
            raise IntegrityError(f"object {key!r} version {version.version_id} does not match its hash")
        self._rewrap_quietly(key, version.version_id, blob)
        return StoredObject(version=version, data=data)

    def head(self, key: str, version_id: str | None = None) -> ObjectVersion:
        """Metadata of a version (the latest when ``version_id`` is None). Latest deleted: NotFound."""
        validate_key(key)
        if version_id is None:
            latest = self._latest_version(key)
            if latest is None or latest.delete_marker:
                raise NotFound(f"object {key!r} does not exist")
            return latest
        version = self._read_version(key, version_id) if self.version_pattern.fullmatch(version_id) else None
        if version is None:
            raise NotFound(f"object {key!r} has no version {version_id[:80]!r}")
        return version

    def versions(self, key: str) -> list[ObjectVersion]:
        """Every version and delete marker of ``key``, newest first."""
        return self._list_versions(validate_key(key))

    def list_objects(self, prefix: str = "") -> list[ObjectVersion]:
        """The latest version of every live object whose key starts with ``prefix``, by key."""
        live = []
        for key in sorted(self._list_keys(prefix)):
            latest = self._latest_version(key)
            if latest is not None and not latest.delete_marker:
                live.append(latest)
        return live

    def delete(self, key: str) -> ObjectVersion:
        """Hide the object behind a delete marker; earlier versions stay restorable."""
        validate_key(key)
        self.head(key)
        marker = ObjectVersion(key=key, version_id="", created_at=self._clock.now(), delete_marker=True)
        return self._write_version(marker, None)

    def restore(self, key: str, version_id: str) -> ObjectVersion:
        """Make an earlier version current again by copying it as the newest version."""
        old = self.get(key, version_id)
        return self.put(
            key,
            old.data,
            content_type=old.version.content_type,
            metadata={**old.version.metadata, "restored-from": version_id},
        )

    def set_storage_class(self, key: str, version_id: str, storage_class: StorageClass) -> ObjectVersion:
        """Move a version to another storage tier (lifecycle transitions)."""
        version = self.head(key, version_id)
        if version.delete_marker:
            raise NotFound("a delete marker has no storage class")
        return self._set_storage_class(version, storage_class)

    def rewrap_envelopes(self, *, limit: int | None = None) -> RewrapCount:
        """Re-wrap the data keys of every stored version (live, earlier and behind delete markers) that an
        earlier master key wrapped, at most ``limit`` of them; nothing where the backend cannot rewrite a blob
        in place (a new S3 version would be a new object version) or the keys need no re-wrap (KMS)."""
        count = RewrapCount()
        if not (self.rewraps_in_place and self._cipher.rewraps):
            return count
        for key in sorted(self._list_keys("")):
            for version in self._list_versions(key):
                if version.delete_marker:
                    continue
                if limit is not None and count.total_rewrapped >= limit:
                    return count
                blob = self._read_blob(key, version.version_id)
                wrapped_by = self._cipher.key_id(blob) or "unknown"
                count.seen[wrapped_by] += 1
                if self._rewrap(key, version.version_id, blob):
                    count.rewrapped[wrapped_by] += 1
        return count

    def _rewrap(self, key: str, version_id: str, blob: bytes) -> bool:
        moved = self._cipher.rewrap(blob) if self.rewraps_in_place else None
        if moved is None:
            return False
        self._rewrite_blob(key, version_id, moved)
        return True

    def _rewrap_quietly(self, key: str, version_id: str, blob: bytes) -> None:
        """Lazy re-wrap on read: a blob whose data key an earlier master key wrapped moves to the current one.
        The read has already succeeded; a failed rewrite (disk full, read-only) only leaves the old wrap."""
        try:
            self._rewrap(key, version_id, blob)
        except (OSError, IntegrityError) as exc:
            _log.warning("object_rewrap_failed", key=key, version_id=version_id, error=str(exc))

    def _rewrite_blob(self, key: str, version_id: str, blob: bytes) -> None:
        """Replace a version's blob atomically (only called where :attr:`rewraps_in_place`)."""
        raise NotImplementedError

    @abstractmethod
    def check(self) -> None:
        """Raise unless the backend can read and write."""

    @abstractmethod
    def _write_version(self, version: ObjectVersion, blob: bytes | None) -> ObjectVersion:
        """Durably store ``blob`` (None for a delete marker); return the version with its id assigned."""

    @abstractmethod
    def _read_blob(self, key: str, version_id: str) -> bytes: ...

    @abstractmethod
    def _list_versions(self, key: str) -> list[ObjectVersion]: ...

    @abstractmethod
    def _latest_version(self, key: str) -> ObjectVersion | None:
        """The newest version or delete marker of ``key``; None if it never existed."""

    @abstractmethod
    def _read_version(self, key: str, version_id: str) -> ObjectVersion | None:
        """One version's metadata; None if there is no such version."""

    @abstractmethod
    def _list_keys(self, prefix: str) -> Iterable[str]: ...

    @abstractmethod
    def _set_storage_class(self, version: ObjectVersion, storage_class: StorageClass) -> ObjectVersion: ...
