"""The object store on S3: native versions and delete markers, SSE-KMS with a bucket key, tiers by lifecycle.

Every object is envelope-encrypted by the port's cipher *and* stored with SSE-KMS (the bucket key cuts KMS
calls); S3's encryption protects the disks, the envelope binds each blob to its key and metadata so that a blob
swapped, moved or edited by anyone with write access to the bucket fails its check on read.

Layout: S3 key ``<prefix><key>``; the body is the sealed blob; size, SHA-256, creation time and the user metadata
(one compact JSON value, ASCII-escaped) travel in S3 user metadata, the content type as ``Content-Type``.
S3's version ids are the port's version ids; deleting writes S3's own delete marker.

Storage tiers are S3's: the bucket's lifecycle configuration (:meth:`BucketSpec.lifecycle_configuration`)
moves document versions to STANDARD_IA and GLACIER; the storage class read back is the one S3 reports. A version's
class cannot be changed in place on S3 (a copy would be a new version), so :meth:`set_storage_class` refuses a
change with :class:`StorageTierManaged`. Reading a version S3 has archived raises :class:`ObjectArchived`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from investai.adapters.aws.resources import BUCKET
from investai.domain.errors import Conflict, IntegrityError, InvalidKey, NotFound
from investai.ports.clock import Clock
from investai.ports.object_store import KEY_PATTERN, ObjectStore, ObjectVersion, StorageClass
from investai.security.envelope import EnvelopeCipher

META_SIZE, META_SHA256, META_CREATED, META_USER = (
    "investai-size",
    "investai-sha256",
    "investai-created-at",
    "investai-meta",
)
S3_METADATA_LIMIT = 2048  # bytes of user metadata (names and values) S3 accepts per object
_STORAGE_CLASSES = {
    "STANDARD_IA": StorageClass.STANDARD_IA,
    "ONEZONE_IA": StorageClass.STANDARD_IA,
    "GLACIER_IR": StorageClass.STANDARD_IA,  # instant retrieval: readable like infrequent access
    "GLACIER": StorageClass.GLACIER,
    "DEEP_ARCHIVE": StorageClass.GLACIER,
}
_MISSING = frozenset({"404", "NoSuchKey", "NoSuchVersion", "400", "InvalidArgument"})


class ObjectArchived(Conflict):
    """The version is in an archive tier: S3 must restore it (hours) before it can be read."""

    code = "object_archived"


class StorageTierManaged(Conflict):
    """The bucket's lifecycle configuration moves versions between tiers; they cannot be moved by hand."""

    code = "storage_tier_managed"


