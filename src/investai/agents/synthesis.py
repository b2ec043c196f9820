"""The synthesis agent: ranks the analysed candidates, diversifies, and writes each idea.

Ranking score (docs/ARCHITECTURE.md section 5): confidence 30%, risk-return fit 25%, quality/novelty 20%, horizon fit
15%, timing 10%, each component in [0, 1] and computed here from the analysis and research (documented in
:func:`score_components`). Diversification walks the ranking and skips a candidate whose sector already has
``sector_cap`` ideas or whose daily returns correlate above ``CORRELATION_CAP`` with an idea already chosen.

Writing: the reasoning model may phrase the title, summary, rationale and counter-arguments, but any number
it writes must be one the analysis computed (or a number of the cited passages, or a term's own number such
as the 12 of "12-1 momentum"); a text that states another number is rejected and asked for again once, then
replaced by the template text, which code fills from the same figures.

An idea researched from documents also keeps the document versions it was made from and a document-free
rendering (:meth:`SynthesisAgent.document_free`): the template text, confidence and ranking components as they
are without any research, which readers who may not read one of those documents are shown instead
(:mod:`investai.domain.idea_views`).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

import pandas as pd

from investai.agents.context import RunContext
from investai.agents.evidence import split_sentences
from investai.agents.faithfulness import check_faithfulness
from investai.agents.findings import CandidateAnalysis
from investai.agents.grounding import check_numbers
from investai.agents.policy import CORRELATION_CAP, MAX_RISK_LEVEL, STALE_DAYS
from investai.agents.prompts import NUMBERS_RULE, UNTRUSTED_RULE, PromptTemplate, quote_untrusted
from investai.agents.research import ResearchFindings
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import DocumentSource, Evidence, EvidenceScope, MarketCitation
from investai.domain.common import DomainModel, epoch_ms, new_id
from investai.domain.idea_parts import (
    ComplianceStatus,
    Direction,
    DocumentFreeRendering,
    ExpectedReturn,
    IdeaAnalysis,
    Instrument,
    ModelUse,
    Outcome,
    PositionSizing,
    Provenance,
    RiskMetrics,
    Scenario,
    StatusChange,
    Strategy,
    TimeHorizon,
    TradeLevels,
)
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.llm import TaskKind
from investai.domain.scoring import (
    RANKING_WEIGHTS,
    clip_confidence,
    confidence_before_research,
    passage_quality,
    ranking_score,
)

VALIDITY = {
    TimeHorizon.INTRADAY: timedelta(days=1),
    TimeHorizon.SHORT: timedelta(days=14),
    TimeHorizon.MEDIUM: timedelta(days=30),
    TimeHorizon.LONG: timedelta(days=90),
    TimeHorizon.VERY_LONG: timedelta(days=180),
}
"""How long an idea stays valid before the scheduler expires it."""
TERM_NUMBERS = (1, 5, 10, 12, 14, 20, 25, 50, 52, 63, 75, 95, 99, 126, 200, 252, 756)
"""Numbers that are part of the names of the measures (12-1 momentum, RSI 14, 50/200 cross, 95% VaR, the 5th
percentile...)."""
STRATEGY_OF_FACTOR = {
    "momentum": Strategy.MOMENTUM,
    "trend": Strategy.TREND,
    "short_term_reversal": Strategy.MEAN_REVERSION,
    "low_volatility": Strategy.LOW_VOLATILITY,
    "value": Strategy.VALUE,
    "quality": Strategy.QUALITY,
    "growth": Strategy.GROWTH,
}

IDEA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "summary": {"type": "string", "maxLength": 1500},
        "rationale": {"type": "string", "maxLength": 6000},
        "counter_arguments": {"type": "array", "items": {"type": "string", "maxLength": 500}, "maxItems": 6},
    },
    "required": ["title", "summary", "rationale", "counter_arguments"],
}
IDEA_TEMPLATE = PromptTemplate(
    name="synthesis.idea",
    version="1",
    task=TaskKind.REASONING,
    system=(
        "You write investment ideas for professional investors: a title, a two-sentence summary, a rationale "
        f"and counter-arguments, from the computed figures and research given. {NUMBERS_RULE} {UNTRUSTED_RULE}"
    ),
    user="Idea: long $symbol ($name, $sector) over the $horizon horizon, strategy $strategy.\n"
    "Computed figures (fractions; write them as percentages with one decimal if you like):\n$figures\n"
    "Research summary:\n$research\nDraft to improve:\n$draft",
    json_schema=IDEA_SCHEMA,
    max_tokens=1500,
)


class Candidate(DomainModel):
    analysis: CandidateAnalysis
    research: ResearchFindings
    name: str
    sector: str | None
    rank: int
    screened: int
    score: float = 0.0
    components: dict[str, float] = {}
    confidence: float = 0.0
    conflict: str | None = None


def _clip(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value)) if math.isfinite(value) else low


def confidence(analysis: CandidateAnalysis, research: ResearchFindings) -> tuple[float, str | None]:
    """Confidence in [0.05, 0.95] and the research/analysis conflict it resolved, if any.

    Base: the measured probability that a name at the candidate's composite percentile gained over the
    horizon, from the screen's point-in-time calibration (:func:`investai.domain.scoring.confidence_before_research`;
    a heuristic of the percentile, the bootstrap probability of gain and the history available when there was
    nothing to measure). When the research stance (net analyst ratings in the cited passages, -1..1) disagrees
    with the long signal, the base is cut by ``0.3 x |stance| x credibility`` (credibility grows with the
    number of relevant passages); agreement adds ``0.1 x stance x credibility``. Both are stated in the idea's
    confidence basis.
    """
    base = confidence_before_research(analysis.confidence_inputs)
    conflict = None
    if research.stance < 0:
        cut = 0.3 * abs(research.stance) * research.credibility
        base *= 1 - cut
        conflict = (
            f"documents lean negative on {analysis.symbol} (ratings: {', '.join(research.ratings)}) against a "
            f"positive quantitative signal; confidence cut by {cut:.2f} (credibility {research.credibility:.2f})"
        )
    elif research.stance > 0:
        base *= 1 + 0.1 * research.stance * research.credibility
    return clip_confidence(base), conflict


def confidence_adjustment(analysis: CandidateAnalysis, research: ResearchFindings, value: float) -> str | None:
    """The sentence an idea shows when analyst ratings in the documents moved its measured confidence."""
    before = confidence_before_research(analysis.confidence_inputs)
    if abs(value - before) < 0.0005:
        return None
    direction = "lowered" if value < before else "raised"
    return (
        f"{direction} from {before:.0%} to {value:.0%} by analyst ratings in the firm's documents "
        f"({', '.join(research.ratings) or 'none'})"
    )


def score_components(
    candidate: Candidate, ctx: RunContext, held: set[str], factor_weights: dict[str, float]
) -> dict[str, float]:
    """The five ranking components, each in [0, 1].

    * confidence: :func:`confidence`.
    * risk_return_fit: ``0.5 + 0.25 x Sharpe`` clipped to [0, 1], halved when the risk level exceeds what the
      profile allows (see the compliance agent's suitability rule).
    * quality_novelty: ``0.6 x min(1, cited passages / 3) + 0.4 x`` (1 when the symbol is not already held).
    * horizon_fit: the share of the horizon's factor weight carried by factors whose z-score is positive.
    * timing: 1 with RSI(14) in [40, 70], 0.4 above 70 (overbought), 0.6 below 40, times 1 in an up-trend
      (50-day average above the 200-day) and 0.6 otherwise.
    """
    analysis = candidate.analysis
    sharpe = analysis.metrics.get("sharpe") or 0.0
    fit = _clip(0.5 + 0.25 * sharpe)
    if analysis.risk_level.rank > MAX_RISK_LEVEL[ctx.request.risk_tolerance].rank:
        fit /= 2
    documents = sum(1 for item in candidate.research.evidence if item.citation.kind == "document")
    quality = passage_quality(documents) + 0.4 * (analysis.symbol not in held)
    positive = sum(w for f, w in factor_weights.items() if (analysis.factors.get(f) or 0.0) > 0)
    total = sum(w for f, w in factor_weights.items() if analysis.factors.get(f) is not None)
    horizon = positive / total if total > 0 else 0.0
    rsi = analysis.technicals.get("rsi_14")
    timing = 0.5 if rsi is None else (1.0 if 40 <= rsi <= 70 else 0.4 if rsi > 70 else 0.6)
    timing *= 1.0 if (analysis.technicals.get("trend_signal") or 0) > 0 else 0.6
    return {
        "confidence": candidate.confidence,
        "risk_return_fit": fit,
        "quality_novelty": quality,
        "horizon_fit": horizon,
        "timing": timing,
    }


def diversify(
    ranked: list[Candidate],
    closes: pd.DataFrame,
    max_ideas: int,
    sector_cap: int | None = None,
    chosen_before: list[Candidate] | None = None,
) -> tuple[list[Candidate], dict[str, str]]:
    """Pick up to ``max_ideas`` in rank order under the sector cap (default ``max(2, ceil(0.4 x max_ideas))``
    ideas per sector, counting ``chosen_before``, the ideas already accepted) and the correlation cap."""
    sector_cap = sector_cap or max(2, math.ceil(max_ideas * 0.4))
    before = list(chosen_before or [])
    returns = closes.pct_change(fill_method=None)
    chosen: list[Candidate] = []
    skipped: dict[str, str] = {}
    for candidate in ranked:
        if len(chosen) >= max_ideas:
            break
        symbol = candidate.analysis.symbol
        same_sector = sum(1 for other in [*before, *chosen] if candidate.sector and other.sector == candidate.sector)
        if same_sector >= sector_cap:
            skipped[symbol] = f"sector cap: {same_sector} {candidate.sector} ideas already chosen"
            continue
        too_close = [
            other.analysis.symbol
            for other in chosen
            if symbol in returns
            and other.analysis.symbol in returns
            and returns[symbol].corr(returns[other.analysis.symbol]) > CORRELATION_CAP
        ]
        if too_close:
            skipped[symbol] = f"correlation above {CORRELATION_CAP} with {', '.join(too_close)}"
            continue
        chosen.append(candidate)
    return chosen, skipped


def _joined(text: dict[str, Any]) -> str:
    return " ".join([text["title"], text["summary"], text["rationale"], *text["counter_arguments"]])


def cited_unsupported(text: str, candidate: Candidate) -> list[str]:
    """The problems of the sentences of ``text`` that cite research passages (``[n]``): each must be supported by
    the passage it cites (:func:`investai.agents.faithfulness.check_faithfulness`). Sentences without a marker
    state computed figures, which the number check covers."""
    cited = " ".join(sentence for sentence in split_sentences(text, keep_markers=True) if re.search(r"\[\d", sentence))
    if not cited:
        return []
    passages = {
        number: item.quote or item.claim
        for number, item in enumerate(candidate.research.evidence, start=1)
        if item.citation.kind == "document"
    }
    names = [candidate.name, candidate.analysis.symbol, candidate.sector or ""]
    return list(check_faithfulness(cited, passages, known_names=names).reasons)[:10]


def _same_row(one: Any, other: Any) -> bool:
    """Whether two citations point at the same table row of the same document version."""
    keys = ("kind", "document_id", "version", "table", "row")
    return all(getattr(one, key, None) == getattr(other, key, None) for key in keys) and one.row is not None


def _below_high(distance: float | None) -> str:
    """``distance_from_high`` (a fraction, zero or negative) in words."""
    if distance is None:
        return "at an unknown distance from its 52-week high"
    if abs(distance) < 0.0005:
        return "at its 52-week high"
    return f"{_pct(abs(distance))} below its 52-week high"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _dominant_factor(analysis: CandidateAnalysis, weights: dict[str, float]) -> str:
    contributions = {f: w * (analysis.factors.get(f) or 0.0) for f, w in weights.items()}
    return max(contributions, key=lambda f: contributions[f]) if contributions else "momentum"


class SynthesisAgent:
    name = AgentName.SYNTHESIS

    def rank(self, ctx: RunContext, candidates: list[Candidate], factor_weights: dict[str, float]) -> list[Candidate]:
        held = {holding.symbol for holding in ctx.request.holdings}
        scored = []
        for candidate in candidates:
            components = score_components(candidate, ctx, held, factor_weights)
            score = sum(RANKING_WEIGHTS[name] * value for name, value in components.items())
            scored.append(candidate.model_copy(update={"components": components, "score": score}))
        return sorted(scored, key=lambda item: (-item.score, item.analysis.symbol))

    def write(
        self,
        ctx: RunContext,
        candidate: Candidate,
        compliance: ComplianceStatus,
        factor_weights: dict[str, float],
        benchmark: str | None,
        constraints: list[str] | None = None,
    ) -> InvestmentIdea:
        """The idea for ``candidate``: grounded text, every computed figure with its citation, the research
        evidence, and what shaped it (``constraints``)."""
        analysis, research = candidate.analysis, candidate.research
        factor = _dominant_factor(analysis, factor_weights)
        strategy = STRATEGY_OF_FACTOR.get(factor, Strategy.LONG)
        draft = self._template(candidate, factor, benchmark)
        text, uses = self._grounded(ctx, candidate, strategy, draft, self._allowed(ctx, candidate))
        now = ctx.clock.now()
        horizon = ctx.request.investment_horizon
        sizing = analysis.sizing
        sources = list(research.sources)
        if analysis.fundamentals_citation is not None:
            cited = DocumentSource(
                document_id=analysis.fundamentals_citation.document_id, version=analysis.fundamentals_citation.version
            )
            sources += [] if cited in sources else [cited]
        return InvestmentIdea(
            id=new_id("idea_"),
            version=1,
            timestamp=epoch_ms(now),
            title=text["title"],
            summary=text["summary"],
            rationale=text["rationale"],
            instruments=[
                Instrument(
                    symbol=analysis.symbol, name=candidate.name, sector=candidate.sector, direction=Direction.LONG
                )
            ],
            strategy=strategy,
            time_horizon=horizon,
            confidence=round(candidate.confidence, 4),
            risk_level=analysis.risk_level,
            expected_return=self._expected_return(ctx, analysis),
            outcomes=self._outcomes(analysis, research),
            metrics=self._risk_metrics(analysis),
            position_sizing=PositionSizing(
                method="risk_budget_capped_kelly",
                weight=float(sizing["weight"] or 0.0),
                notional=sizing.get("notional"),
                currency=ctx.request.currency,
                max_loss=sizing.get("max_loss"),
            ),
            levels=[TradeLevels(symbol=analysis.symbol, **analysis.levels)],
            counter_arguments=text["counter_arguments"],
            supporting_evidence=[
                *research.evidence,
                *[
                    item
                    for item in self._fundamentals_evidence(analysis)
                    if not any(_same_row(item.citation, other.citation) for other in research.evidence)
                ],
                *self._market_evidence(analysis),
            ][:200],
            compliance=compliance,
            status=IdeaStatus.DRAFT,
            status_history=[StatusChange(from_status=None, to_status=IdeaStatus.DRAFT, at=now, by="synthesis")],
            provenance=Provenance(
                models=[*([analysis.commentary_use] if analysis.commentary_use else []), *uses],
                data_as_of=ctx.as_of,
                code_version=ctx.code_version,
                request_id=ctx.request_id,
                job_id=ctx.request_id,
            ),
            generated_at=now,
            expires_at=now + VALIDITY[horizon],
            owner_id=ctx.reader.user_id,
            organisation_id=ctx.reader.organisation_id,
            tags=[t for t in (candidate.sector, strategy.value, horizon.value) if t],
            document_sources=sources,
            document_free=self.document_free(ctx, candidate, factor, factor_weights, benchmark) if sources else None,
            analysis=self._idea_analysis(candidate, factor_weights, constraints or []),
        )

    @staticmethod
    def _allowed(ctx: RunContext, candidate: Candidate) -> list[float]:
        """The numbers a written text may state: the analysis's figures, the cited passages' numbers, the
        measures' own numbers, the rank, confidence and score, and the years of the data."""
        analysis = candidate.analysis
        return [
            *analysis.figures(),
            *candidate.research.passages_numbers,
            *TERM_NUMBERS,
            candidate.rank,
            candidate.screened,
            candidate.confidence,
            candidate.score,
            *candidate.components.values(),
            analysis.start.year,
            analysis.end.year,
            ctx.as_of.year,
        ]

    @staticmethod
    def _fundamentals_evidence(analysis: CandidateAnalysis) -> list[Evidence]:
        """The fundamentals row the value, quality and growth factors came from, as cited evidence."""
        citation = analysis.fundamentals_citation
        if citation is None:
            return []
        raw = analysis.raw_factors
        parts = [
            f"{label} {_pct(raw.get(key)) if percent else _num(raw.get(key))}"
            for key, label, percent in (
                ("value", "earnings yield", True),
                ("quality", "quality score", False),
                ("growth", "revenue growth", True),
            )
            if raw.get(key) is not None
        ]
        claim = f"{analysis.symbol} fundamentals: " + "; ".join(parts) + "."
        return [
            Evidence(
                claim=claim, citation=citation, weight=1.0, scope=EvidenceScope.INSTRUMENT, subject=analysis.symbol
            )
        ]

    @staticmethod
    def _market_evidence(analysis: CandidateAnalysis) -> list[Evidence]:
        metrics = analysis.metrics
        return [
            Evidence(claim=f"{label} {value}", citation=analysis.citations[key], weight=1.0)
            for key, label, value in (
                ("last_close", "Last adjusted close", f"{analysis.last_close:.2f}"),
                ("momentum_12_1", "12-1 momentum", _pct(analysis.technicals.get("momentum_12_1"))),
                ("volatility", "Annualised volatility", _pct(metrics.get("volatility"))),
                ("max_drawdown", "Maximum drawdown", _pct(metrics.get("max_drawdown"))),
                ("var_95", "One-day 95% VaR", _pct(metrics.get("var_95"))),
            )
            if analysis.citations.get(key) is not None and analysis.citations[key].value is not None
        ]

    @staticmethod
    def _expected_return(ctx: RunContext, analysis: CandidateAnalysis) -> ExpectedReturn:
        citation = MarketCitation(
            symbol=analysis.symbol,
            series=f"bootstrap:{analysis.horizon_days}d_return",
            start=analysis.start,
            end=analysis.end,
            value=analysis.expected_return["point"],
            as_of=ctx.as_of,
        )
        return ExpectedReturn(
            point=analysis.expected_return["point"],
            low=analysis.expected_return["low"],
            high=analysis.expected_return["high"],
            horizon_days=analysis.horizon_days,
            citation=citation,
        )

    @staticmethod
    def _risk_metrics(analysis: CandidateAnalysis) -> RiskMetrics:
        metrics = analysis.metrics

        def loss(key: str) -> float | None:
            value = metrics.get(key)
            return None if value is None else -value  # RiskMetrics states VaR/CVaR as negative returns

        return RiskMetrics(
            volatility=metrics.get("volatility"),
            sharpe=metrics.get("sharpe"),
            sortino=metrics.get("sortino"),
            max_drawdown=metrics.get("max_drawdown"),
            beta=metrics.get("beta"),
            var_95=loss("var_95"),
            var_99=loss("var_99"),
            cvar_95=loss("cvar_95"),
            cvar_99=loss("cvar_99"),
            liquidity_days=metrics.get("liquidity_days"),
            sources=[c for k, c in analysis.citations.items() if k not in ("last_close", "momentum_12_1", "rsi_14")],
        )

    @staticmethod
    def _idea_analysis(candidate: Candidate, factor_weights: dict[str, float], constraints: list[str]) -> IdeaAnalysis:
        analysis = candidate.analysis
        return IdeaAnalysis(
            factor_scores=analysis.factors,
            factor_weights=factor_weights,
            contributions={f: w * (analysis.factors.get(f) or 0.0) for f, w in factor_weights.items()},
            composite=analysis.composite,
            rank=candidate.rank,
            screened=candidate.screened,
            constraints=constraints,
            confidence_inputs=analysis.confidence_inputs,
            confidence_basis=analysis.confidence_basis,
            confidence_adjustment=confidence_adjustment(analysis, candidate.research, candidate.confidence),
            ranking_components=candidate.components,
            ranking_score=candidate.score,
            technicals=analysis.technicals,
            fan=analysis.fan,
            data_start=analysis.start,
            data_end=analysis.end,
            conflict=candidate.conflict,
            commentary=analysis.commentary,
        )

    def document_free(
        self,
        ctx: RunContext,
        candidate: Candidate,
        factor: str,
        factor_weights: dict[str, float],
        benchmark: str | None,
    ) -> DocumentFreeRendering:
        """The idea as it reads without any document: the template text, confidence and ranking components of
        the candidate with its research left out (no summary, ratings, stance or cited passages). Always the
        template, never a model: a model's text is written once, from the research, and cannot be unread."""
        research = ResearchFindings(symbol=candidate.analysis.symbol)
        value, _ = confidence(candidate.analysis, research)
        bare = candidate.model_copy(update={"research": research, "confidence": value, "conflict": None})
        held = {holding.symbol for holding in ctx.request.holdings}
        components = score_components(bare, ctx, held, factor_weights)
        text = self._template(bare, factor, benchmark)
        return DocumentFreeRendering(
            **text,
            confidence=round(value, 4),
            ranking_components=components,
            ranking_score=ranking_score(components),
        )

    # --- text --------------------------------------------------------------------------------------------------

    def _template(self, candidate: Candidate, factor: str, benchmark: str | None) -> dict[str, Any]:
        analysis, research = candidate.analysis, candidate.research
        m, t, e = analysis.metrics, analysis.technicals, analysis.expected_return
        horizon = f"{analysis.horizon_days}-trading-day"
        title = f"{candidate.name} ({analysis.symbol}): long on {factor.replace('_', ' ')}"
        summary = (
            f"{analysis.symbol} ranks {candidate.rank} of {candidate.screened} screened symbols on the factor blend "
            f"for this horizon. Over a {horizon} horizon the bootstrap scenarios give a median return of "
            f"{_pct(e['point'])} (5th to 95th percentile {_pct(e['low'])} to {_pct(e['high'])})."
        )
        parts = [
            f"12-1 momentum is {_pct(t.get('momentum_12_1'))} and the price is "
            f"{_below_high(t.get('distance_from_high'))}; RSI(14) stands at {t.get('rsi_14') or 0:.1f}.",
            f"Annualised volatility is {_pct(m.get('volatility'))} with a Sharpe ratio of {m.get('sharpe') or 0:.2f} "
            f"and a maximum drawdown of {_pct(m.get('max_drawdown'))} over the window.",
        ]
        if m.get("beta") is not None and benchmark:
            parts.append(f"Beta against {benchmark} is {m['beta']:.2f}.")
        parts.append(
            f"One-day 95% VaR is a loss of {_pct(m.get('var_95'))}. The suggested weight of "
            f"{_pct(analysis.sizing.get('weight'))} spends the profile's risk budget of "
            f"{_pct(analysis.sizing.get('risk_budget'))} of annualised volatility on this position, within the cap "
            f"of {_pct(analysis.sizing.get('max_weight'))}; the stop at {analysis.levels['stop']:.2f} is "
            f"{_pct(analysis.sizing.get('stop_loss'))} below the entry."
        )
        if research.evidence and not research.summary.startswith("No passage"):
            parts.append(f"From the firm's documents: {research.summary}")
        counter = [
            f"The bear-case quarter of scenarios has a median of {_pct(analysis.scenarios['bear']['median'])}.",
            f"The worst drawdown in the window was {_pct(m.get('max_drawdown'))}.",
        ]
        if analysis.data_age_days > STALE_DAYS:
            counter.append(
                f"Prices end on {analysis.end.isoformat()}, {analysis.data_age_days} days before the as-of date: "
                "the figures may no longer hold."
            )
        rsi = t.get("rsi_14")
        if rsi is not None and rsi > 70:
            counter.append(f"RSI(14) of {rsi:.1f} signals an overbought price.")
        if candidate.conflict:
            counter.append(
                "Analyst ratings in the firm's documents lean negative: " + ", ".join(research.ratings) + "."
            )
        if (m.get("beta") or 0) > 1.2:
            counter.append(f"A beta of {m['beta']:.2f} amplifies market falls.")
        return {"title": title[:200], "summary": summary, "rationale": " ".join(parts), "counter_arguments": counter}

    def _grounded(
        self, ctx: RunContext, candidate: Candidate, strategy: Strategy, draft: dict[str, Any], allowed: list[float]
    ) -> tuple[dict[str, Any], list[ModelUse]]:
        analysis = candidate.analysis
        figures = "\n".join(
            f"- {key}: {value:.6g}"
            for key, value in sorted({**analysis.metrics, **analysis.technicals}.items())
            if value is not None
        )
        uses: list[ModelUse] = []
        note = ""
        own = check_numbers(_joined(draft), allowed)
        if not own.ok:  # the template must hold itself to the same rule; a miss here is a defect, made visible
            ctx.message(
                AgentName.SYNTHESIS,
                MessageType.ERROR,
                {
                    "symbol": analysis.symbol,
                    "grounding": "template not grounded",
                    "unsupported_numbers": own.unsupported,
                },
                sources=candidate.research.sources,
            )
        for attempt in range(2):
            rendered = IDEA_TEMPLATE.render(
                offline_answer=draft,
                symbol=analysis.symbol,
                name=candidate.name,
                sector=candidate.sector or "unknown",
                horizon=ctx.request.investment_horizon.value,
                strategy=strategy.value,
                figures=figures,
                research=quote_untrusted(candidate.research.summary, source="research summary"),
                draft=f"{draft}{note}",
            )
            answer = ctx.router.complete(rendered, step="synthesis")
            uses.append(answer.use)
            ctx.record_answer(AgentName.SYNTHESIS, answer, symbol=analysis.symbol)
            if answer.response.offline:
                return draft, uses
            data = answer.response.data or {}
            written: dict[str, Any] = {
                "title": str(data.get("title", "")).strip()[:200],
                "summary": str(data.get("summary", "")).strip()[:4000],
                "rationale": str(data.get("rationale", "")).strip()[:20000],
                "counter_arguments": [str(item)[:500] for item in data.get("counter_arguments", [])][:20],
            }
            report = check_numbers(_joined(written), allowed)
            unfaithful = cited_unsupported(_joined(written), candidate)
            if all(written[key] for key in ("title", "summary", "rationale")) and report.ok and not unfaithful:
                return written, uses
            ctx.message(
                AgentName.SYNTHESIS,
                MessageType.UPDATE,
                {
                    "symbol": analysis.symbol,
                    "grounding": "rejected",
                    "attempt": attempt + 1,
                    "unsupported_numbers": report.unsupported,
                    "unsupported_citations": unfaithful,
                },
                sources=candidate.research.sources,
            )
            note = (
                f"\nYour previous answer stated numbers that were not computed: {', '.join(report.unsupported)}."
                if report.unsupported
                else "\nYour previous answer cited passages for statements they do not make."
            )
        return draft, uses

    @staticmethod
    def _outcomes(analysis: CandidateAnalysis, research: ResearchFindings) -> list[Outcome]:
        outcomes = []
        for scenario in (Scenario.BULL, Scenario.BASE, Scenario.BEAR):
            figures = analysis.scenarios[scenario.value]
            conditions = [
                f"horizon returns from {_pct(figures['min'])} to {_pct(figures['max'])} across this quarter of paths"
                if scenario is not Scenario.BASE
                else f"horizon returns from {_pct(figures['min'])} to {_pct(figures['max'])} in the middle half"
            ]
            catalysts = ["the trend persists"] if scenario is Scenario.BULL else []
            risks = ["a market drawdown like the worst in the window"] if scenario is Scenario.BEAR else []
            outcomes.append(
                Outcome(
                    scenario=scenario,
                    probability=figures["probability"],
                    expected_return=figures["median"],
                    conditions=conditions,
                    catalysts=catalysts,
                    key_risks=risks,
                )
            )
        return outcomes
