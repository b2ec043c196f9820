"""Encryption at rest, end to end through the composition root.

Objects and user profiles carry distinctive plaintext markers; no file under the data directory (object
blobs and sidecars, the SQLite database and its WAL, the keyring) may contain any of them, raw or in a
common re-encoding. Rotation and a restart must not lose access to anything written before.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.keyring import LocalKeyring
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import InvestmentPreferences, UserProfile
from investai.ports.keys import DataKey, KeyManager
from tests.factories import T0, make_profile, make_user

MASTER_SECRET = "encryption-test-master-secret-" + "7f3a9c2e" * 4


def _marker(label: str) -> str:
    return f"MARKER-{label}-{secrets.token_hex(8)}"


def _encodings(marker: bytes) -> list[bytes]:
    """The marker raw, as hex, as UTF-16 (text markers), and the part of its base64 form that holds at any
    alignment."""
    forms = [marker, marker.hex().encode(), marker.hex().upper().encode()]
    if marker.isascii():
        forms.append(marker.decode().encode("utf-16-le"))
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + marker)
        forms.append(encoded[4 : len(encoded) - 4])
    return forms


def _files_under(root: Path) -> list[Path]:
    return [Path(directory) / name for directory, _dirs, names in os.walk(root) for name in names]


def _leaks(root: Path, markers: list[bytes]) -> list[str]:
    """Every (file, marker) pair where the file holds the marker in any of its encodings."""
    found = []
    for path in _files_under(root):
        content = path.read_bytes()
        for marker in markers:
            if any(form in content for form in _encodings(marker)):
                found.append(f"{path.relative_to(root)} holds {marker[:40]!r}")
    return found


@dataclass
class RecordingKeyManager:
    """Passes through to a real KeyManager and remembers every plaintext data key it handed out."""

    inner: KeyManager
    plaintexts: list[bytes]

    def generate_data_key(self) -> DataKey:
        data_key = self.inner.generate_data_key()
        self.plaintexts.append(data_key.plaintext)
        return data_key

    def unwrap(self, wrapped: bytes) -> bytes:
        return self.inner.unwrap(wrapped)

    def rotate(self) -> str:
        return self.inner.rotate()

    def current_key_id(self) -> str:
        return self.inner.current_key_id()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", master_secret=SecretStr(MASTER_SECRET), _env_file=None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def container(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    built = build_container(settings, clock=clock)
    yield built
    built.close()


def _profile_with(sector_marker: str, exclusion_marker: str) -> UserProfile:
    preferences = InvestmentPreferences(sectors=["Utilities", sector_marker], exclusions=[exclusion_marker])
    return make_profile(make_user(display_name="Plain Name"), preferences=preferences)


def test_no_plaintext_reaches_the_disk_and_everything_survives_rotation_and_restart(
    settings: Settings, clock: FakeClock, container: Container
) -> None:
    before = {f"docs/before/{n}": _marker(f"object-before-{n}") for n in range(3)}
    after = {f"docs/after/{n}": _marker(f"object-after-{n}") for n in range(3)}
    bulky = _marker("bulky")
    bulky_data = (bulky.encode() + os.urandom(4093)) * 64  # 256 KiB with the marker every 4 KiB
    sector, exclusion = _marker("sector"), _marker("exclusion")
    profile = _profile_with(sector, exclusion)

    written = {
        key: container.objects.put(key, text.encode(), content_type="text/plain") for key, text in before.items()
    }
    written["docs/bulky"] = container.objects.put("docs/bulky", bulky_data)
    container.profiles.put(profile)
    old_key_id = container.keys.current_key_id()

    new_key_id = container.keys.rotate()
    written |= {key: container.objects.put(key, text.encode()) for key, text in after.items()}

    assert new_key_id != old_key_id
    for key, text in (before | after).items():
        assert container.objects.get(key, written[key].version_id).data == text.encode()
    assert container.objects.get("docs/bulky").data == bulky_data
    assert container.profiles.get(profile.user_id) == profile

    markers = [m.encode() for m in [*before.values(), *after.values(), bulky, sector, exclusion, MASTER_SECRET]]
    assert _leaks(settings.data_dir, markers) == []
    wal = settings.database_path.with_name(settings.database_path.name + "-wal")
    assert wal.exists(), "the scan should have covered the write-ahead log"
    assert settings.keyring_path.exists()

    container.close()
    assert _leaks(settings.data_dir, markers) == []  # after the WAL is checkpointed into the database

    restarted = build_container(settings, clock=clock)
    try:
        assert restarted.keys.current_key_id() == new_key_id
        for key, text in (before | after).items():
            assert restarted.objects.get(key).data == text.encode()
        assert restarted.objects.get("docs/bulky").data == bulky_data
        assert restarted.profiles.get(profile.user_id) == profile
    finally:
        restarted.close()


def test_a_profile_rewritten_after_rotation_reads_back_after_restart(
    settings: Settings, clock: FakeClock, container: Container
) -> None:
    sector = _marker("sector")
    profile = _profile_with(sector, _marker("exclusion"))
    container.profiles.put(profile)
    container.keys.rotate()
    updated = profile.model_copy(update={"preferences": InvestmentPreferences(sectors=[sector, "Energy"])})
    container.profiles.put(updated)
    container.close()

    restarted = build_container(settings, clock=clock)
    try:
        assert restarted.profiles.get(profile.user_id) == updated
    finally:
        restarted.close()
    assert _leaks(settings.data_dir, [sector.encode()]) == []


def test_no_data_key_reaches_the_disk_in_clear(settings: Settings, clock: FakeClock) -> None:
    keyring = LocalKeyring(path=settings.keyring_path, master_secret=MASTER_SECRET, clock=clock)
    recorder = RecordingKeyManager(inner=keyring, plaintexts=[])
    container = build_container(settings, clock=clock, keys=recorder)
    try:
        for n in range(5):
            container.objects.put(f"docs/{n}", os.urandom(1000))
        container.profiles.put(_profile_with(_marker("sector"), _marker("exclusion")))
        recorder.rotate()
        container.objects.put("docs/after-rotation", b"data")
    finally:
        container.close()

    assert len(recorder.plaintexts) == 7
    assert _leaks(settings.data_dir, recorder.plaintexts) == []


@pytest.mark.parametrize(
    "encode",
    [
        lambda m: m,
        lambda m: m.hex().encode(),
        lambda m: base64.b64encode(m),
        lambda m: base64.b64encode(b"\x01" + m),
        lambda m: base64.b64encode(b"\x01\x02" + m),
        lambda m: m.decode().encode("utf-16-le"),
    ],
    ids=["raw", "hex", "base64", "base64-shifted-1", "base64-shifted-2", "utf-16"],
)
def test_the_scan_finds_a_planted_marker(tmp_path: Path, encode: Callable[[bytes], bytes]) -> None:
    marker = _marker("planted").encode()
    hidden = tmp_path / "var" / "deep" / ".hidden"
    hidden.mkdir(parents=True)
    (hidden / "file.bin").write_bytes(os.urandom(100) + encode(marker) + os.urandom(100))

    assert _leaks(tmp_path / "var", [marker]) == [f"deep/.hidden/file.bin holds {marker!r}"]
