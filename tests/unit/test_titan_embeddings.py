"""TitanEmbedder against a real ``bedrock-runtime`` client under botocore's Stubber (which checks each request
against the service model), and against a small fake client where calls run concurrently."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from structlog.testing import capture_logs

from investai.adapters.aws.bedrock_embeddings import MAX_INPUT_CHARS, TITAN_TEXT_V2, TitanEmbedder
from investai.adapters.embedding_cache import MemoryVectorCache, cache_key
from investai.domain.llm import BadModelOutput, ModelRefused, ModelThrottled, ModelUnavailable


def fake_vector(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector per text (seeded by its hash)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    values = np.random.default_rng(seed).standard_normal(dimension)
    return [float(value) for value in values / np.linalg.norm(values)]


def answer(embedding: list[float]) -> dict[str, Any]:
    data = json.dumps({"embedding": embedding, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


class JsonBody:
    """Matches a request body (bytes) whose JSON equals ``expected``, whatever the key order."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes | str) and json.loads(other) == self.expected

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"JsonBody({self.expected})"


def request(text: str, *, dimension: int = 256, normalize: bool = True) -> dict[str, Any]:
    return {
        "modelId": TITAN_TEXT_V2,
        "contentType": "application/json",
        "accept": "application/json",
        "body": JsonBody({"inputText": text, "dimensions": dimension, "normalize": normalize}),
    }


@pytest.fixture
def runtime() -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stubber(runtime: Any) -> Iterator[Stubber]:
    with Stubber(runtime) as stub:
        yield stub
        stub.assert_no_pending_responses()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def titan(client: Any, **options: Any) -> tuple[TitanEmbedder, Sleeps]:
    options = {"dimension": 256, "concurrency": 1, **options}
    embedder = TitanEmbedder(client, **options)
    sleeps = Sleeps()
    embedder._sleep = sleeps
    return embedder, sleeps


# --- requests and answers ------------------------------------------------------------------------------------


def test_each_text_is_one_invoke_model_call_with_the_titan_v2_body(runtime: Any, stubber: Stubber) -> None:
    texts = ["rates rise", "bonds fall"]
    for text in texts:
        stubber.add_response("invoke_model", answer(fake_vector(text, 256)), request(text))
    embedder, _ = titan(runtime)

    vectors = embedder.embed(texts)

    assert vectors.shape == (2, 256)
    assert vectors.dtype == np.float32
    assert np.allclose(vectors[0], fake_vector("rates rise", 256), atol=1e-6)
    assert np.allclose(vectors[1], fake_vector("bonds fall", 256), atol=1e-6)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-6)


def test_the_settings_go_into_the_body_and_the_model_id(runtime: Any, stubber: Stubber) -> None:
    raw = [0.5] * 512
    stubber.add_response("invoke_model", answer(raw), request("x", dimension=512, normalize=False))
    embedder, _ = titan(runtime, dimension=512, normalize=False)

    vector = embedder.embed(["x"])[0]

    assert embedder.model_id == f"{TITAN_TEXT_V2}/512/raw"
    assert embedder.dimension == 512
    assert np.array_equal(vector, np.full(512, 0.5, dtype=np.float32))  # not normalised when not asked to


def test_model_id_names_dimension_and_normalisation() -> None:
    assert TitanEmbedder(object()).model_id == "amazon.titan-embed-text-v2:0/1024/norm"
    assert TitanEmbedder(object(), dimension=256).model_id == "amazon.titan-embed-text-v2:0/256/norm"
    keys = {cache_key(TitanEmbedder(object(), dimension=d).model_id, "same text") for d in (256, 512, 1024)}
    assert len(keys) == 3


@pytest.mark.parametrize("dimension", [0, 128, 384, 1536])
def test_only_titan_v2_dimensions_are_accepted(dimension: int) -> None:
    with pytest.raises(ValueError, match="256, 512 or 1024"):
        TitanEmbedder(object(), dimension=dimension)


