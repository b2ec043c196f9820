"""Contract of the ObjectStore port, run against every adapter in :data:`ADAPTERS`.

An adapter enters the suite through one factory that returns an :class:`ObjectStoreHarness`: the store,
a way to open a second instance over the same storage (a restart), and raw access to what the backend
stores, so that the tamper tests can alter bytes behind the store's back.

The S3 adapter runs against the session's moto server (started only when an S3 case runs), with KMS data keys.
S3 never changes a stored version in place (every write is a new version) and moto runs in another process, so
its raw access plays the storage layer from the client side: botocore hooks on the store's clients replace
what S3 returns for a tampered version (:class:`S3Storage`). Tampering an attacker can do through the S3 API
itself (writing a new version) is tested with the S3 specifics at the end, as is what moto does not emulate:
lifecycle transitions (the rendered configuration is checked instead).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody

from investai.adapters.aws.kms_keys import KmsKeyManager
from investai.adapters.aws.provision import ensure_bucket, ensure_data_key
from investai.adapters.aws.resources import BUCKET, BucketSpec, ResourceNames
from investai.adapters.aws.s3_objects import (
    META_SHA256,
    META_SIZE,
    META_USER,
    ObjectArchived,
    S3ObjectStore,
    StorageTierManaged,
)
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.fsutil import TEMP_PREFIX
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.object_store import VERSIONS_DIR, LocalObjectStore
from investai.domain.errors import Conflict, IntegrityError, InvalidKey, NotFound
from investai.ports.object_store import ObjectStore, StorageClass
from investai.security.envelope import EnvelopeCipher
from tests.aws import MotoServer, fresh_prefix
from tests.factories import T0

MASTER_SECRET = "contract-test-master-secret-0123456789abcdef"
MIB = 1024 * 1024


@dataclass(frozen=True)
class ObjectStoreHarness:
    """An adapter under test plus raw access to its storage."""

    store: ObjectStore
    reopen: Callable[[], ObjectStore]
    """A new store instance over the same storage, as after a process restart."""
    read_blob: Callable[[str, str], bytes]
    """The stored (encrypted) bytes of ``(key, version_id)``."""
    write_blob: Callable[[str, str, bytes], None]
    """Replace the stored bytes of ``(key, version_id)`` without going through the store."""
    edit_metadata: Callable[[str, str, dict[str, Any]], None]
    """Overwrite fields of the stored metadata of ``(key, version_id)``; names are ObjectVersion fields."""
    ordered_version_ids: bool = True
    """Whether version ids sort by age (the local adapter's do; S3's are opaque)."""
    tiers_by_lifecycle: bool = False
    """Whether the backend moves versions between storage tiers itself (S3's lifecycle rules), so that
    ``set_storage_class`` refuses to move one by hand."""


# -- local file-system adapter ----------------------------------------------------------------------


def _local_adapter(tmp_path: Path, clock: FakeClock) -> ObjectStoreHarness:
    root = tmp_path / "objects"
    keyring_path = tmp_path / "keys" / "keyring.json"

    def build() -> ObjectStore:
        keys = LocalKeyring(path=keyring_path, master_secret=MASTER_SECRET, clock=clock)
        return LocalObjectStore(root=root, cipher=EnvelopeCipher(key_manager=keys), clock=clock)

    def version_file(key: str, version_id: str, suffix: str) -> Path:
        return root.joinpath(*key.split("/"), VERSIONS_DIR, f"{version_id}{suffix}")

    def read_blob(key: str, version_id: str) -> bytes:
        return version_file(key, version_id, ".blob").read_bytes()

    def write_blob(key: str, version_id: str, blob: bytes) -> None:
        version_file(key, version_id, ".blob").write_bytes(blob)

    def edit_metadata(key: str, version_id: str, changes: dict[str, Any]) -> None:
        sidecar = version_file(key, version_id, ".json")
        body = json.loads(sidecar.read_bytes())
        body.update(changes)
        sidecar.write_bytes(json.dumps(body).encode())

    return ObjectStoreHarness(
        store=build(),
        reopen=build,
        read_blob=read_blob,
        write_blob=write_blob,
        edit_metadata=edit_metadata,
    )


# -- S3 adapter (moto server, KMS data keys) --------------------------------------------------------


class S3Storage:
    """Stored bytes and metadata of S3 versions, alterable behind the store's back.

    Each client from :meth:`client` carries botocore hooks that hand back, for a tampered version id, the bytes
    or metadata set here instead of what moto returns, as if the storage under S3 had changed them.
    """

    def __init__(self, moto: MotoServer, bucket: str, prefix: str) -> None:
        self._moto = moto
        self._raw = moto.client("s3")
        self._bucket = bucket
        self._prefix = prefix
        self._blobs: dict[str, bytes] = {}
        self._edits: dict[str, dict[str, Any]] = {}

    def client(self) -> Any:
        client = self._moto.client("s3")
        client.meta.events.register("after-call.s3.GetObject", self._swap_body)
        client.meta.events.register("after-call.s3.HeadObject", self._swap_metadata)
        return client

    def read_blob(self, key: str, version_id: str) -> bytes:
        if version_id in self._blobs:
            return self._blobs[version_id]
        answer = self._raw.get_object(Bucket=self._bucket, Key=self._prefix + key, VersionId=version_id)
        return bytes(answer["Body"].read())

    def write_blob(self, key: str, version_id: str, blob: bytes) -> None:
        self._blobs[version_id] = blob

    def edit_metadata(self, key: str, version_id: str, changes: dict[str, Any]) -> None:
        self._edits.setdefault(version_id, {}).update(changes)

    def _swap_body(self, parsed: dict[str, Any], **_: Any) -> None:
        blob = self._blobs.get(str(parsed.get("VersionId")))
        if blob is not None:
            parsed["Body"], parsed["ContentLength"] = StreamingBody(io.BytesIO(blob), len(blob)), len(blob)

    def _swap_metadata(self, parsed: dict[str, Any], **_: Any) -> None:
        edits = self._edits.get(str(parsed.get("VersionId")), {})
        fields = {"sha256": META_SHA256, "size": META_SIZE}
        for name, value in edits.items():
            if name in fields:
                parsed["Metadata"][fields[name]] = str(value)
            elif name == "metadata":
                parsed["Metadata"][META_USER] = json.dumps(value, sort_keys=True, separators=(",", ":"))
            elif name == "content_type":
                parsed["ContentType"] = value
            else:
                raise AssertionError(f"no S3 metadata field for {name}")


@dataclass(frozen=True)
class S3Setup:
    names: ResourceNames
    kms_key: str
    storage: S3Storage

    def store(self, clock: FakeClock, moto: MotoServer, *, page_size: int = 2) -> S3ObjectStore:
        keys = KmsKeyManager(kms=moto.client("kms"), key_id=self.names.key)
        return S3ObjectStore(
            s3=self.storage.client(),
            bucket=self.names.bucket,
            kms_key_id=self.kms_key,
            cipher=EnvelopeCipher(key_manager=keys),
            clock=clock,
            page_size=page_size,  # small pages: every listing in the suite crosses pages
        )


def _s3_setup(moto: MotoServer) -> S3Setup:
    names = ResourceNames(prefix=fresh_prefix())
    kms_key = ensure_data_key(moto.client("kms"), names.key)
    ensure_bucket(moto.client("s3"), BUCKET, names.bucket, kms_key=kms_key)
    return S3Setup(names=names, kms_key=kms_key, storage=S3Storage(moto, names.bucket, BUCKET.object_prefix))


def _s3_adapter(tmp_path: Path, clock: FakeClock, *, moto: MotoServer) -> ObjectStoreHarness:
    setup = _s3_setup(moto)

    def build() -> ObjectStore:
        return setup.store(clock, moto)

    return ObjectStoreHarness(
        store=build(),
        reopen=build,
        read_blob=setup.storage.read_blob,
        write_blob=setup.storage.write_blob,
        edit_metadata=setup.storage.edit_metadata,
        ordered_version_ids=False,
        tiers_by_lifecycle=True,
    )


ADAPTERS: dict[str, Callable[..., ObjectStoreHarness]] = {
    "local": _local_adapter,
    "s3": _s3_adapter,
}
MOTO_ADAPTERS = frozenset({"s3"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> ObjectStoreHarness:
    if request.param in MOTO_ADAPTERS:
        return ADAPTERS[request.param](tmp_path, clock, moto=request.getfixturevalue("moto"))
    return ADAPTERS[request.param](tmp_path, clock)


@pytest.fixture
def store(harness: ObjectStoreHarness) -> ObjectStore:
    return harness.store


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- put / get ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world", bytes(range(256)) * 4, os.urandom(MIB)],
    ids=["empty", "short", "all-byte-values", "one-mib"],
)
def test_get_returns_exactly_the_bytes_that_were_put(store: ObjectStore, data: bytes) -> None:
    stored = store.put("docs/report.bin", data)

    fetched = store.get("docs/report.bin")

    assert fetched.data == data
    assert fetched.version == stored


def test_put_records_size_hash_content_type_and_the_clock_time(store: ObjectStore, clock: FakeClock) -> None:
    clock.advance(timedelta(hours=3))

    version = store.put("docs/note.txt", b"twelve bytes", content_type="text/plain")

    assert version.size == 12
    assert version.sha256 == _sha256(b"twelve bytes")
    assert version.content_type == "text/plain"
    assert version.created_at == clock.now()
    assert version.storage_class is StorageClass.STANDARD
    assert not version.delete_marker
    assert version.version_id


def test_every_put_creates_a_new_version_listed_newest_first(harness: ObjectStoreHarness) -> None:
    store = harness.store
    puts = [store.put("docs/a", f"revision {n}".encode()) for n in range(5)]
    ids = [v.version_id for v in puts]

    listed = store.versions("docs/a")

    assert len(set(ids)) == len(ids)
    assert [v.version_id for v in listed] == ids[::-1]
    if harness.ordered_version_ids:
        assert ids == sorted(ids)


def test_get_of_a_specific_version_returns_that_version(store: ObjectStore) -> None:
    first = store.put("docs/a", b"first")
    store.put("docs/a", b"second")

    assert store.get("docs/a", first.version_id).data == b"first"
    assert store.get("docs/a").data == b"second"


def test_head_returns_metadata_of_the_latest_or_a_given_version(store: ObjectStore) -> None:
    first = store.put("docs/a", b"first")
    second = store.put("docs/a", b"second, longer")

    assert store.head("docs/a") == second
    assert store.head("docs/a", first.version_id) == first


def test_missing_objects_and_versions_are_not_found(store: ObjectStore) -> None:
    store.put("docs/a", b"data")

    with pytest.raises(NotFound):
        store.get("docs/missing")
    with pytest.raises(NotFound):
        store.head("docs/missing")
    with pytest.raises(NotFound):
        store.get("docs/a", "00000000000000000000deadbeef")
    assert store.versions("docs/missing") == []


# -- listing ----------------------------------------------------------------------------------------


def test_list_objects_returns_only_the_latest_version_of_live_objects_under_the_prefix(store: ObjectStore) -> None:
    store.put("docs/a", b"a1")
    latest_a = store.put("docs/a", b"a2")
    store.put("docs/b", b"b1")
    nested = store.put("docs/sub/c", b"c1")
    other = store.put("other/x", b"x1")
    store.delete("docs/b")

    under_docs = store.list_objects("docs/")

    assert under_docs == [latest_a, nested]
    assert [v.key for v in store.list_objects()] == ["docs/a", "docs/sub/c", "other/x"]
    assert store.list_objects("other/") == [other]
    assert store.list_objects("nothing/") == []


def test_list_objects_on_an_empty_store_is_empty(store: ObjectStore) -> None:
    assert store.list_objects() == []


# -- delete and restore -------------------------------------------------------------------------------


def test_delete_writes_a_marker_and_keeps_earlier_versions_readable(store: ObjectStore) -> None:
    first = store.put("docs/a", b"first")
    second = store.put("docs/a", b"second")

    marker = store.delete("docs/a")

    assert marker.delete_marker
    with pytest.raises(NotFound):
        store.get("docs/a")
    with pytest.raises(NotFound):
        store.head("docs/a")
    assert [v.version_id for v in store.versions("docs/a")] == [
        marker.version_id,
        second.version_id,
        first.version_id,
    ]
    assert store.get("docs/a", first.version_id).data == b"first"
    assert store.get("docs/a", second.version_id).data == b"second"
    with pytest.raises(NotFound):
        store.get("docs/a", marker.version_id)


def test_deleting_a_missing_or_already_deleted_object_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound):
        store.delete("docs/missing")
    store.put("docs/a", b"data")
    store.delete("docs/a")
    with pytest.raises(NotFound):
        store.delete("docs/a")


def test_restore_copies_an_old_version_to_the_top(store: ObjectStore) -> None:
    first = store.put("docs/a", b"first", content_type="text/plain", metadata={"owner": "user_1"})
    store.put("docs/a", b"second")

    restored = store.restore("docs/a", first.version_id)

    assert restored.version_id != first.version_id
    assert store.versions("docs/a")[0] == restored
    latest = store.get("docs/a")
    assert latest.data == b"first"
    assert latest.version.content_type == "text/plain"
    assert latest.version.metadata == {"owner": "user_1", "restored-from": first.version_id}
    assert len(store.versions("docs/a")) == 3


def test_restore_brings_a_deleted_object_back(store: ObjectStore) -> None:
    first = store.put("docs/a", b"first")
    store.delete("docs/a")

    store.restore("docs/a", first.version_id)

    assert store.get("docs/a").data == b"first"
    assert [v.key for v in store.list_objects("docs/")] == ["docs/a"]


# -- storage classes ------------------------------------------------------------------------------------


def test_storage_class_transitions_persist(harness: ObjectStoreHarness) -> None:
    if harness.tiers_by_lifecycle:
        pytest.skip("the backend's lifecycle rules move tiers: see test_tiers_moved_by_lifecycle_are_not_moved_by_hand")
    store = harness.store
    old = store.put("docs/a", b"old")
    current = store.put("docs/a", b"current")

    to_ia = store.set_storage_class("docs/a", old.version_id, StorageClass.STANDARD_IA)
    assert to_ia.storage_class is StorageClass.STANDARD_IA
    assert store.head("docs/a", old.version_id).storage_class is StorageClass.STANDARD_IA

    store.set_storage_class("docs/a", old.version_id, StorageClass.GLACIER)

    reopened = harness.reopen()
    assert reopened.head("docs/a", old.version_id).storage_class is StorageClass.GLACIER
    assert reopened.head("docs/a", current.version_id).storage_class is StorageClass.STANDARD
    assert reopened.head("docs/a", old.version_id).sha256 == old.sha256


def test_tiers_moved_by_lifecycle_are_not_moved_by_hand(harness: ObjectStoreHarness) -> None:
    if not harness.tiers_by_lifecycle:
        pytest.skip("the backend moves tiers when asked: see test_storage_class_transitions_persist")
    old = harness.store.put("docs/a", b"old")
    harness.store.put("docs/a", b"current")

    with pytest.raises(Conflict, match="lifecycle"):
        harness.store.set_storage_class("docs/a", old.version_id, StorageClass.STANDARD_IA)

    assert harness.reopen().head("docs/a", old.version_id) == old
    assert harness.reopen().get("docs/a", old.version_id).data == b"old"


def test_setting_the_storage_class_a_version_has_changes_nothing(harness: ObjectStoreHarness) -> None:
    version = harness.store.put("docs/a", b"data", storage_class=StorageClass.STANDARD_IA)

    assert harness.store.set_storage_class("docs/a", version.version_id, StorageClass.STANDARD_IA) == version
    assert harness.reopen().head("docs/a") == version


def test_a_storage_class_can_be_chosen_at_put(store: ObjectStore) -> None:
    version = store.put("docs/a", b"cold", storage_class=StorageClass.STANDARD_IA)

    assert store.head("docs/a").storage_class is StorageClass.STANDARD_IA
    assert version.storage_class is StorageClass.STANDARD_IA


def test_a_delete_marker_has_no_storage_class(store: ObjectStore) -> None:
    store.put("docs/a", b"data")
    marker = store.delete("docs/a")

    with pytest.raises(NotFound):
        store.set_storage_class("docs/a", marker.version_id, StorageClass.GLACIER)


# -- keys and metadata ----------------------------------------------------------------------------------

INVALID_KEYS = [
    "",
    "../x",
    "docs/../x",
    "..",
    "/abs",
    "a//b",
    "a/",
    ".hidden",
    "docs/.hidden",
    "docs/.versions",
    "a" * 201,
    "/".join(["a"] * 17),
    "café",
    "docs/naïve",
    "a b",
    "a\\b",
    "a\nb",
    "trailing-newline\n",
    "docs/x\n",
    "nul\x00byte",
]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_unsafe_keys_are_rejected_by_every_operation(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(key, b"data")
    with pytest.raises(InvalidKey):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.head(key)
    with pytest.raises(InvalidKey):
        store.versions(key)
    with pytest.raises(InvalidKey):
        store.delete(key)
    assert store.list_objects() == []


@pytest.mark.parametrize(
    "key",
    ["a", "docs/org_1/doc_123", "A-Z.a-z_0-9=x", "a" * 200, "/".join(["a"] * 16), "_private/x"],
)
def test_safe_keys_are_accepted(store: ObjectStore, key: str) -> None:
    store.put(key, b"data")

    assert store.get(key).data == b"data"


def test_metadata_and_content_type_are_preserved(harness: ObjectStoreHarness) -> None:
    metadata = {"owner": "user_1", "filename": "Q3 note (final).pdf", "unicode": "Zürich €"}
    harness.store.put("docs/a", b"%PDF-1.7", content_type="application/pdf", metadata=metadata)

    for store in (harness.store, harness.reopen()):
        fetched = store.get("docs/a")
        assert fetched.version.metadata == metadata
        assert fetched.version.content_type == "application/pdf"
        assert store.head("docs/a").metadata == metadata


def test_oversized_metadata_is_rejected(store: ObjectStore) -> None:
    with pytest.raises(InvalidKey):
        store.put("docs/a", b"data", metadata={f"k{n}": "v" for n in range(33)})
    with pytest.raises(InvalidKey):
        store.put("docs/a", b"data", metadata={"k": "v" * 1025})
    assert store.versions("docs/a") == []


def test_a_restarted_store_reads_what_the_first_instance_wrote(harness: ObjectStoreHarness) -> None:
    first = harness.store.put("docs/a", b"first")
    second = harness.store.put("docs/a", b"second")

    reopened = harness.reopen()

    assert reopened.versions("docs/a") == [second, first]
    assert reopened.get("docs/a", first.version_id).data == b"first"


def test_check_passes_on_a_working_store(store: ObjectStore) -> None:
    store.check()
    store.put("docs/a", b"data")
    store.check()


# -- tampering --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bit", [0x01, 0x80], ids=["low-bit", "high-bit"])
def test_flipping_any_byte_of_the_stored_blob_raises_integrity_error(harness: ObjectStoreHarness, bit: int) -> None:
    version = harness.store.put("docs/a", b"sixty-four bytes of plaintext, padded out to exactly 64 bytes..")
    original = harness.read_blob("docs/a", version.version_id)

    for index in range(len(original)):
        tampered = bytearray(original)
        tampered[index] ^= bit
        harness.write_blob("docs/a", version.version_id, bytes(tampered))
        with pytest.raises(IntegrityError):
            harness.store.get("docs/a", version.version_id)

    harness.write_blob("docs/a", version.version_id, original)
    assert harness.store.get("docs/a").data.startswith(b"sixty-four")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda blob: b"",
        lambda blob: blob[:-1],
        lambda blob: blob[:10],
        lambda blob: blob + b"\x00",
        lambda blob: blob[:-16] + bytes(16),
        lambda blob: b"not an envelope at all",
    ],
    ids=["emptied", "truncated-by-one", "truncated-to-header", "extended", "tag-zeroed", "replaced"],
)
def test_a_truncated_extended_or_replaced_blob_raises_integrity_error(
    harness: ObjectStoreHarness, mutate: Callable[[bytes], bytes]
) -> None:
    version = harness.store.put("docs/a", b"some confidential research")
    harness.write_blob("docs/a", version.version_id, mutate(harness.read_blob("docs/a", version.version_id)))

    with pytest.raises(IntegrityError):
        harness.store.get("docs/a")


def test_a_blob_moved_from_another_object_raises_integrity_error(harness: ObjectStoreHarness) -> None:
    victim = harness.store.put("docs/victim", b"the real content")
    other = harness.store.put("docs/other", b"other content")
    harness.write_blob("docs/victim", victim.version_id, harness.read_blob("docs/other", other.version_id))

    with pytest.raises(IntegrityError):
        harness.store.get("docs/victim")


def test_a_blob_swapped_with_an_older_version_raises_integrity_error(harness: ObjectStoreHarness) -> None:
    old = harness.store.put("docs/a", b"old content")
    new = harness.store.put("docs/a", b"new content")
    harness.write_blob("docs/a", new.version_id, harness.read_blob("docs/a", old.version_id))

    with pytest.raises(IntegrityError):
        harness.store.get("docs/a")


@pytest.mark.parametrize(
    "changes",
    [
        {"sha256": _sha256(b"something else")},
        {"sha256": "0" * 64},
        {"size": 3},
        {"content_type": "text/html"},
        {"metadata": {"owner": "mallory"}},
        {"metadata": {"owner": "user_1", "extra": "injected"}},
        {"metadata": {}},
    ],
    ids=[
        "sha256-other-data",
        "sha256-zeros",
        "size",
        "content-type",
        "metadata-value",
        "metadata-added",
        "metadata-dropped",
    ],
)
def test_editing_the_stored_metadata_raises_integrity_error(
    harness: ObjectStoreHarness, changes: dict[str, Any]
) -> None:
    version = harness.store.put("docs/a", b"some confidential research", metadata={"owner": "user_1"})
    harness.edit_metadata("docs/a", version.version_id, changes)

    with pytest.raises(IntegrityError):
        harness.store.get("docs/a")


def test_integrity_errors_name_the_object_and_version(harness: ObjectStoreHarness) -> None:
    version = harness.store.put("docs/a", b"some confidential research")
    blob = bytearray(harness.read_blob("docs/a", version.version_id))
    blob[len(blob) // 2] ^= 0x01
    harness.write_blob("docs/a", version.version_id, bytes(blob))

    with pytest.raises(IntegrityError) as caught:
        harness.store.get("docs/a")

    assert "docs/a" in str(caught.value)
    assert version.version_id in str(caught.value)


def test_tampering_with_one_version_leaves_the_others_readable(harness: ObjectStoreHarness) -> None:
    old = harness.store.put("docs/a", b"old content")
    new = harness.store.put("docs/a", b"new content")
    blob = bytearray(harness.read_blob("docs/a", new.version_id))
    blob[-1] ^= 0x01
    harness.write_blob("docs/a", new.version_id, bytes(blob))

    with pytest.raises(IntegrityError):
        harness.store.get("docs/a")
    assert harness.store.get("docs/a", old.version_id).data == b"old content"


# -- local adapter specifics ------------------------------------------------------------------------------


class TestLocalLayout:
    """What the local adapter promises about its files: private modes, no leftovers, crash debris ignored."""

    @pytest.fixture
    def local(self, tmp_path: Path, clock: FakeClock) -> ObjectStoreHarness:
        return _local_adapter(tmp_path, clock)

    def test_blobs_and_sidecars_are_private_and_no_temporary_files_remain(
        self, local: ObjectStoreHarness, tmp_path: Path
    ) -> None:
        local.store.put("docs/a", b"data")
        local.store.put("docs/a", b"more data")
        local.store.delete("docs/a")

        files = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]

        assert files
        assert not [p for p in files if p.name.startswith(TEMP_PREFIX)]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)

    def test_crash_debris_is_ignored(self, local: ObjectStoreHarness, tmp_path: Path) -> None:
        version = local.store.put("docs/a", b"data")
        versions_dir = tmp_path / "objects" / "docs" / "a" / VERSIONS_DIR
        (versions_dir / f"{TEMP_PREFIX}0123456789abcdef").write_bytes(b"half-written sidecar")
        (versions_dir / "99999999999999999999ffffffff.blob").write_bytes(b"blob whose sidecar never landed")

        assert local.store.versions("docs/a") == [version]
        assert local.store.get("docs/a").data == b"data"
        assert local.store.list_objects() == [version]

    def test_a_sidecar_claiming_another_key_raises_integrity_error(self, local: ObjectStoreHarness) -> None:
        version = local.store.put("docs/a", b"data")
        local.edit_metadata("docs/a", version.version_id, {"key": "docs/b"})

        with pytest.raises(IntegrityError):
            local.store.get("docs/a")

    def test_an_unreadable_sidecar_raises_integrity_error(self, local: ObjectStoreHarness, tmp_path: Path) -> None:
        version = local.store.put("docs/a", b"data")
        sidecar = tmp_path / "objects" / "docs" / "a" / VERSIONS_DIR / f"{version.version_id}.json"
        sidecar.write_bytes(sidecar.read_bytes()[:-5])

        with pytest.raises(IntegrityError):
            local.store.get("docs/a")

    def test_a_missing_blob_raises_integrity_error(self, local: ObjectStoreHarness, tmp_path: Path) -> None:
        version = local.store.put("docs/a", b"data")
        (tmp_path / "objects" / "docs" / "a" / VERSIONS_DIR / f"{version.version_id}.blob").unlink()

        with pytest.raises(IntegrityError):
            local.store.get("docs/a")


def test_local_version_ids_increase_even_if_the_wall_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import investai.adapters.local.object_store as local_module

    harness = _local_adapter(tmp_path, FakeClock(T0))
    first = harness.store.put("clock/skew", b"one")
    monkeypatch.setattr(local_module.time, "time_ns", lambda: 1_000)  # a clock far in the past
    reopened = harness.reopen()  # a new process knows no earlier stamp
    second = reopened.put("clock/skew", b"two")
    assert second.version_id > first.version_id
    assert reopened.get("clock/skew").data == b"two"


def test_local_version_ids_never_reach_the_file_system_unless_plain(tmp_path: Path, clock: FakeClock) -> None:
    store = _local_adapter(tmp_path, clock).store
    store.put("a/b", b"x")
    for version_id in ("../../keys/keyring.json", "a/b", "x+y"):
        with pytest.raises(NotFound):
            store.head("a/b", version_id)


# -- S3 adapter specifics ---------------------------------------------------------------------------------


def test_s3_version_ids_may_hold_the_characters_s3_uses() -> None:
    """Real S3 version ids are base64-like ('+' and '/'); moto's are UUIDs, so the pattern is checked here."""
    from investai.adapters.aws.s3_objects import S3ObjectStore

    assert S3ObjectStore.version_pattern.fullmatch("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")
    assert not S3ObjectStore.version_pattern.fullmatch("version id with spaces")


class TestS3:
    """What the S3 adapter and ``ensure_bucket`` promise beyond the port, on the session's moto server."""

    @pytest.fixture
    def setup(self, moto: MotoServer) -> S3Setup:
        return _s3_setup(moto)

    @pytest.fixture
    def s3(self, moto: MotoServer) -> Any:
        return moto.client("s3")

    def test_the_bucket_keeps_versions_encrypts_with_the_key_and_blocks_public_access(
        self, setup: S3Setup, s3: Any
    ) -> None:
        bucket = setup.names.bucket

        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": setup.kms_key,
        }
        assert rule["BucketKeyEnabled"] is True
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        )
        (ownership,) = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert ownership == {"ObjectOwnership": "BucketOwnerEnforced"}

    def test_the_lifecycle_configuration_is_stored_as_rendered(self, setup: S3Setup, s3: Any) -> None:
        """moto stores lifecycle rules but never applies them: no object ever changes tier on its own here, so
        what is checked is the configuration S3 would apply (the transitions themselves are S3's)."""
        stored = {
            rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=setup.names.bucket)["Rules"]
        }
        rendered = {rule["ID"]: rule for rule in BUCKET.lifecycle_configuration()["Rules"]}

        assert stored.keys() == rendered.keys()
        for rule_id, rule in rendered.items():
            for field in (
                "Status",
                "Filter",
                "Transitions",
                "NoncurrentVersionTransitions",
                "NoncurrentVersionExpiration",
            ):
                assert stored[rule_id].get(field) == rule.get(field), (rule_id, field)
            assert stored[rule_id]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}

    def test_the_rendered_lifecycle_tiers_documents_only(self) -> None:
        rule, *derived = BUCKET.lifecycle_configuration()["Rules"]

        assert [r["Filter"] for r in derived] == [{"Prefix": "knowledge/"}, {"Prefix": "market/"}]
        for kept in derived:  # read all the time: never tiered; what a rewrite replaced expires
            assert "Transitions" not in kept
            assert kept["NoncurrentVersionExpiration"] == {"NoncurrentDays": 35}

        assert rule["Filter"] == {"Prefix": "objects/documents/"}
        assert rule["Transitions"] == [
            {"Days": 30, "StorageClass": "STANDARD_IA"},
            {"Days": 90, "StorageClass": "GLACIER"},
        ]
        assert rule["NoncurrentVersionTransitions"] == [
            {"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"},
            {"NoncurrentDays": 90, "StorageClass": "GLACIER"},
        ]
        assert "NoncurrentVersionExpiration" not in rule
        with_expiry = BucketSpec(noncurrent_expiry_days=365, tiered_prefixes=("documents/", "derived/"))
        rules = with_expiry.lifecycle_configuration()["Rules"][:2]
        assert [r["Filter"]["Prefix"] for r in rules] == ["objects/documents/", "objects/derived/"]
        assert rules[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 365}

    @pytest.mark.parametrize(
        "days",
        [{"infrequent_access_days": 29}, {"archive_days": 59}, {"noncurrent_expiry_days": 90}],
        ids=["ia-too-soon", "archive-too-soon", "expiry-before-archive"],
    )
    def test_lifecycle_days_s3_would_refuse_are_refused(self, days: dict[str, int]) -> None:
        with pytest.raises(ValueError, match=r"S3|expire"):
            BucketSpec(**days)

    def test_ensure_bucket_is_idempotent(self, setup: S3Setup, s3: Any) -> None:
        assert not ensure_bucket(s3, BUCKET, setup.names.bucket, kms_key=setup.kms_key)
        assert s3.get_bucket_versioning(Bucket=setup.names.bucket)["Status"] == "Enabled"

    def test_the_tls_only_policy_refuses_plain_http(self, moto: MotoServer, s3: Any) -> None:
        """moto enforces bucket policies, and serves plain HTTP: a TLS-only bucket refuses it."""
        names = ResourceNames(prefix=fresh_prefix())
        kms_key = ensure_data_key(moto.client("kms"), names.key)
        ensure_bucket(s3, BUCKET, names.bucket, kms_key=kms_key, require_tls=True)

        policy = json.loads(s3.get_bucket_policy(Bucket=names.bucket)["Policy"])
        assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        with pytest.raises(s3.exceptions.ClientError, match=r"403|Forbidden|AccessDenied"):
            s3.put_object(Bucket=names.bucket, Key="objects/x", Body=b"x")

    def test_objects_are_envelope_encrypted_and_stored_with_sse_kms_and_a_bucket_key(
        self, setup: S3Setup, moto: MotoServer, s3: Any, clock: FakeClock
    ) -> None:
        store = setup.store(clock, moto)
        version = store.put("docs/a", b"confidential research", content_type="text/plain", metadata={"k": "Zürich"})

        raw = s3.get_object(Bucket=setup.names.bucket, Key="objects/docs/a", VersionId=version.version_id)

        assert raw["ServerSideEncryption"] == "aws:kms"
        assert setup.kms_key.endswith(raw["SSEKMSKeyId"]) or raw["SSEKMSKeyId"] == setup.kms_key
        assert raw["BucketKeyEnabled"] is True
        body = raw["Body"].read()
        assert body.startswith(b"IAE1")
        assert b"confidential" not in body
        assert raw["ContentType"] == "text/plain"
        assert raw["Metadata"][META_SHA256] == version.sha256
        assert raw["Metadata"][META_USER] == '{"k":"Z\\u00fcrich"}'

    def test_versions_and_delete_markers_are_listed_in_order_within_one_second(
        self, setup: S3Setup, moto: MotoServer, clock: FakeClock
    ) -> None:
        """S3 lists markers apart from versions, timed to the second; the adapter orders them as S3 does."""
        store = setup.store(clock, moto, page_size=1)
        first = store.put("docs/a", b"one")
        marker = store.delete("docs/a")
        restored = store.restore("docs/a", first.version_id)
        second_marker = store.delete("docs/a")
        latest = store.put("docs/a", b"two")
        store.put("docs/a/nested", b"a longer key, listed after")
        store.put("docs/ab", b"another key")

        listed = store.versions("docs/a")

        assert [v.version_id for v in listed] == [
            latest.version_id,
            second_marker.version_id,
            restored.version_id,
            marker.version_id,
            first.version_id,
        ]
        assert [v.delete_marker for v in listed] == [False, True, False, True, False]
        assert store.head("docs/a", marker.version_id).delete_marker

    def test_listing_pages_through_many_keys(self, setup: S3Setup, moto: MotoServer, clock: FakeClock) -> None:
        store = setup.store(clock, moto, page_size=3)
        written = [store.put(f"docs/k{n:02d}", f"{n}".encode()) for n in range(10)]
        store.delete("docs/k03")

        listed = store.list_objects("docs/")

        assert listed == [v for v in written if v.key != "docs/k03"]

    def test_objects_not_written_by_the_store_are_not_listed(
        self, setup: S3Setup, moto: MotoServer, s3: Any, clock: FakeClock
    ) -> None:
        store = setup.store(clock, moto)
        kept = store.put("docs/a", b"data")
        s3.put_object(Bucket=setup.names.bucket, Key="objects/docs/.hidden", Body=b"x")
        s3.put_object(Bucket=setup.names.bucket, Key="elsewhere/docs/b", Body=b"x")

        assert store.list_objects() == [kept]

    def test_an_archived_version_is_a_clear_error_not_a_crash(
        self, setup: S3Setup, moto: MotoServer, clock: FakeClock
    ) -> None:
        store = setup.store(clock, moto)
        cold = store.put("docs/a", b"cold data", storage_class=StorageClass.GLACIER)
        store.put("docs/a", b"warm data")

        assert store.head("docs/a", cold.version_id).storage_class is StorageClass.GLACIER
        with pytest.raises(ObjectArchived, match="restore") as caught:
            store.get("docs/a", cold.version_id)
        assert isinstance(caught.value, Conflict)
        assert caught.value.code == "object_archived"
        with pytest.raises(ObjectArchived):
            store.restore("docs/a", cold.version_id)
        assert store.get("docs/a").data == b"warm data"

    def test_a_move_by_hand_is_refused_naming_the_lifecycle(
        self, setup: S3Setup, moto: MotoServer, clock: FakeClock
    ) -> None:
        store = setup.store(clock, moto)
        version = store.put("docs/a", b"data")

        with pytest.raises(StorageTierManaged, match="lifecycle rules") as caught:
            store.set_storage_class("docs/a", version.version_id, StorageClass.GLACIER)

        assert caught.value.code == "storage_tier_managed"
        assert store.tiers_managed_by_lifecycle

    def test_metadata_beyond_what_s3_keeps_is_refused(self, setup: S3Setup, moto: MotoServer, clock: FakeClock) -> None:
        store = setup.store(clock, moto)

        with pytest.raises(InvalidKey, match="2048"):
            store.put("docs/a", b"data", metadata={f"k{n}": "v" * 1000 for n in range(3)})
        assert store.versions("docs/a") == []

    def test_a_blob_written_as_a_new_version_through_the_s3_api_is_refused(
        self, setup: S3Setup, moto: MotoServer, s3: Any, clock: FakeClock
    ) -> None:
        """What an attacker with s3:PutObject can do: write a new version, with another object's sealed blob
        and metadata, or with this object's old blob and forged metadata."""
        store = setup.store(clock, moto)
        store.put("docs/victim", b"the real content", metadata={"owner": "user_1"})
        other = store.put("docs/other", b"other content", metadata={"owner": "mallory"})
        bucket = setup.names.bucket
        source = s3.get_object(Bucket=bucket, Key="objects/docs/other", VersionId=other.version_id)

        s3.put_object(
            Bucket=bucket,
            Key="objects/docs/victim",
            Body=source["Body"].read(),
            Metadata=source["Metadata"],
            ContentType=source["ContentType"],
        )
        with pytest.raises(IntegrityError):
            store.get("docs/victim")

        s3.copy_object(
            Bucket=bucket,
            Key="objects/docs/victim",
            CopySource={"Bucket": bucket, "Key": "objects/docs/other", "VersionId": other.version_id},
        )
        with pytest.raises(IntegrityError):
            store.get("docs/victim")

    def test_check_refuses_a_bucket_without_versions(self, moto: MotoServer, s3: Any, clock: FakeClock) -> None:
        setup = _s3_setup(moto)
        store = setup.store(clock, moto)
        store.check()

        s3.put_bucket_versioning(Bucket=setup.names.bucket, VersioningConfiguration={"Status": "Suspended"})

        with pytest.raises(IntegrityError, match="versions"):
            store.check()
