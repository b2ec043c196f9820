"""Builders for knowledge-base tests: chunks with sensible defaults, scopes, and a tiny deterministic embedder.

:class:`HashingEmbedder` hashes each word into one of ``dimension`` buckets and L2-normalises the counts, so
texts sharing words are close and the vectors are exact and instant: search-index tests can state precisely
which chunk is nearest without loading a language model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from investai.domain.documents import DocumentType, Visibility
from investai.domain.knowledge import AccessScope, Chunk
from investai.ports.knowledge import Vectors
from tests.factories import T0

DIMENSION = 384
ORG = "org_1"
OTHER_ORG = "org_2"

ALICE = AccessScope(user_id="user_alice", organisation_id=ORG, role="analyst")
BOB = AccessScope(user_id="user_bob", organisation_id=ORG, role="portfolio-manager")
MALLORY = AccessScope(user_id="user_mallory", organisation_id=OTHER_ORG, role="analyst")

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Bag-of-words vectors: word ``w`` adds 1 to bucket ``sha256(w) mod dimension``; rows have unit norm."""

    model_id = "test/hashing-bag-of-words"

    def __init__(self, dimension: int = DIMENSION) -> None:
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for word in _WORD.findall(text.lower()):
                row[int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big") % self.dimension] += 1.0
            norm = float(np.linalg.norm(row))
            if norm == 0.0:
                row[0], norm = 1.0, 1.0
            row /= norm
        return rows

    def embed_one(self, text: str) -> list[float]:
        return [float(x) for x in self.embed([text])[0]]


def make_chunk(
    text: str,
    *,
    document_id: str = "doc_a",
    ordinal: int = 0,
    version: int = 1,
    owner: AccessScope = ALICE,
    visibility: Visibility = Visibility.PRIVATE,
    document_date: datetime = T0,
    **overrides: Any,
) -> Chunk:
    """A chunk owned by ``owner`` in the owner's organisation; ``overrides`` set any other field."""
    fields: dict[str, Any] = {
        "id": f"{document_id}:v{version}:{ordinal}",
        "document_id": document_id,
        "version": version,
        "ordinal": ordinal,
        "text": text,
        "title": "Research note",
        "start_offset": 0,
        "end_offset": len(text),
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "owner_id": owner.user_id,
        "organisation_id": owner.organisation_id,
        "visibility": visibility,
        "doc_type": DocumentType.PDF,
        "document_date": document_date,
    }
    fields.update(overrides)
    return Chunk(**fields)
