"""Contract of the Embedder port, run against every adapter in :data:`ADAPTERS`.

The embedded adapter is the real all-MiniLM-L6-v2 model, loaded once per session from the bundled package
(offline). The Titan adapter runs against a fake ``bedrock-runtime`` client whose vectors are hashes of the text:
the contract holds for it except the test of meaning, which only a real model can pass. Each test embeds texts
of its own (a per-test nonce) so that the shared vector cache never answers for a text another test embedded
first.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from investai.adapters.aws.bedrock_embeddings import TitanEmbedder
from investai.adapters.embedding_cache import CachedEmbedding, MemoryVectorCache
from investai.adapters.local.embedder import SentenceTransformerEmbedder
from investai.ports.knowledge import Embedder, Vectors


def _sentence_transformer(cache_dir: Path) -> Embedder:
    return SentenceTransformerEmbedder(cache_path=cache_dir / "embeddings.db", batch_size=4)


class HashingBedrockRuntime:
    """``bedrock-runtime`` for Titan v2 without AWS: each text's vector is seeded by its SHA-256."""

    def invoke_model(self, *, body: bytes, **_: object) -> dict[str, object]:
        request = json.loads(body)
        seed = int.from_bytes(hashlib.sha256(request["inputText"].encode()).digest()[:8], "big")
        values = np.random.default_rng(seed).standard_normal(request["dimensions"])
        return {"body": json.dumps({"embedding": (values / np.linalg.norm(values)).tolist()}).encode()}


def _titan(cache_dir: Path) -> Embedder:
    return TitanEmbedder(HashingBedrockRuntime(), dimension=256, concurrency=4, batch_size=4, cache=MemoryVectorCache())


ADAPTERS: dict[str, Callable[[Path], Embedder]] = {"sentence-transformers": _sentence_transformer, "titan": _titan}
DIMENSIONS = {"sentence-transformers": 384, "titan": 256}
SEMANTIC = {"sentence-transformers"}  # adapters with a real model behind them


@pytest.fixture(scope="session", params=sorted(ADAPTERS))
def adapter_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def session_embedder(adapter_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedder]:
    built = ADAPTERS[adapter_name](tmp_path_factory.mktemp("embedder"))
    yield built
    close = getattr(built, "close", None)
    if close is not None:
        close()


@pytest.fixture
def nonce() -> str:
    return secrets.token_hex(4)


class CountingEncoder:
    """Wraps the embedder's single inference method and records every batch it is given."""

    def __init__(self, inner: Callable[[list[str]], Vectors]) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []

    def __call__(self, batch: list[str]) -> Vectors:
        self.batches.append(list(batch))
        return self.inner(batch)

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


@pytest.fixture
def encoder_calls(session_embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> CountingEncoder:
    if not isinstance(session_embedder, CachedEmbedding):
        pytest.skip("counting model calls needs the adapter's inference hook")
    counter = CountingEncoder(session_embedder._encode)
    monkeypatch.setattr(session_embedder, "_encode", counter)
    return counter


def test_model_id_and_dimension(session_embedder: Embedder, adapter_name: str) -> None:
    assert session_embedder.dimension == DIMENSIONS[adapter_name]
    assert session_embedder.model_id


def test_one_float32_unit_row_per_text_in_order(session_embedder: Embedder, nonce: str) -> None:
    texts = [f"{nonce} first sentence", f"{nonce} second, rather different sentence", f"{nonce} third"]

    vectors = session_embedder.embed(texts)

    assert vectors.shape == (3, session_embedder.dimension)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(session_embedder.embed([texts[1]])[0], vectors[1])


def test_empty_input_gives_an_empty_matrix(session_embedder: Embedder) -> None:
    vectors = session_embedder.embed([])

    assert vectors.shape == (0, session_embedder.dimension)
    assert vectors.dtype == np.float32


def test_the_same_text_always_gets_the_same_vector(session_embedder: Embedder, nonce: str) -> None:
    text = f"{nonce} deterministic embeddings please"
    first = session_embedder.embed([text, "filler", text])

    assert np.array_equal(first[0], first[2])
    assert np.array_equal(session_embedder.embed([text])[0], first[0])


def test_related_sentences_are_closer_than_unrelated_ones(session_embedder: Embedder, adapter_name: str) -> None:
    if adapter_name not in SEMANTIC:
        pytest.skip("a fake model's vectors carry no meaning")
    anchor, related, unrelated = session_embedder.embed(
        [
            "The central bank raised interest rates to fight inflation.",
            "Monetary policy tightened as the Fed hiked borrowing costs.",
            "My grandmother grows tomatoes in her garden.",
        ]
    )

    assert float(anchor @ related) > float(anchor @ unrelated) + 0.2


# --- the cached adapters: cache and batching ---------------------------------------------------------------


def test_a_cache_hit_returns_the_stored_vector_without_running_the_model(
    session_embedder: Embedder, encoder_calls: CountingEncoder, nonce: str
) -> None:
    texts = [f"{nonce} cached sentence one", f"{nonce} cached sentence two"]
    first = session_embedder.embed(texts)
    assert encoder_calls.texts == texts

    again = session_embedder.embed([*texts, f"{nonce} a new one"])

    assert np.array_equal(again[:2], first)
    assert encoder_calls.texts == [*texts, f"{nonce} a new one"]


def test_the_cache_survives_a_new_embedder_on_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"{secrets.token_hex(4)} persisted vector"
    first = SentenceTransformerEmbedder(cache_path=tmp_path / "cache.db")
    stored = first.embed([text])
    first.close()
    second = SentenceTransformerEmbedder(cache_path=tmp_path / "cache.db")

    def fail(batch: list[str]) -> Vectors:
        raise AssertionError(f"the model ran for {batch}")

    monkeypatch.setattr(second, "_encode", fail)
    assert np.array_equal(second.embed([text]), stored)
    second.close()
    mode = stat.S_IMODE(os.stat(tmp_path / "cache.db").st_mode)
    assert mode == 0o600


def test_repeated_texts_are_embedded_once_and_misses_go_in_batches(
    session_embedder: Embedder, encoder_calls: CountingEncoder, nonce: str
) -> None:
    texts = [f"{nonce} sentence {n % 6}" for n in range(15)]  # 6 distinct texts, batch size 4

    vectors = session_embedder.embed(texts)

    assert [len(batch) for batch in encoder_calls.batches] == [4, 2]
    assert sorted(encoder_calls.texts) == sorted(set(texts))
    assert np.array_equal(vectors[0], vectors[6])


def test_uncached_embedding_always_runs_the_model_and_agrees_with_the_cached_path(
    session_embedder: Embedder, encoder_calls: CountingEncoder, nonce: str
) -> None:
    assert isinstance(session_embedder, CachedEmbedding)
    texts = [f"{nonce} benchmark text {n}" for n in range(5)]
    cached = session_embedder.embed(texts)

    uncached = session_embedder.embed_uncached(texts)

    assert len(encoder_calls.texts) == 10
    assert uncached.shape == cached.shape
    assert np.allclose(uncached, cached, atol=1e-5)
