"""The supervisor: plan-and-execute over the agent team, with every message recorded.

1. planning builds the plan (rules; the reasoning model may add research questions);
2. analysis screens the universe, then for each top candidate the full analysis (ending with the quantitative
   model's commentary on the computed metrics) and the research run in parallel (they are independent:
   research reads documents, analysis reads prices);
3. synthesis scores and ranks the candidates, resolving research/analysis conflicts by confidence and source
   credibility (recorded as an update message), drops those below the request's minimum confidence and
   diversifies under sector and correlation caps;
4. each chosen idea is written (grounded text), then checked by compliance; an idea with a critical issue is
   blocked and the next candidate takes its place.

A failing agent step is retried once; if it fails again its fallback is used (a candidate without an
analysis is dropped; research without passages continues with market evidence only) and the failure is
reported in an error message, in the progress detail and in the result. Nothing is swallowed.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pandas as pd
from opentelemetry.trace import NoOpTracer, Span, Status, StatusCode, Tracer

from investai import __version__
from investai.agents.analysis import AnalysisAgent, Screen
from investai.agents.commentary import COMMENTARY_STEP, COMMENTARY_TEMPLATE
from investai.agents.compliance import REVIEW_TEMPLATE, ComplianceAgent
from investai.agents.context import Cancelled, RunContext, request_as_of
from investai.agents.findings import CandidateAnalysis
from investai.agents.market_view import MarketAsOf
from investai.agents.planning import PLAN_TEMPLATE, Plan, PlanningAgent
from investai.agents.policy import mandate
from investai.agents.prompts import PromptTemplate
from investai.agents.research import SUMMARY_TEMPLATE, ResearchAgent, ResearchFindings
from investai.agents.router import ModelRouter
from investai.agents.synthesis import IDEA_TEMPLATE, Candidate, SynthesisAgent, confidence, diversify
from investai.domain.agents import WORKERS, AgentMessage, AgentName, AgentState, MessagePriority, MessageType
from investai.domain.idea_parts import ComplianceState, ComplianceStatus, Severity
from investai.domain.idea_request import IdeaRequest
from investai.domain.ideas import InvestmentIdea
from investai.domain.knowledge import AccessScope
from investai.observability.genai import AGENT_ATTEMPTS, AGENT_OUTCOME, agent_span_attributes
from investai.observability.tracing import current_trace_id
from investai.ports.clock import Clock
from investai.ports.ideas import GenerationResult
from investai.ports.research import EvidenceSearch, FundamentalsReader, MarketReader, PointInTimeMarket

T = TypeVar("T")
PARALLELISM = 4
IDEA_OWN_STEPS = frozenset({"synthesis", COMMENTARY_STEP})
"""Model steps made for one idea only: its provenance lists its own calls of these, not every candidate's."""


