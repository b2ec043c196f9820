"""From a passage to evidence (:mod:`investai.agents.evidence`, :mod:`investai.agents.ratings`): page furniture
left out, whole sentences that name the instrument quoted, table rows cited by their own number as ``column:
value`` pairs, ratings read from the same record as the instrument."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from investai.agents.evidence import (
    Passage,
    passage_of,
    quote_passage,
    segments,
    split_sentences,
    table_text,
)
from investai.agents.ratings import ratings_in, stance
from investai.domain.citations import DocumentCitation, EvidenceScope
from investai.domain.documents import DocumentType
from investai.domain.instruments import instrument_names, sector_names
from investai.domain.knowledge import ChunkKind, KnowledgeHit
from investai.ingest import ChunkingOptions, IngestLimits, chunk_document, parse_document
from investai.sample.tables import analyst_estimates_json, fundamentals_csv
from investai.sample.universe import COMPANIES
from tests.factories import make_document

TITLE = "Consumer staples and retail: pricing power meets volume fatigue"
PAGE = """Consumer staples and retail: pricing power meets volume
fatigue
Equity research | Consumer staples and retail | Coverage: KO, PEP, PG | 1 August 2024
Summary
Three years of price increases have restored gross margins at the large consumer staples companies, but
volumes are now the question. Our coverage spans beverages and snacks (Coca-Cola, PepsiCo).
Pricing power in beverages and snacks
Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024 [1], made up of 13% price and
mix. Its pricing power rests on the bottler system and the brand portfolio.
PepsiCo is finding the limit. Frito-Lay North America volumes fell 2% in the first quarter.
Consumer coverage (illustrative)
Ticker Fwd P/E Dividend yield
KO 22.4x 3.0% +11%
PEP 20.8x 3.3% +2.7%
Sample research note for the demo - illustrative figures, not investment advice.
Page 1 of 3"""
KO = instrument_names("KO", "The Coca-Cola Company")
PEP = instrument_names("PEP", "PepsiCo, Inc.")
STAPLES = sector_names("Consumer Staples")
PG = instrument_names("PG", "The Procter & Gamble Company")
XOM = instrument_names("XOM", "Exxon Mobil Corporation")
LLY = instrument_names("LLY", "Eli Lilly and Company")


def text(value: str, **fields: object) -> Passage:
    return Passage(text=value, kind=ChunkKind.TEXT, title=str(fields.pop("title", TITLE)), **fields)  # type: ignore[arg-type]


def whole(passage: Passage) -> list[str]:
    return [segment.text for segment in segments(passage) if segment.whole]


def assert_whole_words_of(quote: str, source: str) -> None:
    """Every sentence of the quote is in the source (whitespace aside) between word boundaries."""
    flat = " ".join(re.sub(r"\s*\[\d+\]", "", source).split())
    for part in quote.split(" … "):
        position = flat.find(part)
        assert position >= 0, part
        before = flat[position - 1] if position else " "
        after = flat[position + len(part)] if position + len(part) < len(flat) else " "
        assert not before.isalnum(), part
        assert not after.isalnum(), part


# --- prose -------------------------------------------------------------------------------------------------------


def test_page_furniture_headings_and_table_dumps_are_not_sentences() -> None:
    sentences = whole(text(PAGE))
    assert sentences == [
        "Three years of price increases have restored gross margins at the large consumer staples companies, but "
        "volumes are now the question.",
        "Our coverage spans beverages and snacks (Coca-Cola, PepsiCo).",
        "Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024, made up of 13% price and mix.",
        "Its pricing power rests on the bottler system and the brand portfolio.",
        "PepsiCo is finding the limit.",
        "Frito-Lay North America volumes fell 2% in the first quarter.",
    ]
    joined = " ".join(sentences)
    for furniture in ("Page 1 of 3", "Equity research", "Coverage:", "investment advice", "22.4x", "Summary", "[1]"):
        assert furniture not in joined


def test_the_quote_leads_with_the_sentence_where_the_instrument_is_the_subject() -> None:
    quote = quote_passage(text(PAGE), KO, STAPLES)
    assert quote is not None
    assert quote.scope is EvidenceScope.INSTRUMENT
    assert quote.subject == "KO"
    lead = (
        "Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024, made up of 13% price and mix."
    )
    assert quote.claim == lead
    assert quote.sentences[0] == lead
    assert quote.quote == (
        "Our coverage spans beverages and snacks (Coca-Cola, PepsiCo). … "
        f"{lead} Its pricing power rests on the bottler system and the brand portfolio."
    )
    assert "Frito-Lay" not in quote.quote
    assert_whole_words_of(quote.quote, PAGE)


def test_the_sentence_after_the_lead_comes_with_it() -> None:
    quote = quote_passage(text(PAGE), PEP)
    assert quote is not None
    assert quote.claim == "PepsiCo is finding the limit."
    assert quote.quote.endswith(
        "PepsiCo is finding the limit. Frito-Lay North America volumes fell 2% in the first quarter."
    )
    assert_whole_words_of(quote.quote, PAGE)


def test_a_passage_naming_the_instrument_only_in_its_title_or_furniture_supports_nothing() -> None:
    page = "Coca-Cola: the bottler system\nEquity research | Beverages | Coverage: KO | 1 August 2024\n" + (
        "Bottlers in Latin America raised prices again in the quarter.\nPage 2 of 3"
    )
    assert quote_passage(text(page, title="Coca-Cola: the bottler system"), KO) is None
    assert quote_passage(text(PAGE), instrument_names("LLY", "Eli Lilly and Company")) is None


def test_a_passage_naming_only_the_sector_is_sector_evidence_and_says_so() -> None:
    walmart = instrument_names("WMT", "Walmart Inc.")
    quote = quote_passage(text(PAGE), walmart, STAPLES)
    assert quote is not None
    assert quote.scope is EvidenceScope.SECTOR
    assert quote.subject == "Consumer Staples"
    assert quote.claim.startswith("Consumer Staples sector: Three years of price increases")
    assert quote_passage(text(PAGE), walmart, sector_names("Health Care")) is None
    assert quote_passage(text(PAGE), walmart) is None


def test_a_passage_cut_inside_sentences_quotes_only_whole_ones() -> None:
    window = "siCo to lean on promotional spending. Coca-Cola, with a smaller food exposure, is better placed if\nconsu"
    passage = text(window, cut_start=True, cut_end=True)
    assert whole(passage) == []
    assert quote_passage(passage, KO) is None
    chunk = "for pulmonary arterial\nhypertension. Coca-Cola is better placed if consumers keep trading down.\nIts"
    assert whole(text(chunk)) == ["Coca-Cola is better placed if consumers keep trading down."]
    quote = quote_passage(text(chunk), KO)
    assert quote is not None
    assert quote.quote == "Coca-Cola is better placed if consumers keep trading down."


def test_a_hit_with_a_windowed_snippet_knows_both_cuts() -> None:
    hit = KnowledgeHit(
        citation=DocumentCitation(document_id="doc1", version=1, page=1, chunk_id="doc1:1:0"),
        title=TITLE,
        doc_type=DocumentType.PDF,
        kind=ChunkKind.TEXT,
        snippet="…de a partial hedge. <mark>Coca-Cola</mark> raised prices in most markets. It also cu…",
        score=0.5,
    )
    passage = passage_of(hit)
    assert passage.cut_start
    assert passage.cut_end
    assert whole(passage) == ["Coca-Cola raised prices in most markets."]


def test_sentences_do_not_end_at_abbreviations_or_initials() -> None:
    assert split_sentences("Merck & Co. Inc. sold more in the U.S. market. J. P. Morgan agreed [2]. Next one.") == [
        "Merck & Co. Inc. sold more in the U.S. market.",
        "J. P. Morgan agreed.",
        "Next one.",
    ]
    assert split_sentences("It grew 11% [1]. Margins rose. [2] The end", keep_markers=True) == [
        "It grew 11% [1].",
        "Margins rose. [2]",
        "The end",
    ]


# --- tables ------------------------------------------------------------------------------------------------------


def table_chunks(tmp_path: Path, name: str, content: bytes, doc_type: DocumentType) -> list[Passage]:
    path = tmp_path / name
    path.write_bytes(content)
    parsed = parse_document(path, doc_type, IngestLimits())
    document = make_document(title=name, doc_type=doc_type)
    chunks = chunk_document(parsed, document=document, options=ChunkingOptions(max_table_rows_per_chunk=40))
    return [
        Passage(text=chunk.text, kind=chunk.kind, title=chunk.title, row_start=chunk.row_start)
        for chunk in chunks
        if chunk.kind is ChunkKind.TABLE
    ]


def csv_row_of(content: bytes, ticker: str) -> int:
    """The data row (from 1, after the header) of ``ticker`` in a CSV."""
    rows = list(csv.reader(io.StringIO(content.decode())))
    return next(number for number, row in enumerate(rows[1:], start=1) if row[0] == ticker)


@pytest.mark.parametrize(("symbol", "name"), [("KO", "The Coca-Cola Company"), ("MRK", "Merck & Co., Inc.")])
def test_a_table_passage_is_quoted_as_the_row_naming_the_instrument_with_its_own_number(
    tmp_path: Path, symbol: str, name: str
) -> None:
    content = fundamentals_csv()
    (passage,) = table_chunks(tmp_path, "fundamentals.csv", content, DocumentType.CSV)
    quote = quote_passage(passage, instrument_names(symbol, name), sector_names("Health Care"))
    assert quote is not None
    assert quote.row == csv_row_of(content, symbol)
    assert quote.quote.startswith(f"ticker: {symbol}; name: {name}; sector: ")
    assert "|" not in quote.quote
    assert quote.claim.startswith(f"{symbol} in table ")
    assert f"row {quote.row}:" in quote.claim


def test_rows_keep_their_numbers_across_row_groups(tmp_path: Path) -> None:
    content = fundamentals_csv()
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    parsed = parse_document(path, DocumentType.CSV, IngestLimits())
    chunks = chunk_document(
        parsed,
        document=make_document(doc_type=DocumentType.CSV),
        options=ChunkingOptions(max_table_rows_per_chunk=4),
    )
    passages = [Passage(text=c.text, kind=c.kind, row_start=c.row_start) for c in chunks]
    quotes = [quote_passage(passage, KO) for passage in passages]
    (found,) = [quote for quote in quotes if quote is not None]
    assert found.row == csv_row_of(content, "KO")


def test_a_table_window_without_its_header_cites_no_row() -> None:
    window = "Company | Consumer Staples | 2.47\nKO | The Coca-Cola Company | Consumer Staples | 2.47 | 25.8\nLLY | El"
    passage = Passage(text=window, kind=ChunkKind.TABLE, row_start=1, cut_start=True, cut_end=True)
    assert table_text(passage).header is None
    assert quote_passage(passage, KO) is None


# --- ratings -----------------------------------------------------------------------------------------------------


def estimates(tmp_path: Path) -> tuple[Passage, dict[str, str]]:
    (passage,) = table_chunks(tmp_path, "analyst_estimates.json", analyst_estimates_json(), DocumentType.JSON)
    rated = {record["ticker"]: record["rating"] for record in json.loads(analyst_estimates_json())}
    return passage, rated


def test_the_sample_estimates_give_each_symbol_its_own_rating(tmp_path: Path) -> None:
    passage, rated = estimates(tmp_path)
    for company in COMPANIES:
        found = ratings_in(passage, instrument_names(company.ticker, company.name))
        assert found == [rated[company.ticker]], company.ticker


def test_a_symbol_rated_buy_in_the_sample_estimates_has_a_positive_stance(tmp_path: Path) -> None:
    passage, rated = estimates(tmp_path)
    buy = next(symbol for symbol, rating in rated.items() if rating == "buy")
    sell = next(symbol for symbol, rating in rated.items() if rating == "sell")
    assert stance(ratings_in(passage, instrument_names(buy))) > 0
    assert stance(ratings_in(passage, instrument_names(sell))) < 0


def test_a_rating_column_of_an_uploaded_table_counts_for_its_row_only() -> None:
    table = "Table: picks\nSymbol | Company | Recommendation | Notes\nKO | Coca-Cola | Outperform | buy the dip\n"
    table += "PEP | PepsiCo | Underperform | sell-side crowded"
    passage = Passage(text=table, kind=ChunkKind.TABLE, row_start=1)
    assert ratings_in(passage, KO) == ["outperform"]
    assert ratings_in(passage, PEP) == ["underperform"]


def test_prose_ratings_count_in_a_sentence_or_line_naming_the_instrument_and_never_as_part_of_a_name() -> None:
    assert ratings_in(text("Procter & Gamble (PG) will lose shelf share.\n\nPG: Underweight.", title=""), PG) == [
        "underweight"
    ]
    assert ratings_in(text("Exxon Mobil (XOM) downgraded to Sell on fraud.", title=""), XOM) == ["sell"]
    assert ratings_in(text("LLY (Eli Lilly) Strong Sell.", title=""), LLY) == ["strong sell"]
    assert ratings_in(text("We rate XOM a buy after the results.", title=""), XOM) == ["buy"]
    retail = (
        "Our coverage spans retailers (Walmart, Home Depot, Best Buy). Home Depot sales rise when people buy homes."
    )
    assert ratings_in(text(retail, title=""), instrument_names("HD", "The Home Depot, Inc.")) == []
    assert ratings_in(text("PepsiCo: Buy. Coca-Cola will sell more.", title=""), KO) == []


def test_stance_weighs_neutral_ratings_too() -> None:
    assert stance(["buy"]) == 1.0
    assert stance(["buy", "hold"]) == 0.5
    assert stance(["sell", "strong sell"]) == -1.0
    assert stance([]) == 0.0
