"""Encryption of backup blobs: AES-256-GCM over 1 MiB segments, the STREAM construction.

A blob is ``b"IAB1" | 7-byte random nonce prefix`` followed by the segments, each the AES-GCM ciphertext of up
to :data:`SEGMENT` plaintext bytes with its tag. Segment ``i`` uses the nonce ``prefix | u32 i | last``, where
``last`` is 1 only for the final segment, which is always shorter than a full one (possibly empty): a reordered,
dropped, repeated or truncated segment fails authentication. Segments keep memory flat for files of any size
(the market database, large documents), which a one-shot AEAD call cannot. ``cryptography`` has no streaming
AEAD, so this module builds one on its AES-GCM primitive.

A blob's id is the HMAC-SHA256 of its plaintext under the repository's identity key: the same file stored twice
is one blob (hourly backups only add what changed), ids reveal nothing about contents without the key, and a
reader recomputes the id from the decrypted bytes, so a blob swapped for another is caught.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from investai.domain.errors import IntegrityError

MAGIC = b"IAB1"
PREFIX_BYTES = 7
SEGMENT = 1 << 20
TAG_BYTES = 16
_COUNTER = struct.Struct(">I")
_INFO = b"investai backup repository v1"


@dataclass(frozen=True)
class RepositoryKeys:
    """The two keys of a backup repository, derived (HKDF-SHA256) from its one secret."""

    encryption: bytes = field(repr=False)
    identity: bytes = field(repr=False)

    @classmethod
    def derive(cls, secret: bytes) -> RepositoryKeys:
        material = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_INFO).derive(secret)
        return cls(encryption=material[:32], identity=material[32:])

    def mac(self, data: bytes) -> str:
        return hmac.new(self.identity, data, hashlib.sha256).hexdigest()


@dataclass
class Digests:
    """What a pass over a plaintext learns: its blob id, SHA-256 and size."""

    blob_id: str
    sha256: str
    size: int


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + _COUNTER.pack(index) + (b"\x01" if last else b"\x00")


def _pieces(source: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """The plaintext in segments, each with whether it is the last (always shorter than a full segment)."""
    piece = source.read(SEGMENT)
    while len(piece) == SEGMENT:
        yield piece, False
        piece = source.read(SEGMENT)
    yield piece, True


def seal(keys: RepositoryKeys, source: BinaryIO, sink: BinaryIO) -> Digests:
    """Encrypt ``source`` into ``sink``; returns the plaintext's id, SHA-256 and size."""
    cipher = AESGCM(keys.encryption)
    prefix = os.urandom(PREFIX_BYTES)
    identity = hmac.new(keys.identity, digestmod=hashlib.sha256)
    digest = hashlib.sha256()
    size = 0
    sink.write(MAGIC + prefix)
    for index, (piece, last) in enumerate(_pieces(source)):
        identity.update(piece)
        digest.update(piece)
        size += len(piece)
        sink.write(cipher.encrypt(_nonce(prefix, index, last), piece, None))
    return Digests(blob_id=identity.hexdigest(), sha256=digest.hexdigest(), size=size)


def open_sealed(keys: RepositoryKeys, source: BinaryIO, sink: BinaryIO | None) -> Digests:
    """Decrypt ``source`` into ``sink`` (or only check it, with ``sink=None``). Raises :class:`IntegrityError`
    when any segment fails authentication, the stream is truncated or anything follows its last segment."""
    cipher = AESGCM(keys.encryption)
    header = source.read(len(MAGIC) + PREFIX_BYTES)
    if len(header) != len(MAGIC) + PREFIX_BYTES or not header.startswith(MAGIC):
        raise IntegrityError("backup blob has no valid header")
    prefix = header[len(MAGIC) :]
    identity = hmac.new(keys.identity, digestmod=hashlib.sha256)
    digest = hashlib.sha256()
    size, index = 0, 0
    while True:
        chunk = source.read(SEGMENT + TAG_BYTES)
        last = len(chunk) < SEGMENT + TAG_BYTES
        try:
            piece = cipher.decrypt(_nonce(prefix, index, last), chunk, None)
        except InvalidTag as exc:
            raise IntegrityError(f"backup blob segment {index} failed its authentication check") from exc
        identity.update(piece)
        digest.update(piece)
        size += len(piece)
        if sink is not None:
            sink.write(piece)
        if last:
            break
        index += 1
    if source.read(1):
        raise IntegrityError("backup blob has data after its last segment")
    return Digests(blob_id=identity.hexdigest(), sha256=digest.hexdigest(), size=size)
