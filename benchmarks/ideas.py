"""Idea-generation benchmarks (offline models, the embedded stores).

* **Sample universe, end to end**: an idea request submitted and run as its job would run it, for 5 ideas over the
  20 sample stocks with the sample documents indexed (real MiniLM query embeddings and LanceDB hybrid search as the
  requester): planning, the screen, analysis and research of the top candidates in parallel, compliance, synthesis,
  and storing the request, its agent messages and the ideas. p50 over 9 runs after one warm-up. Target: p50 at most
  2 s. Baseline in the same run: the analysis agent's own computation for the same request (the screen and the full
  analysis of the same candidates, no agents, no storage, no search).
* **Synthetic universe of 500 symbols**: the same request over 500 random-walk stocks (three years of daily bars, 11
  sectors), no documents. p50 over 3 runs after a warm-up. Target: at most 10 s.
* **Orchestration overhead**: the sample request with a zero-latency scripted model on every task (the router's
  token bucket, retry wrapper, usage and metrics, prompt rendering and hashing, grounding checks all run; the model
  answers instantly) against the offline provider, per model call.

    .venv/bin/python -m benchmarks.ideas
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from investai.adapters.local.clock import FakeClock
from investai.adapters.models.offline import OfflineModelProvider
from investai.agents.analysis import AnalysisAgent
from investai.agents.context import RunContext
from investai.agents.planning import PlanningAgent
from investai.agents.router import ModelLink, ModelRouter, RetryPolicy
from investai.agents.supervisor import Supervisor
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.domain.llm import ModelRequest, ModelResponse, TaskKind
from investai.domain.market import AssetClass, SymbolInfo
from investai.domain.users import Role
from investai.services.auth_common import CallContext

NOW = datetime(2023, 1, 3, 21, 0, tzinfo=UTC)
REQUEST = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 5}
SECTORS = (
    "Information Technology",
    "Health Care",
    "Financials",
    "Consumer Discretionary",
    "Communication Services",
    "Industrials",
    "Consumer Staples",
    "Energy",
    "Utilities",
    "Real Estate",
    "Materials",
)


class ZeroLatency:
    """A scripted model that answers every request at once with the deterministic answer (as a real model
    provider would return it: JSON text parsed back)."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        self.calls += 1
        answer = request.offline_answer
        text = json.dumps(answer) if isinstance(answer, dict) else answer
        data = json.loads(text) if request.json_schema is not None else None
        return ModelResponse(text=text, data=data, provider=self.name, model_id=model_id)


def _p50(samples: list[float]) -> float:
    return statistics.median(samples)


def _timed(action: Any, runs: int) -> list[float]:
    action()  # warm-up: caches, first queries
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def _analyst(container: Container, email: str) -> Principal:
    created = container.identity.users.create_user(
        actor=None, email=email, role=Role.ANALYST, organisation_id="default"
    )
    return Principal(
        user_id=created.user.id,
        organisation_id="default",
        role=Role.ANALYST,
        session_id="bench",
        token_id="bench",
        authenticated_at=NOW,
    )


