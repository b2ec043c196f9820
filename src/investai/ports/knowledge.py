"""The knowledge base's ports: an embedder (text -> vectors) and a search index (chunks in, hits out), and the
scoring rules every search index follows (:data:`KEYWORD_WEIGHT`, :func:`above_floor`).

Hybrid search fuses the two rankings by a convex combination of normalised scores (Bruch, Gai and Ingber, "An
Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 42(1), 2023): a chunk scores
``alpha * keyword + (1 - alpha) * semantic``, where ``keyword`` is its BM25 score min-max normalised over the keyword
candidates (the best 1, the weakest 0) and ``semantic`` its cosine similarity normalised from cosine's
theoretical minimum (-1) to the best candidate's (the best 1); a chunk one half did not find gets 0 from that
half. Unlike reciprocal-rank fusion, a chunk the keyword half ranks well but only by a hair (a word every
footer repeats) earns little, and how far apart two hits are counts, not only their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchHit, SearchMode

Vectors = NDArray[np.float32]
"""A ``(n, dimension)`` array of L2-normalised embeddings, one row a text."""

KEYWORD_WEIGHT = 0.1
"""alpha, hybrid search's weight on the normalised keyword score (the semantic score has ``1 - alpha``).

Chosen on both labelled question sets over the sample corpus, pooled: ``tests/data/retrieval_queries.json``
(58 questions mostly in the documents' own words) and ``tests/data/retrieval_paraphrases.json`` (49 that share
few words with the passage answering them). Of alpha = 0, 0.025, ..., 0.5, 0.1 has the best mean reciprocal
rank of the top 10 over the 107 (recall@5 0.948 and 0.857, MRR@10 0.863 and 0.699 on the two sets). Cross-
validated (five folds per set, twenty shuffles, alpha picked on the other four folds and scored on the fifth)
0.1 is picked in 72 of the 100 folds, 0.05 to 0.125 in the rest, and scores 0.949 and 0.850 recall@5 out of
fold. Chosen on the first set alone alpha would be 0.125 (0.966 there), and the paraphrases, held out, score
0.837 / 0.665 with it: keyword evidence helps questions worded like the text and misleads paraphrases, hence
the small weight. Reproduce with ``.venv/bin/python -m benchmarks.knowledge retrieval``; re-run it to choose
again when the embedding model or the chunking changes."""

MIN_HITS = 3
"""A search returns its best ``MIN_HITS`` hits (within ``limit``) whatever their scores, so a query whose top
hit is a confident near miss still shows the runners-up."""

RELATIVE_FLOOR: dict[SearchMode, float] = {SearchMode.KEYWORD: 0.3, SearchMode.SEMANTIC: 0.9, SearchMode.HYBRID: 0.8}
"""Past :data:`MIN_HITS`, a hit is returned only when its score, counted up from the score's theoretical
minimum (:data:`SCORE_MINIMUM`), is at least this share of the best hit's: BM25 at least 0.3 of the best, the
cosine similarity's height above -1 at least 0.9 of the best's, the hybrid score at least 0.8 of the best.

Relative to the best hit rather than absolute, because no absolute number means the same across queries,
corpora and embedding models: BM25 is unbounded and grows with the query's length and the rarity of its
words, and how high cosine similarities run depends on the model (Bedrock's Titan embeddings in the AWS shape
score differently from MiniLM). The price: a question nothing answers still gets its nearest passages.

Each floor is the highest, in steps of 0.05, that loses none of the answers the two labelled sets had in their
top 5 (fitted on the questions the recall is reported on, so by construction; 0.05 stricter loses one keyword,
two semantic or two hybrid answers). With ``limit`` 20 a search then returns on average 8.2 keyword, 6.6
semantic and 10.4 hybrid hits instead of 20. An adapter whose hybrid score is normalised differently sets its
own hybrid floor by the same measure."""

SCORE_MINIMUM: dict[SearchMode, float] = {SearchMode.KEYWORD: 0.0, SearchMode.SEMANTIC: -1.0, SearchMode.HYBRID: 0.0}
"""The lowest score each mode can give: BM25 0, cosine similarity -1, the hybrid score 0."""


def above_floor(hits: Sequence[SearchHit], mode: SearchMode, *, floor: float | None = None) -> list[SearchHit]:
    """``hits`` (best first) cut at the relevance floor: the first :data:`MIN_HITS`, then those scoring at least
    ``floor`` (default :data:`RELATIVE_FLOOR` of ``mode``) of the best, measured from :data:`SCORE_MINIMUM`."""
    if not hits:
        return []
    lowest = SCORE_MINIMUM[mode]
    share = RELATIVE_FLOOR[mode] if floor is None else floor
    cut = lowest + share * (hits[0].score - lowest)
    return [hit for rank, hit in enumerate(hits) if rank < MIN_HITS or hit.score >= cut]


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
    """Chunks with their vectors, searchable by keyword (BM25), meaning (cosine) or both (a convex combination
    of the normalised scores, weighted :data:`KEYWORD_WEIGHT` to keyword), always through an
    :class:`AccessScope` applied inside the query, and cut at a relevance floor (:func:`above_floor`)."""

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
        """The chunks ``scope`` may see that pass ``filters`` and the relevance floor, best first, at most
        ``limit`` of them: a query few chunks answer returns few hits. ``vector`` is the query's embedding,
        needed by the semantic and hybrid modes. Scores: BM25 (keyword), cosine similarity (semantic), the
        fused score in [0, 1] (hybrid), with both components' raw scores and ranks kept on hybrid hits."""
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
