"""Requests mean what they say, on the sample market data: templates and saved preferences shape the universe,
the factor weights and the constraints; positions are sized by risk and fitted to the book; stops and targets
come from each instrument's volatility; a rule that computed nothing says so; stale prices block approval until
a compliance officer overrides them with a reason."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from investai.adapters.local.clock import FakeClock
from investai.agents.policy import MAX_WEIGHT, RISK_BUDGET
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.errors import ValidationFailed
from investai.domain.idea_parts import ComplianceState, Severity, Strategy
from investai.domain.idea_request import IdeaRequest, request_from_template
from investai.domain.ideas import InvestmentIdea
from investai.domain.knowledge import AccessScope
from investai.domain.lifecycle import IdeaStatus
from investai.domain.scoring import RANKING_WEIGHTS
from investai.domain.users import InvestmentPreferences, RiskTolerance, Role
from investai.ports.ideas import GenerationResult
from investai.services.auth_common import CallContext
from investai.services.idea_requests import parse_submission
from tests.conftest import sign_up

NOW = datetime(2023, 1, 3, 15, 0, tzinfo=UTC)  # the sample prices end 2022-12-28: fresh at this moment
READER = AccessScope(user_id="usr_mandates", organisation_id="default", role="analyst")
FOSSIL = {"XOM", "CVX"}
CLOCK = FakeClock(NOW)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build_container(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("mandates") / "var"), clock=CLOCK)
    built.market.load_sample()
    yield built
    built.close()


_cache: dict[str, GenerationResult] = {}


def generate(container: Container, request: IdeaRequest, key: str) -> GenerationResult:
    if key not in _cache:
        _cache[key] = container.idea_requests.generator.generate(request, request_id=f"req-{key}", reader=READER)
    return _cache[key]


def symbols(result: GenerationResult) -> list[str]:
    return [idea.instruments[0].symbol for idea in result.ideas]


def industry(container: Container, symbol: str) -> str:
    return container.market.symbol(symbol).industry or ""


def check(idea: InvestmentIdea, name: str) -> Any:
    return next(item for item in idea.compliance.checks if item.name == name)


def test_aggressive_growth_is_not_the_default_request(container: Container) -> None:
    default = generate(container, IdeaRequest(min_confidence=0.0), "default")
    growth = generate(container, request_from_template("aggressive_growth", {"min_confidence": 0.0}), "growth")
    assert growth.ideas
    assert default.ideas
    assert symbols(growth) != symbols(default)
    for idea in growth.ideas:
        assert idea.analysis is not None
        assert idea.analysis.factor_weights["low_volatility"] == 0.0
        assert idea.analysis.factor_weights["momentum"] > default.ideas[0].analysis.factor_weights["momentum"]
        momentum = idea.analysis.technicals["momentum_12_1"]
        assert momentum is not None
        assert momentum > 0, f"{idea.instruments[0].symbol} is not a momentum leader"
        assert idea.strategy is not Strategy.LOW_VOLATILITY
        assert any("aggressive_growth" in line for line in idea.analysis.constraints)


def test_esg_focused_leaves_fossil_fuels_out(container: Container) -> None:
    result = generate(container, request_from_template("esg_focused", {"min_confidence": 0.0}), "esg")
    assert result.ideas
    assert not FOSSIL & set(symbols(result))
    for idea in result.ideas:
        assert "oil" not in industry(container, idea.instruments[0].symbol).lower()
        assert check(idea, "esg_industry_screen").passed
        assert any("ESG required" in line for line in idea.analysis.constraints)  # type: ignore[union-attr]


def test_balanced_diversified_spreads_sectors(container: Container) -> None:
    result = generate(container, request_from_template("balanced_diversified", {"min_confidence": 0.0}), "balanced")
    assert len(result.ideas) >= 5
    per_sector = Counter(idea.instruments[0].sector for idea in result.ideas)
    assert max(per_sector.values()) <= 2, per_sector  # 8 ideas: at most a quarter in one sector


def test_weights_are_scaled_by_risk_under_the_cap(container: Container) -> None:
    result = generate(container, IdeaRequest(min_confidence=0.0), "default")
    budget, cap = RISK_BUDGET[RiskTolerance.MODERATE], MAX_WEIGHT[RiskTolerance.MODERATE]
    weights = []
    for idea in result.ideas:
        volatility = idea.metrics.volatility
        assert volatility
        weight = idea.position_sizing.weight
        weights.append(weight)
        assert weight <= cap + 1e-12
        assert weight <= budget / volatility + 1e-9  # never more risk than the budget
    assert len({round(w, 6) for w in weights}) > 1, "every idea at the same weight: sizing ignores risk"
    assert any(w < cap - 1e-6 for w in weights)


def test_stops_and_targets_follow_volatility(container: Container) -> None:
    result = generate(container, IdeaRequest(min_confidence=0.0), "default")
    horizon = result.ideas[0].expected_return.horizon_days
    spreads = []
    for idea in result.ideas:
        level = idea.levels[0]
        sigma = (idea.metrics.volatility or 0.0) * math.sqrt(horizon / 252)
        assert math.log(level.entry / level.stop) == pytest.approx(1.0 * sigma, rel=1e-6)
        assert math.log(level.target / level.entry) == pytest.approx(1.5 * sigma, rel=1e-6)
        spreads.append((idea.metrics.volatility, level.entry / level.stop))
    spreads.sort()
    assert [s for _, s in spreads] == sorted(s for _, s in spreads)  # wider stops for more volatile names


def test_the_book_holds_within_its_limit(container: Container) -> None:
    request = request_from_template(
        "aggressive_growth",
        {"min_confidence": 0.0, "holdings": [{"symbol": "AAPL", "weight": 0.3}, {"symbol": "KO", "weight": 0.62}]},
    )
    result = generate(container, request, "book")
    assert result.ideas
    new = sum(idea.position_sizing.weight for idea in result.ideas)
    assert 0.92 + new <= 1.0 + 1e-9
    for idea in result.ideas:
        assert check(idea, "book_exposure").passed
        assert any("scaled together" in line for line in idea.analysis.constraints)  # type: ignore[union-attr]
        sector = check(idea, "sector_concentration")
        assert sector.computed
        if not sector.passed:
            assert any(i.rule == "sector_concentration" for i in idea.compliance.issues)


def test_concentration_counts_holdings_of_the_same_symbol(container: Container) -> None:
    cap = MAX_WEIGHT[RiskTolerance.MODERATE]
    request = IdeaRequest(min_confidence=0.0, tickers=["KO", "PG", "JNJ"], holdings=[{"symbol": "KO", "weight": cap}])
    result = generate(container, request, "held")
    ko = [idea for idea in result.ideas if idea.instruments[0].symbol == "KO"]
    assert ko, "KO should still be proposed"
    position = check(ko[0], "position_concentration")
    assert not position.passed
    assert "held" in (position.detail or "")
    assert any(issue.rule == "position_concentration" for issue in ko[0].compliance.issues)


def test_liquidity_without_an_amount_is_not_computed(container: Container) -> None:
    result = generate(container, IdeaRequest(min_confidence=0.0), "default")
    for idea in result.ideas:
        liquidity = check(idea, "liquidity")
        assert not liquidity.passed
        assert not liquidity.computed
        assert liquidity.outcome == "not computed"


def test_the_strategy_matches_the_title(container: Container) -> None:
    for key, request in (
        ("default", IdeaRequest(min_confidence=0.0)),
        ("growth", request_from_template("aggressive_growth", {"min_confidence": 0.0})),
    ):
        for idea in generate(container, request, key).ideas:
            factor = idea.title.rsplit("long on ", 1)[-1]
            assert idea.strategy.value.replace("_", " ") == factor


def test_saved_preferences_fill_api_and_cli_requests() -> None:
    saved = InvestmentPreferences(risk_tolerance=RiskTolerance.AGGRESSIVE, esg="require", exclusions=["MSFT"])
    request, _ = parse_submission({"max_ideas": 3}, saved)
    assert request.risk_tolerance is RiskTolerance.AGGRESSIVE
    assert request.esg.value == "require"
    assert request.exclusions == ["MSFT"]
    assert set(request.from_profile) == {"risk_tolerance", "esg", "exclusions"}
    explicit, _ = parse_submission({"risk_tolerance": "conservative", "tickers": ["MSFT"]}, saved)
    assert explicit.risk_tolerance is RiskTolerance.CONSERVATIVE  # the request wins
    assert "MSFT" not in explicit.exclusions  # a named ticker is not excluded by a saved exclusion
    templated, _ = parse_submission({"template": "conservative_retirement"}, saved)
    assert templated.risk_tolerance is RiskTolerance.CONSERVATIVE  # the template wins over the profile
    bare, _ = parse_submission({"use_profile": False}, saved)
    assert bare.risk_tolerance is RiskTolerance.MODERATE
    assert not bare.from_profile


def test_the_service_applies_the_saved_profile(container: Container) -> None:
    account = sign_up(container, role=Role.ANALYST, organisation="default")
    principal = container.identity.verifier.verify(account.tokens.access_token)
    profile = container.identity.profiles.get(principal)
    container.identity.profiles.update(
        principal,
        ctx=CallContext(),
        preferences=InvestmentPreferences(risk_tolerance=RiskTolerance.CONSERVATIVE, esg="require"),
        notifications=profile.notifications,
    )
    record = container.idea_requests.submit_unqueued(principal, CallContext(), {"max_ideas": 2})
    assert record.request.risk_tolerance is RiskTolerance.CONSERVATIVE
    assert record.request.esg.value == "require"
    assert any("saved preferences" in warning for warning in record.warnings)


def test_stale_prices_block_approval_until_overridden(container: Container) -> None:
    account = sign_up(container, role=Role.ANALYST, organisation="default")
    officer_account = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation="default")
    analyst = container.identity.verifier.verify(account.tokens.access_token)
    officer = container.identity.verifier.verify(officer_account.tokens.access_token)
    CLOCK.set(datetime(2023, 4, 3, 15, 0, tzinfo=UTC))  # three months after the last price
    body = {"max_ideas": 1, "min_confidence": 0.0, "as_of": date(2023, 3, 31).isoformat(), "tickers": ["KO"]}
    record, views = container.idea_requests.generate_now(analyst, CallContext(), body)
    assert views, record
    idea = container.ideas.get(views[0].id)
    freshness = check(idea, "data_freshness")
    assert not freshness.passed
    issue = next(i for i in idea.compliance.issues if i.rule == "data_freshness")
    assert issue.severity is Severity.CRITICAL
    assert issue.overridable
    assert idea.compliance.state is ComplianceState.NEEDS_REVIEW
    lifecycle = container.idea_lifecycle
    lifecycle.transition(analyst, CallContext(), idea.id, IdeaStatus.IN_REVIEW)
    with pytest.raises(ValidationFailed, match="data_freshness"):
        lifecycle.transition(officer, CallContext(), idea.id, IdeaStatus.APPROVED, reason="looks fine")
    with pytest.raises(ValidationFailed, match="reason"):
        lifecycle.transition(officer, CallContext(), idea.id, IdeaStatus.APPROVED, override=True)
    lifecycle.transition(
        officer, CallContext(), idea.id, IdeaStatus.APPROVED, reason="prices checked by hand", override=True
    )
    approved = container.ideas.get(idea.id)
    assert approved.status is IdeaStatus.APPROVED
    [override] = approved.compliance.overrides
    assert override.rules == ["data_freshness"]
    assert override.by == officer.user_id
    assert override.reason == "prices checked by hand"
    events = container.identity.audit.list_events(action="idea.compliance.override", limit=10)
    assert events
    assert events[0].resource_id == idea.id
    assert events[0].actor_id == officer.user_id


def test_confidence_is_a_measured_probability_with_its_basis(container: Container) -> None:
    result = generate(container, IdeaRequest(min_confidence=0.0), "default")
    for idea in result.ideas:
        analysis = idea.analysis
        assert analysis is not None
        measured = analysis.confidence_inputs["calibrated_probability"]
        assert "measured at composite percentiles" in analysis.confidence_basis
        if analysis.confidence_adjustment is None:  # no analyst rating moved it (no documents here)
            assert idea.confidence == pytest.approx(measured, abs=5e-5)
        assert idea.confidence < 0.895  # a bucket's measured frequency, not a heuristic near the cap
        assert analysis.ranking_score == pytest.approx(
            sum(w * analysis.ranking_components[k] for k, w in RANKING_WEIGHTS.items())
        )
    scores = [idea.analysis.ranking_score for idea in result.ideas if idea.analysis is not None]
    assert scores == sorted(scores, reverse=True)  # the ideas come in the order of the score they show


def test_the_screen_ranks_on_point_in_time_weights(container: Container) -> None:
    result = generate(container, IdeaRequest(min_confidence=0.0), "default")
    for idea in result.ideas:
        assert idea.analysis is not None
        assert sum(idea.analysis.factor_weights.values()) == pytest.approx(1.0)
        assert any(line.startswith("Factor weights") and "learned" in line for line in idea.analysis.constraints)
