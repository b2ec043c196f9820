"""Validation rules of the InvestmentIdea and its parts."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from pydantic import ValidationError

from investai.domain.errors import InvalidTransition
from investai.domain.idea_parts import (
    ComplianceIssue,
    ComplianceState,
    ComplianceStatus,
    Direction,
    ExpectedReturn,
    Instrument,
    Outcome,
    Scenario,
    Severity,
    TradeLevels,
)
from investai.domain.lifecycle import ALLOWED_TRANSITIONS, IdeaStatus
from tests.factories import T0, idea_data, make_idea

COMPLIANT = ComplianceStatus(state=ComplianceState.COMPLIANT)


def test_a_complete_idea_is_valid_and_keyed_by_date() -> None:
    idea = make_idea()
    assert idea.date == "2024-01-02"
    assert idea.timestamp == int(T0.timestamp() * 1000)


@pytest.mark.parametrize("confidence", [-0.01, 1.01, float("nan")])
def test_confidence_outside_zero_to_one_is_rejected(confidence: float) -> None:
    with pytest.raises(ValidationError, match="confidence"):
        make_idea(confidence=confidence)


@pytest.mark.parametrize("confidence", [0.0, 1.0])
def test_confidence_bounds_are_inclusive(confidence: float) -> None:
    assert make_idea(confidence=confidence).confidence == confidence


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1)])
def test_expiry_must_come_after_generation(delta: timedelta) -> None:
    with pytest.raises(ValidationError, match="expires_at"):
        make_idea(expires_at=T0 + delta)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        make_idea(generated_at=T0.replace(tzinfo=None), expires_at=T0 + timedelta(days=1))


def _outcomes(*probabilities: float) -> list[Outcome]:
    scenarios = [Scenario.BULL, Scenario.BASE, Scenario.BEAR]
    return [
        Outcome(scenario=s, probability=p, expected_return=0.0) for s, p in zip(scenarios, probabilities, strict=False)
    ]


@pytest.mark.parametrize("probabilities", [(0.3, 0.3, 0.3), (0.5, 0.5, 0.1), (0.9,)])
def test_outcome_probabilities_must_sum_to_one(probabilities: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError, match="sum"):
        make_idea(outcomes=_outcomes(*probabilities))


def test_outcome_probabilities_within_tolerance_are_accepted() -> None:
    assert len(make_idea(outcomes=_outcomes(0.3333, 0.3334, 0.3333)).outcomes) == 3


@pytest.mark.parametrize("probability", [-0.1, 1.1])
def test_each_outcome_probability_lies_in_zero_to_one(probability: float) -> None:
    with pytest.raises(ValidationError):
        Outcome(scenario=Scenario.BASE, probability=probability, expected_return=0.0)


def test_duplicate_scenarios_are_rejected() -> None:
    twice = [
        Outcome(scenario=Scenario.BASE, probability=0.5, expected_return=0.0),
        Outcome(scenario=Scenario.BASE, probability=0.5, expected_return=0.1),
    ]
    with pytest.raises(ValidationError, match="once"):
        make_idea(outcomes=twice)


def test_expected_return_range_must_contain_the_point() -> None:
    with pytest.raises(ValidationError, match="low <= point <= high"):
        ExpectedReturn(point=0.3, low=-0.1, high=0.2, horizon_days=90)


def test_a_critical_issue_cannot_be_marked_compliant() -> None:
    critical = ComplianceIssue(rule="restricted_list", severity=Severity.CRITICAL, message="on the restricted list")
    with pytest.raises(ValidationError, match="critical"):
        ComplianceStatus(state=ComplianceState.COMPLIANT, issues=[critical])
    blocked = ComplianceStatus(state=ComplianceState.NON_COMPLIANT, issues=[critical])
    assert blocked.has_critical_issue


def test_levels_must_match_the_direction() -> None:
    long_ok = TradeLevels(symbol="AAPL", entry=100, target=120, stop=90)
    assert make_idea(levels=[long_ok]).levels == [long_ok]
    with pytest.raises(ValidationError, match="long needs"):
        make_idea(levels=[TradeLevels(symbol="AAPL", entry=100, target=90, stop=120)])
    short = [Instrument(symbol="XOM", direction=Direction.SHORT)]
    assert make_idea(instruments=short, levels=[TradeLevels(symbol="XOM", entry=100, target=80, stop=110)])
    with pytest.raises(ValidationError, match="not an instrument"):
        make_idea(levels=[TradeLevels(symbol="MSFT", entry=100, target=120, stop=90)])


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make_idea(**{"unexpected": 1})


@pytest.mark.parametrize(("current", "target"), list(itertools.product(IdeaStatus, IdeaStatus)))
def test_status_moves_only_along_the_lifecycle_graph(current: IdeaStatus, target: IdeaStatus) -> None:
    idea = make_idea(status=current, compliance=COMPLIANT)
    if target in ALLOWED_TRANSITIONS[current]:
        moved = idea.transition(target, by="user_2", at=T0 + timedelta(hours=1), reason="review")
        assert moved.status is target
        assert moved.version == idea.version + 1
        assert moved.timestamp > idea.timestamp
        assert moved.status_history[-1].from_status is current
        assert moved.status_history[-1].to_status is target
    else:
        with pytest.raises(InvalidTransition):
            idea.transition(target, by="user_2", at=T0 + timedelta(hours=1))


def test_the_full_lifecycle_records_history() -> None:
    idea = make_idea(compliance=COMPLIANT)
    for step, status in enumerate([IdeaStatus.IN_REVIEW, IdeaStatus.APPROVED, IdeaStatus.EXPIRED, IdeaStatus.ARCHIVED]):
        idea = idea.transition(status, by="user_2", at=T0 + timedelta(hours=step + 1))
    assert [change.to_status for change in idea.status_history] == [
        IdeaStatus.IN_REVIEW,
        IdeaStatus.APPROVED,
        IdeaStatus.EXPIRED,
        IdeaStatus.ARCHIVED,
    ]
    assert idea.version == 5


@pytest.mark.parametrize(
    "state", [ComplianceState.PENDING, ComplianceState.NON_COMPLIANT, ComplianceState.NEEDS_REVIEW]
)
def test_only_a_compliant_idea_can_be_approved(state: ComplianceState) -> None:
    idea = make_idea(status=IdeaStatus.IN_REVIEW, compliance=ComplianceStatus(state=state))
    with pytest.raises(InvalidTransition, match="compliant"):
        idea.transition(IdeaStatus.APPROVED, by="user_2", at=T0 + timedelta(hours=1))


def test_revise_revalidates_the_whole_idea() -> None:
    idea = make_idea()
    with pytest.raises(ValidationError):
        idea.revise(at=T0 + timedelta(hours=1), confidence=2.0)


def test_revisions_advance_the_timestamp_even_when_the_clock_does_not() -> None:
    idea = make_idea()
    assert idea.revise(at=T0, title="Same instant").timestamp == idea.timestamp + 1


def test_ideas_round_trip_through_json() -> None:
    idea = make_idea(levels=[TradeLevels(symbol="AAPL", entry=100, target=120, stop=90)])
    assert type(idea).model_validate_json(idea.model_dump_json()) == idea


def test_idea_data_factory_is_valid() -> None:
    assert idea_data()["version"] == 1
