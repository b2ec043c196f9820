"""The firm's limits and what a request's profile and template make of them: one place for every agent.

Limits (risk budget, weight cap, stop width, the sector and book caps, the freshness limit, the ESG
exclusions) are read here by planning, analysis, synthesis and compliance alike, so that the figure an idea is
sized with is the figure compliance checks it against.

A :class:`Mandate` is what one request asks for, made concrete: the request's risk tolerance and ESG choice,
its template's promise (``aggressive_growth`` tilts to momentum and growth and keeps only names with positive
12-1 momentum; ``esg_focused`` leaves fossil-fuel industries out of the universe; ``balanced_diversified``
spreads the ideas over sectors; ``short_term_tactical`` sets tighter stops; ``conservative_retirement``
tilts to low volatility and quality) and the book it is sized into (the holdings plus the new ideas within
:data:`BOOK_LIMIT`). Each constraint carries the sentence an idea shows to say what shaped it.
"""

from __future__ import annotations

import math

from pydantic import Field

from investai.domain.common import DomainModel
from investai.domain.idea_parts import RiskLevel
from investai.domain.idea_request import IdeaRequest
from investai.domain.users import EsgPreference, RiskTolerance

STALE_DAYS = 7
"""Prices older than this at the as-of moment fail the freshness check (a critical issue an officer may
override with a reason)."""

RISK_BUDGET = {
    RiskTolerance.VERY_CONSERVATIVE: 0.006,
    RiskTolerance.CONSERVATIVE: 0.009,
    RiskTolerance.MODERATE: 0.015,
    RiskTolerance.AGGRESSIVE: 0.025,
    RiskTolerance.VERY_AGGRESSIVE: 0.035,
}
"""Annualised volatility one new position may add to the book on its own (weight x volatility): a position is
sized ``budget / volatility``, so a calmer stock gets a larger weight, up to :data:`MAX_WEIGHT`."""

MAX_WEIGHT = {
    RiskTolerance.VERY_CONSERVATIVE: 0.05,
    RiskTolerance.CONSERVATIVE: 0.07,
    RiskTolerance.MODERATE: 0.10,
    RiskTolerance.AGGRESSIVE: 0.15,
    RiskTolerance.VERY_AGGRESSIVE: 0.20,
}
"""The largest weight one position may have in the book (holdings of the same symbol included)."""

MAX_RISK_LEVEL = {
    RiskTolerance.VERY_CONSERVATIVE: RiskLevel.LOW,
    RiskTolerance.CONSERVATIVE: RiskLevel.MODERATE,
    RiskTolerance.MODERATE: RiskLevel.HIGH,
    RiskTolerance.AGGRESSIVE: RiskLevel.VERY_HIGH,
    RiskTolerance.VERY_AGGRESSIVE: RiskLevel.VERY_HIGH,
}

STOP_SIGMAS = 1.0
"""Stops sit this many standard deviations of the horizon's log return below the entry
(``entry x exp(-k x sigma x sqrt(horizon / 252))``; ``short_term_tactical``: 0.75)."""
TARGET_SIGMAS = 1.5
"""Targets sit this many standard deviations of the horizon's log return above the entry
(``short_term_tactical``: 1.25)."""

SECTOR_CAP = 0.35
"""The largest share of the book one sector may hold, holdings and new ideas together."""
BOOK_LIMIT = 1.0
"""Gross long exposure of the book (holdings plus new ideas) may not exceed this; new ideas are scaled down
to fit the room the holdings leave."""
CORRELATION_CAP = 0.85
"""Two ideas whose daily returns correlate above this are not both chosen."""

FOSSIL_FUEL_INDUSTRIES = (
    "oil, gas & consumable fuels",
    "oil & gas",
    "energy equipment & services",
    "coal & consumable fuels",
)
ESG_EXCLUDED_INDUSTRIES = (
    *FOSSIL_FUEL_INDUSTRIES,
    "tobacco",
    "aerospace & defense",
    "casinos & gaming",
)
"""Industries an ESG screen excludes (matched case-insensitively as substrings of the symbol master's
industry)."""


def esg_excluded(industry: str | None) -> bool:
    lowered = (industry or "").lower()
    return bool(lowered) and any(word in lowered for word in ESG_EXCLUDED_INDUSTRIES)