class Supervisor:
    """Implements :class:`~investai.ports.ideas.IdeaGenerator` with the agent team."""

    def __init__(
        self,
        *,
        market: MarketReader,
        evidence: EvidenceSearch,
        router: ModelRouter,
        clock: Clock,
        restricted: tuple[str, ...] = (),
        max_liquidity_days: float = 5.0,
        parallelism: int = PARALLELISM,
        fundamentals: FundamentalsReader | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._tracer = tracer or NoOpTracer()
        self._fundamentals = fundamentals
        self._market = market
        self._evidence = evidence
        self._router = router
        self._clock = clock
        self._restricted = restricted
        self._max_liquidity_days = max_liquidity_days
        self._parallelism = parallelism

    def generate(
        self,
        request: IdeaRequest,
        *,
        request_id: str,
        reader: AccessScope,
        on_message: Callable[[AgentMessage], None] = lambda message: None,
        on_progress: Callable[[AgentName, AgentState, float, str | None], None] = lambda *args: None,
        is_cancelled: Callable[[], bool] = lambda: False,
    ) -> GenerationResult:
        """The ideas for ``request``, in a span of the supervisor's: each agent step and model call is a span
        within it, and every message carries its trace id."""
        attributes = agent_span_attributes(AgentName.SUPERVISOR.value, "generate", conversation_id=request_id)
        with self._tracer.start_as_current_span(f"invoke_agent {AgentName.SUPERVISOR.value}", attributes=attributes):
            as_of, as_of_note = request_as_of(request, now=self._clock.now(), market=self._market)
            ctx = RunContext(
                request=request,
                request_id=request_id,
                reader=reader,
                as_of=as_of,
                router=self._router,
                clock=self._clock,
                code_version=__version__,
                as_of_note=as_of_note,
                on_message=functools.partial(_with_trace_id, on_message),
                on_progress=on_progress,
                is_cancelled=is_cancelled,
            )
            return _Run(self, ctx).execute()

    # components, built per run so that per-run caches never leak between requests
    def _agents(self) -> tuple[PlanningAgent, AnalysisAgent, ResearchAgent, ComplianceAgent, SynthesisAgent]:
        return (
            PlanningAgent(self._market),
            AnalysisAgent(self._market, self._fundamentals),
            ResearchAgent(self._evidence),
            ComplianceAgent(restricted=self._restricted, max_liquidity_days=self._max_liquidity_days),
            SynthesisAgent(),
        )


class _Run:
    def __init__(self, supervisor: Supervisor, ctx: RunContext) -> None:
        self.s = supervisor
        self.ctx = ctx
        self.failures: list[str] = []
        self.planning, self.analysis, self.research, self.compliance, self.synthesis = supervisor._agents()
        self.market: PointInTimeMarket = MarketAsOf(supervisor._market, ctx.as_of)

    def span(self, agent: AgentName, label: str) -> AbstractContextManager[Span]:
        """A span for one step of ``agent`` (``invoke_agent <agent>``), current while the step runs."""
        attributes = agent_span_attributes(agent.value, label, conversation_id=self.ctx.request_id)
        return self.s._tracer.start_as_current_span(f"invoke_agent {agent.value}", attributes=attributes)

    def step(self, agent: AgentName, label: str, action: Callable[[], T], fallback: Callable[[], T]) -> T:
        """Run ``action`` in its agent's span; retry once on failure; then use ``fallback``, reporting the
        failure either way."""
        last: Exception | None = None
        with self.span(agent, label) as span:
            for attempt in (1, 2):
                span.set_attribute(AGENT_ATTEMPTS, attempt)
                try:
                    return action()
                except Cancelled:
                    raise
                except Exception as exc:
                    last = exc
                    span.record_exception(exc)
                    self.ctx.message(
                        agent,
                        MessageType.ERROR,
                        {"step": label, "attempt": attempt, "error": f"{type(exc).__name__}: {exc}"[:500]},
                        recipient=AgentName.SUPERVISOR,
                        priority=MessagePriority.HIGH,
                    )
            self.failures.append(f"{agent.value} {label}: {type(last).__name__}: {last}"[:500])
            span.set_attribute(AGENT_OUTCOME, "fallback")
            span.set_status(Status(StatusCode.ERROR, f"{type(last).__name__}: {last}"[:200]))
            return fallback()

    def execute(self) -> GenerationResult:
        ctx = self.ctx
        for agent in WORKERS:
            ctx.progress(agent, AgentState.PENDING, 0.0)
        ctx.message(
            AgentName.SUPERVISOR,
            MessageType.REQUEST,
            {"request": ctx.request.model_dump(mode="json"), "as_of": ctx.as_of.isoformat()},
            recipient=AgentName.PLANNING,
        )
        ctx.progress(AgentName.PLANNING, AgentState.RUNNING, 10.0, "building the plan")
        with self.span(AgentName.PLANNING, "plan"):
            plan = self.planning.plan(ctx)
        ctx.progress(AgentName.PLANNING, AgentState.DONE, 100.0, f"{len(plan.universe)} symbols to screen")
        ctx.check_cancelled()

        ctx.progress(AgentName.ANALYSIS, AgentState.RUNNING, 5.0, f"screening {len(plan.universe)} symbols")
        with self.span(AgentName.ANALYSIS, "screen"):
            screen = self.analysis.screen(ctx, plan)
            self.analysis.report(ctx, screen)
        plan = with_screen_weights(plan, screen, ctx.request)
        candidates = screen.ranked[: plan.candidates]
        ctx.progress(
            AgentName.ANALYSIS, AgentState.RUNNING, 30.0, f"{len(screen.ranked)} scored; analysing {len(candidates)}"
        )
        ctx.progress(AgentName.RESEARCH, AgentState.RUNNING, 0.0, f"researching {len(candidates)} candidates")
        analyses, findings = self.deep_dive(plan, screen, candidates)
        ctx.check_cancelled()
        ctx.progress(AgentName.ANALYSIS, AgentState.DONE, 100.0, f"{len(analyses)} candidates analysed")
        ctx.progress(
            AgentName.RESEARCH, AgentState.DONE, 100.0, f"{sum(len(f.evidence) for f in findings.values())} citations"
        )

        ctx.progress(AgentName.SYNTHESIS, AgentState.RUNNING, 10.0, "ranking")
        pool = []
        skipped: dict[str, str] = {}
        for symbol, analysis in analyses.items():
            research = findings.get(symbol) or ResearchFindings(symbol=symbol)
            value, conflict = confidence(analysis, research)
            if conflict:
                ctx.message(
                    AgentName.SUPERVISOR,
                    MessageType.UPDATE,
                    {"symbol": symbol, "conflict": conflict, "resolution": f"confidence {value:.2f}"},
                    priority=MessagePriority.HIGH,
                    sources=research.sources,
                )
            if value < ctx.request.min_confidence:
                skipped[symbol] = f"confidence {value:.2f} below the minimum {ctx.request.min_confidence:.2f}"
                continue
            pool.append(
                Candidate(
                    analysis=analysis,
                    research=research,
                    name=plan.names.get(symbol, symbol),
                    sector=plan.sectors.get(symbol),
                    rank=screen.ranked.index(symbol) + 1,
                    screened=len(screen.ranked),
                    confidence=value,
                    conflict=conflict,
                )
            )
        with self.span(AgentName.SYNTHESIS, "rank"):
            ranked = self.synthesis.rank(ctx, pool, plan.factor_weights)
            closes = self.analysis.closes(ctx, [candidate.analysis.symbol for candidate in ranked])
        ideas, blocked = self.select_and_write(plan, ranked, closes, skipped)
        ctx.progress(AgentName.SYNTHESIS, AgentState.DONE, 100.0, f"{len(ideas)} ideas")
        ctx.progress(AgentName.COMPLIANCE, AgentState.DONE, 100.0, f"{len(blocked)} blocked")
        ctx.message(
            AgentName.SUPERVISOR,
            MessageType.RESPONSE,
            {"ideas": [idea.id for idea in ideas], "blocked": blocked, "skipped": skipped, "failures": self.failures},
        )
        return GenerationResult(
            ideas=ideas,
            blocked=blocked,
            skipped=skipped | {k: v for k, v in screen.dropped.items()},
            failures=self.failures,
            screened=len(screen.ranked),
            scores=dict(screen.composite),
            model_uses=list(ctx.model_uses),
        )

    def deep_dive(
        self,
        plan: Plan,
        screen: Screen,
        candidates: list[str],
    ) -> tuple[dict[str, CandidateAnalysis], dict[str, ResearchFindings]]:
        ctx = self.ctx
        analyses: dict[str, CandidateAnalysis] = {}
        findings: dict[str, ResearchFindings] = {}
        total = max(len(candidates), 1)
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=self.s._parallelism, thread_name_prefix="agents"
        ) as pool:
            # each step runs in a copy of this context: its spans and log lines stay in the request's trace
            analysis_jobs: dict[Future[Any], str] = {
                pool.submit(
                    contextvars.copy_context().run,
                    self.step,
                    AgentName.ANALYSIS,
                    f"analyse {symbol}",
                    lambda symbol=symbol: self.analysis.analyse(ctx, plan, screen, symbol),
                    lambda: None,
                ): symbol
                for symbol in candidates
            }
            research_jobs: dict[Future[Any], str] = {
                pool.submit(
                    contextvars.copy_context().run,
                    self.step,
                    AgentName.RESEARCH,
                    f"research {symbol}",
                    lambda symbol=symbol: self.research.research(ctx, plan, symbol, []),
                    lambda symbol=symbol: ResearchFindings(
                        symbol=symbol, summary="Research failed for this candidate; market evidence only."
                    ),
                ): symbol
                for symbol in candidates
            }
            done_analysis = done_research = 0
            for future in concurrent.futures.as_completed([*analysis_jobs, *research_jobs]):
                result = future.result()  # Cancelled propagates
                if future in analysis_jobs:
                    done_analysis += 1
                    if result is not None:
                        analyses[analysis_jobs[future]] = result
                    ctx.progress(
                        AgentName.ANALYSIS,
                        AgentState.RUNNING,
                        30.0 + 70.0 * done_analysis / total,
                        f"{done_analysis} of {len(candidates)} analysed",
                    )
                else:
                    done_research += 1
                    findings[research_jobs[future]] = result
                    ctx.progress(
                        AgentName.RESEARCH,
                        AgentState.RUNNING,
                        100.0 * done_research / total,
                        f"{done_research} of {len(candidates)} researched",
                    )
        ordered = {symbol: analyses[symbol] for symbol in candidates if symbol in analyses}
        return ordered, findings

    def review(self, candidate: Candidate, offline_narrative: bool, accepted: list[Candidate]) -> ComplianceStatus:
        info = self.market.symbol(candidate.analysis.symbol)
        return self.compliance.review(
            self.ctx,
            candidate.analysis,
            name=candidate.name,
            sector=candidate.sector,
            industry=info.industry,
            summary=candidate.research.summary,
            summary_sources=candidate.research.sources,
            sector_of=lambda held_symbol: _sector(self.market, held_symbol),
            offline_narrative=offline_narrative,
            accepted=[
                (other.analysis.symbol, other.sector, float(other.analysis.sizing.get("weight") or 0.0))
                for other in accepted
            ],
        )

    def select_and_write(
        self,
        plan: Plan,
        ranked: list[Candidate],
        closes: pd.DataFrame,
        skipped: dict[str, str],
    ) -> tuple[list[InvestmentIdea], dict[str, str]]:
        ctx = self.ctx
        shape = plan.mandate or mandate(ctx.request)
        ideas: list[InvestmentIdea] = []
        accepted: list[Candidate] = []
        blocked: dict[str, str] = {}
        remaining = list(ranked)
        ctx.progress(AgentName.COMPLIANCE, AgentState.RUNNING, 0.0, "reviewing")
        while remaining and len(ideas) < ctx.request.max_ideas:
            ctx.check_cancelled()
            chosen, passed_over = diversify(
                remaining, closes, ctx.request.max_ideas - len(ideas), shape.sector_cap_ideas, accepted
            )
            if not chosen:
                skipped.update(passed_over)
                break
            room = shape.book_limit - sum(h.weight for h in ctx.request.holdings)
            room -= sum(float(c.analysis.sizing.get("weight") or 0.0) for c in accepted)
            chosen, note = fit_to_book(chosen, room)
            for candidate in chosen:
                symbol = candidate.analysis.symbol
                remaining = [other for other in remaining if other.analysis.symbol != symbol]
                constraints = [*shape.statements, *([note] if note else [])]
                with self.span(AgentName.SYNTHESIS, f"write {symbol}"):
                    idea = self.synthesis.write(
                        ctx, candidate, ComplianceStatus(), plan.factor_weights, plan.benchmark, constraints
                    )
                offline = all(use.offline for use in idea.provenance.models if use.step == "synthesis")
                status = self.step(
                    AgentName.COMPLIANCE,
                    f"review {symbol}",
                    functools.partial(self.review, candidate, offline, accepted),
                    lambda: None,
                )
                if status is None:
                    blocked[symbol] = "compliance review failed; the idea is withheld"
                    continue
                if status.state is ComplianceState.NON_COMPLIANT:
                    critical = [i.message for i in status.issues if i.severity is Severity.CRITICAL]
                    blocked[symbol] = "; ".join(critical)
                    continue
                data = idea.model_dump()
                data["compliance"] = status.model_dump()
                data["as_of_note"] = ctx.as_of_note
                data["provenance"]["models"] = [  # the idea's own calls (its commentary, its text) come last
                    use.model_dump() for use in ctx.model_uses if use.step not in IDEA_OWN_STEPS
                ] + [use.model_dump() for use in idea.provenance.models]
                ideas.append(InvestmentIdea.model_validate(data))
                accepted.append(candidate)
                ctx.progress(
                    AgentName.COMPLIANCE,
                    AgentState.RUNNING,
                    100.0 * len(ideas) / ctx.request.max_ideas,
                    f"{len(ideas)} cleared, {len(blocked)} blocked",
                )
            remaining = [candidate for candidate in remaining if candidate.analysis.symbol not in passed_over]
            skipped.update(passed_over)
        return ideas, blocked


