"""The investment idea: a ranked, sized, risk-assessed, compliance-checked thesis with citations."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from investai.domain.citations import DocumentSource, Evidence
from investai.domain.common import DomainModel, Identifier, Probability, Tag, UtcDatetime, epoch_ms
from investai.domain.errors import InvalidTransition
from investai.domain.idea_parts import (
    ComplianceState,
    ComplianceStatus,
    Direction,
    DocumentFreeRendering,
    ExpectedReturn,
    IdeaAnalysis,
    Instrument,
    Outcome,
    PositionSizing,
    Provenance,
    RiskLevel,
    RiskMetrics,
    StatusChange,
    Strategy,
    TimeHorizon,
    TradeLevels,
)
from investai.domain.lifecycle import IdeaStatus, can_transition

OUTCOME_PROBABILITY_TOLERANCE = 1e-3
"""How far outcome probabilities may sum away from 1 (rounding in reported figures)."""


class InvestmentIdea(DomainModel):
    """One revision of an investment idea. Every revision is stored; ``(id, timestamp)`` is its key."""

    id: Identifier
    version: int = Field(ge=1)
    timestamp: int = Field(ge=0, description="revision time, epoch milliseconds")
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=4000)
    rationale: str = Field(min_length=1, max_length=20000)
    instruments: list[Instrument] = Field(min_length=1, max_length=20)
    strategy: Strategy
    time_horizon: TimeHorizon
    confidence: Probability
    risk_level: RiskLevel
    expected_return: ExpectedReturn
    outcomes: list[Outcome] = Field(min_length=1, max_length=3)
    metrics: RiskMetrics = Field(default_factory=RiskMetrics)
    position_sizing: PositionSizing | None = None
    levels: list[TradeLevels] = Field(default_factory=list)
    counter_arguments: list[str] = Field(default_factory=list, max_length=20)
    supporting_evidence: list[Evidence] = Field(default_factory=list, max_length=200)
    compliance: ComplianceStatus = Field(default_factory=ComplianceStatus)
    status: IdeaStatus = IdeaStatus.DRAFT
    status_history: list[StatusChange] = Field(default_factory=list)
    provenance: Provenance
    generated_at: UtcDatetime
    expires_at: UtcDatetime
    owner_id: Identifier
    organisation_id: Identifier
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    analysis: IdeaAnalysis | None = Field(default=None, description="the figures behind the idea, for explanation")
    document_sources: list[DocumentSource] | None = Field(
        default=None,
        max_length=200,
        description="the document versions research read for this idea, cited or not (null: not recorded)",
    )
    document_free: DocumentFreeRendering | None = Field(
        default=None,
        description="the narrative and scores written without documents, for readers who may not read them all; "
        "never served (null in every response)",
    )
    as_of_note: str | None = Field(
        default=None,
        max_length=500,
        description="why the idea is as of an earlier moment than its generation, in plain words, when the request "
        "named no as-of date but the market data ends too long ago: 'Market data ends 2022-12-28; this idea is as "
        "of that date, not today.' (null otherwise: as of the request's date, or of its generation)",
    )

    @property
    def date(self) -> str:
        """The generation date, YYYY-MM-DD (UTC): the key of the by-date index."""
        return self.generated_at.date().isoformat()

    @model_validator(mode="after")
    def _check_rules(self) -> InvestmentIdea:
        if self.expires_at <= self.generated_at:
            raise ValueError("expires_at must be after generated_at")
        total = sum(outcome.probability for outcome in self.outcomes)
        if abs(total - 1.0) > OUTCOME_PROBABILITY_TOLERANCE:
            raise ValueError(f"outcome probabilities sum to {total:.4f}, not 1")
        scenarios = [outcome.scenario for outcome in self.outcomes]
        if len(set(scenarios)) != len(scenarios):
            raise ValueError("each outcome scenario may appear once")
        self._check_levels()
        return self

    def _check_levels(self) -> None:
        directions = {instrument.symbol: instrument.direction for instrument in self.instruments}
        for level in self.levels:
            direction = directions.get(level.symbol)
            if direction is None:
                raise ValueError(f"levels given for {level.symbol}, which is not an instrument of the idea")
            if direction is Direction.LONG and not level.stop < level.entry < level.target:
                raise ValueError(f"{level.symbol}: a long needs stop < entry < target")
            if direction is Direction.SHORT and not level.target < level.entry < level.stop:
                raise ValueError(f"{level.symbol}: a short needs target < entry < stop")

    def transition(self, target: IdeaStatus, *, by: str, at: datetime, reason: str | None = None) -> InvestmentIdea:
        """The next revision of this idea with status ``target``, or :class:`InvalidTransition`."""
        if not can_transition(self.status, target):
            raise InvalidTransition(f"an idea cannot move from {self.status.value} to {target.value}")
        if target is IdeaStatus.APPROVED and (
            self.compliance.state is not ComplianceState.COMPLIANT or self.compliance.has_critical_issue
        ):
            raise InvalidTransition("only a compliant idea without critical issues can be approved")
        change = StatusChange(from_status=self.status, to_status=target, at=at, by=by, reason=reason)
        return self.revise(at=at, status=target, status_history=[*self.status_history, change])

    def revise(self, *, at: datetime, **changes: object) -> InvestmentIdea:
        """A new, fully validated revision with ``changes`` applied and version and timestamp advanced."""
        stamp = max(epoch_ms(at), self.timestamp + 1)
        data = self.model_dump()
        data.update(changes)
        data.update(version=self.version + 1, timestamp=stamp)
        return InvestmentIdea.model_validate(data)
