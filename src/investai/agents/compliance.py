"""The compliance agent: rules first, then (where a model is configured) a review that can only add issues.

Rules: the firm's restricted list and the request's exclusions (critical), suitability of the idea's risk
level for the requester's risk tolerance (high one level over, critical two or more), position and sector
concentration, liquidity (days to exit at a share of average volume), ESG screens where data exists (the
symbol master's industry) and the required disclosures. Any critical issue blocks the idea
(``non_compliant``); high or medium issues send it to a compliance officer (``needs_review``).

The fast model may raise further concerns; its answer is parsed as a list of issues and merged in, capped at
``high``. It can never remove an issue, lower a severity or mark anything compliant, so no text in a
document or a prompt can talk an idea through compliance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from investai.agents.analysis import MAX_WEIGHT, STALE_DAYS, CandidateAnalysis
from investai.agents.context import RunContext
from investai.agents.prompts import UNTRUSTED_RULE, PromptTemplate, quote_untrusted
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import DocumentSource
from investai.domain.idea_parts import (
    MODEL_REVIEW_RULE,
    ComplianceCheck,
    ComplianceIssue,
    ComplianceState,
    ComplianceStatus,
    RiskLevel,
    Severity,
)
from investai.domain.llm import TaskKind
from investai.domain.users import EsgPreference, RiskTolerance

MAX_RISK_LEVEL = {
    RiskTolerance.VERY_CONSERVATIVE: RiskLevel.LOW,
    RiskTolerance.CONSERVATIVE: RiskLevel.MODERATE,
    RiskTolerance.MODERATE: RiskLevel.HIGH,
    RiskTolerance.AGGRESSIVE: RiskLevel.VERY_HIGH,
    RiskTolerance.VERY_AGGRESSIVE: RiskLevel.VERY_HIGH,
}
SECTOR_CAP = 0.35
ESG_EXCLUDED_INDUSTRIES = ("tobacco", "aerospace & defense", "casinos & gaming", "coal & consumable fuels")
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
    ) -> ComplianceStatus:
        """The rules' and the review model's verdict. ``summary_sources`` are the documents behind the research
        summary the model reads: the response message names them when the model raised an issue."""
        request = ctx.request
        symbol = analysis.symbol
        checks: list[ComplianceCheck] = []
        issues: list[ComplianceIssue] = []

        def rule(name_: str, passed: bool, detail: str, severity: Severity | None = None) -> None:
            checks.append(ComplianceCheck(name=name_, passed=passed, detail=detail))
            if not passed and severity is not None:
                issues.append(ComplianceIssue(rule=name_, severity=severity, message=detail))

        rule(
            "restricted_list",
            symbol not in self._restricted,
            f"{symbol} is on the firm's restricted list" if symbol in self._restricted else "not restricted",
            Severity.CRITICAL,
        )
        excluded = symbol in request.exclusions
        rule(
            "exclusions",
            not excluded,
            f"{symbol} is excluded by the request" if excluded else "not excluded",
            Severity.CRITICAL,
        )
        limit = MAX_RISK_LEVEL[request.risk_tolerance]
        over = analysis.risk_level.rank - limit.rank
        rule(
            "suitability",
            over <= 0,
            f"{analysis.risk_level.value} risk for a {request.risk_tolerance.value} profile (at most {limit.value})",
            Severity.CRITICAL if over >= 2 else Severity.HIGH,
        )
        weight = analysis.sizing.get("weight") or 0.0
        cap = MAX_WEIGHT[request.risk_tolerance]
        rule(
            "position_concentration",
            weight <= cap + 1e-12,
            f"weight {weight:.4f} against a cap of {cap:.2f}",
            Severity.HIGH,
        )
        held = {holding.symbol: holding.weight for holding in request.holdings}
        sector_weight = weight + sum(w for s, w in held.items() if sector and sector_of(s) == sector)
        rule(
            "sector_concentration",
            sector is None or sector_weight <= SECTOR_CAP,
            f"{sector or 'unknown sector'} would be {sector_weight:.2%} of the book (cap {SECTOR_CAP:.0%})",
            Severity.MEDIUM,
        )
        days = analysis.metrics.get("liquidity_days")
        if days is None:
            rule("liquidity", True, "no volume data or no amount: days to liquidate not computed")
            issues.append(
                ComplianceIssue(
                    rule="liquidity",
                    severity=Severity.INFO,
                    message="days to liquidate could not be computed (no volume or amount)",
                )
            )
        else:
            rule(
                "liquidity",
                days <= self._max_liquidity_days,
                f"{days:.1f} days to exit at 10% of average volume (limit {self._max_liquidity_days:g})",
                Severity.HIGH,
            )
        age = analysis.data_age_days
        rule(
            "data_freshness",
            age <= STALE_DAYS,
            f"latest price {analysis.end.isoformat()}, {age} days before the as-of moment (limit {STALE_DAYS})",
            Severity.MEDIUM,
        )
        self._esg(request.esg, industry, rule, issues)
        disclosures = list(STANDARD_DISCLOSURES)
        disclosures.append(f"Figures use market data available as of {ctx.as_of.isoformat()}.")
        if offline_narrative:
            disclosures.append("Narrative text was produced from templates by code; no language model wrote it.")
        issues.extend(self._model_review(ctx, analysis, name, sector, weight, checks, summary))
        if any(issue.severity is Severity.CRITICAL for issue in issues):
            state = ComplianceState.NON_COMPLIANT
        elif any(issue.severity in (Severity.HIGH, Severity.MEDIUM) for issue in issues):
            state = ComplianceState.NEEDS_REVIEW
        else:
            state = ComplianceState.COMPLIANT
        status = ComplianceStatus(
            state=state, checks=checks, issues=issues, disclosures=disclosures, checked_at=ctx.clock.now()
        )
        from_model = any(issue.rule == MODEL_REVIEW_RULE for issue in issues)
        ctx.message(
            AgentName.COMPLIANCE,
            MessageType.RESPONSE,
            {"symbol": symbol, "state": state.value, "issues": [issue.model_dump(mode="json") for issue in issues]},
            recipient=AgentName.SUPERVISOR,
            sources=summary_sources if from_model else (),
        )
        return status

    @staticmethod
    def _esg(
        preference: EsgPreference,
        industry: str | None,
        rule: Callable[[str, bool, str, Severity | None], None],
        issues: list[ComplianceIssue],
    ) -> None:
        if preference is EsgPreference.NONE:
            return
        screened = bool(industry) and any(word in (industry or "").lower() for word in ESG_EXCLUDED_INDUSTRIES)
        severity = Severity.CRITICAL if preference is EsgPreference.REQUIRE else Severity.MEDIUM
        rule("esg_industry_screen", not screened, f"industry {industry or 'unknown'}", severity)
        issues.append(
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
            rules="; ".join(f"{check.name}: {'pass' if check.passed else 'fail'}" for check in checks),
            summary=quote_untrusted(summary, source="research summary"),
        )
        answer = ctx.router.complete(rendered, step="compliance")
        ctx.record_use(answer.use)
        found = []
        for item in (answer.response.data or {}).get("issues", [])[:5]:
            if not isinstance(item, dict):
                continue
            severity = _MODEL_SEVERITIES.get(str(item.get("severity", "")).lower())
            message = str(item.get("message", "")).strip()[:500]
            if severity is not None and message:
                found.append(ComplianceIssue(rule=MODEL_REVIEW_RULE, severity=severity, message=message))
        return found