class S3ObjectStore(ObjectStore):
    """An :class:`ObjectStore` over an injected S3 client and a bucket made by ``provision.ensure_bucket``."""

    health_name = "object_store"
    tiers_managed_by_lifecycle = True
    version_pattern = re.compile(r"[A-Za-z0-9._=+/-]{1,1024}")  # S3 version ids may hold '+' and '/'

    """S3 moves versions between tiers itself; a scheduled tiering job has nothing to do here."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        kms_key_id: str,
        cipher: EnvelopeCipher,
        clock: Clock,
        prefix: str = BUCKET.object_prefix,
        page_size: int = 1000,
    ) -> None:
        super().__init__(cipher=cipher, clock=clock)
        self._s3 = s3
        self._bucket = bucket
        self._kms_key_id = kms_key_id
        self._prefix = prefix
        self._page_size = page_size

    def check(self) -> None:
        """Ready when the bucket answers and keeps versions (restore and delete markers depend on them)."""
        status = self._s3.get_bucket_versioning(Bucket=self._bucket).get("Status")
        if status != "Enabled":
            raise IntegrityError(f"bucket {self._bucket} does not keep versions (versioning: {status or 'off'})")

    # -- hooks --------------------------------------------------------------------------------------
    def _write_version(self, version: ObjectVersion, blob: bytes | None) -> ObjectVersion:
        if blob is None:
            answer = self._s3.delete_object(Bucket=self._bucket, Key=self._s3_key(version.key))
            return replace(version, version_id=str(answer["VersionId"]))
        answer = self._s3.put_object(
            Bucket=self._bucket,
            Key=self._s3_key(version.key),
            Body=blob,
            ContentType=version.content_type,
            Metadata=_encode_metadata(version),
            StorageClass=version.storage_class.value,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self._kms_key_id,
            BucketKeyEnabled=True,
            ChecksumAlgorithm="SHA256",
        )
        return replace(version, version_id=str(answer["VersionId"]))

    def _read_blob(self, key: str, version_id: str) -> bytes:
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=self._s3_key(key), VersionId=version_id)
        except self._s3.exceptions.ClientError as exc:
            code = _error_code(exc)
            if code == "InvalidObjectState":
                raise ObjectArchived(
                    f"object {key!r} version {version_id} is archived; restore it from GLACIER before reading"
                ) from exc
            if code in _MISSING:
                raise NotFound(f"object {key!r} version {version_id} no longer exists") from exc
            raise
        return bytes(answer["Body"].read())

    def _list_versions(self, key: str) -> list[ObjectVersion]:
        entries = list(self._entries_of(key))
        ordered = self._newest_first(key, entries)
        return [self._version_of(key, entry) for entry in ordered]

    def _latest_version(self, key: str) -> ObjectVersion | None:
        try:
            answer = self._s3.head_object(Bucket=self._bucket, Key=self._s3_key(key))
        except self._s3.exceptions.ClientError as exc:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            if headers.get("x-amz-delete-marker") == "true":  # the object is deleted: its newest is a marker
                return self._marker(key, str(headers.get("x-amz-version-id", "")), headers)
            if _error_code(exc) in _MISSING:
                return None
            raise
        return _decode(key, answer)

    def _read_version(self, key: str, version_id: str) -> ObjectVersion | None:
        try:
            answer = self._s3.head_object(Bucket=self._bucket, Key=self._s3_key(key), VersionId=version_id)
        except self._s3.exceptions.ClientError as exc:
            if _error_code(exc) in {"405", "MethodNotAllowed"}:  # HEAD of a delete marker
                headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                return self._marker(key, version_id, headers)
            if _error_code(exc) in _MISSING:
                return None
            raise
        return _decode(key, answer)

    def _list_keys(self, prefix: str) -> Iterable[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self._prefix + prefix, PaginationConfig={"PageSize": self._page_size}
        )
        for page in pages:
            for entry in page.get("Contents", []):
                key = str(entry["Key"])[len(self._prefix) :]
                if all(KEY_PATTERN.fullmatch(segment) for segment in key.split("/")):
                    yield key  # anything else under the prefix was not written by this store

    def _set_storage_class(self, version: ObjectVersion, storage_class: StorageClass) -> ObjectVersion:
        if version.storage_class is storage_class:
            return version
        raise StorageTierManaged(
            f"object {version.key!r} version {version.version_id} is {version.storage_class.value}: on S3 the"
            f" bucket's lifecycle rules move versions between tiers, not a request for {storage_class.value}"
        )

    # -- internals ----------------------------------------------------------------------------------
    def _s3_key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _entries_of(self, key: str) -> Iterator[dict[str, Any]]:
        """S3's versions and delete markers of exactly ``key`` (a prefix listing also returns longer keys)."""
        s3_key = self._s3_key(key)
        pages = self._s3.get_paginator("list_object_versions").paginate(
            Bucket=self._bucket, Prefix=s3_key, PaginationConfig={"PageSize": self._page_size}
        )
        for page in pages:
            versions = [dict(entry, IsMarker=False) for entry in page.get("Versions", [])]
            markers = [dict(entry, IsMarker=True) for entry in page.get("DeleteMarkers", [])]
            yield from (entry for entry in (*versions, *markers) if entry["Key"] == s3_key)
            if any(entry["Key"] > s3_key for entry in (*versions, *markers)):
                return  # listings are sorted by key: nothing of this key follows

    def _newest_first(self, key: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Versions and markers in S3's order. S3 lists the two kinds apart with one-second timestamps, so each
        marker is placed just before the entry S3 lists after it (asked with the listing's own markers)."""
        ordered = [entry for entry in entries if not entry["IsMarker"]]
        markers = [entry for entry in entries if entry["IsMarker"]]
        for marker in reversed(markers):  # oldest first: a marker's successor is already placed
            successor = self._successor(key, str(marker["VersionId"]))
            ids = [str(entry["VersionId"]) for entry in ordered]
            ordered.insert(ids.index(successor) if successor in ids else len(ordered), marker)
        return ordered

    def _successor(self, key: str, version_id: str) -> str | None:
        """The version id S3 lists right after ``version_id`` of ``key`` (the next older one), if any."""
        s3_key = self._s3_key(key)
        page = self._s3.list_object_versions(
            Bucket=self._bucket, Prefix=s3_key, KeyMarker=s3_key, VersionIdMarker=version_id, MaxKeys=1
        )
        following = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        return next((str(entry["VersionId"]) for entry in following if entry["Key"] == s3_key), None)

    def _version_of(self, key: str, entry: dict[str, Any]) -> ObjectVersion:
        if entry["IsMarker"]:
            return _marker_version(key, entry)
        version = self._read_version(key, str(entry["VersionId"]))
        if version is None:
            raise NotFound(f"object {key!r} version {entry['VersionId']} vanished while listed")
        return version

    def _marker(self, key: str, version_id: str, headers: dict[str, str]) -> ObjectVersion | None:
        """A delete marker, timed by the response's ``Last-Modified`` or else by the listing's entry."""
        if "last-modified" in headers:
            modified = parsedate_to_datetime(headers["last-modified"])
            return _marker_version(key, {"VersionId": version_id, "LastModified": modified})
        entry = next((e for e in self._entries_of(key) if e["IsMarker"] and e["VersionId"] == version_id), None)
        return None if entry is None else _marker_version(key, entry)


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _encode_metadata(version: ObjectVersion) -> dict[str, str]:
    """S3 user metadata: ASCII only (JSON escapes the rest), at most 2 KiB in all."""
    encoded = {
        META_SIZE: str(version.size),
        META_SHA256: version.sha256,
        META_CREATED: version.created_at.astimezone(UTC).isoformat(),
        META_USER: json.dumps(dict(version.metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=True),
    }
    if sum(len(name) + len(value) for name, value in encoded.items()) > S3_METADATA_LIMIT:
        raise InvalidKey(f"object metadata exceeds the {S3_METADATA_LIMIT} bytes S3 stores with an object")
    return encoded


def _decode(key: str, answer: dict[str, Any]) -> ObjectVersion:
    metadata = answer.get("Metadata", {})
    version_id = str(answer.get("VersionId", ""))
    try:
        user = json.loads(metadata[META_USER])
        if not isinstance(user, dict):
            raise TypeError("user metadata is not an object")
        return ObjectVersion(
            key=key,
            version_id=version_id,
            created_at=datetime.fromisoformat(metadata[META_CREATED]).astimezone(UTC),
            size=int(metadata[META_SIZE]),
            sha256=str(metadata[META_SHA256]),
            content_type=str(answer.get("ContentType", "")),
            metadata={str(name): str(value) for name, value in user.items()},
            storage_class=_storage_class(answer.get("StorageClass")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise IntegrityError(f"metadata of object {key!r} version {version_id} is unreadable") from exc


def _marker_version(key: str, entry: dict[str, Any]) -> ObjectVersion:
    modified = entry.get("LastModified")
    created = modified.astimezone(UTC) if isinstance(modified, datetime) else datetime.fromtimestamp(0, UTC)
    return ObjectVersion(key=key, version_id=str(entry["VersionId"]), created_at=created, delete_marker=True)


def _storage_class(reported: object) -> StorageClass:
    """The port's tier for S3's storage class (STANDARD when S3 names none, as for STANDARD objects)."""
    return _STORAGE_CLASSES.get(str(reported or "STANDARD"), StorageClass.STANDARD)
