"""The parts an investment idea is made of: instruments, outcomes, metrics, sizing, compliance, provenance."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from investai.domain.citations import Citation
from investai.domain.common import DomainModel, Probability, UtcDatetime
from investai.domain.lifecycle import IdeaStatus


class AssetClass(StrEnum):
    EQUITY = "equity"
    FIXED_INCOME = "fixed_income"
    ETF = "etf"
    INDEX = "index"
    COMMODITY = "commodity"
    CURRENCY = "currency"
    CRYPTO = "crypto"
    REAL_ESTATE = "real_estate"
    DERIVATIVE = "derivative"
    CASH = "cash"


class Direction(StrEnum):
    LONG = "long"
    SHORT = "short"
    NEUTRAL = "neutral"


class Strategy(StrEnum):
    LONG = "long"
    SHORT = "short"
    PAIRS = "pairs"
    MOMENTUM = "momentum"
    VALUE = "value"
    GROWTH = "growth"
    QUALITY = "quality"
    INCOME = "income"
    MEAN_REVERSION = "mean_reversion"
    LOW_VOLATILITY = "low_volatility"
    TREND = "trend"
    HEDGE = "hedge"
    EVENT_DRIVEN = "event_driven"


class TimeHorizon(StrEnum):
    INTRADAY = "intraday"  # within the day (evaluated over one trading day)
    SHORT = "short"  # up to 3 months
    MEDIUM = "medium"  # 3 to 12 months
    LONG = "long"  # 1 to 3 years
    VERY_LONG = "very_long"  # over 3 years

    @property
    def trading_days(self) -> int:
        """The holding period the analysis models for this horizon, in trading days."""
        return HORIZON_TRADING_DAYS[self]


HORIZON_TRADING_DAYS: dict[TimeHorizon, int] = {
    TimeHorizon.INTRADAY: 1,
    TimeHorizon.SHORT: 63,
    TimeHorizon.MEDIUM: 126,
    TimeHorizon.LONG: 252,
    TimeHorizon.VERY_LONG: 756,
}


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very_high"

    @property
    def rank(self) -> int:
        """0 (low) to 3 (very high)."""
        return list(RiskLevel).index(self)


class Scenario(StrEnum):
    BULL = "bull"
    BASE = "base"
    BEAR = "bear"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ComplianceState(StrEnum):
    PENDING = "pending"
    COMPLIANT = "compliant"
    NEEDS_REVIEW = "needs_review"
    NON_COMPLIANT = "non_compliant"


class Instrument(DomainModel):
    symbol: str = Field(min_length=1, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    asset_class: AssetClass = AssetClass.EQUITY
    sector: str | None = Field(default=None, max_length=100)
    direction: Direction = Direction.LONG


class ExpectedReturn(DomainModel):
    """Expected total return over the horizon as a fraction (0.08 = 8%), with a low-high range."""

    point: float
    low: float
    high: float
    horizon_days: int = Field(ge=1, le=3660)
    citation: Citation | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ExpectedReturn:
        if not self.low <= self.point <= self.high:
            raise ValueError("expected return must satisfy low <= point <= high")
        return self


class Outcome(DomainModel):
    scenario: Scenario
    probability: Probability
    expected_return: float
    conditions: list[str] = Field(default_factory=list, max_length=20)
    catalysts: list[str] = Field(default_factory=list, max_length=20)
    key_risks: list[str] = Field(default_factory=list, max_length=20)


class RiskMetrics(DomainModel):
    """Annualised risk figures as fractions; drawdown and VaR/CVaR are losses stated as negative returns."""

    volatility: float | None = Field(default=None, ge=0.0)
    sharpe: float | None = None
    sortino: float | None = None
    max_drawdown: float | None = Field(default=None, le=0.0, ge=-1.0)
    beta: float | None = None
    var_95: float | None = None
    var_99: float | None = None
    cvar_95: float | None = None
    cvar_99: float | None = None
    liquidity_days: float | None = Field(default=None, ge=0.0)
    sources: list[Citation] = Field(default_factory=list)


class PositionSizing(DomainModel):
    method: str = Field(min_length=1, max_length=64, description="e.g. volatility_target, kelly_capped")
    weight: float = Field(ge=0.0, le=1.0, description="fraction of the portfolio")
    notional: float | None = Field(default=None, ge=0.0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    max_loss: float | None = Field(default=None, ge=0.0)


class TradeLevels(DomainModel):
    symbol: str = Field(min_length=1, max_length=32)
    entry: float = Field(gt=0.0)
    target: float = Field(gt=0.0)
    stop: float = Field(gt=0.0)


MODEL_REVIEW_RULE = "model_review"
"""The rule name of compliance issues a model raised; the model read the research summary, so their text may
come from the documents behind it."""


class ComplianceIssue(DomainModel):
    rule: str = Field(min_length=1, max_length=100)
    severity: Severity
    message: str = Field(min_length=1, max_length=2000)
    overridable: bool = Field(
        default=False,
        description="a critical issue that does not withhold the idea but blocks its approval until a compliance "
        "officer records an override with a reason (stale market data)",
    )


class ComplianceCheck(DomainModel):
    """One rule's result. A rule that could not be evaluated (no data) is ``computed=False`` and never passed."""

    name: str = Field(min_length=1, max_length=100)
    passed: bool
    detail: str | None = Field(default=None, max_length=2000)
    computed: bool = True

    @model_validator(mode="after")
    def _not_computed_never_passes(self) -> ComplianceCheck:
        if not self.computed and self.passed:
            raise ValueError("a check that computed nothing cannot have passed")
        return self

    @property
    def outcome(self) -> str:
        """``passed``, ``failed`` or ``not computed``, as pages and exports show it."""
        if not self.computed:
            return "not computed"
        return "passed" if self.passed else "failed"


