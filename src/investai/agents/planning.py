"""The planning agent: which symbols to screen, how to weigh the factors, what to research.

Everything that decides *what is analysed* is computed by rules from the request: the universe (the symbol
master filtered by asset class, sectors, tickers and exclusions), the factor weights (horizon x risk
tolerance, :func:`investai.analytics.factors.factor_weights`) and how many candidates go to deep analysis.
The reasoning model may only add research questions and a focus note (plain text, length-capped); it cannot
add or remove a symbol, so nothing it reads or writes can widen or narrow the screen.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from investai.agents.context import RunContext
from investai.agents.market_view import MarketAsOf
from investai.agents.policy import Mandate, esg_excluded, mandate, tilted
from investai.agents.prompts import PromptTemplate
from investai.analytics.factors import factor_weights
from investai.domain.agents import AgentName, MessageType
from investai.domain.common import DomainModel
from investai.domain.idea_parts import AssetClass as IdeaAssetClass
from investai.domain.idea_request import IdeaRequest, ResearchDepth
from investai.domain.llm import TaskKind
from investai.domain.market import AssetClass, SymbolInfo
from investai.domain.users import EsgPreference
from investai.ports.research import MarketReader, PointInTimeMarket

MAX_UNIVERSE = 5000
MAX_QUESTIONS = 5
BASE_QUESTIONS = (
    "{name} ({symbol}) outlook, growth drivers and guidance",
    "{name} ({symbol}) risks, headwinds and competition",
)
_ASSET_CLASSES = {IdeaAssetClass.EQUITY: AssetClass.EQUITY, IdeaAssetClass.ETF: AssetClass.ETF}
_CANDIDATES = {ResearchDepth.QUICK: 1.5, ResearchDepth.STANDARD: 2.0, ResearchDepth.DEEP: 3.0}


class Plan(DomainModel):
    universe: list[str] = Field(description="symbols to screen")
    names: dict[str, str] = Field(default_factory=dict)
    sectors: dict[str, str | None] = Field(default_factory=dict)
    benchmark: str | None = None
    candidates: int = Field(ge=1, description="how many top-scored symbols get the full analysis")
    factor_weights: dict[str, float]
    research_questions: list[str] = Field(default_factory=list, max_length=MAX_QUESTIONS + len(BASE_QUESTIONS))
    analyses: list[str]
    focus: str = ""
    excluded: dict[str, str] = Field(default_factory=dict, description="symbol -> why it is not screened")
    mandate: Mandate | None = Field(default=None, description="the request's constraints, each explained")


PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "focus": {"type": "string", "maxLength": 500},
        "research_questions": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 5},
    },
    "required": ["focus", "research_questions"],
}

PLAN_TEMPLATE = PromptTemplate(
    name="planning.plan",
    version="1",
    task=TaskKind.REASONING,
    system=(
        "You plan equity research for an investment team. Answer with a short focus note and up to five "
        "research questions to ask of the firm's documents about each candidate. Use {name} and {symbol} as "
        "placeholders for the company."
    ),
    user=(
        "Request: risk tolerance $risk, horizon $horizon, ESG $esg, research depth $depth.\n"
        "Universe: $count symbols in sectors $sectors.\nFactor weights: $weights."
    ),
    json_schema=PLAN_SCHEMA,
    max_tokens=600,
)

ANALYSES = ["factor_screen", "performance", "var_cvar", "scenarios", "levels", "sizing", "portfolio_fit", "liquidity"]


def build_universe(request: IdeaRequest, market: PointInTimeMarket) -> tuple[list[SymbolInfo], dict[str, str]]:
    """The symbols the request allows, and the reason each other known symbol was left out (an ESG-required
    request leaves out the industries the ESG screen excludes)."""
    classes = {_ASSET_CLASSES[cls] for cls in request.asset_classes if cls in _ASSET_CLASSES}
    known: list[SymbolInfo] = []
    for asset_class in sorted(classes):
        known.extend(market.symbols(asset_class=asset_class, limit=MAX_UNIVERSE))
    excluded: dict[str, str] = {}
    wanted = set(request.tickers)
    sectors = {sector.lower() for sector in request.sectors}
    universe = []
    for info in sorted(known, key=lambda item: item.symbol):
        if info.symbol in request.exclusions:
            excluded[info.symbol] = "excluded by the request"
        elif wanted and info.symbol not in wanted:
            continue
        elif sectors and (info.sector or "").lower() not in sectors:
            excluded[info.symbol] = f"sector {info.sector or 'unknown'} not requested"
        elif request.esg is EsgPreference.REQUIRE and esg_excluded(info.industry):
            excluded[info.symbol] = f"industry {info.industry} excluded by the ESG screen"
        else:
            universe.append(info)
    for missing in sorted(wanted - {info.symbol for info in known}):
        excluded[missing] = "not in the symbol master for the requested asset classes"
    return universe, excluded


class PlanningAgent:
    name = AgentName.PLANNING

    def __init__(self, market: MarketReader) -> None:
        self._market = market

    def plan(self, ctx: RunContext) -> Plan:
        request = ctx.request
        universe, excluded = build_universe(request, MarketAsOf(self._market, ctx.as_of))
        shape = mandate(request)
        weights = tilted(
            factor_weights(request.investment_horizon.value, request.risk_tolerance.value), shape.factor_tilts
        )
        benchmarks = [info.benchmark for info in universe if info.benchmark]
        benchmark = max(set(benchmarks), key=benchmarks.count) if benchmarks else None
        candidates = max(request.max_ideas, round(request.max_ideas * _CANDIDATES[request.research_depth]))
        offline = {
            "focus": (
                f"Screen {len(universe)} symbols on the {request.investment_horizon.value}-horizon factor blend for a "
                f"{request.risk_tolerance.value.replace('_', ' ')} profile; research the top candidates' outlook "
                "and risks in the firm's documents."
            ),
            "research_questions": [],
        }
        rendered = PLAN_TEMPLATE.render(
            offline_answer=offline,
            risk=request.risk_tolerance.value,
            horizon=request.investment_horizon.value,
            esg=request.esg.value,
            depth=request.research_depth.value,
            count=len(universe),
            sectors=", ".join(sorted({info.sector or "unknown" for info in universe})) or "none",
            weights=", ".join(f"{name} {weight:.2f}" for name, weight in weights.items()),
        )
        answer = ctx.router.complete(rendered, step="planning")
        ctx.record_use(answer.use)
        data = answer.response.data or offline
        questions = [
            str(question).strip()[:200]
            for question in data.get("research_questions", [])[:MAX_QUESTIONS]
            if isinstance(question, str) and question.strip()
        ]
        plan = Plan(
            universe=[info.symbol for info in universe],
            names={info.symbol: info.name for info in universe},
            sectors={info.symbol: info.sector for info in universe},
            benchmark=benchmark,
            candidates=min(candidates, max(len(universe), 1)),
            factor_weights=weights,
            research_questions=[*BASE_QUESTIONS, *questions],
            analyses=list(ANALYSES),
            focus=str(data.get("focus", offline["focus"]))[:500],
            excluded=excluded,
            mandate=shape,
        )
        ctx.message(
            AgentName.PLANNING,
            MessageType.RESPONSE,
            {
                "universe": len(plan.universe),
                "candidates": plan.candidates,
                "factor_weights": plan.factor_weights,
                "benchmark": plan.benchmark,
                "excluded": plan.excluded,
                "constraints": shape.statements,
                "model": answer.use.model_id,
                "fell_back": answer.failures,
            },
            recipient=AgentName.SUPERVISOR,
        )
        return plan
