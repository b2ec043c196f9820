"""Fundamentals read from the tables of the documents a reader may see, point in time: columns recognised by
name, each document read at its version published by the as-of moment, rows dated by their own date or their
version's publication, the latest row of each symbol winning, and each row naming where it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from investai.domain.documents import Document, DocumentStatus, DocumentType, Visibility
from investai.domain.errors import NotFound
from investai.domain.knowledge import AccessScope, ExtractedTable, ParsedDocument
from investai.ingest import profile_columns
from investai.ports.research import FUNDAMENTAL_COLUMNS, FUNDAMENTAL_SOURCE_COLUMNS
from investai.services.documents import store_parsed
from investai.services.fundamentals import DocumentFundamentals, column_field, fundamentals_rows
from tests.factories import T0, make_document

READER = AccessScope(user_id="user_1", organisation_id="org_1", role="analyst")
HEADER = ["ticker", "pe_ratio", "eps_ttm", "roe", "debt_to_equity", "revenue_growth_yoy", "as_of"]
Q3, Q4 = datetime(2022, 10, 14, tzinfo=UTC), datetime(2023, 1, 16, tzinfo=UTC)


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(header: list[str], rows: list[list[Any]], *, name: str = "data") -> ExtractedTable:
    return ExtractedTable(
        index=0, name=name, header=header, columns=profile_columns(header, rows), rows=rows, row_count=len(rows)
    )


@dataclass
class Stored:
    data: bytes


@dataclass
class Objects:
    """An object store holding bytes by key, counting reads."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    reads: int = 0

    def put(self, key: str, data: bytes, **_: Any) -> None:
        self.blobs[key] = data

    def get(self, key: str, version_id: str | None = None) -> Stored:
        self.reads += 1
        if key not in self.blobs:
            raise NotFound(key)
        return Stored(self.blobs[key])


@dataclass
class Documents:
    """A document repository listing an organisation's documents."""

    held: list[Document] = field(default_factory=list)

    def list_by_organisation(self, organisation_id: str, *, limit: int = 100) -> list[Document]:
        return [document for document in self.held if document.organisation_id == organisation_id][:limit]


class Corpus:
    def __init__(self) -> None:
        self.documents = Documents()
        self.objects = Objects()
        self.reader = DocumentFundamentals(documents=self.documents, objects=self.objects)  # type: ignore[arg-type]

    def add(self, *editions: tuple[datetime, list[ExtractedTable]], **fields: Any) -> Document:
        """A CSV document with one version per edition: (publication date, tables)."""
        document = make_document(**{"doc_type": DocumentType.CSV, "visibility": Visibility.ORGANISATION, **fields})
        first = document.current
        versions = [
            first.model_copy(update={"version": number, "sha256": f"{number:064x}", "published_at": published})
            for number, (published, _) in enumerate(editions, start=1)
        ]
        document = document.model_copy(update={"versions": versions, "current_version": len(versions)})
        for version, (_, tables) in zip(versions, editions, strict=True):
            parsed = ParsedDocument(doc_type=DocumentType.CSV, tables=tables)
            store_parsed(self.objects, document, version, parsed)  # type: ignore[arg-type]
        self.documents.held.append(document)
        return document

    def read(self, symbols: list[str], as_of: datetime, reader: AccessScope = READER) -> Any:
        return self.reader.fundamentals(reader=reader, symbols=symbols, as_of=as_of)


def fundamentals(*rows: list[Any]) -> list[ExtractedTable]:
    return [table(HEADER, [list(row) for row in rows])]


# --- recognising the columns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field", "percent"),
    [
        ("ticker", "symbol", False),
        ("Symbol", "symbol", False),
        ("P/E", "pe_ratio", False),
        ("PE", "pe_ratio", False),
        ("pe_ratio", "pe_ratio", False),
        ("P/E ratio (x)", "pe_ratio", False),
        ("Price to earnings", "pe_ratio", False),
        ("EPS (TTM)", "eps_ttm", False),
        ("ROE (%)", "roe", True),
        ("Return on equity", "roe", False),
        ("Debt/Equity", "debt_to_equity", False),
        ("D/E", "debt_to_equity", False),
        ("Revenue growth (YoY, %)", "revenue_growth_yoy", True),
        ("revenue growth", "revenue_growth_yoy", False),
        ("Dividend yield", "dividend_yield", False),
        ("As of", "as_of", False),
        ("Fwd P/E", None, False),  # a forward multiple is another figure
        ("EV/Sales", None, False),
        ("Net debt / capital", None, False),
    ],
)
def test_columns_are_recognised_by_name(header: str, field: str | None, percent: bool) -> None:
    assert column_field(header) == (field, percent)


def test_a_table_with_other_spellings_and_percentages_gives_fractions() -> None:
    found = fundamentals_rows(
        table(
            ["Ticker", "P/E", "ROE (%)", "Debt/Equity", "Revenue growth", "Dividend yield"],
            [["ko", "25.8x", 40, "1.62", "3.0%", "3.05%"], ["PEP", "n/a", "(5)", "2,510", "", 0.0329]],
        )
    )
    assert [row.symbol for row in found] == ["KO", "PEP"]
    ko, pep = found[0].values, found[1].values
    assert ko == pytest.approx(
        {"pe_ratio": 25.8, "roe": 0.40, "debt_to_equity": 1.62, "revenue_growth_yoy": 0.03, "dividend_yield": 0.0305}
    )
    assert math.isnan(pep["pe_ratio"])
    assert math.isnan(pep["revenue_growth_yoy"])
    assert pep["roe"] == pytest.approx(-0.05)
    assert pep["debt_to_equity"] == pytest.approx(2510.0)
    assert found[0].dated is None
    assert (found[1].table, found[1].number) == ("data", 2)


