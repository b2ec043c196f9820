"""Envelope encryption: AES-256-GCM under a fresh data key that the KeyManager wraps.

Blob layout: ``b"IAE1" | u16 len(wrapped key) | wrapped key | 12-byte nonce | ciphertext+tag``.
The associated data binds the blob to what the caller says it is (object key, hash, metadata), so a blob
moved to another key or paired with edited metadata fails authentication.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from investai.domain.errors import IntegrityError
from investai.ports.keys import KeyManager

MAGIC = b"IAE1"
NONCE_BYTES = 12
_LENGTH = struct.Struct(">H")


class EnvelopeCipher:
    """Seals and opens byte strings with per-blob data keys."""

    def __init__(self, *, key_manager: KeyManager) -> None:
        self._keys = key_manager

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        data_key = self._keys.generate_data_key()
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key.plaintext).encrypt(nonce, plaintext, aad)
        return MAGIC + _LENGTH.pack(len(data_key.wrapped)) + data_key.wrapped + nonce + ciphertext

    def open(self, blob: bytes, *, aad: bytes) -> bytes:
        """The plaintext, or :class:`IntegrityError` if any byte of the blob or the aad differs."""
        header = len(MAGIC) + _LENGTH.size
        if len(blob) < header or not blob.startswith(MAGIC):
            raise IntegrityError("stored object is not a recognised encrypted envelope")
        (wrapped_len,) = _LENGTH.unpack_from(blob, len(MAGIC))
        body = header + wrapped_len
        if len(blob) < body + NONCE_BYTES + 16:
            raise IntegrityError("stored object is truncated")
        data_key = self._keys.unwrap(blob[header:body])
        nonce = blob[body : body + NONCE_BYTES]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[body + NONCE_BYTES :], aad)
        except InvalidTag as exc:
            raise IntegrityError("stored object failed its authentication check") from exc
