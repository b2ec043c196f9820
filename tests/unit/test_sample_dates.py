"""The demo corpus is dated inside the sample market history, without lookahead: the fundamentals and estimates
rows are dated before the tables are published, and the tables before the research notes that quote them."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from investai.sample import sample_documents
from investai.sample.universe import AS_OF, TABLES_PUBLISHED

MARKET_DATA_ENDS = date(2022, 12, 28)
TABLES = ("fundamentals.csv", "fundamentals.xlsx", "analyst_estimates.json")


def test_every_sample_is_published_within_the_market_history_and_after_its_data() -> None:
    corpus = {document.filename: document for document in sample_documents()}
    assert AS_OF < TABLES_PUBLISHED <= MARKET_DATA_ENDS
    for name in TABLES:
        assert corpus[name].published == TABLES_PUBLISHED
    notes = [document for name, document in corpus.items() if name.endswith(".pdf")]
    assert len(notes) == 6
    for note in notes:
        assert TABLES_PUBLISHED < note.published <= MARKET_DATA_ENDS, note.filename
    assert min(note.published for note in notes).month == 10
    assert max(note.published for note in notes).month == 12


def test_the_tables_rows_are_dated_before_their_publication() -> None:
    corpus = {document.filename: document for document in sample_documents()}
    rows = list(csv.DictReader(io.StringIO(corpus["fundamentals.csv"].content.decode())))
    assert {row["as_of"] for row in rows} == {AS_OF.isoformat()}
    estimates = json.loads(corpus["analyst_estimates.json"].content)
    assert {record["as_of"] for record in estimates} == {AS_OF.isoformat()}