@pytest.mark.parametrize(
    "header",
    [
        ["Ticker", "Fwd P/E", "Dividend yield", "Key swing factor"],  # a research note's table
        ["sector", "companies", "pe_ratio", "roe"],  # sector medians: no security
        ["ticker", "rating", "price_target", "as_of"],  # estimates: no fundamentals figure
    ],
)
def test_tables_without_a_symbol_and_a_factor_figure_are_not_fundamentals(header: list[str]) -> None:
    assert fundamentals_rows(table(header, [["KO", 1, 2, 3]])) == []


# --- point in time ---------------------------------------------------------------------------------------------


def test_a_document_counts_from_its_publication_and_rows_from_their_own_date() -> None:
    corpus = Corpus()
    document = corpus.add((Q3, fundamentals(["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"])))

    assert corpus.read(["KO"], Q3 - timedelta(seconds=1)).empty  # dated 30 September, published 14 October
    frame = corpus.read(["ko", "PEP"], Q3)
    assert list(frame.index) == ["KO"]
    assert list(frame.columns) == [*FUNDAMENTAL_COLUMNS, *FUNDAMENTAL_SOURCE_COLUMNS]
    row = frame.loc["KO"]
    assert (row["pe_ratio"], row["roe"], row["revenue_growth_yoy"]) == (25.8, 0.40, 0.03)
    assert math.isnan(row["dividend_yield"])
    assert row["as_of"] == day("2022-10-01")  # the end of the row's date
    assert (row["document_id"], row["version"], row["table"], row["row"]) == (document.id, 1, "data", 1)


def test_a_row_dated_after_the_as_of_moment_is_not_read_whatever_its_publication() -> None:
    corpus = Corpus()
    corpus.add(
        (
            Q3,
            fundamentals(
                ["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"], ["PEP", 24, 6, 0.5, 2.5, 0.01, "2023-03-31"]
            ),
        )
    )
    assert list(corpus.read(["KO", "PEP"], Q4).index) == ["KO"]
    assert list(corpus.read(["KO", "PEP"], day("2023-04-01")).index) == ["KO", "PEP"]


def test_without_a_date_column_a_row_is_dated_by_its_version() -> None:
    corpus = Corpus()
    corpus.add((Q3, [table(["ticker", "pe"], [["KO", 25.8]])]))
    assert corpus.read(["KO"], Q3 - timedelta(days=1)).empty
    assert corpus.read(["KO"], Q3).loc["KO", "as_of"] == Q3


def test_each_document_is_read_at_its_newest_version_published_by_then() -> None:
    corpus = Corpus()
    corpus.add(
        (Q3, fundamentals(["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"])),
        (Q4, fundamentals(["KO", 23.0, 2.48, 0.41, 1.60, 0.04, "2022-12-31"])),
    )
    assert corpus.read(["KO"], day("2022-12-31")).loc["KO", ["pe_ratio", "version"]].tolist() == [25.8, 1]
    assert corpus.read(["KO"], Q4).loc["KO", ["pe_ratio", "version"]].tolist() == [23.0, 2]


def test_the_latest_row_of_each_symbol_wins_across_documents() -> None:
    corpus = Corpus()
    june = corpus.add((day("2022-07-15"), fundamentals(["KO", 27.0, 2.4, 0.39, 1.7, 0.02, "2022-06-30"])))
    september = corpus.add((Q3, fundamentals(["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"])))
    assert corpus.read(["KO"], day("2022-08-01")).loc["KO", "document_id"] == june.id
    assert corpus.read(["KO"], Q4).loc["KO", "document_id"] == september.id


# --- access -----------------------------------------------------------------------------------------------------


def test_only_documents_the_reader_may_read_count() -> None:
    corpus = Corpus()
    row = ["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"]
    corpus.add((Q3, fundamentals(row)), owner_id="user_2", visibility=Visibility.PRIVATE)
    corpus.add((Q3, fundamentals(row)), organisation_id="org_2")
    corpus.add((Q3, fundamentals(row)), deleted_at=T0)
    corpus.add((Q3, fundamentals(row)), status=DocumentStatus.FAILED)
    corpus.add((Q3, fundamentals(row)), doc_type=DocumentType.PDF)  # not a tabular document
    assert corpus.read(["KO"], Q4).empty
    own = corpus.add((Q3, fundamentals(row)), owner_id="user_1", visibility=Visibility.PRIVATE)
    assert corpus.read(["KO"], Q4).loc["KO", "document_id"] == own.id
    outsider = AccessScope(user_id="user_9", organisation_id="org_1", role="analyst")
    assert corpus.read(["KO"], Q4, reader=outsider).empty


def test_each_version_is_read_from_the_store_once() -> None:
    corpus = Corpus()
    corpus.add((Q3, fundamentals(["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"])))
    corpus.read(["KO"], Q4)
    reads = corpus.objects.reads
    assert not corpus.read(["KO"], Q4).empty
    assert not corpus.read(["KO", "PEP"], Q4 + timedelta(days=1)).empty
    assert corpus.objects.reads == reads == 1


def test_no_symbols_no_reads() -> None:
    corpus = Corpus()
    corpus.add((Q3, fundamentals(["KO", 25.8, 2.47, 0.40, 1.62, 0.03, "2022-09-30"])))
    assert corpus.read([], Q4).empty
    assert corpus.objects.reads == 0
