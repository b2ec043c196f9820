"""Span attributes of model calls and agent steps, named after OpenTelemetry's GenAI semantic conventions where
they have a name (``gen_ai.*``), ours (``investai.*``) where they do not (cost, attempt, fallback, outcome)."""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from investai.domain.idea_parts import ModelUse

COST_USD = "investai.cost_usd"
MODEL_STEP = "investai.model.step"
MODEL_ATTEMPT = "investai.model.attempt"
MODEL_ATTEMPTS = "investai.model.attempts"
MODEL_CHAIN_POSITION = "investai.model.chain_position"
MODEL_FALLBACK = "investai.model.fallback"
MODEL_OUTCOME = "investai.model.outcome"
MODEL_OFFLINE = "investai.model.offline"
MODEL_LATENCY_MS = "investai.model.latency_ms"
AGENT_STEP = "investai.agent.step"
AGENT_OUTCOME = "investai.agent.outcome"
AGENT_ATTEMPTS = "investai.agent.attempts"


def model_span_attributes(*, provider: str, model_id: str, step: str, prompt: str | None) -> dict[str, AttributeValue]:
    """What is known of a model call before it is made: the first-choice model and its provider, the agent step
    and the prompt template."""
    attributes: dict[str, AttributeValue] = {
        gen_ai.GEN_AI_OPERATION_NAME: "chat",
        gen_ai.GEN_AI_PROVIDER_NAME: provider,
        gen_ai.GEN_AI_REQUEST_MODEL: model_id,
        MODEL_STEP: step,
    }
    if prompt:
        attributes[gen_ai.GEN_AI_PROMPT_NAME] = prompt
    return attributes


def record_attempt(span: Span, *, provider: str, model_id: str, attempt: int, position: int, outcome: str) -> None:
    """One attempt of a model call, as an event ``gen_ai.attempt`` on the call's span: the model tried, the
    attempt on it (from 1), its place in the fallback chain (0: the first choice) and ``ok`` or the error's
    code."""
    if not span.is_recording():
        return
    span.add_event(
        "gen_ai.attempt",
        {
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_REQUEST_MODEL: model_id,
            MODEL_ATTEMPT: attempt,
            MODEL_CHAIN_POSITION: position,
            MODEL_OUTCOME: outcome,
        },
    )


def annotate_answer(span: Span, use: ModelUse, *, fell_back: bool) -> None:
    """How the call ended: the provider and model that answered, tokens, cost and latency, the attempts it
    took, and whether it fell back (an earlier model of the chain failed); its outcome is ``ok`` or
    ``fallback``."""
    if not span.is_recording():
        return
    attempts = sum(1 for event in getattr(span, "events", ()) if event.name == "gen_ai.attempt")
    span.set_attributes(
        {
            gen_ai.GEN_AI_PROVIDER_NAME: use.provider,
            gen_ai.GEN_AI_RESPONSE_MODEL: use.model_id,
            gen_ai.GEN_AI_USAGE_INPUT_TOKENS: use.input_tokens,
            gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: use.output_tokens,
            COST_USD: use.cost_usd,
            MODEL_LATENCY_MS: use.latency_ms,
            MODEL_OFFLINE: use.offline,
            MODEL_ATTEMPTS: attempts,
            MODEL_FALLBACK: fell_back,
            MODEL_OUTCOME: "fallback" if fell_back else "ok",
        }
    )


def agent_span_attributes(agent: str, step: str, *, conversation_id: str) -> dict[str, AttributeValue]:
    """An agent step: the agent (``gen_ai.agent.name``), the step, and the request it works for."""
    return {
        gen_ai.GEN_AI_OPERATION_NAME: "invoke_agent",
        gen_ai.GEN_AI_AGENT_NAME: agent,
        gen_ai.GEN_AI_CONVERSATION_ID: conversation_id,
        AGENT_STEP: step,
    }
