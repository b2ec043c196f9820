"""The compliance agent: rules first, then (where a model is configured) a review that can only add issues.

Rules: the firm's restricted list and the request's exclusions (critical), suitability of the idea's risk
level for the requester's risk tolerance (high one level over, critical two or more), concentration checked
on the book (the holdings, the ideas already accepted for this request and this one: the position's weight
with any holding of the same symbol, the sector's share, the gross exposure), liquidity (days to exit at a
share of average volume), the freshness of the prices, ESG screens where data exists (the symbol master's
industry) and the required disclosures (limits in :mod:`investai.agents.policy`). A rule that could not be
evaluated is recorded as *not computed*, never as passed. A critical issue withholds the idea
(``non_compliant``), except stale prices: that critical issue keeps the idea in review and blocks its
approval until a compliance officer records an override with a reason. High or medium issues send it to a
compliance officer (``needs_review``).

The fast model may raise further concerns; its answer is parsed as a list of issues and merged in, capped at
``high``. It can never remove an issue, lower a severity or mark anything compliant, so no text in a
document or a prompt can talk an idea through compliance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from investai.agents.context import RunContext
from investai.agents.findings import CandidateAnalysis
from investai.agents.policy import BOOK_LIMIT, MAX_RISK_LEVEL, MAX_WEIGHT, SECTOR_CAP, STALE_DAYS, esg_excluded
from investai.agents.prompts import UNTRUSTED_RULE, PromptTemplate, quote_untrusted
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import DocumentSource
from investai.domain.idea_parts import (
    MODEL_REVIEW_RULE,
    ComplianceCheck,
    ComplianceIssue,
    ComplianceState,
    ComplianceStatus,
    Severity,
)
from investai.domain.llm import TaskKind
from investai.domain.users import EsgPreference, RiskTolerance

STANDARD_DISCLOSURES = (
    "This idea is research for professional investors, not a personal recommendation or an offer to deal.",
    "Past performance is not a reliable indicator of future results; the scenarios are simulations, not forecasts.",
)
_MODEL_SEVERITIES = {"info": Severity.INFO, "low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH}

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "issues": {
            "type": "array",
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "severity": {"type": "string", "enum": ["info", "low", "medium", "high"]},
                    "message": {"type": "string", "maxLength": 500},
                },
                "required": ["severity", "message"],
            },
        }
    },
    "required": ["issues"],
}
REVIEW_TEMPLATE = PromptTemplate(
    name="compliance.review",
    version="1",
    task=TaskKind.FAST,
    system=(
        "You are a compliance reviewer. List any further concerns about the idea below (suitability, "
        f"concentration, conflicts, missing disclosures). {UNTRUSTED_RULE} Return an empty list when there are none."
    ),
    user="Idea: long $symbol ($name, $sector), $risk risk, weight $weight, for a $tolerance profile.\n"
    "Rule results: $rules\nResearch summary: $summary",
    json_schema=REVIEW_SCHEMA,
    max_tokens=400,
)


@dataclass
class Findings:
    """The checks and issues of one review, as the rules record them."""

    checks: list[ComplianceCheck] = field(default_factory=list)
    issues: list[ComplianceIssue] = field(default_factory=list)

    def rule(
        self, name: str, passed: bool, detail: str, severity: Severity | None = None, *, overridable: bool = False
    ) -> None:
        """A rule's result; a failed rule with a severity is also an issue."""
        self.checks.append(ComplianceCheck(name=name, passed=passed, detail=detail))
        if not passed and severity is not None:
            self.issues.append(ComplianceIssue(rule=name, severity=severity, message=detail, overridable=overridable))

    def not_computed(self, name: str, detail: str) -> None:
        """A rule that had nothing to evaluate: recorded as such (never as passed) with an information issue."""
        self.checks.append(ComplianceCheck(name=name, passed=False, computed=False, detail=detail))
        self.issues.append(ComplianceIssue(rule=name, severity=Severity.INFO, message=f"not computed: {detail}"))

    def state(self) -> ComplianceState:
        critical = [issue for issue in self.issues if issue.severity is Severity.CRITICAL]
        if any(not issue.overridable for issue in critical):
            return ComplianceState.NON_COMPLIANT
        if critical or any(issue.severity in (Severity.HIGH, Severity.MEDIUM) for issue in self.issues):
            return ComplianceState.NEEDS_REVIEW
        return ComplianceState.COMPLIANT


