"""Rules of the other domain records: idea requests, documents, jobs, audit chain, citations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from investai.domain.audit import GENESIS_HASH, chain_hash
from investai.domain.citations import DocumentCitation, MarketCitation
from investai.domain.idea_request import Holding, IdeaRequest
from investai.domain.jobs import RetryPolicy
from investai.domain.users import RiskTolerance
from tests.factories import make_document


def test_idea_request_defaults_are_valid() -> None:
    request = IdeaRequest()
    assert request.max_ideas == 5
    assert request.warnings() == []


def test_idea_request_normalises_symbols_and_removes_duplicates() -> None:
    assert IdeaRequest(tickers=[" aapl", "AAPL", "brk.b"]).tickers == ["AAPL", "BRK.B"]


@pytest.mark.parametrize("symbol", ["", "A B", "DROP;TABLE", "X" * 33, "<script>"])
def test_idea_request_rejects_bad_symbols(symbol: str) -> None:
    with pytest.raises(ValidationError):
        IdeaRequest(tickers=[symbol])


def test_idea_request_rejects_a_ticker_that_is_also_excluded() -> None:
    with pytest.raises(ValidationError, match="exclusions"):
        IdeaRequest(tickers=["AAPL"], exclusions=["aapl"])


def test_idea_request_rejects_holdings_over_one() -> None:
    with pytest.raises(ValidationError, match="holding"):
        IdeaRequest(holdings=[Holding(symbol="AAPL", weight=0.7), Holding(symbol="MSFT", weight=0.4)])


@pytest.mark.parametrize(("field", "value"), [("max_ideas", 0), ("max_ideas", 21), ("min_confidence", 1.5)])
def test_idea_request_bounds(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        IdeaRequest(**{field: value})


def test_conservative_request_with_low_confidence_warns() -> None:
    request = IdeaRequest(risk_tolerance=RiskTolerance.CONSERVATIVE, min_confidence=0.5)
    assert any("conservative" in warning for warning in request.warnings())


def test_document_current_version_must_exist() -> None:
    document = make_document()
    assert document.current.version == 1
    with pytest.raises(ValidationError, match="current_version"):
        make_document(current_version=2)


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=2, max_delay_s=30, jitter=0)
    assert [policy.delay(attempt, 0.5).total_seconds() for attempt in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_retry_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(base_delay_s=10, max_delay_s=100, jitter=0.1)
    assert policy.delay(1, 0.0) == timedelta(seconds=9)
    assert policy.delay(1, 0.999999).total_seconds() == pytest.approx(11, abs=1e-4)


def test_audit_chain_hash_depends_on_previous_hash_and_body() -> None:
    first = chain_hash(GENESIS_HASH, {"action": "auth.login", "seq": 1})
    assert first == chain_hash(GENESIS_HASH, {"seq": 1, "action": "auth.login"})  # key order is irrelevant
    assert first != chain_hash(GENESIS_HASH, {"action": "auth.login", "seq": 2})
    assert first != chain_hash(first, {"action": "auth.login", "seq": 1})


def test_citations_must_locate_their_source() -> None:
    with pytest.raises(ValidationError, match="page, a chunk or a table"):
        DocumentCitation(document_id="doc_1", version=1)
    with pytest.raises(ValidationError, match="precedes"):
        MarketCitation(symbol="AAPL", series="adj_close", start=date(2024, 2, 1), end=date(2024, 1, 1))


def test_very_aggressive_risk_over_a_very_short_horizon_warns() -> None:
    request = IdeaRequest(risk_tolerance="very_aggressive", investment_horizon="intraday")
    assert any("very_aggressive risk over the intraday horizon" in warning for warning in request.warnings())


def test_templates_fill_parameters_and_overrides_win() -> None:
    from investai.domain.idea_request import REQUEST_TEMPLATES, request_from_template

    assert set(REQUEST_TEMPLATES) == {
        "conservative_retirement",
        "aggressive_growth",
        "balanced_diversified",
        "esg_focused",
        "short_term_tactical",
    }
    request = request_from_template("esg_focused", {"max_ideas": 2})
    assert (request.esg.value, request.max_ideas, request.investment_horizon.value) == ("require", 2, "long")
    with pytest.raises(KeyError):
        request_from_template("yolo", {})
