"""A local keyring of versioned AES-256 master keys, the embedded stand-in for KMS.

The keyring file (mode 0600) holds each master key sealed with a key derived (scrypt) from the
configured master secret, so the data directory alone does not reveal them. Data keys are wrapped as
``b"LK1" | u32 master version | nonce | AES-GCM(master, data key)``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from investai.adapters.local.fsutil import atomic_write, ensure_private_dir
from investai.domain.errors import IntegrityError
from investai.ports.clock import Clock
from investai.ports.keys import DataKey

WRAP_MAGIC = b"LK1"
_VERSION = struct.Struct(">I")
_WRAP_AAD = b"investai:data-key"
_SEAL_AAD = b"investai:master-key"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes whenever the keyring file is replaced (atomic writes give it a new inode)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _wrapped_version(wrapped: bytes) -> int:
    """The master key version named by a wrapped data key; ``IntegrityError`` if it is no wrapped key."""
    if len(wrapped) < len(WRAP_MAGIC) + _VERSION.size + 12 + 16 or not wrapped.startswith(WRAP_MAGIC):
        raise IntegrityError("wrapped data key is malformed")
    (version,) = _VERSION.unpack_from(wrapped, len(WRAP_MAGIC))
    return int(version)


class KeyringError(IntegrityError):
    code = "keyring_error"


class LocalKeyring:
    health_name = "keyring"

    def __init__(self, *, path: Path, master_secret: str, clock: Clock) -> None:
        self._path = path
        self._secret = master_secret.encode()
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[int, bytes] = {}
        self._current = 0
        self._kek: bytes | None = None
        self._loaded: tuple[int, int, int] | None = None  # signature of the file the keys came from

    # -- KeyManager ---------------------------------------------------------------------------------
    def generate_data_key(self) -> DataKey:
        return self._wrap(AESGCM.generate_key(bit_length=256))

    def unwrap(self, wrapped: bytes) -> bytes:
        header = len(WRAP_MAGIC) + _VERSION.size
        version = _wrapped_version(wrapped)
        master = self._key(version)
        nonce = wrapped[header : header + 12]
        try:
            return AESGCM(master).decrypt(nonce, wrapped[header + 12 :], _WRAP_AAD)
        except InvalidTag as exc:
            raise IntegrityError("wrapped data key failed its authentication check") from exc

    def rotate(self) -> str:
        with self._lock, self._file_lock():
            document = self._read_or_create()
            self._load(document)  # refuses a wrong master secret before anything is written
            version = max(entry["version"] for entry in document["keys"]) + 1
            document["keys"].append(self._seal_entry(version, AESGCM.generate_key(bit_length=256), document))
            document["current"] = version
            atomic_write(self._path, json.dumps(document, indent=1).encode())
            self._load(document)
            self._loaded = _signature(self._path)
        return f"local:{version}"

    def current_key_id(self) -> str:
        return f"local:{self._current_key()[0]}"

    # -- RewrappingKeys (security.envelope) ---------------------------------------------------------
    def wrapped_key_id(self, wrapped: bytes) -> str:
        return f"local:{_wrapped_version(wrapped)}"

    def rewrap(self, wrapped: bytes) -> DataKey:
        """The data key inside ``wrapped``, wrapped again under the current master key."""
        return self._wrap(self.unwrap(wrapped))

    # -- HealthCheck --------------------------------------------------------------------------------
    def check(self) -> None:
        self.unwrap(self.generate_data_key().wrapped)

    # -- internals ----------------------------------------------------------------------------------
    def _wrap(self, plaintext: bytes) -> DataKey:
        version, master = self._current_key()
        nonce = os.urandom(12)
        wrapped = WRAP_MAGIC + _VERSION.pack(version) + nonce + AESGCM(master).encrypt(nonce, plaintext, _WRAP_AAD)
        return DataKey(plaintext=plaintext, wrapped=wrapped, key_id=f"local:{version}")

    def _current_key(self) -> tuple[int, bytes]:
        with self._lock:
            if not self._keys or _signature(self._path) != self._loaded:
                self._refresh()  # first use, or another process rotated
            return self._current, self._keys[self._current]

    def _key(self, version: int) -> bytes:
        with self._lock:
            if version not in self._keys:
                self._refresh()  # another process may have rotated
            if version not in self._keys:
                raise IntegrityError(f"master key version {version} is not in the keyring")
            return self._keys[version]

    def _refresh(self) -> None:
        if self._path.exists():
            signature = _signature(self._path)  # taken before reading: a later change is seen next time
            self._load(json.loads(self._path.read_bytes()))
            self._loaded = signature
            return
        with self._file_lock():
            self._load(self._read_or_create())
            self._loaded = _signature(self._path)

    def _read_or_create(self) -> dict[str, Any]:
        if self._path.exists():
            return dict(json.loads(self._path.read_bytes()))
        document: dict[str, Any] = {
            "format": 1,
            "kdf": {"name": "scrypt", "salt": _b64(os.urandom(16)), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "current": 1,
            "keys": [],
        }
        document["keys"].append(self._seal_entry(1, AESGCM.generate_key(bit_length=256), document))
        atomic_write(self._path, json.dumps(document, indent=1).encode(), exclusive=True)
        return dict(json.loads(self._path.read_bytes()))

    def _kek_for(self, document: dict[str, Any]) -> bytes:
        if self._kek is None:
            kdf = document["kdf"]
            salt = base64.b64decode(kdf["salt"])
            self._kek = Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(self._secret)
        return self._kek

    def _seal_entry(self, version: int, key: bytes, document: dict[str, Any]) -> dict[str, Any]:
        nonce = os.urandom(12)
        sealed = AESGCM(self._kek_for(document)).encrypt(nonce, key, _SEAL_AAD + _VERSION.pack(version))
        created: datetime = self._clock.now()
        return {"version": version, "created_at": created.isoformat(), "sealed": _b64(nonce + sealed)}

    def _load(self, document: dict[str, Any]) -> None:
        kek = self._kek_for(document)
        keys: dict[int, bytes] = {}
        for entry in document["keys"]:
            raw, aad = base64.b64decode(entry["sealed"]), _SEAL_AAD + _VERSION.pack(entry["version"])
            try:
                keys[entry["version"]] = AESGCM(kek).decrypt(raw[:12], raw[12:], aad)
            except InvalidTag as exc:
                raise KeyringError("the keyring cannot be opened with the configured master secret") from exc
        self._keys, self._current = keys, int(document["current"])

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        ensure_private_dir(self._path.parent)
        fd = os.open(self._path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