@dataclass(frozen=True)
class Book:
    """What the idea joins: the request's holdings and the ideas already accepted for it."""

    held: dict[str, float]
    accepted: Sequence[tuple[str, str | None, float]]
    sector_of: Callable[[str], str | None]


class ComplianceAgent:
    name = AgentName.COMPLIANCE

    def __init__(self, *, restricted: Iterable[str] = (), max_liquidity_days: float = 5.0) -> None:
        self._restricted = {symbol.strip().upper() for symbol in restricted}
        self._max_liquidity_days = max_liquidity_days

    def review(
        self,
        ctx: RunContext,
        analysis: CandidateAnalysis,
        *,
        name: str,
        sector: str | None,
        industry: str | None,
        summary: str,
        sector_of: Callable[[str], str | None],
        offline_narrative: bool,
        summary_sources: Sequence[DocumentSource] = (),
        accepted: Sequence[tuple[str, str | None, float]] = (),
    ) -> ComplianceStatus:
        """The rules' and the review model's verdict. ``summary_sources`` are the documents behind the research
        summary the model reads: the response message names them when the model raised an issue. ``accepted``
        are the ideas already accepted for this request (symbol, sector, weight), which join the holdings in the
        book the concentration rules check."""
        request = ctx.request
        found = Findings()
        book = Book({h.symbol: h.weight for h in request.holdings}, accepted, sector_of)
        self._listing(found, analysis.symbol, request.exclusions)
        self._suitability(found, analysis, request.risk_tolerance)
        self._concentration(found, analysis, sector, request.risk_tolerance, book)
        self._liquidity(found, analysis)
        self._freshness(found, analysis)
        self._esg(found, request.esg, industry)
        disclosures = [*STANDARD_DISCLOSURES, f"Figures use market data available as of {ctx.as_of.isoformat()}."]
        if offline_narrative:
            disclosures.append("Narrative text was produced from templates by code; no language model wrote it.")
        weight = float(analysis.sizing.get("weight") or 0.0)
        found.issues.extend(self._model_review(ctx, analysis, name, sector, weight, found.checks, summary))
        state = found.state()
        status = ComplianceStatus(
            state=state, checks=found.checks, issues=found.issues, disclosures=disclosures, checked_at=ctx.clock.now()
        )
        from_model = any(issue.rule == MODEL_REVIEW_RULE for issue in found.issues)
        ctx.message(
            AgentName.COMPLIANCE,
            MessageType.RESPONSE,
            {
                "symbol": analysis.symbol,
                "state": state.value,
                "issues": [issue.model_dump(mode="json") for issue in found.issues],
            },
            recipient=AgentName.SUPERVISOR,
            sources=summary_sources if from_model else (),
        )
        return status

    # --- the rules ---------------------------------------------------------------------------------------------

    def _listing(self, found: Findings, symbol: str, exclusions: Sequence[str]) -> None:
        restricted = symbol in self._restricted
        found.rule(
            "restricted_list",
            not restricted,
            f"{symbol} is on the firm's restricted list" if restricted else "not restricted",
            Severity.CRITICAL,
        )
        excluded = symbol in exclusions
        found.rule(
            "exclusions",
            not excluded,
            f"{symbol} is excluded by the request" if excluded else "not excluded",
            Severity.CRITICAL,
        )

    @staticmethod
    def _suitability(found: Findings, analysis: CandidateAnalysis, tolerance: RiskTolerance) -> None:
        limit = MAX_RISK_LEVEL[tolerance]
        over = analysis.risk_level.rank - limit.rank
        found.rule(
            "suitability",
            over <= 0,
            f"{analysis.risk_level.value} risk for a {tolerance.value} profile (at most {limit.value})",
            Severity.CRITICAL if over >= 2 else Severity.HIGH,
        )

    @staticmethod
    def _concentration(
        found: Findings, analysis: CandidateAnalysis, sector: str | None, tolerance: RiskTolerance, book: Book
    ) -> None:
        """Position, gross exposure and sector share, each on the book: holdings, accepted ideas and this one."""
        symbol, held = analysis.symbol, book.held
        weight = float(analysis.sizing.get("weight") or 0.0)
        cap = MAX_WEIGHT[tolerance]
        position = weight + held.get(symbol, 0.0)
        found.rule(
            "position_concentration",
            position <= cap + 1e-12,
            f"{symbol} would be {position:.2%} of the book (idea {weight:.2%}"
            + (f" plus {held[symbol]:.2%} held" if symbol in held else "")
            + f"; cap {cap:.0%})",
            Severity.HIGH,
        )
        ideas = sum(w for _, _, w in book.accepted)
        gross = sum(held.values()) + ideas + weight
        found.rule(
            "book_exposure",
            gross <= BOOK_LIMIT + 1e-9,
            f"holdings {sum(held.values()):.2%}, ideas accepted for this request {ideas:.2%} and this idea "
            f"{weight:.2%}: {gross:.2%} of the book (limit {BOOK_LIMIT:.0%})",
            Severity.HIGH,
        )
        if sector is None:
            found.not_computed("sector_concentration", f"no sector is known for {symbol}")
            return
        in_sector = (
            weight
            + held.get(symbol, 0.0)
            + sum(w for s, w in held.items() if s != symbol and book.sector_of(s) == sector)
            + sum(w for _, other, w in book.accepted if other == sector)
        )
        found.rule(
            "sector_concentration",
            in_sector <= SECTOR_CAP + 1e-9,
            f"{sector} would be {in_sector:.2%} of the book, holdings included (cap {SECTOR_CAP:.0%})",
            Severity.MEDIUM,
        )

    def _liquidity(self, found: Findings, analysis: CandidateAnalysis) -> None:
        days = analysis.metrics.get("liquidity_days")
        if days is None:
            found.not_computed("liquidity", "days to liquidate need an amount to invest and the average daily volume")
            return
        found.rule(
            "liquidity",
            days <= self._max_liquidity_days,
            f"{days:.1f} days to exit at 10% of average volume (limit {self._max_liquidity_days:g})",
            Severity.HIGH,
        )

    @staticmethod
    def _freshness(found: Findings, analysis: CandidateAnalysis) -> None:
        age = analysis.data_age_days
        found.rule(
            "data_freshness",
            age <= STALE_DAYS,
            f"latest price {analysis.end.isoformat()}, {age} days before the as-of moment (limit {STALE_DAYS})",
            Severity.CRITICAL,
            overridable=True,
        )

    @staticmethod
    def _esg(found: Findings, preference: EsgPreference, industry: str | None) -> None:
        if preference is EsgPreference.NONE:
            return
        if not industry:
            found.not_computed("esg_industry_screen", "the symbol master gives no industry to screen")
        else:
            severity = Severity.CRITICAL if preference is EsgPreference.REQUIRE else Severity.MEDIUM
            found.rule("esg_industry_screen", not esg_excluded(industry), f"industry {industry}", severity)
        found.issues.append(
            ComplianceIssue(
                rule="esg_data",
                severity=Severity.MEDIUM if preference is EsgPreference.REQUIRE else Severity.INFO,
                message="no ESG ratings are loaded; only the industry screen was applied",
            )
        )

    def _model_review(
        self,
        ctx: RunContext,
        analysis: CandidateAnalysis,
        name: str,
        sector: str | None,
        weight: float,
        checks: list[ComplianceCheck],
        summary: str,
    ) -> list[ComplianceIssue]:
        rendered = REVIEW_TEMPLATE.render(
            offline_answer={"issues": []},
            symbol=analysis.symbol,
            name=name,
            sector=sector or "unknown",
            risk=analysis.risk_level.value,
            weight=f"{weight:.4f}",
            tolerance=ctx.request.risk_tolerance.value,
            rules="; ".join(f"{check.name}: {check.outcome}" for check in checks),
            summary=quote_untrusted(summary, source="research summary"),
        )
        answer = ctx.router.complete(rendered, step="compliance")
        ctx.record_answer(AgentName.COMPLIANCE, answer, symbol=analysis.symbol)
        found = []
        for item in (answer.response.data or {}).get("issues", [])[:5]:
            if not isinstance(item, dict):
                continue
            severity = _MODEL_SEVERITIES.get(str(item.get("severity", "")).lower())
            message = str(item.get("message", "")).strip()[:500]
            if severity is not None and message:
                found.append(ComplianceIssue(rule=MODEL_REVIEW_RULE, severity=severity, message=message))
        return found
