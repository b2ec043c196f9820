"""Sentence embeddings from Amazon Titan Text Embeddings v2 on Bedrock (``InvokeModel``), the AWS shape's
:class:`~investai.ports.knowledge.Embedder`.

Titan v2 embeds one text per call (its body has no batch form), so a batch is sent as up to ``concurrency``
calls in flight on a thread pool, and the rows come back in input order. Vectors are cached by content hash
through the same flow as the local embedder (:class:`~investai.adapters.embedding_cache.CachedEmbedding`),
normally in DynamoDB (:class:`~investai.adapters.aws.dynamodb_vector_cache.DynamoDbVectorCache`); the cache's
model id names the dimension and normalisation, so vectors of different settings never mix.

Limits: Titan takes at most 50,000 characters and 8,192 tokens. A longer text is cut to 50,000 characters
before it is sent, and if Titan still counts too many tokens it is cut further in proportion to the counts
Titan reports; each cut is logged with the text's cache key (never the text). A blank text (empty or only
white space) is not sent, since Titan refuses it: like the local model, which embeds an empty text without
complaint, it gets a fixed unit vector.

Errors: throttling and server-side failures (5xx, model not ready, timeouts) are retried with exponential
back-off and jitter up to ``max_attempts`` calls, then raised as :class:`~investai.domain.llm.ModelThrottled`
or :class:`~investai.domain.llm.ModelUnavailable`; a refused request (validation, access, unknown model) is
:class:`~investai.domain.llm.ModelRefused` at once, and an answer without an ``embedding`` of the right
length is :class:`~investai.domain.llm.BadModelOutput`.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from botocore.client import BaseClient
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from investai.adapters.embedding_cache import CachedEmbedding, Vector, VectorCache, cache_key
from investai.domain.llm import BadModelOutput, ModelError, ModelRefused, ModelThrottled, ModelUnavailable
from investai.observability.logging import get_logger
from investai.ports.knowledge import Vectors

log = get_logger(__name__)

TITAN_TEXT_V2 = "amazon.titan-embed-text-v2:0"
DIMENSIONS = (256, 512, 1024)
"""The output sizes Titan Text Embeddings v2 offers."""

MAX_INPUT_CHARS = 50_000
MAX_INPUT_TOKENS = 8_192

_MAX_CUTS = 4  # further cuts after Titan counted too many tokens
_BACKOFF_CAP_S = 20.0
_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"})
_UNAVAILABLE = frozenset(
    {"InternalServerException", "ServiceUnavailableException", "ModelTimeoutException", "ModelNotReadyException"}
)
_TOKEN_COUNTS = re.compile(r"max input tokens:\s*(\d+).*?input token count:\s*(\d+)", re.IGNORECASE | re.DOTALL)


class _TooManyTokens(Exception):
    """Titan refused the text for its token count; ``limit`` and ``count`` when its message gave them."""

    def __init__(self, limit: int | None, count: int | None) -> None:
        super().__init__(f"too many input tokens ({count} > {limit})")
        self.limit = limit
        self.count = count


class TitanEmbedder(CachedEmbedding):
    """Titan Text Embeddings v2 over an injected ``bedrock-runtime`` client (build it with botocore's retries
    off, :func:`bedrock_embeddings_client`: this class retries).

    ``cache`` is shared, not owned: :meth:`close` stops the thread pool and leaves the cache open. ``batch_size``
    is how many texts are embedded (and then stored in the cache) per step; ``concurrency`` how many calls of a
    step are in flight at once.
    """

    def __init__(
        self,
        client: BaseClient | Any,
        *,
        model_id: str = TITAN_TEXT_V2,
        dimension: int = 1024,
        normalize: bool = True,
        concurrency: int = 8,
        batch_size: int = 64,
        cache: VectorCache | None = None,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
    ) -> None:
        if dimension not in DIMENSIONS:
            raise ValueError(f"Titan Text Embeddings v2 makes vectors of 256, 512 or 1024 values, not {dimension}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if backoff_base_s < 0:
            raise ValueError("backoff_base_s must not be negative")
        if not model_id:
            raise ValueError("model_id must not be empty")
        super().__init__(cache=cache, batch_size=batch_size, owns_cache=False)
        self._client = client
        self._bedrock_model_id = model_id
        self._dimension = dimension
        self._normalize = normalize
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._sleep: Callable[[float], None] = time.sleep
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    @property
    def model_id(self) -> str:
        """The Bedrock model id with the settings that change the vector, e.g.
        ``amazon.titan-embed-text-v2:0/1024/norm`` (``raw`` when not normalised): the cache keys' model id."""
        return f"{self._bedrock_model_id}/{self._dimension}/{'norm' if self._normalize else 'raw'}"

    @property
    def bedrock_model_id(self) -> str:
        """The ``modelId`` sent to Bedrock."""
        return self._bedrock_model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def normalize(self) -> bool:
        return self._normalize

    def close(self) -> None:
        """Stop the thread pool (calls in flight finish first); the injected cache and client stay open."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
            self._closed = True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        super().close()

    # --- one batch -------------------------------------------------------------------------------------------

    def _encode(self, batch: Sequence[str]) -> Vectors:
        """The batch's vectors, in order: one ``InvokeModel`` call per text, ``concurrency`` at a time."""
        texts = list(batch)
        if self._concurrency == 1 or len(texts) <= 1:
            rows = [self._embed_one(text) for text in texts]
        else:
            pool = self._thread_pool()
            futures: list[Future[Vector]] = [pool.submit(self._embed_one, text) for text in texts]
            try:
                rows = [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()  # the calls not yet started; those in flight finish on their own
                raise
        if not rows:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32).reshape(len(texts), self._dimension)

    def _thread_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("the embedder is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="titan-embed")
            return self._pool

    # --- one text ----------------------------------------------------------------------------------------------

    def _embed_one(self, text: str) -> Vector:
        if not text.strip():
            return self._blank_vector()
        sent = text
        if len(sent) > MAX_INPUT_CHARS:
            sent = sent[:MAX_INPUT_CHARS]
            self._log_cut(text, sent, limit=f"{MAX_INPUT_CHARS} characters")
        for cut in range(_MAX_CUTS + 1):
            try:
                return self._invoke(sent)
            except _TooManyTokens as exc:
                if cut == _MAX_CUTS:
                    raise ModelRefused(
                        f"bedrock {self._bedrock_model_id}: text still too long after {_MAX_CUTS} cuts"
                    ) from exc
                shorter = sent[: _shorter_length(len(sent), exc.limit, exc.count)]
                self._log_cut(text, shorter, limit=f"{exc.limit or MAX_INPUT_TOKENS} tokens", counted=exc.count)
                sent = shorter
        raise AssertionError("unreachable")  # pragma: no cover

    def _invoke(self, text: str) -> Vector:
        body = json.dumps({"inputText": text, "dimensions": self._dimension, "normalize": self._normalize})
        where = f"bedrock {self._bedrock_model_id}"
        for attempt in range(1, self._max_attempts + 1):
            error: ModelError
            try:
                answer = self._client.invoke_model(
                    modelId=self._bedrock_model_id,
                    contentType="application/json",
                    accept="application/json",
                    body=body.encode("utf-8"),
                )
                raw = answer.get("body")
                payload = raw.read() if hasattr(raw, "read") else raw
                return self._vector(payload)
            except ClientError as exc:
                error, cause = self._client_error(exc), exc
            except (ConnectTimeoutError, ReadTimeoutError) as exc:
                error, cause = ModelUnavailable(f"{where}: timed out"), exc
            except (BotoConnectionError, HTTPClientError) as exc:
                error, cause = ModelUnavailable(f"{where}: {type(exc).__name__}"), exc
            except BotoCoreError as exc:  # credentials, parameters: no retry cures them
                raise ModelUnavailable(f"{where}: {type(exc).__name__}") from exc
            if not error.retryable:
                raise error from cause
            if attempt == self._max_attempts:
                raise type(error)(f"{error} (after {attempt} attempts)") from cause
            self._back_off(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _client_error(self, exc: ClientError) -> ModelError:
        """The domain error of a refused call; a token-count refusal raises :class:`_TooManyTokens`."""
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "ValidationException" and "input tokens" in message.lower():
            counts = _TOKEN_COUNTS.search(message)
            if counts is None:
                raise _TooManyTokens(None, None) from exc
            raise _TooManyTokens(int(counts.group(1)), int(counts.group(2))) from exc
        text = f"bedrock {self._bedrock_model_id}: {code or 'error'}"
        if code in _UNAVAILABLE:  # before the status: a model not ready answers 429
            return ModelUnavailable(text)
        if code in _THROTTLED or status == 429:
            return ModelThrottled(text)
        if status >= 500:
            return ModelUnavailable(text)
        return ModelRefused(text)

    def _back_off(self, attempt: int) -> None:
        """Exponential back-off with jitter: between half and all of ``backoff_base_s * 2**(attempt - 1)``."""
        ceiling = min(_BACKOFF_CAP_S, self._backoff_base_s * 2 ** (attempt - 1))
        if ceiling > 0:
            self._sleep(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not a secret

    def _vector(self, payload: Any) -> Vector:
        """The ``embedding`` of Titan's JSON answer, checked: ``dimension`` finite numbers (unit length when
        normalised; renormalised in float32 so the port's promise holds exactly)."""
        where = f"bedrock {self._bedrock_model_id}"
        try:
            answer = json.loads(payload)
        except (TypeError, ValueError) as exc:
            raise BadModelOutput(f"{where}: the answer is not JSON") from exc
        embedding = answer.get("embedding") if isinstance(answer, dict) else None
        if not isinstance(embedding, list):
            raise BadModelOutput(f"{where}: the answer has no embedding")
        if len(embedding) != self._dimension:
            raise BadModelOutput(f"{where}: an embedding of {len(embedding)} values, expected {self._dimension}")
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in embedding):
            raise BadModelOutput(f"{where}: the embedding holds something other than numbers")
        vector = np.asarray(embedding, dtype=np.float32)
        if not np.all(np.isfinite(vector)):
            raise BadModelOutput(f"{where}: the embedding holds a value that is not finite")
        if self._normalize:
            norm = float(np.linalg.norm(vector))
            if norm == 0.0:
                raise BadModelOutput(f"{where}: a zero embedding")
            vector = vector / np.float32(norm)
        return np.ascontiguousarray(vector, dtype=np.float32)

    def _blank_vector(self) -> Vector:
        vector = np.zeros(self._dimension, dtype=np.float32)
        vector[0] = 1.0
        return vector

    def _log_cut(self, text: str, kept: str, *, limit: str, counted: int | None = None) -> None:
        log.warning(
            "embedder.text_truncated",
            model=self.model_id,
            key=cache_key(self.model_id, text).hex(),
            limit=limit,
            tokens_counted=counted,
            chars=len(text),
            kept_chars=len(kept),
        )


def _shorter_length(length: int, limit: int | None, count: int | None) -> int:
    """A length that should fit: in proportion to Titan's token counts (with a 5% margin), else 80%."""
    if limit and count and count > limit:
        return max(1, min(length - 1, int(length * limit / count * 0.95)))
    return max(1, int(length * 0.8))


def bedrock_embeddings_client(
    *, region: str, timeout_s: float, max_pool_connections: int = 16, session: Any = None
) -> BaseClient:
    """A ``bedrock-runtime`` client for :class:`TitanEmbedder`: botocore's retries off (the embedder retries),
    the call timeout, and enough pooled connections for the embedder's concurrent calls. ``session`` (a boto3
    session, e.g. one signing with an assumed role) makes the client; default: boto3's default session."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        read_timeout=timeout_s,
        connect_timeout=10,
        max_pool_connections=max_pool_connections,
    )
    return (session or boto3).client("bedrock-runtime", region_name=region, config=config)
