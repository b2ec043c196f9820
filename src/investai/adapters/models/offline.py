"""The offline provider: answers every request with the deterministic answer code computed for it.

Plans are rule-based, research summaries extractive with their citations, narratives filled templates, the
quantitative commentary on each candidate's metrics written by code from those metrics (and so grounded by
construction); the agent that builds a request computes that answer (``ModelRequest.offline_answer``), so this
provider needs no model, no network and no randomness, and is the last link of every fallback chain.
Provenance marks its answers ``offline``.
"""

from __future__ import annotations

import json
import time

from investai.domain.llm import ModelRequest, ModelResponse

OFFLINE_MODEL_ID = "offline-template-v1"


class OfflineModelProvider:
    name = "offline"

    def complete(
        self, request: ModelRequest, *, model_id: str = OFFLINE_MODEL_ID, timeout_s: float = 0.0
    ) -> ModelResponse:
        started = time.perf_counter()
        answer = request.offline_answer
        data = answer if isinstance(answer, dict) else None
        text = json.dumps(answer, sort_keys=True) if isinstance(answer, dict) else answer
        return ModelResponse(
            text=text,
            data=data if request.json_schema is not None else None,
            provider=self.name,
            model_id=model_id,
            latency_ms=(time.perf_counter() - started) * 1000,
            stop_reason="end_turn",
            offline=True,
        )
