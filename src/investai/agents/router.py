"""The model router: task kind -> a chain of models, rate limits, retries, fallback, usage and cost.

Each task kind (:class:`~investai.domain.llm.TaskKind`) maps to a chain of ``(provider, model)`` links that
ends with the offline provider. A call goes down the chain: at each link it first takes a slot for that model
from the request quota (:class:`~investai.ports.rate_limit.RequestQuota`: by default an in-process token
bucket per model, 1000 requests a minute; the AWS shape passes one shared by every instance), waiting for it
when the wait is short and treating a long one as throttling, then calls with a timeout, retrying
throttling, 5xx and timeouts with exponential back-off and full jitter (tenacity); when the provider's error
carries the server's ``Retry-After`` (``retry_after_s``), the next attempt waits at least that long, unless it
is longer than ``max_wait_s``: then the link is given up at once. A link that still fails, or refuses the
request, hands over to the next. The offline provider answers with the deterministic result
the caller computed, so a request never fails for want of a model. Every attempt is counted in metrics and
every answer carries a :class:`~investai.domain.idea_parts.ModelUse` (tokens, latency, cost from the price
table, prompt template, version and hash) for the idea's provenance.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, SpanKind, Tracer
from tenacity import RetryCallState, Retrying, retry_if_exception

from investai.domain.idea_parts import ModelUse
from investai.domain.llm import ModelError, ModelRequest, ModelResponse, ModelThrottled, TaskKind
from investai.observability.genai import annotate_answer, model_span_attributes, record_attempt
from investai.ports.models import ModelProvider
from investai.ports.rate_limit import RequestQuota


@dataclass(frozen=True)
class ModelLink:
    """One link of a fallback chain: a provider (by name) and the model to ask."""

    provider: str
    model_id: str


OFFLINE_LINK = ModelLink("offline", "offline-template-v1")
"""The offline provider, which ends every chain."""


@dataclass(frozen=True)
class Price:
    """US dollars per 1,000 input and per 1,000 output tokens."""

    input_per_1k: float
    output_per_1k: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens / 1000 * self.input_per_1k + output_tokens / 1000 * self.output_per_1k


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0


class ModelMetrics(Protocol):
    """Where the router reports each attempt (the product's Prometheus metrics implement it)."""

    def record_model_call(self, use: ModelUse, outcome: str) -> None: ...


class TokenBucket:
    """A token bucket per model: ``rate_per_minute`` tokens a minute, at most ``burst`` saved up.

    Written here rather than taken from a rate-limiting library because it must run on an injected clock and
    sleep (so tests can drive a burst through simulated time) and reserve a slot atomically across threads:
    :meth:`reserve` takes a token now or books the next free one and says how long to wait for it.
    """

    def __init__(self, rate_per_minute: float, burst: int, monotonic: Callable[[], float]) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._updated = monotonic()
        self._lock = threading.Lock()

    def reserve(self, max_wait_s: float = math.inf) -> float:
        """Take one token; the seconds to wait before using it (0.0 when one was available). When that wait
        would exceed ``max_wait_s`` no token is taken and the wait is returned all the same."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self._rate
            if wait <= max_wait_s:
                self._tokens -= 1.0
            return wait


class LocalRequestQuota:
    """The in-process :class:`~investai.ports.rate_limit.RequestQuota`: one :class:`TokenBucket` per key.

    It limits one process only: in any interval of ``t`` seconds this process is granted slots at most
    ``burst + requests_per_minute * t / 60`` times per key. It lives beside the router rather than among the
    adapters because it does no I/O (memory, a lock and an injected clock), and the router needs a default
    that works with nothing configured; shared quotas, which do I/O, are adapters chosen by the bootstrap.
    """

    def __init__(
        self,
        requests_per_minute: float = 1000.0,
        burst: int = 50,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        TokenBucket(requests_per_minute, burst, monotonic)  # refuse a bad rate or burst now, not on first use
        self._rate = requests_per_minute
        self._burst = burst
        self._monotonic = monotonic
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: str) -> TokenBucket:
        with self._lock:
            if key not in self._buckets:
                self._buckets[key] = TokenBucket(self._rate, self._burst, self._monotonic)
            return self._buckets[key]

    def reserve(self, key: str, *, max_wait_s: float = math.inf) -> float:
        return self.bucket(key).reserve(max_wait_s)


@dataclass
class RoutedAnswer:
    """The answer that was used, its provenance record, and the failures met on the way."""

    response: ModelResponse
    use: ModelUse
    failures: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return bool(self.failures)


class ModelRouter:
    """Routes a request down its task's fallback chain (see the module docstring).

    ``quota`` limits the requests each model is sent; without one the router keeps an in-process
    :class:`LocalRequestQuota` of ``requests_per_minute`` and ``burst`` (which are ignored when a quota is
    given). A slot whose wait would exceed ``max_wait_s`` is not taken: the attempt fails as throttled.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, ModelProvider],
        chains: Mapping[TaskKind, Sequence[ModelLink]],
        offline: ModelProvider,
        prices: Mapping[str, Price] | None = None,
        requests_per_minute: float = 1000.0,
        burst: int = 50,
        quota: RequestQuota | None = None,
        timeout_s: float = 60.0,
        max_wait_s: float = 120.0,
        retry: RetryPolicy | None = None,
        metrics: ModelMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        for kind, chain in chains.items():
            unknown = [link.provider for link in chain if link.provider not in providers]
            if unknown:
                raise ValueError(f"{kind.value} chain names unknown providers {unknown}")
        self._providers = dict(providers)
        self._chains = {kind: list(chain) for kind, chain in chains.items()}
        self._offline = offline
        self._prices = dict(prices or {})
        self._quota: RequestQuota = (
            quota if quota is not None else LocalRequestQuota(requests_per_minute, burst, monotonic)
        )
        self._timeout_s = timeout_s
        self._max_wait_s = max_wait_s
        self._retry = retry or RetryPolicy()
        self._metrics = metrics
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._tracer = tracer or NoOpTracer()

    def chain(self, task: TaskKind) -> list[ModelLink]:
        return list(self._chains.get(task, []))

    @property
    def quota(self) -> RequestQuota:
        return self._quota

    def bucket(self, model_id: str) -> TokenBucket:
        """The in-process bucket of ``model_id`` (only when the router keeps the default, in-process quota)."""
        if not isinstance(self._quota, LocalRequestQuota):
            raise TypeError(f"this router's quota is {type(self._quota).__name__}, not in-process buckets")
        return self._quota.bucket(model_id)

    def complete(self, request: ModelRequest, *, step: str) -> RoutedAnswer:
        """The first answer down the chain for ``request.task``; the offline answer when every link fails.

        The call is one span, ``chat <model>`` after the first choice: the model that answered, its tokens and
        cost, how many attempts it took and whether it fell back; each attempt is an event on it."""
        chain = self._chains.get(request.task, [])
        first = chain[0] if chain else OFFLINE_LINK
        attributes = model_span_attributes(
            provider=first.provider, model_id=first.model_id, step=step, prompt=request.prompt.name
        )
        with self._tracer.start_as_current_span(
            f"chat {first.model_id}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            answer = self._route(request, step, chain)
            annotate_answer(span, answer.use, fell_back=answer.fell_back)
            return answer

    def _route(self, request: ModelRequest, step: str, chain: Sequence[ModelLink]) -> RoutedAnswer:
        failures: list[str] = []
        for position, link in enumerate(chain):
            provider = self._providers[link.provider]
            try:
                response = self._call_with_retries(provider, link, request, step, position)
            except ModelError as exc:
                failures.append(f"{link.provider}:{link.model_id}: {exc}")
                continue
            return RoutedAnswer(response=response, use=self._use(step, request, response), failures=failures)
        response = self._offline.complete(request, model_id=OFFLINE_LINK.model_id, timeout_s=0.0)
        use = self._use(step, request, response)
        self._record(use, "ok", link=OFFLINE_LINK, attempt=1, position=len(chain))
        return RoutedAnswer(response=response, use=use, failures=failures)

    def _call_with_retries(
        self, provider: ModelProvider, link: ModelLink, request: ModelRequest, step: str, position: int
    ) -> ModelResponse:
        retrying = Retrying(
            stop=self._stop,
            wait=self._backoff,
            retry=retry_if_exception(lambda exc: isinstance(exc, ModelError) and exc.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = itertools.count(1)
        return retrying(lambda: self._attempt(provider, link, request, step, attempt=next(attempts), position=position))

    def _backoff(self, state: RetryCallState) -> float:
        """Exponential back-off with full jitter: uniform in [0, min(max, base * 2^(attempt - 1))], and never
        less than the server's ``Retry-After``."""
        ceiling = min(self._retry.backoff_max_s, self._retry.backoff_base_s * 2 ** (state.attempt_number - 1))
        return max(self._rng.uniform(0.0, ceiling), _retry_after(state) or 0.0)

    def _stop(self, state: RetryCallState) -> bool:
        """Stop after ``max_attempts``, or at once when the server's ``Retry-After`` is longer than this router
        waits (``max_wait_s``)."""
        asked = _retry_after(state)
        return state.attempt_number >= self._retry.max_attempts or (asked is not None and asked > self._max_wait_s)

    def _attempt(
        self, provider: ModelProvider, link: ModelLink, request: ModelRequest, step: str, *, attempt: int, position: int
    ) -> ModelResponse:
        record = functools.partial(self._record, link=link, attempt=attempt, position=position)
        wait = self._quota.reserve(link.model_id, max_wait_s=self._max_wait_s)
        if wait > self._max_wait_s or math.isinf(wait):  # no slot taken; "local": ours, not the provider's
            record(self._failed_use(step, request, link), "rate_limited")
            raise ModelThrottled(f"{link.model_id}: local rate limit would wait {wait:.1f} s")
        if wait > 0:
            self._sleep(wait)
        try:
            response = provider.complete(request, model_id=link.model_id, timeout_s=self._timeout_s)
        except ModelError as exc:
            record(self._failed_use(step, request, link), exc.code)
            raise
        record(self._use(step, request, response), "ok")
        return response

    def _use(self, step: str, request: ModelRequest, response: ModelResponse) -> ModelUse:
        price = self._prices.get(response.model_id)
        cost = 0.0 if price is None else price.cost(response.usage.input_tokens, response.usage.output_tokens)
        return _model_use(
            step,
            request,
            provider=response.provider,
            model_id=response.model_id,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cost_usd=cost,
            latency_ms=response.latency_ms,
            offline=response.offline,
        )

    def _failed_use(self, step: str, request: ModelRequest, link: ModelLink) -> ModelUse:
        return _model_use(step, request, provider=link.provider, model_id=link.model_id)

    def _record(self, use: ModelUse, outcome: str, *, link: ModelLink, attempt: int, position: int) -> None:
        """Count the attempt in metrics, and note it on the call's span."""
        record_attempt(
            trace.get_current_span(),
            provider=link.provider,
            model_id=link.model_id,
            attempt=attempt,
            position=position,
            outcome=outcome,
        )
        if self._metrics is not None:
            self._metrics.record_model_call(use, outcome)


def _retry_after(state: RetryCallState) -> float | None:
    """The ``Retry-After`` (seconds) the last attempt's error carries, if any."""
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    asked = getattr(outcome.exception(), "retry_after_s", None)
    return float(asked) if isinstance(asked, int | float) else None


def _model_use(step: str, request: ModelRequest, **fields: object) -> ModelUse:
    """A provenance record of one call of ``request`` (its prompt template, version and hash)."""
    return ModelUse.model_validate(
        {
            "step": step,
            "prompt_template": request.prompt.name,
            "prompt_version": request.prompt.version,
            "prompt_hash": request.prompt.sha256,
            **fields,
        }
    )
