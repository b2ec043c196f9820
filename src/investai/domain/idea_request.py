"""What a user asks for when requesting ideas, the rules it must satisfy, and the request templates."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from investai.domain.common import DomainModel, Probability
from investai.domain.idea_parts import AssetClass, TimeHorizon
from investai.domain.users import EsgPreference, InvestmentPreferences, RiskTolerance

Symbol = str


class ResearchDepth(StrEnum):
    QUICK = "quick"
    STANDARD = "standard"
    DEEP = "deep"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class Holding(DomainModel):
    symbol: Symbol = Field(min_length=1, max_length=32)
    weight: float = Field(ge=0.0, le=1.0, description="fraction of the portfolio")

    @field_validator("symbol")
    @classmethod
    def _upper(cls, symbol: str) -> str:
        return symbol.strip().upper()


class IdeaRequest(DomainModel):
    """Parameters of an idea-generation request."""

    risk_tolerance: RiskTolerance = RiskTolerance.MODERATE
    investment_horizon: TimeHorizon = TimeHorizon.MEDIUM
    amount: float | None = Field(default=None, gt=0.0, le=1e12, description="capital to deploy, in currency")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    sectors: list[str] = Field(default_factory=list, max_length=50, description="limit to these GICS sectors")
    asset_classes: list[AssetClass] = Field(default_factory=lambda: [AssetClass.EQUITY], min_length=1)
    universe: str | None = Field(default=None, max_length=64, description="a named universe; default all symbols")
    tickers: list[Symbol] = Field(default_factory=list, max_length=500, description="limit to these symbols")
    exclusions: list[Symbol] = Field(default_factory=list, max_length=500)
    esg: EsgPreference = EsgPreference.NONE
    min_confidence: Probability = 0.5
    max_ideas: int = Field(default=5, ge=1, le=20)
    research_depth: ResearchDepth = ResearchDepth.STANDARD
    holdings: list[Holding] = Field(default_factory=list, max_length=500)
    as_of: date | None = Field(default=None, description="generate as of the end of this date; only earlier data")
    priority: Priority = Priority.NORMAL
    callback_url: str | None = Field(
        default=None, max_length=2000, description="POSTed the job's final status; its host must be allow-listed"
    )
    template: str | None = Field(
        default=None,
        max_length=64,
        description="the request template this request was made from; its promise shapes the screen and sizing",
    )
    from_profile: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="the fields filled from the requester's saved investment preferences",
    )

    @field_validator("tickers", "exclusions")
    @classmethod
    def _normalise_symbols(cls, symbols: list[str]) -> list[str]:
        cleaned = [symbol.strip().upper() for symbol in symbols]
        for symbol in cleaned:
            if not symbol or len(symbol) > 32 or not all(ch.isalnum() or ch in ".-^=" for ch in symbol):
                raise ValueError(f"not a valid symbol: {symbol!r}")
        return list(dict.fromkeys(cleaned))

    @field_validator("template")
    @classmethod
    def _known_template(cls, template: str | None) -> str | None:
        if template is not None and template not in REQUEST_TEMPLATES:
            raise ValueError(f"choose one of {', '.join(sorted(REQUEST_TEMPLATES))}")
        return template

    @field_validator("sectors")
    @classmethod
    def _normalise_sectors(cls, sectors: list[str]) -> list[str]:
        return list(dict.fromkeys(sector.strip() for sector in sectors if sector.strip()))

    @model_validator(mode="after")
    def _consistent(self) -> IdeaRequest:
        excluded_tickers = sorted(set(self.tickers) & set(self.exclusions))
        if excluded_tickers:
            raise ValueError(f"tickers also listed as exclusions: {', '.join(excluded_tickers)}")
        if sum(holding.weight for holding in self.holdings) > 1.0 + 1e-9:
            raise ValueError("holding weights sum to more than 1")
        symbols = [holding.symbol for holding in self.holdings]
        if len(set(symbols)) != len(symbols):
            raise ValueError("each holding may appear once")
        return self

    def warnings(self) -> list[str]:
        """Advice that does not make the request invalid."""
        notes: list[str] = []
        risk, horizon = self.risk_tolerance, self.investment_horizon
        if risk.rank >= RiskTolerance.AGGRESSIVE.rank and horizon in (TimeHorizon.INTRADAY, TimeHorizon.SHORT):
            notes.append(
                f"{risk.value} risk over the {horizon.value} horizon: expect wide outcome ranges and large losses"
            )
        if risk.rank <= RiskTolerance.CONSERVATIVE.rank and horizon is TimeHorizon.INTRADAY:
            notes.append(f"intraday ideas rarely suit a {risk.value} profile")
        if risk.rank <= RiskTolerance.CONSERVATIVE.rank and self.min_confidence < 0.6:
            notes.append(f"a {risk.value} profile usually asks for min_confidence of 0.6 or more")
        if self.tickers and len(self.tickers) < self.max_ideas:
            notes.append("fewer tickers than max_ideas: at most one idea per ticker will be returned")
        if self.research_depth is ResearchDepth.DEEP:
            notes.append("deep research takes longer and uses more model calls")
        if self.from_profile:
            notes.append(f"from your saved preferences: {', '.join(f.replace('_', ' ') for f in self.from_profile)}")
        return notes


class RequestTemplate(DomainModel):
    name: str
    title: str
    description: str
    parameters: dict[str, Any]


REQUEST_TEMPLATES: dict[str, RequestTemplate] = {
    template.name: template
    for template in (
        RequestTemplate(
            name="conservative_retirement",
            title="Conservative retirement",
            description=(
                "Capital preservation over a long horizon: weights tilted to low volatility and quality, high "
                "confidence only."
            ),
            parameters={
                "risk_tolerance": "conservative",
                "investment_horizon": "long",
                "min_confidence": 0.6,
                "max_ideas": 5,
            },
        ),
        RequestTemplate(
            name="aggressive_growth",
            title="Aggressive growth",
            description=(
                "Momentum and growth leaders over the medium term, accepting large drawdowns: only names with "
                "positive 12-1 momentum, weights tilted to momentum, trend and growth, none to low volatility."
            ),
            parameters={"risk_tolerance": "aggressive", "investment_horizon": "medium", "max_ideas": 5},
        ),
        RequestTemplate(
            name="balanced_diversified",
            title="Balanced and diversified",
            description=(
                "A moderate profile spread across sectors (at most a quarter of the ideas in one sector), sized "
                "to fit the current book."
            ),
            parameters={"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 8},
        ),
        RequestTemplate(
            name="esg_focused",
            title="ESG-focused",
            description=(
                "Moderate risk with an ESG screen required: fossil-fuel, tobacco, defence and gambling industries "
                "are left out of the universe; names without ESG data are flagged."
            ),
            parameters={"risk_tolerance": "moderate", "investment_horizon": "long", "esg": "require", "max_ideas": 5},
        ),
        RequestTemplate(
            name="short_term_tactical",
            title="Short-term tactical",
            description="Trend and reversal signals over weeks, quick research, tight stops (one standard deviation).",
            parameters={
                "risk_tolerance": "aggressive",
                "investment_horizon": "short",
                "research_depth": "quick",
                "max_ideas": 3,
            },
        ),
    )
}


PROFILE_FIELDS = {
    "risk_tolerance": "risk_tolerance",
    "investment_horizon": "time_horizon",
    "sectors": "sectors",
    "asset_classes": "asset_classes",
    "exclusions": "exclusions",
    "esg": "esg",
}
"""Request field -> the saved investment preference that fills it when neither the request nor its template
gives it."""


def request_from_template(
    template: str | None, overrides: dict[str, Any], preferences: InvestmentPreferences | None = None
) -> IdeaRequest:
    """The request ``overrides`` describe, on top of the template's parameters, on top of the requester's saved
    ``preferences`` (``KeyError`` for an unknown template). A preference fills only a field that neither the
    request nor the template gives; sectors are not applied to a request that names its tickers, and a saved
    exclusion is dropped for a ticker the request names. The fields filled that way are listed in
    ``from_profile``."""
    base = dict(REQUEST_TEMPLATES[template].parameters) | {"template": template} if template else {}
    given = base | overrides
    filled: dict[str, Any] = {}
    if preferences is not None:
        defaults = InvestmentPreferences()
        tickers = {str(symbol).strip().upper() for symbol in given.get("tickers") or []}
        for field, preference in PROFILE_FIELDS.items():
            value = getattr(preferences, preference)
            if field in given or value == getattr(defaults, preference) or (field == "sectors" and tickers):
                continue
            if field == "exclusions":
                value = [symbol for symbol in value if symbol.strip().upper() not in tickers]
            filled[field] = value
    request = IdeaRequest.model_validate(filled | given | ({"from_profile": sorted(filled)} if filled else {}))
    return request
