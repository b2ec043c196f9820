"""The names a text may use for an instrument or a sector (:mod:`investai.domain.instruments`): aliases derived
from the symbol master's name, never a generic word, matched as whole words in the right case."""

from __future__ import annotations

import pytest

from investai.domain.instruments import (
    GENERIC_WORDS,
    company_aliases,
    instrument_names,
    sector_names,
    strip_legal_suffixes,
)
from investai.sample.universe import COMPANIES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Exxon Mobil Corporation", {"Exxon Mobil Corporation", "Exxon Mobil", "ExxonMobil", "Exxon"}),
        ("The Coca-Cola Company", {"The Coca-Cola Company", "Coca-Cola", "Coca Cola"}),
        ("Eli Lilly and Company", {"Eli Lilly and Company", "Eli Lilly", "Lilly"}),
        ("Merck & Co., Inc.", {"Merck & Co., Inc.", "Merck"}),
        ("JPMorgan Chase & Co.", {"JPMorgan Chase & Co.", "JPMorgan Chase", "JPMorganChase", "JPMorgan"}),
        ("UnitedHealth Group Incorporated", {"UnitedHealth Group Incorporated", "UnitedHealth Group", "UnitedHealth"}),
        (
            "The Procter & Gamble Company",
            {"The Procter & Gamble Company", "Procter & Gamble", "Procter and Gamble", "P&G"},
        ),
        ("Bank of America Corporation", {"Bank of America Corporation", "Bank of America"}),
        ("The Home Depot, Inc.", {"The Home Depot, Inc.", "Home Depot"}),
        (
            "General Electric Company (GE Aerospace)",
            {"General Electric Company (GE Aerospace)", "General Electric", "GE Aerospace"},
        ),
        ("Alphabet Inc. Class A", {"Alphabet Inc. Class A", "Alphabet"}),
        ("Shell plc", {"Shell plc", "Shell"}),
    ],
)
def test_aliases_come_from_the_name_without_its_legal_suffixes(name: str, expected: set[str]) -> None:
    assert set(company_aliases(name)) == expected


@pytest.mark.parametrize("company", COMPANIES, ids=lambda company: company.ticker)
def test_no_alias_of_the_sample_universe_is_a_generic_word(company: object) -> None:
    for alias in company_aliases(company.name):  # type: ignore[attr-defined]
        words = alias.split()
        assert len(words) > 1 or alias.lower() not in GENERIC_WORDS, alias
        assert alias not in ("The", "Bank", "General", "Best", "Home", "Range", "Advanced")


def test_suffixes_are_stripped_repeatedly_and_the_article_dropped() -> None:
    assert strip_legal_suffixes("Best Buy Co., Inc.") == "Best Buy"
    assert strip_legal_suffixes("Advanced Micro Devices, Inc.") == "Advanced Micro Devices"
    assert strip_legal_suffixes("The Home Depot, Inc.") == "Home Depot"
    assert strip_legal_suffixes("Walmart Inc.") == "Walmart"


def test_a_symbol_names_the_instrument_only_as_a_whole_word_in_its_own_case() -> None:
    ko = instrument_names("KO", "The Coca-Cola Company")
    assert ko.named_in("KO fell 2%.")
    assert ko.named_in("Coverage: KO, PEP")
    assert not ko.named_in("a knockout KOF result")
    assert not ko.named_in("ko and Ko are not tickers")
    assert not ko.named_in("TKO announced")


def test_names_and_aliases_are_whole_words_possessives_included() -> None:
    merck = instrument_names("MRK", "Merck & Co., Inc.")
    assert merck.named_in("Keytruda, Merck's PD-1 immunotherapy, generated sales.")
    assert not merck.named_in("Merckx won the race")
    lilly = instrument_names("LLY", "Eli Lilly and Company")
    assert lilly.named_in("and Lilly has committed more than $18 billion")
    assert not lilly.named_in("the lily pond")
    jnj = instrument_names("JNJ", "Johnson & Johnson")
    assert jnj.named_in("In medtech, J&J bought Abiomed.")
    assert not jnj.named_in("Johnson Controls reported")


def test_a_generic_first_word_never_names_a_company() -> None:
    bank = instrument_names("BAC", "Bank of America Corporation")
    assert not bank.named_in("The bank raised its dividend.")
    assert not bank.named_in("Bank lending slowed.")
    assert bank.named_in("Bank of America is in the opposite position.")
    best_buy = instrument_names("BBY", "Best Buy Co., Inc.")
    assert not best_buy.named_in("The best buy in the sector is Walmart.")
    assert best_buy.named_in("Best Buy comparable sales fell 6.1%.")
    general = instrument_names("GE", "General Electric Company (GE Aerospace)")
    assert not general.named_in("General merchandise demand stays soft.")
    lilly = instrument_names("LLY", "Eli Lilly and Company")
    assert not lilly.named_in("Eli Manning retired.")


def test_an_ambiguous_symbol_counts_only_in_a_tickers_dress() -> None:
    gartner = instrument_names("IT", "Gartner, Inc.")
    assert not gartner.named_in("IT spending rose 8%.")
    assert gartner.named_in("Gartner (IT) raised guidance.")
    assert gartner.named_in("NYSE: IT")
    agilent = instrument_names("A", "Agilent Technologies, Inc.")
    assert not agilent.named_in("A strong quarter for the group.")
    assert agilent.named_in("Agilent (A) beat estimates.")
    assert agilent.is_cell("A")


def test_table_cells_name_the_instrument_by_symbol_or_name() -> None:
    ko = instrument_names("KO", "The Coca-Cola Company")
    assert ko.is_cell("KO")
    assert ko.is_cell("The Coca-Cola Company")
    assert not ko.is_cell("KOF")
    assert not ko.is_cell("Consumer Staples")


def test_a_sector_is_named_by_its_name_or_a_close_variant_never_inside_a_company_name() -> None:
    health = sector_names("Health Care")
    assert health.named_in("Large-cap healthcare has split in two.")
    assert health.named_in("Health Care stocks lagged.")
    assert health.named_in("the health care sector")
    assert not health.named_in("a ransomware attack on Change Healthcare, the claims unit")
    staples = sector_names("Consumer Staples")
    assert staples.named_in("margins at the large consumer staples companies")
    assert not staples.named_in("Coca-Cola raised prices.")
    energy = sector_names("Energy")
    assert energy.named_in("Energy stocks fell with crude.")
    assert energy.named_in("the energy sector")
    assert not energy.named_in("energy costs rose")
    assert not energy.named_in("Duke Energy raised its dividend.")
    assert sector_names(None).named_in("anything") is False