@pytest.mark.parametrize("option", [{"concurrency": 0}, {"batch_size": 0}, {"max_attempts": 0}])
def test_nonsense_options_are_refused(option: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TitanEmbedder(object(), **option)


def test_empty_input_makes_no_call(runtime: Any, stubber: Stubber) -> None:
    embedder, _ = titan(runtime)

    vectors = embedder.embed([])

    assert vectors.shape == (0, 256)
    assert vectors.dtype == np.float32


def test_a_blank_text_gets_a_fixed_unit_vector_without_a_call(runtime: Any, stubber: Stubber) -> None:
    embedder, _ = titan(runtime)

    vectors = embedder.embed(["", "   \n"])

    assert vectors.shape == (2, 256)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0)
    assert np.array_equal(vectors[0], vectors[1])


def test_a_text_over_50000_characters_is_cut_and_logged(runtime: Any, stubber: Stubber) -> None:
    text = "word " * 12_000  # 60,000 characters
    stubber.add_response("invoke_model", answer(fake_vector("long", 256)), request(text[:MAX_INPUT_CHARS]))
    embedder, _ = titan(runtime)

    with capture_logs() as logs:
        embedder.embed([text])

    cuts = [line for line in logs if line["event"] == "embedder.text_truncated"]
    assert len(cuts) == 1
    assert cuts[0]["key"] == cache_key(embedder.model_id, text).hex()
    assert (cuts[0]["chars"], cuts[0]["kept_chars"]) == (60_000, 50_000)
    assert cuts[0]["log_level"] == "warning"
    assert "word" not in json.dumps(cuts[0])  # the text itself is never logged


def test_a_text_over_the_token_limit_is_cut_in_proportion_and_sent_again(runtime: Any, stubber: Stubber) -> None:
    text = "x" * 40_000
    stubber.add_client_error(
        "invoke_model",
        service_error_code="ValidationException",
        service_message=(
            "400 Bad Request: Too many input tokens. Max input tokens: 8192, request input token count: 10000"
        ),
        http_status_code=400,
        expected_params=request(text),
    )
    kept = int(40_000 * 8192 / 10_000 * 0.95)
    stubber.add_response("invoke_model", answer(fake_vector("cut", 256)), request(text[:kept]))
    embedder, _ = titan(runtime)

    with capture_logs() as logs:
        vector = embedder.embed([text])[0]

    assert np.allclose(vector, fake_vector("cut", 256), atol=1e-6)
    cuts = [line for line in logs if line["event"] == "embedder.text_truncated"]
    assert [(cut["limit"], cut["tokens_counted"], cut["kept_chars"]) for cut in cuts] == [("8192 tokens", 10_000, kept)]


# --- errors -----------------------------------------------------------------------------------------------------


def test_throttling_is_retried_with_growing_jittered_back_off(runtime: Any, stubber: Stubber) -> None:
    for _ in range(2):
        stubber.add_client_error(
            "invoke_model", service_error_code="ThrottlingException", http_status_code=429, expected_params=request("a")
        )
    stubber.add_response("invoke_model", answer(fake_vector("a", 256)), request("a"))
    embedder, sleeps = titan(runtime, backoff_base_s=0.5)

    vector = embedder.embed(["a"])[0]

    assert np.allclose(vector, fake_vector("a", 256), atol=1e-6)
    assert len(sleeps.delays) == 2
    assert 0.25 <= sleeps.delays[0] <= 0.5
    assert 0.5 <= sleeps.delays[1] <= 1.0


def test_throttling_beyond_max_attempts_raises_model_throttled(runtime: Any, stubber: Stubber) -> None:
    for _ in range(3):
        stubber.add_client_error("invoke_model", service_error_code="ThrottlingException", http_status_code=429)
    embedder, sleeps = titan(runtime, max_attempts=3)

    with pytest.raises(ModelThrottled, match="after 3 attempts") as raised:
        embedder.embed(["a"])

    assert raised.value.retryable
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalServerException", 500), ("ServiceUnavailableException", 503), ("ModelNotReadyException", 429)],
)
def test_server_failures_are_retried_then_raised_as_unavailable(
    runtime: Any, stubber: Stubber, code: str, status: int
) -> None:
    for _ in range(2):
        stubber.add_client_error("invoke_model", service_error_code=code, http_status_code=status)
    embedder, _ = titan(runtime, max_attempts=2)

    with pytest.raises(ModelUnavailable, match="after 2 attempts"):
        embedder.embed(["a"])


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"])
def test_a_refused_request_is_model_refused_at_once(runtime: Any, stubber: Stubber, code: str) -> None:
    stubber.add_client_error("invoke_model", service_error_code=code, http_status_code=400)
    embedder, sleeps = titan(runtime)

    with pytest.raises(ModelRefused):
        embedder.embed(["a"])

    assert sleeps.delays == []