class ComplianceOverride(DomainModel):
    """A compliance officer's recorded decision to approve despite overridable critical issues."""

    rules: list[str] = Field(min_length=1, description="the rules of the issues overridden")
    by: str = Field(min_length=1, max_length=64)
    at: UtcDatetime
    reason: str = Field(min_length=1, max_length=2000)


class ComplianceStatus(DomainModel):
    state: ComplianceState = ComplianceState.PENDING
    checks: list[ComplianceCheck] = Field(default_factory=list)
    issues: list[ComplianceIssue] = Field(default_factory=list)
    disclosures: list[str] = Field(default_factory=list)
    checked_at: UtcDatetime | None = None
    overrides: list[ComplianceOverride] = Field(default_factory=list)

    @property
    def critical_issues(self) -> list[ComplianceIssue]:
        """Critical issues that still stand (an override covers the overridable ones it names)."""
        overridden = {rule for override in self.overrides for rule in override.rules}
        return [
            issue
            for issue in self.issues
            if issue.severity is Severity.CRITICAL and not (issue.overridable and issue.rule in overridden)
        ]

    @property
    def has_critical_issue(self) -> bool:
        return bool(self.critical_issues)

    @property
    def withholds(self) -> bool:
        """Whether a critical issue that no override can lift stands (the idea is not published at all)."""
        return any(not issue.overridable for issue in self.critical_issues)

    @model_validator(mode="after")
    def _critical_blocks(self) -> ComplianceStatus:
        if self.state is ComplianceState.COMPLIANT and self.has_critical_issue:
            raise ValueError("an idea with a critical compliance issue cannot be compliant")
        return self


class StatusChange(DomainModel):
    from_status: IdeaStatus | None
    to_status: IdeaStatus
    at: UtcDatetime
    by: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class QuantitativeCommentary(DomainModel):
    """A few sentences on the figures the analysis computed for one instrument, and the metrics they discuss.

    The quantitative model writes it from those metrics alone (no document text); a commentary that states a
    number the analysis did not compute, or is empty or garbled, is replaced by the one code writes from the same
    metrics (``written_by="code"``, also the offline answer)."""

    text: str = Field(min_length=1, max_length=2000)
    metrics: list[str] = Field(default_factory=list, max_length=40, description="keys of the metrics discussed")
    written_by: Literal["model", "code"] = "code"


class IdeaAnalysis(DomainModel):
    """What the analysis and ranking computed for an idea, kept for its explanation and charts."""

    factor_scores: dict[str, float | None] = Field(default_factory=dict, description="winsorised z-scores")
    factor_weights: dict[str, float] = Field(default_factory=dict, description="the horizon x risk blend")
    contributions: dict[str, float] = Field(default_factory=dict, description="weight x z-score per factor")
    composite: float
    rank: int = Field(ge=1)
    screened: int = Field(ge=1)
    constraints: list[str] = Field(
        default_factory=list, description="what shaped the idea: profile, template, ESG screen, book, sizing"
    )
    confidence_basis: str = Field(
        default="", max_length=2000, description="what the confidence is a measured probability of, and from what"
    )
    confidence_adjustment: str | None = Field(
        default=None, max_length=2000, description="how the firm's analyst ratings moved the measured confidence"
    )
    confidence_inputs: dict[str, float] = Field(default_factory=dict)
    ranking_components: dict[str, float] = Field(default_factory=dict)
    ranking_score: float
    technicals: dict[str, float | None] = Field(default_factory=dict)
    fan: list[dict[str, float]] = Field(
        default_factory=list, description="cumulative-return percentiles; ``step`` is the trading day of the horizon"
    )
    data_start: date
    data_end: date
    conflict: str | None = Field(default=None, max_length=2000)
    commentary: QuantitativeCommentary | None = Field(
        default=None, description="commentary on the computed metrics (null: stored before commentaries were kept)"
    )


class DocumentFreeRendering(DomainModel):
    """An idea as it reads without any document, written when the idea is: the template narrative built from
    the analysis alone (no research summary, no analyst rating) and the confidence and ranking computed
    without the research stance and without counting cited passages.

    A reader who may not read every document version behind an idea is shown this instead of the narrative and
    scores the documents shaped (see :mod:`investai.domain.idea_views`)."""

    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=4000)
    rationale: str = Field(min_length=1, max_length=20000)
    counter_arguments: list[str] = Field(default_factory=list, max_length=20)
    confidence: Probability
    ranking_components: dict[str, float] = Field(default_factory=dict)
    ranking_score: float | None = None


DOCUMENT_READING_STEPS = frozenset({"research", "synthesis", "compliance"})
"""Model steps whose prompts carry document text (passages, or the research summary made from them). The
``analysis.commentary`` step is not one: its prompt holds one instrument's computed metrics only, so its
commentary is shown to every reader of the idea."""


class ModelUse(DomainModel):
    """One model call made while producing an idea."""

    step: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1, max_length=64)
    model_id: str = Field(min_length=1, max_length=200)
    prompt_template: str | None = Field(default=None, max_length=100)
    prompt_version: str | None = Field(default=None, max_length=32)
    prompt_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    latency_ms: float = Field(default=0.0, ge=0.0)
    offline: bool = False


class Provenance(DomainModel):
    models: list[ModelUse] = Field(default_factory=list)
    data_as_of: UtcDatetime
    code_version: str = Field(min_length=1, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    job_id: str | None = Field(default=None, max_length=64)

    @property
    def total_tokens(self) -> int:
        return sum(use.input_tokens + use.output_tokens for use in self.models)

    @property
    def total_cost_usd(self) -> float:
        return sum(use.cost_usd for use in self.models)
