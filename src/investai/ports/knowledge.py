"""The knowledge base's ports: an embedder (text -> vectors) and a search index (chunks in, hits out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchHit, SearchMode

Vectors = NDArray[np.float32]
"""A ``(n, dimension)`` array of L2-normalised embeddings, one row a text."""


class Embedder(Protocol):
    """Sentence embeddings. Vectors are L2-normalised, so cosine similarity is their dot product."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, in order; the same text always gets the same vector."""
        ...


class SearchIndex(Protocol):
    """Chunks with their vectors, searchable by keyword (BM25), meaning (cosine) or both (reciprocal-rank
    fusion), always through an :class:`AccessScope` applied inside the query."""

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Make ``chunks`` the document's only chunks (every version's chunks are replaced). Running it
        twice with the same input leaves the same index: no duplicates."""
        ...

    def delete_document(self, document_id: str) -> int:
        """Remove every chunk of the document; the number removed."""
        ...

    def search(
        self,
        *,
        query: str,
        vector: Sequence[float] | None,
        mode: SearchMode,
        scope: AccessScope,
        filters: SearchFilters,
        limit: int,
    ) -> list[SearchHit]:
        """The best ``limit`` chunks ``scope`` may see that pass ``filters``, best first. ``vector`` is the
        query's embedding, needed by the semantic and hybrid modes."""
        ...

    def count(self, document_id: str | None = None) -> int:
        """Chunks held, for one document or in all."""
        ...

    def chunks(self, document_id: str) -> list[Chunk]:
        """The document's chunks in ordinal order (no access filter: callers check the document first)."""
        ...

    def close(self) -> None:
        """Release threads and handles; the index is not used afterwards."""
        ...