def with_screen_weights(plan: Plan, screen: Screen, request: IdeaRequest) -> Plan:
    """The plan with the factor weights the screen ranked on (learned point in time from the plan's) and a
    sentence on where they came from among the constraints its ideas list."""
    if not screen.weights:
        return plan
    shape = plan.mandate or mandate(request)
    described = ", ".join(f"{name.replace('_', ' ')} {weight:.2f}" for name, weight in screen.weights.items() if weight)
    note = f"Factor weights {described}: {screen.weights_basis}." if screen.weights_basis else ""
    statements = [*shape.statements, *([note] if note else [])]
    return plan.model_copy(
        update={"factor_weights": dict(screen.weights), "mandate": shape.model_copy(update={"statements": statements})}
    )


def fit_to_book(chosen: list[Candidate], room: float) -> tuple[list[Candidate], str | None]:
    """The chosen candidates with their weights scaled down together, when their sum exceeds the ``room`` the
    holdings and the ideas already accepted leave in the book, and the sentence that says so (``None`` when
    they fit). Notional, maximum loss and days to liquidate scale with the weight."""
    total = sum(float(candidate.analysis.sizing.get("weight") or 0.0) for candidate in chosen)
    if total <= room + 1e-12 or total <= 0.0:
        return chosen, None
    factor = max(room, 0.0) / total
    scaled = []
    for candidate in chosen:
        analysis = candidate.analysis
        sizing = dict(analysis.sizing)
        for key in ("weight", "notional", "max_loss"):
            if sizing.get(key) is not None:
                sizing[key] = float(sizing[key] or 0.0) * factor
        sizing["book_scale"] = factor
        metrics = dict(analysis.metrics)
        if metrics.get("liquidity_days") is not None:
            metrics["liquidity_days"] = float(metrics["liquidity_days"] or 0.0) * factor
        scaled.append(
            candidate.model_copy(
                update={"analysis": analysis.model_copy(update={"sizing": sizing, "metrics": metrics})}
            )
        )
    note = (
        f"Book: the holdings leave {max(room, 0.0):.1%} of room; this request's ideas were scaled together by "
        f"{factor:.2f} to fit it."
    )
    return scaled, note


def prompt_templates() -> dict[str, PromptTemplate]:
    """Every prompt template the team's agents use, by name: registered here, where every agent is known, so that
    :mod:`investai.agents.prompts` depends on no agent."""
    templates = (PLAN_TEMPLATE, SUMMARY_TEMPLATE, COMMENTARY_TEMPLATE, REVIEW_TEMPLATE, IDEA_TEMPLATE)
    return {template.name: template for template in templates}


def _with_trace_id(on_message: Callable[[AgentMessage], None], message: AgentMessage) -> None:
    """Hand ``message`` on stamped with the trace id of the span it was sent from."""
    trace_id = current_trace_id()
    on_message(message if trace_id is None else message.model_copy(update={"trace_id": trace_id}))


def _sector(market: PointInTimeMarket, symbol: str) -> str | None:
    try:
        return market.symbol(symbol).sector
    except Exception:
        return None
