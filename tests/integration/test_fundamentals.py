"""Value, quality and growth from the sample corpus's fundamentals tables, point in time: scored as of a date
after the tables were published, missing (NaN) before it, and never for a reader who may not read them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import pytest

from investai.analytics.factors import FUNDAMENTAL_FACTORS, factor_scores
from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.documents import DocumentMetadata, Visibility
from investai.domain.knowledge import AccessScope
from investai.sample.market import sample_prices
from investai.sample.universe import AS_OF, COMPANIES, TABLES_PUBLISHED
from investai.services.auth_common import CallContext
from investai.services.fundamentals import DocumentFundamentals
from investai.services.samples import LIBRARY_EMAIL

ORG = "org_1"
READER = AccessScope(user_id="analyst-1", organisation_id=ORG, role="analyst")
SYMBOLS = [company.ticker for company in COMPANIES]
AFTER = datetime(2022, 12, 29, tzinfo=UTC)  # the end of the sample market history
BEFORE = datetime(2022, 10, 13, tzinfo=UTC)  # after the rows' date, before the tables were published


@pytest.fixture
def reader(container: Container) -> DocumentFundamentals:
    assert container.knowledge.samples.ensure_loaded(ORG) > 0
    return DocumentFundamentals(documents=container.documents, objects=container.objects)


def scores(fundamentals: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    prices = sample_prices()[SYMBOLS]
    return factor_scores(prices.loc[: as_of.date().isoformat()], fundamentals=fundamentals)


def test_value_quality_and_growth_are_scored_after_the_tables_are_published(
    container: Container, reader: DocumentFundamentals
) -> None:
    frame = reader.fundamentals(reader=READER, symbols=SYMBOLS, as_of=AFTER)
    assert sorted(frame.index) == sorted(SYMBOLS)
    ko = frame.loc["KO"]
    assert (ko["pe_ratio"], ko["eps_ttm"], ko["roe"], ko["debt_to_equity"]) == (25.8, 2.47, 0.40, 1.62)
    assert ko["as_of"] == datetime.combine(AS_OF + timedelta(days=1), time.min, tzinfo=UTC)  # the end of its date
    cited = container.documents.get(ko["document_id"])
    assert cited.title.startswith("Fundamentals of the sample universe")
    assert cited.versions[ko["version"] - 1].published_at.date() == TABLES_PUBLISHED
    assert ko["table"] in {"data", "Fundamentals"}
    assert ko["row"] == SYMBOLS.index("KO") + 1

    scored = scores(frame, AFTER)
    for factor in FUNDAMENTAL_FACTORS:
        assert not math.isnan(scored.loc["KO", factor]), factor
    assert scored[list(FUNDAMENTAL_FACTORS)].notna().all().all()


def test_before_the_tables_are_published_there_is_nothing_to_score(reader: DocumentFundamentals) -> None:
    frame = reader.fundamentals(reader=READER, symbols=SYMBOLS, as_of=BEFORE)
    assert frame.empty
    scored = scores(frame, BEFORE)
    for factor in FUNDAMENTAL_FACTORS:
        assert math.isnan(scored.loc["KO", factor]), factor


def test_a_reader_who_may_not_read_the_tables_gets_nothing(container: Container, reader: DocumentFundamentals) -> None:
    outsider = AccessScope(user_id="analyst-9", organisation_id="org_2", role="analyst")
    assert reader.fundamentals(reader=outsider, symbols=SYMBOLS, as_of=AFTER).empty

    library_user = container.users.get_by_email(LIBRARY_EMAIL)
    assert library_user is not None
    library = Principal.acting_as(library_user, actor="test", at=container.clock.now())
    for document in container.documents.list_by_owner(library_user.id, limit=100):
        if "fundamentals" in document.tags:
            private = DocumentMetadata(title=document.title, visibility=Visibility.PRIVATE, tags=document.tags)
            container.knowledge.documents.update_metadata(library, CallContext(), document.id, private)
    assert reader.fundamentals(reader=READER, symbols=SYMBOLS, as_of=AFTER).empty