def sample_universe(directory: Path) -> dict[str, Any]:
    container = build_container(Settings(_env_file=None, data_dir=directory / "var"), clock=FakeClock(NOW))
    try:
        container.market.load_sample()
        container.knowledge.samples.ensure_loaded("default")
        worker = container.worker_pool().workers[0]
        while worker.run_once():
            pass
        principal = _analyst(container, "bench@example.com")
        service = container.idea_requests
        end_to_end = _timed(lambda: service.run(service.submit(principal, CallContext(), REQUEST).id), 9)
        reader = AccessScope(user_id=principal.user_id, organisation_id="default", role="analyst")

        def analysis_only() -> None:
            ctx = RunContext(
                request=IdeaRequest(**REQUEST),
                request_id="bench",
                reader=reader,
                as_of=NOW,
                router=container.models,
                clock=container.clock,
                code_version="bench",
            )
            plan = PlanningAgent(container.market).plan(ctx)
            agent = AnalysisAgent(container.market)
            screen = agent.screen(ctx, plan)
            for symbol in screen.ranked[: plan.candidates]:
                agent.analyse(ctx, plan, screen, symbol)

        baseline = _timed(analysis_only, 9)
        scripted = ZeroLatency()
        chain = [ModelLink("scripted", "zero-latency")]
        router = ModelRouter(
            providers={"scripted": scripted},
            chains={TaskKind.REASONING: chain, TaskKind.FAST: chain, TaskKind.QUANTITATIVE: chain},
            offline=OfflineModelProvider(),
            retry=RetryPolicy(max_attempts=1),
            requests_per_minute=1e9,  # measure the orchestration, not the rate limit
        )
        from investai.services.knowledge import KnowledgeEvidence

        evidence = KnowledgeEvidence(index=container.knowledge.index, embedder=container.knowledge.embedder)
        with_model = Supervisor(market=container.market, evidence=evidence, router=router, clock=container.clock)
        offline = Supervisor(market=container.market, evidence=evidence, router=container.models, clock=container.clock)
        request = IdeaRequest(**REQUEST)
        scripted_runs = _timed(lambda: with_model.generate(request, request_id="b", reader=reader), 9)
        calls_per_run = scripted.calls / 10
        offline_runs = _timed(lambda: offline.generate(request, request_id="b", reader=reader), 9)
    finally:
        container.close()
    return {
        "sample_p50_s": _p50(end_to_end),
        "sample_p90_s": float(np.percentile(end_to_end, 90)),
        "analysis_only_p50_s": _p50(baseline),
        "scripted_p50_s": _p50(scripted_runs),
        "offline_agents_p50_s": _p50(offline_runs),
        "model_calls_per_run": calls_per_run,
    }


def synthetic_universe(directory: Path, symbols: int = 500, days: int = 756) -> dict[str, Any]:
    container = build_container(
        Settings(_env_file=None, data_dir=directory / "var500", load_sample_documents=False), clock=FakeClock(NOW)
    )
    try:
        rng = np.random.default_rng(500)
        dates = pd.bdate_range(end=NOW.date() - timedelta(days=1), periods=days)
        names = [f"SYN{index:03d}" for index in range(symbols)]
        container.market.upsert_symbols(
            [SymbolInfo(symbol="SYNIDX", name="Synthetic index", asset_class=AssetClass.INDEX)]
            + [
                SymbolInfo(
                    symbol=name,
                    name=f"Synthetic {index}",
                    sector=SECTORS[index % len(SECTORS)],
                    asset_class=AssetClass.EQUITY,
                    benchmark="SYNIDX",
                )
                for index, name in enumerate(names)
            ]
        )
        market = rng.normal(0.0003, 0.01, days)
        frames = []
        for name in ["SYNIDX", *names]:
            beta, drift, vol = rng.uniform(0.5, 1.5), rng.normal(0.0002, 0.0004), rng.uniform(0.008, 0.03)
            steps = market if name == "SYNIDX" else beta * market + drift + rng.normal(0, vol, days)
            close = 50 * np.exp(np.cumsum(steps))
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": name,
                        "date": dates.date,
                        "close": close,
                        "adj_close": close,
                        "volume": rng.integers(100_000, 5_000_000, days).astype(float),
                    }
                )
            )
        bars = pd.concat(frames, ignore_index=True)
        container.market.ingest_bars(bars, source="synthetic", history=True)
        principal = _analyst(container, "bench500@example.com")
        service = container.idea_requests
        runs = _timed(lambda: service.run(service.submit(principal, CallContext(), REQUEST).id), 3)
    finally:
        container.close()
    return {"universe_symbols": symbols, "universe_p50_s": _p50(runs), "universe_max_s": max(runs)}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        figures = sample_universe(root)
        figures |= synthetic_universe(root)
    return figures


def main() -> None:
    figures = run()
    overhead = (figures["scripted_p50_s"] - figures["offline_agents_p50_s"]) / max(figures["model_calls_per_run"], 1)
    print(
        f"sample, end to end: p50 {figures['sample_p50_s'] * 1e3:.0f} ms (p90 {figures['sample_p90_s'] * 1e3:.0f} ms); "
        f"analysis computation alone {figures['analysis_only_p50_s'] * 1e3:.0f} ms\n"
        f"{figures['universe_symbols']} synthetic symbols: p50 {figures['universe_p50_s']:.2f} s\n"
        f"agents offline {figures['offline_agents_p50_s'] * 1e3:.0f} ms, with a zero-latency model "
        f"{figures['scripted_p50_s'] * 1e3:.0f} ms over {figures['model_calls_per_run']:.0f} calls: "
        f"{overhead * 1e3:.2f} ms per call"
    )


if __name__ == "__main__":
    main()
