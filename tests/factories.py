"""Builders of valid domain objects for tests; each takes overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from investai.domain.citations import DocumentCitation, Evidence, MarketCitation
from investai.domain.common import new_id
from investai.domain.documents import Document, DocumentType, DocumentVersion
from investai.domain.feedback import Feedback
from investai.domain.idea_parts import (
    ExpectedReturn,
    Instrument,
    Outcome,
    Provenance,
    RiskLevel,
    RiskMetrics,
    Scenario,
    Strategy,
    TimeHorizon,
)
from investai.domain.ideas import InvestmentIdea
from investai.domain.users import Role, User, UserProfile

T0 = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)


def idea_data(**overrides: Any) -> dict[str, Any]:
    generated = overrides.pop("generated_at", T0)
    data: dict[str, Any] = {
        "id": new_id("idea_"),
        "version": 1,
        "timestamp": int(generated.timestamp() * 1000),
        "title": "Quality compounder at a discount",
        "summary": "Momentum and low volatility line up for AAPL.",
        "rationale": "12-1 momentum ranks in the top decile while realised volatility sits below its median.",
        "instruments": [Instrument(symbol="AAPL", name="Apple Inc.", sector="Information Technology")],
        "strategy": Strategy.MOMENTUM,
        "time_horizon": TimeHorizon.MEDIUM,
        "confidence": 0.7,
        "risk_level": RiskLevel.MODERATE,
        "expected_return": ExpectedReturn(point=0.08, low=-0.05, high=0.2, horizon_days=182),
        "outcomes": [
            Outcome(scenario=Scenario.BULL, probability=0.25, expected_return=0.2),
            Outcome(scenario=Scenario.BASE, probability=0.5, expected_return=0.08),
            Outcome(scenario=Scenario.BEAR, probability=0.25, expected_return=-0.12),
        ],
        "metrics": RiskMetrics(volatility=0.24, sharpe=1.1, max_drawdown=-0.31, var_95=-0.021),
        "supporting_evidence": [
            Evidence(
                claim="63-day volatility 24%",
                citation=MarketCitation(
                    symbol="AAPL", series="volatility_63d", start=date(2023, 9, 29), end=date(2023, 12, 29), value=0.24
                ),
            ),
            Evidence(
                claim="Services revenue grew",
                citation=DocumentCitation(document_id="doc_1", version=1, page=3, snippet="Services revenue grew"),
            ),
        ],
        "provenance": Provenance(data_as_of=generated, code_version="test"),
        "generated_at": generated,
        "expires_at": generated + timedelta(days=30),
        "owner_id": "user_1",
        "organisation_id": "org_1",
        "tags": ["momentum"],
    }
    data.update(overrides)
    return data


def make_idea(**overrides: Any) -> InvestmentIdea:
    return InvestmentIdea.model_validate(idea_data(**overrides))


def make_user(**overrides: Any) -> User:
    data: dict[str, Any] = {
        "id": new_id("user_"),
        "email": f"{new_id()}@example.com",
        "role": Role.ANALYST,
        "organisation_id": "org_1",
        "created_at": T0,
        "updated_at": T0,
    }
    data.update(overrides)
    return User.model_validate(data)


def make_profile(user: User, **overrides: Any) -> UserProfile:
    data: dict[str, Any] = {
        "user_id": user.id,
        "role": user.role,
        "organisation_id": user.organisation_id,
        "updated_at": T0,
    }
    data.update(overrides)
    return UserProfile.model_validate(data)


def make_document(**overrides: Any) -> Document:
    doc_id = overrides.pop("id", new_id("doc_"))
    data: dict[str, Any] = {
        "id": doc_id,
        "owner_id": "user_1",
        "organisation_id": "org_1",
        "title": "Q3 research note",
        "doc_type": DocumentType.PDF,
        "versions": [
            DocumentVersion(
                version=1,
                object_key=f"documents/org_1/{doc_id}",
                object_version="00000000000000000001abcd",
                size=10,
                sha256="0" * 64,
                filename="note.pdf",
                uploaded_at=T0,
                uploaded_by="user_1",
            )
        ],
        "current_version": 1,
        "created_at": T0,
        "updated_at": T0,
    }
    data.update(overrides)
    return Document.model_validate(data)


def make_feedback(idea: InvestmentIdea, **overrides: Any) -> Feedback:
    data: dict[str, Any] = {
        "id": new_id("fb_"),
        "idea_id": idea.id,
        "idea_version": idea.version,
        "user_id": "user_1",
        "organisation_id": idea.organisation_id,
        "rating": 4,
        "created_at": T0,
    }
    data.update(overrides)
    return Feedback.model_validate(data)


class SimClock:
    """Monotonic time that only sleeping moves (the model router's clock and sleep in tests)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
