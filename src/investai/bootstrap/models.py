"""The model router over the configured provider (offline, Bedrock Converse or an OpenAI-compatible server)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Tracer

from investai.adapters.models.offline import OfflineModelProvider
from investai.agents.router import LocalRequestQuota, ModelLink, ModelRouter, Price
from investai.agents.router import RetryPolicy as ModelRetryPolicy
from investai.config import ModelProviderName, Settings
from investai.domain.llm import TaskKind
from investai.observability.metrics import Metrics
from investai.ports.models import ModelProvider
from investai.ports.rate_limit import RequestQuota
from investai.ports.secrets import SecretStore


def build_model_router(
    settings: Settings,
    *,
    metrics: Metrics,
    providers: dict[str, ModelProvider] | None = None,
    secrets: SecretStore | None = None,
    quota: RequestQuota | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    tracer: Tracer | None = None,
) -> ModelRouter:
    """The router over the configured provider: reasoning, fast and quantitative chains, each ending offline.

    Chains: reasoning tries the reasoning model then the fast one; quantitative tries its model then the fast
    one; fast tries the fast model. With ``model_provider=offline`` every chain is empty and the offline
    provider answers everything. ``providers`` replaces the configured one (tests). An API key is read from
    ``secrets`` (``openai_api_key``) before the settings.

    ``quota`` limits the requests sent to each model (see :func:`shared_quota`); without one each process keeps
    its own token bucket per model of ``model_requests_per_minute`` and ``model_burst``. ``monotonic`` and
    ``sleep`` are the router's clock and sleep (tests drive them). ``tracer`` makes a span of every model call.
    """
    name = settings.model_provider.value
    if providers is None:
        providers = {}
        if settings.model_provider is ModelProviderName.BEDROCK:
            from investai.adapters.aws.bedrock_models import BedrockModelProvider, bedrock_runtime_client

            session = None
            if settings.aws_bedrock_role_arn:  # Bedrock through the role the deployment grants it
                from investai.bootstrap.aws_jobs import aws_clients

                session = aws_clients(settings).session("bedrock-runtime")
            client = bedrock_runtime_client(
                region=settings.aws_region, timeout_s=settings.model_timeout_s, session=session
            )
            providers[name] = BedrockModelProvider(client)
        elif settings.model_provider is ModelProviderName.OPENAI:
            from investai.adapters.models.openai_compatible import OpenAICompatibleProvider

            configured = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            key = (secrets.get("openai_api_key") if secrets is not None else None) or configured or "not-needed"
            providers[name] = OpenAICompatibleProvider(base_url=settings.openai_base_url, api_key=key)
    chains: dict[TaskKind, list[ModelLink]] = {}
    if name in providers:
        reasoning, fast, quantitative = (
            ModelLink(name, settings.model_reasoning),
            ModelLink(name, settings.model_fast),
            ModelLink(name, settings.model_quantitative),
        )
        chains = {
            TaskKind.REASONING: [reasoning, fast],
            TaskKind.FAST: [fast],
            TaskKind.QUANTITATIVE: [quantitative, fast],
        }
    return ModelRouter(
        providers=providers,
        chains=chains,
        offline=OfflineModelProvider(),
        prices={model: Price(*price) for model, price in settings.model_prices.items()},
        requests_per_minute=settings.model_requests_per_minute,
        burst=settings.model_burst,
        quota=quota,
        timeout_s=settings.model_timeout_s,
        max_wait_s=settings.model_max_wait_s,
        retry=ModelRetryPolicy(
            max_attempts=settings.model_max_attempts,
            backoff_base_s=settings.model_backoff_base_s,
            backoff_max_s=settings.model_backoff_max_s,
        ),
        metrics=metrics,
        monotonic=monotonic,
        sleep=sleep,
        tracer=tracer,
    )


def shared_quota(settings: Settings, dynamodb_client: Any, table: str) -> RequestQuota:
    """The AWS shape's request quota: ``model_requests_per_minute`` and ``model_burst`` per model, shared by
    every process and Lambda instance through the ``rate-limits`` table, failing open to this process's own
    token bucket of the same rate while DynamoDB cannot be reached."""
    from investai.adapters.aws.dynamodb_rate_limit import DynamoDbRequestQuota

    return DynamoDbRequestQuota(
        dynamodb_client,
        table,
        requests_per_minute=settings.model_requests_per_minute,
        burst=settings.model_burst,
        fallback=LocalRequestQuota(settings.model_requests_per_minute, settings.model_burst),
    )
