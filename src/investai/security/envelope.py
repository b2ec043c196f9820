"""Envelope encryption: AES-256-GCM under a fresh data key that the KeyManager wraps.

Blob layout: ``b"IAE1" | u16 len(wrapped key) | wrapped key | 12-byte nonce | ciphertext+tag``.
The associated data binds the blob to what the caller says it is (object key, hash, metadata), so a blob
moved to another key or paired with edited metadata fails authentication.

After a master-key rotation, a blob's data key can be *re-wrapped* under the current master key without touching
the ciphertext (:meth:`EnvelopeCipher.rewrap`) where the key manager can tell which master key wrapped a data key
and wrap a given one (:class:`RewrappingKeys`: the local keyring). KMS keeps every generation of its key material
behind one key id, so data keys wrapped there never need it.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from investai.domain.errors import IntegrityError
from investai.ports.keys import DataKey, KeyManager

MAGIC = b"IAE1"
NONCE_BYTES = 12
_LENGTH = struct.Struct(">H")


@runtime_checkable
class RewrappingKeys(Protocol):
    """A key manager that can move a data key to its current master key (the local keyring)."""

    def wrapped_key_id(self, wrapped: bytes) -> str:
        """The id of the master key that wrapped ``wrapped`` (as :meth:`KeyManager.current_key_id` names it)."""
        ...

    def rewrap(self, wrapped: bytes) -> DataKey:
        """The same data key, wrapped under the current master key; ``IntegrityError`` if it was tampered with."""
        ...


@dataclass
class RewrapCount:
    """What a walk over stored envelopes found: envelopes per master key id, and how many it re-wrapped."""

    seen: Counter[str] = field(default_factory=Counter)
    rewrapped: Counter[str] = field(default_factory=Counter)

    def add(self, other: RewrapCount) -> None:
        self.seen.update(other.seen)
        self.rewrapped.update(other.rewrapped)

    @property
    def total_rewrapped(self) -> int:
        return sum(self.rewrapped.values())


class EnvelopeCipher:
    """Seals and opens byte strings with per-blob data keys."""

    def __init__(self, *, key_manager: KeyManager) -> None:
        self._keys = key_manager

    @property
    def rewraps(self) -> bool:
        """Whether blobs sealed under an earlier master key can be re-wrapped (see the module notes)."""
        return isinstance(self._keys, RewrappingKeys)

    def key_id(self, blob: bytes) -> str | None:
        """The id of the master key that wrapped ``blob``'s data key; None where the key manager cannot tell."""
        if not isinstance(self._keys, RewrappingKeys):
            return None
        return self._keys.wrapped_key_id(_wrapped_key(blob)[0])

    def rewrap(self, blob: bytes) -> bytes | None:
        """``blob`` with its data key re-wrapped under the current master key, the ciphertext unchanged; None when
        it already is under the current key or the key manager cannot re-wrap. The wrapped key is authenticated
        (``IntegrityError`` if tampered with); the ciphertext is not read, so a damaged one stays damaged."""
        keys = self._keys
        if not isinstance(keys, RewrappingKeys):
            return None
        wrapped, body = _wrapped_key(blob)
        if keys.wrapped_key_id(wrapped) == keys.current_key_id():
            return None
        moved = keys.rewrap(wrapped)
        return MAGIC + _LENGTH.pack(len(moved.wrapped)) + moved.wrapped + blob[body:]

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        data_key = self._keys.generate_data_key()
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key.plaintext).encrypt(nonce, plaintext, aad)
        return MAGIC + _LENGTH.pack(len(data_key.wrapped)) + data_key.wrapped + nonce + ciphertext

    def open(self, blob: bytes, *, aad: bytes) -> bytes:
        """The plaintext, or :class:`IntegrityError` if any byte of the blob or the aad differs."""
        wrapped, body = _wrapped_key(blob)
        data_key = self._keys.unwrap(wrapped)
        nonce = blob[body : body + NONCE_BYTES]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[body + NONCE_BYTES :], aad)
        except InvalidTag as exc:
            raise IntegrityError("stored object failed its authentication check") from exc


def _wrapped_key(blob: bytes) -> tuple[bytes, int]:
    """The blob's wrapped data key and the offset of its nonce; ``IntegrityError`` if the blob is no envelope."""
    header = len(MAGIC) + _LENGTH.size
    if len(blob) < header or not blob.startswith(MAGIC):
        raise IntegrityError("stored object is not a recognised encrypted envelope")
    (wrapped_len,) = _LENGTH.unpack_from(blob, len(MAGIC))
    body = header + wrapped_len
    if len(blob) < body + NONCE_BYTES + 16:
        raise IntegrityError("stored object is truncated")
    return blob[header:body], body
