"""What a user asks for when requesting ideas, and the rules it must satisfy."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from investai.domain.common import DomainModel, Probability
from investai.domain.idea_parts import AssetClass, TimeHorizon
from investai.domain.users import EsgPreference, RiskTolerance

Symbol = str


class ResearchDepth(StrEnum):
    QUICK = "quick"
    STANDARD = "standard"
    DEEP = "deep"


class Holding(DomainModel):
    symbol: Symbol = Field(min_length=1, max_length=32)
    weight: float = Field(ge=0.0, le=1.0, description="fraction of the portfolio")


class IdeaRequest(DomainModel):
    """Parameters of an idea-generation request."""

    risk_tolerance: RiskTolerance = RiskTolerance.MODERATE
    time_horizon: TimeHorizon = TimeHorizon.MEDIUM
    amount: float | None = Field(default=None, gt=0.0, le=1e12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    sectors: list[str] = Field(default_factory=list, max_length=50)
    asset_classes: list[AssetClass] = Field(default_factory=lambda: [AssetClass.EQUITY], min_length=1)
    universe: str | None = Field(default=None, max_length=64)
    tickers: list[Symbol] = Field(default_factory=list, max_length=500)
    exclusions: list[Symbol] = Field(default_factory=list, max_length=500)
    esg: EsgPreference = EsgPreference.NONE
    min_confidence: Probability = 0.5
    max_ideas: int = Field(default=5, ge=1, le=20)
    research_depth: ResearchDepth = ResearchDepth.STANDARD
    holdings: list[Holding] = Field(default_factory=list, max_length=500)
    as_of: date | None = Field(default=None, description="generate as of this date; only earlier data is used")

    @field_validator("tickers", "exclusions")
    @classmethod
    def _normalise_symbols(cls, symbols: list[str]) -> list[str]:
        cleaned = [symbol.strip().upper() for symbol in symbols]
        for symbol in cleaned:
            if not symbol or len(symbol) > 32 or not all(ch.isalnum() or ch in ".-^=" for ch in symbol):
                raise ValueError(f"not a valid symbol: {symbol!r}")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _consistent(self) -> IdeaRequest:
        excluded_tickers = sorted(set(self.tickers) & set(self.exclusions))
        if excluded_tickers:
            raise ValueError(f"tickers also listed as exclusions: {', '.join(excluded_tickers)}")
        if sum(holding.weight for holding in self.holdings) > 1.0 + 1e-9:
            raise ValueError("holding weights sum to more than 1")
        return self

    def warnings(self) -> list[str]:
        """Advice that does not make the request invalid."""
        notes: list[str] = []
        if self.risk_tolerance is RiskTolerance.AGGRESSIVE and self.time_horizon is TimeHorizon.SHORT:
            notes.append("aggressive risk over a short horizon: expect wide outcome ranges")
        if self.risk_tolerance is RiskTolerance.CONSERVATIVE and self.min_confidence < 0.6:
            notes.append("a conservative profile usually asks for min_confidence of 0.6 or more")
        if self.tickers and len(self.tickers) < self.max_ideas:
            notes.append("fewer tickers than max_ideas: at most one idea per ticker will be returned")
        if self.research_depth is ResearchDepth.DEEP:
            notes.append("deep research takes longer and uses more model calls")
        return notes
