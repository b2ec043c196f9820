"""What the analysis agent found for one candidate: every figure, with the citations behind them.

Kept apart from :mod:`investai.agents.analysis` so that the agents reading an analysis (commentary, synthesis,
compliance) depend on the record, not on the agent that computes it.
"""

from __future__ import annotations

import math
from datetime import date

from pydantic import Field

from investai.domain.citations import DocumentCitation, MarketCitation
from investai.domain.common import DomainModel
from investai.domain.idea_parts import ModelUse, QuantitativeCommentary, RiskLevel


class CandidateAnalysis(DomainModel):
    symbol: str
    start: date
    end: date
    data_age_days: int = Field(ge=0, description="calendar days from the latest bar to the as-of moment")
    last_close: float
    observations: int
    composite: float
    composite_percentile: float = Field(ge=0.0, le=1.0)
    factors: dict[str, float | None]
    raw_factors: dict[str, float | None]
    metrics: dict[str, float | None]
    technicals: dict[str, float | None]
    horizon_days: int
    scenarios: dict[str, dict[str, float]]
    fan: list[dict[str, float]] = Field(description="percentiles of the cumulative return per step")
    expected_return: dict[str, float]
    levels: dict[str, float]
    sizing: dict[str, float | None]
    fit: dict[str, float] | None = None
    risk_level: RiskLevel
    confidence_inputs: dict[str, float]
    citations: dict[str, MarketCitation]
    fundamentals_citation: DocumentCitation | None = Field(
        default=None, description="the table row the value, quality and growth factors were computed from"
    )
    confidence_basis: str = Field(default="", description="what the confidence was measured on")
    commentary: QuantitativeCommentary | None = None
    commentary_use: ModelUse | None = Field(default=None, description="the model call behind the commentary")

    def figures(self) -> list[float]:
        """Every number this analysis computed (the grounding check's allowed values)."""
        values: list[float] = [self.last_close, self.composite, self.composite_percentile, float(self.horizon_days)]
        values += [float(self.data_age_days), self.end.year, self.end.month, self.end.day]
        for group in (self.factors, self.raw_factors, self.metrics, self.technicals, self.sizing, self.fit or {}):
            values.extend(value for value in group.values() if value is not None)
        for outcome in self.scenarios.values():
            values.extend(outcome.values())
        values.extend(self.expected_return.values())
        values.extend(self.levels.values())
        values.extend(self.confidence_inputs.values())
        return [float(value) for value in values if math.isfinite(float(value))]