@pytest.mark.parametrize(
    "body",
    [
        {"embedding": [0.1] * 255},
        {"embedding": [0.1] * 1024},
        {"vector": [0.1] * 256},
        {"embedding": ["a"] * 256},
        {"embedding": [0.0] * 256},
        [0.1] * 256,
    ],
)
def test_an_answer_without_an_embedding_of_the_right_length_is_bad_output(
    runtime: Any, stubber: Stubber, body: Any
) -> None:
    data = json.dumps(body).encode()
    stubber.add_response(
        "invoke_model", {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}
    )
    embedder, _ = titan(runtime)

    with pytest.raises(BadModelOutput):
        embedder.embed(["a"])


# --- cache ------------------------------------------------------------------------------------------------------


def test_cached_texts_make_no_call(runtime: Any, stubber: Stubber) -> None:
    texts = ["alpha", "beta", "alpha"]
    for text in ("alpha", "beta"):  # a repeated text is sent once
        stubber.add_response("invoke_model", answer(fake_vector(text, 256)), request(text))
    cache = MemoryVectorCache()
    embedder, _ = titan(runtime, cache=cache)

    first = embedder.embed(texts)
    again = embedder.embed(texts)  # the Stubber has nothing left: any call would fail

    assert np.array_equal(first, again)
    assert np.array_equal(first[0], first[2])
    assert len(cache) == 2
    embedder.close()
    assert len(cache) == 2  # an injected cache is the caller's: closing the embedder leaves it be


def test_a_cached_vector_of_another_length_is_a_miss(runtime: Any, stubber: Stubber) -> None:
    cache = MemoryVectorCache()
    embedder, _ = titan(runtime, cache=cache)
    cache.put_many({cache_key(embedder.model_id, "alpha"): np.ones(3, dtype=np.float32)})
    stubber.add_response("invoke_model", answer(fake_vector("alpha", 256)), request("alpha"))

    vector = embedder.embed(["alpha"])[0]

    assert np.allclose(vector, fake_vector("alpha", 256), atol=1e-6)


# --- concurrency ------------------------------------------------------------------------------------------------


class FakeRuntime:
    """A ``bedrock-runtime`` stand-in answering each text with :func:`fake_vector` after a short delay that
    varies by text (so answers come back out of order), and recording how many calls overlap."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def invoke_model(self, **request: Any) -> dict[str, Any]:
        body = json.loads(request["body"])
        text = body["inputText"]
        with self._lock:
            self.calls.append(text)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.001 * (hashlib.sha256(text.encode()).digest()[0] % 20))
            if text == self.fail_on:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "ValidationException", "Message": "no"}}, "InvokeModel")
            return {"body": json.dumps({"embedding": fake_vector(text, body["dimensions"])}).encode()}
        finally:
            with self._lock:
                self.in_flight -= 1


def test_concurrent_calls_come_back_in_input_order() -> None:
    client = FakeRuntime()
    texts = [f"sentence number {n}" for n in range(40)]
    embedder = TitanEmbedder(client, dimension=256, concurrency=8, batch_size=16)

    vectors = embedder.embed(texts)
    embedder.close()

    expected = np.array([fake_vector(text, 256) for text in texts], dtype=np.float32)
    assert np.allclose(vectors, expected, atol=1e-6)
    assert sorted(client.calls) == sorted(texts)
    assert 1 < client.max_in_flight <= 8


def test_a_failed_call_fails_the_batch_and_the_pool_survives() -> None:
    client = FakeRuntime(fail_on="bad")
    embedder = TitanEmbedder(client, dimension=256, concurrency=4)

    with pytest.raises(ModelRefused):
        embedder.embed(["one", "two", "bad", "three"])
    vectors = embedder.embed(["four", "five"])
    embedder.close()

    assert vectors.shape == (2, 256)


def test_a_closed_embedder_refuses_concurrent_work() -> None:
    embedder = TitanEmbedder(FakeRuntime(), dimension=256, concurrency=2)
    embedder.close()

    with pytest.raises(RuntimeError, match="closed"):
        embedder.embed(["one", "two"])
