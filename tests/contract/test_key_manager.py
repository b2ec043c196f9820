"""Contract of the KeyManager port, run against every adapter in :data:`ADAPTERS`.

A factory returns a :class:`KeyManagerHarness`: the key manager and a way to open a second, independent
instance over the same key material (another process, or another KMS client). Behaviour only the local
keyring has (file modes, the master secret) is tested at the end of the module, then the KMS adapter's.

KMS runs on the session's moto server (started only when a KMS case runs). moto records rotations
(``RotateKeyOnDemand``, ``ListKeyRotations``, the rotation status) but keeps one key material, and reports no
key material ids: the adapter then names generations by their rotation count, and rotation is checked through
what KMS reports, not through new material.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.aws.kms_keys import DEFAULT_CONTEXT, KmsAccessDenied, KmsKeyManager
from investai.adapters.aws.provision import ensure_data_key
from investai.adapters.aws.resources import ResourceNames
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.keyring import KeyringError, LocalKeyring
from investai.domain.errors import IntegrityError
from investai.ports.keys import KeyManager
from tests.aws import MotoServer, fresh_prefix
from tests.factories import T0

MASTER_SECRET = "contract-test-master-secret-0123456789abcdef"
WRONG_SECRET = "not-the-master-secret-0123456789abcdef-xyz"


@dataclass(frozen=True)
class KeyManagerHarness:
    keys: KeyManager
    second_instance: Callable[[], KeyManager]
    """Another instance over the same key material, as a second process would hold."""


def _local_adapter(tmp_path: Path, clock: FakeClock) -> KeyManagerHarness:
    path = tmp_path / "keys" / "keyring.json"

    def build() -> KeyManager:
        return LocalKeyring(path=path, master_secret=MASTER_SECRET, clock=clock)

    return KeyManagerHarness(keys=build(), second_instance=build)


def _kms_adapter(tmp_path: Path, clock: FakeClock, *, moto: MotoServer) -> KeyManagerHarness:
    alias = ResourceNames(prefix=fresh_prefix()).key
    ensure_data_key(moto.client("kms"), alias)

    def build() -> KeyManager:
        return KmsKeyManager(kms=moto.client("kms"), key_id=alias)

    return KeyManagerHarness(keys=build(), second_instance=build)


ADAPTERS: dict[str, Callable[..., KeyManagerHarness]] = {
    "local": _local_adapter,
    "kms": _kms_adapter,
}
MOTO_ADAPTERS = frozenset({"kms"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> KeyManagerHarness:
    if request.param in MOTO_ADAPTERS:
        return ADAPTERS[request.param](tmp_path, clock, moto=request.getfixturevalue("moto"))
    return ADAPTERS[request.param](tmp_path, clock)


@pytest.fixture
def keys(harness: KeyManagerHarness) -> KeyManager:
    return harness.keys


# -- data keys ------------------------------------------------------------------------------------------


def test_data_keys_are_256_bit_and_unique(keys: KeyManager) -> None:
    generated = [keys.generate_data_key() for _ in range(50)]

    assert all(len(k.plaintext) == 32 for k in generated)
    assert len({k.plaintext for k in generated}) == 50
    assert len({k.wrapped for k in generated}) == 50
    assert all(k.plaintext not in k.wrapped for k in generated)


def test_a_data_key_is_wrapped_under_the_current_master_key(keys: KeyManager) -> None:
    assert keys.generate_data_key().key_id == keys.current_key_id()


def test_unwrap_returns_the_plaintext_data_key(keys: KeyManager) -> None:
    data_key = keys.generate_data_key()

    assert keys.unwrap(data_key.wrapped) == data_key.plaintext


def test_the_plaintext_is_not_in_the_repr(keys: KeyManager) -> None:
    data_key = keys.generate_data_key()

    assert data_key.plaintext.hex() not in repr(data_key)
    assert repr(data_key.plaintext) not in repr(data_key)


def test_flipping_any_byte_of_a_wrapped_key_raises_integrity_error(keys: KeyManager) -> None:
    wrapped = keys.generate_data_key().wrapped

    for index in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[index] ^= 0x01
        with pytest.raises(IntegrityError):
            keys.unwrap(bytes(tampered))


@pytest.mark.parametrize(
    "mutate",
    [lambda w: b"", lambda w: w[:-1], lambda w: w[:8], lambda w: w + b"\x00", lambda w: b"\x00" * len(w)],
    ids=["empty", "truncated-by-one", "truncated-to-header", "extended", "zeroed"],
)
def test_a_malformed_wrapped_key_raises_integrity_error(keys: KeyManager, mutate: Callable[[bytes], bytes]) -> None:
    wrapped = keys.generate_data_key().wrapped

    with pytest.raises(IntegrityError):
        keys.unwrap(mutate(wrapped))


# -- rotation -------------------------------------------------------------------------------------------


def test_rotate_makes_a_new_master_key_current(keys: KeyManager) -> None:
    before = keys.current_key_id()

    rotated = keys.rotate()

    assert rotated != before
    assert keys.current_key_id() == rotated
    assert keys.generate_data_key().key_id == rotated


def test_keys_wrapped_before_a_rotation_still_unwrap(keys: KeyManager) -> None:
    generations = [keys.generate_data_key()]
    for _ in range(3):
        keys.rotate()
        generations.append(keys.generate_data_key())

    assert len({k.key_id for k in generations}) == 4
    for data_key in generations:
        assert keys.unwrap(data_key.wrapped) == data_key.plaintext


# -- several instances ------------------------------------------------------------------------------------


def test_a_second_instance_unwraps_keys_from_the_first(harness: KeyManagerHarness) -> None:
    data_key = harness.keys.generate_data_key()

    other = harness.second_instance()

    assert other.unwrap(data_key.wrapped) == data_key.plaintext
    assert other.current_key_id() == harness.keys.current_key_id()


def test_a_second_instance_sees_a_rotation_made_by_the_first(harness: KeyManagerHarness) -> None:
    other = harness.second_instance()
    assert other.current_key_id() == harness.keys.current_key_id()

    rotated = harness.keys.rotate()

    assert other.current_key_id() == rotated
    assert other.generate_data_key().key_id == rotated
    after = harness.keys.generate_data_key()
    assert other.unwrap(after.wrapped) == after.plaintext


def test_rotations_from_two_instances_do_not_collide(harness: KeyManagerHarness) -> None:
    first, second = harness.keys, harness.second_instance()
    wrapped = [first.generate_data_key()]

    ids = [first.rotate(), second.rotate(), first.rotate()]
    wrapped += [first.generate_data_key(), second.generate_data_key()]

    assert len(set(ids)) == 3
    assert first.current_key_id() == second.current_key_id() == ids[-1]
    for data_key in wrapped:
        assert first.unwrap(data_key.wrapped) == data_key.plaintext
        assert second.unwrap(data_key.wrapped) == data_key.plaintext


def test_instances_started_together_agree_on_the_key_material(harness: KeyManagerHarness) -> None:
    instances = [harness.keys, *(harness.second_instance() for _ in range(3))]
    results: dict[int, bytes] = {}
    wrapped: dict[int, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(instances))

    def generate(index: int, keys: KeyManager) -> None:
        try:
            barrier.wait()
            data_key = keys.generate_data_key()
            results[index], wrapped[index] = data_key.plaintext, data_key.wrapped
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=generate, args=(i, k)) for i, k in enumerate(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for keys in instances:
        for index, blob in wrapped.items():
            assert keys.unwrap(blob) == results[index]


# -- local keyring specifics ------------------------------------------------------------------------------


class TestLocalKeyring:
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "keys" / "keyring.json"

    def keyring(self, path: Path, secret: str = MASTER_SECRET) -> LocalKeyring:
        return LocalKeyring(path=path, master_secret=secret, clock=FakeClock(T0))

    def test_the_keyring_file_is_readable_by_its_owner_only(self, path: Path) -> None:
        keyring = self.keyring(path)
        keyring.generate_data_key()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

        keyring.rotate()

        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_the_keyring_file_does_not_hold_the_secret_or_the_master_keys_in_clear(self, path: Path) -> None:
        keyring = self.keyring(path)
        keyring.generate_data_key()

        raw = path.read_bytes()
        document = json.loads(raw)

        assert MASTER_SECRET.encode() not in raw
        assert {"version", "created_at", "sealed"} == set(document["keys"][0])
        assert document["keys"][0]["created_at"] == T0.isoformat()

    def test_a_wrong_master_secret_is_an_error_not_garbage(self, path: Path) -> None:
        data_key = self.keyring(path).generate_data_key()

        wrong = self.keyring(path, WRONG_SECRET)

        with pytest.raises(KeyringError):
            wrong.unwrap(data_key.wrapped)
        with pytest.raises(KeyringError):
            wrong.generate_data_key()
        with pytest.raises(KeyringError):
            wrong.current_key_id()

    def test_rotating_with_a_wrong_master_secret_fails_and_leaves_the_keyring_intact(self, path: Path) -> None:
        right = self.keyring(path)
        data_key = right.generate_data_key()
        before = path.read_bytes()

        with pytest.raises(KeyringError):
            self.keyring(path, WRONG_SECRET).rotate()

        assert path.read_bytes() == before
        reopened = self.keyring(path)
        assert reopened.unwrap(data_key.wrapped) == data_key.plaintext
        assert reopened.generate_data_key().key_id == right.current_key_id()

    def test_a_wrapped_key_naming_an_unknown_master_version_raises_integrity_error(self, path: Path) -> None:
        keyring = self.keyring(path)
        wrapped = bytearray(keyring.generate_data_key().wrapped)
        wrapped[3:7] = (999).to_bytes(4, "big")

        with pytest.raises(IntegrityError, match="999"):
            keyring.unwrap(bytes(wrapped))

    def test_check_passes_on_a_working_keyring(self, path: Path) -> None:
        self.keyring(path).check()


# -- KMS adapter specifics --------------------------------------------------------------------------------


class TestKms:
    @pytest.fixture
    def kms(self, moto: MotoServer) -> Any:
        return moto.client("kms")

    @pytest.fixture
    def alias(self, kms: Any) -> str:
        alias = ResourceNames(prefix=fresh_prefix()).key
        ensure_data_key(kms, alias)
        return alias

    def test_ensure_data_key_makes_a_symmetric_key_with_its_alias_and_rotation_on(self, kms: Any) -> None:
        alias = ResourceNames(prefix=fresh_prefix()).key

        arn = ensure_data_key(kms, alias)

        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
        assert metadata["Arn"] == arn
        assert (metadata["KeySpec"], metadata["KeyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
        assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is True
        assert ensure_data_key(kms, alias) == arn  # idempotent: the same key

    def test_key_ids_name_the_key_and_its_material_generation(self, kms: Any, alias: str) -> None:
        keys = KmsKeyManager(kms=kms, key_id=alias)
        arn = kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]

        assert keys.current_key_id() == f"{arn}#rotation-0"
        assert keys.rotate() == f"{arn}#rotation-1"
        assert keys.generate_data_key().key_id == f"{arn}#rotation-1"

    def test_rotate_keeps_automatic_rotation_on_and_is_recorded_by_kms(self, kms: Any, alias: str) -> None:
        keys = KmsKeyManager(kms=kms, key_id=alias)
        arn = kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
        kms.disable_key_rotation(KeyId=arn)

        keys.rotate()

        assert keys.rotation_enabled()
        rotations = kms.list_key_rotations(KeyId=arn)["Rotations"]
        assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]

    def test_a_data_key_opens_only_under_its_encryption_context(self, kms: Any, alias: str) -> None:
        data_key = KmsKeyManager(kms=kms, key_id=alias).generate_data_key()

        opened = kms.decrypt(CiphertextBlob=data_key.wrapped, EncryptionContext=dict(DEFAULT_CONTEXT))
        assert opened["Plaintext"] == data_key.plaintext
        other_purpose = KmsKeyManager(kms=kms, key_id=alias, encryption_context={"purpose": "something-else"})
        with pytest.raises(IntegrityError):
            other_purpose.unwrap(data_key.wrapped)
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=data_key.wrapped)

    def test_a_data_key_wrapped_under_another_kms_key_is_refused(self, kms: Any, alias: str) -> None:
        other_alias = ResourceNames(prefix=fresh_prefix()).key
        ensure_data_key(kms, other_alias)
        foreign = KmsKeyManager(kms=kms, key_id=other_alias).generate_data_key()

        with pytest.raises(IntegrityError):
            KmsKeyManager(kms=kms, key_id=alias).unwrap(foreign.wrapped)

    def test_an_altered_key_reference_is_an_integrity_error(self, kms: Any, alias: str) -> None:
        """moto's ciphertext starts with the key id in clear; altering it names no key (AccessDenied)."""
        keys = KmsKeyManager(kms=kms, key_id=alias)
        wrapped = bytearray(keys.generate_data_key().wrapped)
        wrapped[0] ^= 0x01

        with pytest.raises(KmsAccessDenied):
            keys.unwrap(bytes(wrapped))

    def test_check_passes_on_a_working_key(self, kms: Any, alias: str) -> None:
        KmsKeyManager(kms=kms, key_id=alias).check()
