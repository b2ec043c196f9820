"""What every embedder shares: a vector cache keyed by a hash of the model id and the text, and the flow that
uses it (look the texts up, embed the misses in batches, store the new vectors).

The cache is a port-like protocol, :class:`VectorCache`, with one implementation per shape: SQLite for the
embedded deployment (:mod:`investai.adapters.local.vector_cache`), DynamoDB for the AWS one
(:mod:`investai.adapters.aws.dynamodb_vector_cache`), and :class:`MemoryVectorCache` for a process of its own.
Vectors travel as float32 bytes, so a vector read back is bit-for-bit the vector stored.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from investai.ports.knowledge import Vectors

Vector = NDArray[np.float32]
"""One embedding: a ``(dimension,)`` float32 array."""


class VectorCache(Protocol):
    """Vectors by :func:`cache_key`. Keys absent from the cache are absent from :meth:`get_many`'s answer; a
    cache may forget any entry at any time (it is a cache), but never answers with another key's vector."""

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Vector]:
        """The stored vectors of those ``keys`` that are present."""
        ...

    def put_many(self, entries: Mapping[bytes, Vector]) -> None:
        """Store (or overwrite) each key's vector."""
        ...

    def close(self) -> None:
        """Release connections; the cache may be used again afterwards only if the implementation says so."""
        ...


def cache_key(model_id: str, text: str) -> bytes:
    """The cache key of ``text`` embedded by ``model_id``: SHA-256 of both, so one model never reads another's
    vectors. ``model_id`` must name every setting that changes the vector (dimension, normalisation)."""
    return hashlib.sha256(f"{model_id}\0{text}".encode()).digest()


def encode_vector(vector: Vector) -> bytes:
    """The stored form of a vector: its float32 values, native (little-endian on every supported machine)."""
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def decode_vector(blob: bytes) -> Vector | None:
    """The vector stored as ``blob``; None for bytes that cannot be float32 values (damage: embed again)."""
    if not blob or len(blob) % 4:
        return None
    return np.frombuffer(blob, dtype=np.float32)


class MemoryVectorCache:
    """A :class:`VectorCache` in a dict, for one process (tests, short-lived tools). Unbounded."""

    def __init__(self) -> None:
        self._entries: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Vector]:
        with self._lock:
            blobs = {key: self._entries[key] for key in keys if key in self._entries}
        return {key: vector for key, blob in blobs.items() if (vector := decode_vector(blob)) is not None}

    def put_many(self, entries: Mapping[bytes, Vector]) -> None:
        encoded = {key: encode_vector(vector) for key, vector in entries.items()}
        with self._lock:
            self._entries.update(encoded)

    def close(self) -> None:
        """Nothing to release; the entries stay."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class CachedEmbedding(ABC):
    """The cache flow of an :class:`~investai.ports.knowledge.Embedder`: a subclass names its model and
    dimension and implements :meth:`_encode`, the single place a batch of texts becomes vectors.

    :meth:`embed` reuses cached vectors, embeds each distinct miss once, ``batch_size`` texts per
    :meth:`_encode` call, and stores the new vectors batch by batch (an interrupted call keeps its progress).
    A cached vector of the wrong length is treated as a miss. ``owns_cache``: whether :meth:`close` closes the
    cache too (an injected, shared cache stays open).
    """

    def __init__(self, *, cache: VectorCache | None, batch_size: int, owns_cache: bool = True) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._cache = cache
        self._batch_size = batch_size
        self._owns_cache = owns_cache

    @property
    @abstractmethod
    def model_id(self) -> str: ...

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @abstractmethod
    def _encode(self, batch: Sequence[str]) -> Vectors:
        """The ``(len(batch), dimension)`` float32 embeddings of one batch."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One float32 row per text, in order; see the class for the caching."""
        unique = list(dict.fromkeys(texts))
        model_id = self.model_id
        keys = {text: cache_key(model_id, text) for text in unique}
        known = self._lookup(list(keys.values()))
        misses = [text for text in unique if keys[text] not in known]
        for batch, vectors in self._encode_batches(misses):
            fresh = {keys[text]: vector for text, vector in zip(batch, vectors, strict=True)}
            if self._cache is not None:
                self._cache.put_many(fresh)
            known.update(fresh)
        return self._stack([known[keys[text]] for text in texts])

    def embed_uncached(self, texts: Sequence[str]) -> Vectors:
        """Embeddings computed by the model every time (same batching, no cache, no de-duplication): what a
        benchmark of the model itself measures."""
        return self._stack([row for _, vectors in self._encode_batches(list(texts)) for row in vectors])

    def close(self) -> None:
        if self._cache is not None and self._owns_cache:
            self._cache.close()

    def _lookup(self, keys: Sequence[bytes]) -> dict[bytes, Vector]:
        if self._cache is None or not keys:
            return {}
        dimension = self.dimension
        return {key: vector for key, vector in self._cache.get_many(keys).items() if vector.shape == (dimension,)}

    def _encode_batches(self, texts: Sequence[str]) -> Iterator[tuple[Sequence[str], Vectors]]:
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            yield batch, self._encode(batch)

    def _stack(self, rows: Sequence[Vector]) -> Vectors:
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)
