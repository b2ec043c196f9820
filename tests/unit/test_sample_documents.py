"""The demo corpus is reproducible and well-formed, and every label of the retrieval evaluation set is right.

The evaluation set cites PDF pages and table rows; a label that points at the wrong page would silently score a
correct retriever as wrong, so each PDF label carries an answer phrase that must occur on that page and on no
other page of the corpus.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pdfplumber
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from investai.sample import SampleDocument, sample_documents

QUERIES_PATH = Path(__file__).resolve().parents[1] / "data" / "retrieval_queries.json"
QUERIES: list[dict[str, Any]] = json.loads(QUERIES_PATH.read_text(encoding="utf-8"))
PDF_QUERIES = [query for query in QUERIES if query["page"] is not None]
TABLE_QUERIES = [query for query in QUERIES if query["table_row"] is not None]
FOOTER = "Sample research note for the Investment AI Agent demo - illustrative figures, not investment advice."
TICKERS = {
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
}  # fmt: skip
GICS_SECTORS = {
    "Communication Services", "Consumer Discretionary", "Consumer Staples", "Energy", "Financials",
    "Health Care", "Industrials", "Information Technology", "Materials", "Real Estate", "Utilities",
}  # fmt: skip
NUMERIC = ["eps_ttm", "pe_ratio", "revenue_growth_yoy", "debt_to_equity", "dividend_yield", "roe"]


def normalise(text: str) -> str:
    """Line wrapping differs between the source text and the extracted text: compare with collapsed spaces,
    and with no space after a hyphen, where a wrapped line may break."""
    return re.sub(r"-\s+", "-", re.sub(r"\s+", " ", text)).strip()


@pytest.fixture(scope="module")
def corpus() -> dict[str, SampleDocument]:
    return {document.filename: document for document in sample_documents()}


@pytest.fixture(scope="module")
def pdf_pages(corpus: dict[str, SampleDocument]) -> dict[tuple[str, int], str]:
    """The normalised text of every PDF page, keyed by filename and page number (from 1)."""
    pages = {}
    for name, document in corpus.items():
        if name.endswith(".pdf"):
            reader = PdfReader(io.BytesIO(document.content))
            for number, page in enumerate(reader.pages, start=1):
                pages[name, number] = normalise(page.extract_text())
    return pages


@pytest.fixture(scope="module")
def fundamentals(corpus: dict[str, SampleDocument]) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(corpus["fundamentals.csv"].content))


@pytest.fixture(scope="module")
def estimates(corpus: dict[str, SampleDocument]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(corpus["analyst_estimates.json"].content)
    return records


# --- the corpus -----------------------------------------------------------------------------------------------


def test_two_calls_give_identical_bytes_for_every_file() -> None:
    first, second = sample_documents(), sample_documents()
    assert [d.filename for d in first] == [d.filename for d in second]
    for a, b in zip(first, second, strict=True):
        assert a == b, a.filename


def test_the_corpus_has_six_notes_and_three_tables_shared_with_the_organisation(
    corpus: dict[str, SampleDocument],
) -> None:
    assert len(corpus) == len(sample_documents()) == 9
    assert sum(name.endswith(".pdf") for name in corpus) == 6
    assert {"fundamentals.csv", "fundamentals.xlsx", "analyst_estimates.json"} <= set(corpus)
    for document in corpus.values():
        assert document.visibility == "organisation"
        assert 0 < len(document.title) <= 255
        assert document.source
        assert 0 < len(document.tags) <= 50
        assert all(0 < len(tag) <= 64 for tag in document.tags)


def test_every_pdf_has_two_to_four_text_pages_with_the_footer(
    corpus: dict[str, SampleDocument], pdf_pages: dict[tuple[str, int], str]
) -> None:
    for name in (n for n in corpus if n.endswith(".pdf")):
        count = len(PdfReader(io.BytesIO(corpus[name].content)).pages)
        assert 2 <= count <= 4, name
        for number in range(1, count + 1):
            text = pdf_pages[name, number]
            assert normalise(FOOTER) in text, (name, number)
            assert len(text.split()) >= 150, f"{name} page {number} has little text"


def test_every_note_has_section_headings_and_at_least_one_page_has_a_table(
    corpus: dict[str, SampleDocument], pdf_pages: dict[tuple[str, int], str]
) -> None:
    headings = ("Summary", "Valuation", "Risks", "Catalysts", "Investment thesis")
    assert any(heading in text for text in pdf_pages.values() for heading in headings)
    tables = []
    for name in (n for n in corpus if n.endswith(".pdf")):
        with pdfplumber.open(io.BytesIO(corpus[name].content)) as pdf:
            tables += [table for page in pdf.pages for table in page.extract_tables()]
    assert tables
    assert all(table[0][0] == "Ticker" and len(table) >= 3 for table in tables)


# --- the tables -----------------------------------------------------------------------------------------------


def test_fundamentals_cover_the_universe_with_correct_names_and_gics_sectors(fundamentals: pd.DataFrame) -> None:
    assert list(fundamentals.columns) == ["ticker", "name", "sector", *NUMERIC, "as_of"]
    assert len(fundamentals) == 20
    assert set(fundamentals["ticker"]) == TICKERS
    assert set(fundamentals["sector"]) <= GICS_SECTORS
    rows = fundamentals.set_index("ticker")
    assert rows.loc["AAPL", "name"] == "Apple Inc."
    assert rows.loc["AAPL", "sector"] == "Information Technology"
    assert rows.loc["RRC", "sector"] == "Energy"
    assert rows.loc["BBY", "sector"] == "Consumer Discretionary"
    assert rows.loc["GE", "sector"] == "Industrials"
    assert rows.loc["WMT", "sector"] == "Consumer Staples"
    assert rows.loc["UNH", "sector"] == "Health Care"
    assert rows.loc["JPM", "sector"] == "Financials"
    assert fundamentals[NUMERIC].notna().all().all()
    assert (fundamentals["pe_ratio"] > 0).all()


def test_csv_and_xlsx_carry_the_same_rows(corpus: dict[str, SampleDocument], fundamentals: pd.DataFrame) -> None:
    sheet = pd.read_excel(io.BytesIO(corpus["fundamentals.xlsx"].content), sheet_name="Fundamentals")
    expected = fundamentals.assign(as_of=pd.to_datetime(fundamentals["as_of"]))
    pd.testing.assert_frame_equal(sheet.assign(as_of=pd.to_datetime(sheet["as_of"])), expected)


def test_sector_medians_match_a_groupby_median_of_the_data(
    corpus: dict[str, SampleDocument], fundamentals: pd.DataFrame
) -> None:
    medians = pd.read_excel(io.BytesIO(corpus["fundamentals.xlsx"].content), sheet_name="Sector medians")
    grouped = fundamentals.groupby("sector")
    expected = grouped[NUMERIC].median().assign(companies=grouped.size())
    actual = medians.set_index("sector")
    assert list(actual.index) == sorted(fundamentals["sector"].unique())
    pd.testing.assert_frame_equal(actual[["companies", *NUMERIC]], expected[["companies", *NUMERIC]])


def test_the_workbook_is_stamped_with_a_fixed_date(corpus: dict[str, SampleDocument]) -> None:
    workbook = load_workbook(io.BytesIO(corpus["fundamentals.xlsx"].content))
    assert workbook.sheetnames == ["Fundamentals", "Sector medians"]
    assert workbook.properties.created == workbook.properties.modified
    assert workbook.properties.created.year == 2024


def test_analyst_estimates_are_twenty_consistent_records(
    estimates: list[dict[str, Any]], fundamentals: pd.DataFrame
) -> None:
    assert len(estimates) == 20
    assert {record["ticker"] for record in estimates} == TICKERS
    names = dict(zip(fundamentals["ticker"], fundamentals["name"], strict=True))
    for record in estimates:
        assert record["name"] == names[record["ticker"]]
        assert record["rating"] in {"buy", "hold", "sell"}
        assert record["price_target"] > 0
        assert record["next_earnings_date"] > record["as_of"]
        low, high = record["estimates"]["low"], record["estimates"]["high"]
        assert low <= record["consensus_eps_next_fy"] <= high, record["ticker"]


# --- the retrieval evaluation set -----------------------------------------------------------------------------


def test_the_evaluation_set_is_large_and_well_formed(corpus: dict[str, SampleDocument]) -> None:
    assert len(QUERIES) >= 36
    assert {query["kind"] for query in QUERIES} == {"keyword", "semantic", "mixed"}
    assert len({query["query"] for query in QUERIES}) == len(QUERIES)
    for query in QUERIES:
        assert {"query", "filename", "page", "table_row", "kind", "answer"} <= set(query)
        assert query["filename"] in corpus
        assert (query["page"] is None) != (query["table_row"] is None), query["query"]
        if query["page"] is not None:
            assert query["filename"].endswith(".pdf")
        for equivalent in query.get("equivalent_filenames", []):
            assert equivalent in corpus
    assert len(TABLE_QUERIES) >= 4
    assert len(PDF_QUERIES) > len(TABLE_QUERIES)


@pytest.mark.parametrize("query", PDF_QUERIES, ids=[q["query"][:60] for q in PDF_QUERIES])
def test_a_pdf_label_answer_is_on_its_page_and_on_no_other(
    query: dict[str, Any], pdf_pages: dict[tuple[str, int], str]
) -> None:
    answer = normalise(query["answer"])
    assert answer in pdf_pages[query["filename"], query["page"]]
    elsewhere = [key for key, text in pdf_pages.items() if answer in text]
    assert elsewhere == [(query["filename"], query["page"])]


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON record with nested objects (the EPS estimate range) spread into dotted keys."""
    flat = {key: value for key, value in record.items() if not isinstance(value, dict)}
    for key, nested in record.items():
        if isinstance(nested, dict):
            flat |= {f"{key}.{inner}": value for inner, value in nested.items()}
    return flat


def _table_rows(document: SampleDocument, sheet_or_table: str) -> list[dict[str, Any]]:
    """The rows of a CSV file, JSON list or XLSX sheet as dictionaries keyed by column name."""
    if document.filename.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(document.content.decode("utf-8"))))
    if document.filename.endswith(".json"):
        return [_flatten(record) for record in json.loads(document.content)]
    sheet = load_workbook(io.BytesIO(document.content))[sheet_or_table]
    header, *rows = sheet.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.mark.parametrize("query", TABLE_QUERIES, ids=[q["query"][:60] for q in TABLE_QUERIES])
def test_a_table_label_names_an_existing_row_that_holds_the_answer(
    query: dict[str, Any], corpus: dict[str, SampleDocument]
) -> None:
    label = query["table_row"]
    for filename in [query["filename"], *query.get("equivalent_filenames", [])]:
        rows = _table_rows(corpus[filename], label["sheet_or_table"])
        matches = [row for row in rows if row.get("ticker") == label["ticker"]]
        assert len(matches) == 1, (filename, label)
        assert query["answer"] in {str(value) for value in matches[0].values()}, (filename, query["answer"])