class Mandate(DomainModel):
    """The constraints one request puts on the screen, the sizing and the selection, each explained."""

    template: str | None = None
    factor_tilts: dict[str, float] = Field(
        default_factory=dict, description="multipliers on the horizon x risk factor weights"
    )
    positive_momentum: bool = Field(default=False, description="only names with positive 12-1 momentum rank")
    esg_exclusion: bool = Field(default=False, description="ESG-excluded industries are left out of the universe")
    sector_cap_ideas: int = Field(ge=1, description="at most this many ideas per sector")
    stop_sigmas: float = STOP_SIGMAS
    target_sigmas: float = TARGET_SIGMAS
    risk_budget: float
    max_weight: float
    book_limit: float = BOOK_LIMIT
    sector_cap: float = SECTOR_CAP
    statements: list[str] = Field(default_factory=list, description="what shaped the ideas, in plain words")


_TEMPLATE_TILTS: dict[str, dict[str, float]] = {
    "aggressive_growth": {"momentum": 2.0, "growth": 2.0, "trend": 1.5, "low_volatility": 0.0, "value": 0.5},
    "conservative_retirement": {"low_volatility": 2.0, "quality": 2.0, "momentum": 0.5, "short_term_reversal": 0.0},
    "short_term_tactical": {"trend": 1.5, "short_term_reversal": 1.5, "value": 0.0, "quality": 0.0, "growth": 0.0},
}


def mandate(request: IdeaRequest) -> Mandate:
    """The constraints ``request`` puts on its ideas (template, profile and book), with their explanations."""
    tolerance = request.risk_tolerance
    template = request.template
    tilts = dict(_TEMPLATE_TILTS.get(template or "", {}))
    statements = [
        f"{tolerance.value.replace('_', ' ').capitalize()} profile: each position sized to add at most "
        f"{RISK_BUDGET[tolerance]:.1%} of annualised volatility to the book, capped at {MAX_WEIGHT[tolerance]:.0%}."
    ]
    if request.from_profile:
        statements.append(
            "From the requester's saved preferences: "
            + ", ".join(field.replace("_", " ") for field in request.from_profile)
            + "."
        )
    if tilts:
        described = ", ".join(
            f"{name.replace('_', ' ')} x{value:g}" for name, value in sorted(tilts.items(), key=lambda kv: -kv[1])
        )
        statements.append(f"Template {template}: factor weights tilted ({described}).")
    positive_momentum = template == "aggressive_growth"
    if positive_momentum:
        statements.append("Template aggressive_growth: only names with positive 12-1 momentum are ranked.")
    esg_exclusion = request.esg is EsgPreference.REQUIRE
    if esg_exclusion:
        statements.append(
            "ESG required: fossil-fuel, tobacco, defence and gambling industries are left out of the universe."
        )
    if template == "balanced_diversified":
        sector_cap_ideas = max(1, math.ceil(request.max_ideas / 4))
        statements.append(f"Template balanced_diversified: at most {sector_cap_ideas} ideas per sector.")
    else:
        sector_cap_ideas = max(2, math.ceil(request.max_ideas * 0.4))
    stop_sigmas, target_sigmas = (0.75, 1.25) if template == "short_term_tactical" else (STOP_SIGMAS, TARGET_SIGMAS)
    statements.append(
        f"Stop {stop_sigmas:g} and target {target_sigmas:g} standard deviations of the instrument's return over the "
        "horizon from the entry."
    )
    held = sum(holding.weight for holding in request.holdings)
    if request.holdings:
        statements.append(
            f"Book: holdings weigh {held:.0%}; new ideas fit within a gross exposure of {BOOK_LIMIT:.0%} and a "
            f"sector cap of {SECTOR_CAP:.0%}, holdings included."
        )
    return Mandate(
        template=template,
        factor_tilts=tilts,
        positive_momentum=positive_momentum,
        esg_exclusion=esg_exclusion,
        sector_cap_ideas=sector_cap_ideas,
        stop_sigmas=stop_sigmas,
        target_sigmas=target_sigmas,
        risk_budget=RISK_BUDGET[tolerance],
        max_weight=MAX_WEIGHT[tolerance],
        statements=statements,
    )


def levels(entry: float, volatility: float, horizon_days: int, shape: Mandate) -> dict[str, float]:
    """Entry, target and stop from the instrument's annualised volatility over ``horizon_days`` trading days:
    ``entry x exp(+-k x sigma x sqrt(horizon / 252))`` with the mandate's ``k`` for each side."""
    spread = volatility * math.sqrt(max(horizon_days, 1) / 252.0)
    return {
        "entry": entry,
        "target": entry * math.exp(shape.target_sigmas * spread),
        "stop": entry * math.exp(-shape.stop_sigmas * spread),
    }


def tilted(weights: dict[str, float], tilts: dict[str, float]) -> dict[str, float]:
    """``weights`` times ``tilts`` (1 for an untilted factor), renormalised to sum to 1 (unchanged if all zero)."""
    raw = {name: weight * tilts.get(name, 1.0) for name, weight in weights.items()}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()} if total > 0 else dict(weights)
