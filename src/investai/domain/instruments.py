"""How a text names an instrument or a sector: the symbol, the company's name and the aliases derived from it.

A passage supports an idea about an instrument only when its text names that instrument. The names are
derived from the symbol master's name by :func:`instrument_names`:

* the symbol, matched case-sensitively as a whole word. A symbol that is also an ordinary word or abbreviation
  in upper case (``A``, ``IT``, ``AI``, ``ON``, ``EPS``...) counts only where it is plainly a ticker: in
  parentheses, after ``$`` or an exchange (``NYSE: IT``), or as a whole table cell;
* the full name and its core without the legal suffixes (``Inc.``, ``Corporation``, ``Co.``, ``& Co.``,
  ``and Company``, ``plc``, ``Class A``...) and a leading ``The``: "The Coca-Cola Company" -> "Coca-Cola";
* variants of the core: ``&`` written ``and``, a hyphen written as a space, two words written as one
  ("Exxon Mobil" -> "ExxonMobil"), a trailing ``Group`` or ``Holdings`` dropped ("UnitedHealth"), and one
  word standing for the company: the first ("Exxon") unless it is generic ("Bank", "General", "Home",
  "Best"...) or joined to the next by ``&``, or the last when the first is a short given name ("Eli Lilly"
  -> "Lilly"); parenthesised names count too ("General Electric Company (GE Aerospace)" -> "GE Aerospace").

Names are matched case-sensitively as whole words (an upper-case rendering counts too), so "Merck's" names
Merck and "target" never names Target. A sector is named by its own name in any case ("Consumer Staples",
"consumer staples") or a close variant ("healthcare" for Health Care); a one-word sector, being a common
word, only as "energy sector", "energy stocks" and the like; and a capitalised variant in mid-sentence
("Change Healthcare") never, since it is then part of a company's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_LEGAL_SUFFIX = re.compile(
    r"(?:[\s,]+(?:&|and)\s+(?:Co\.?|Company)|[\s,]+(?:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.?|"
    r"Companies|Ltd\.?|Limited|plc|PLC|P\.L\.C\.|LLC|L\.L\.C\.|L\.?P\.?|N\.V\.|NV|S\.A\.|SA|AG|SE|S\.p\.A\.|"
    r"Class\s+[A-Z]|Series\s+[A-Z]|ADR|ADS|Common\s+Stock|Ordinary\s+Shares|Shares))[\s,.]*$"
)
_GROUP_SUFFIX = re.compile(r"\s+(?:Group|Holdings?)$")
_PARENTHESISED = re.compile(r"\(([^()]*)\)")
_GENERIC_TEXT = (
    "The A An And Of For In On At By To New Old First Second Third One Two Three "
    "Bank Banks Banco General Home Best Range Advanced American America United National International Global "
    "World Group Holding Holdings Corporation Company Companies Capital Financial Finance Energy Resources "
    "Health Healthcare Medical Systems System Technologies Technology Industries Industrial Trust Services "
    "Service Solutions Partners Brands Communications Digital Data Micro Pacific Atlantic Southern Northern "
    "Western Eastern Royal Standard Public Mutual Life Power Electric Motors Motor Foods Food Oil Gas "
    "Aerospace Defense Petroleum Chemical Chemicals Materials Pharmaceuticals Therapeutics Bio Labs Software "
    "Networks Media "
    "Entertainment Retail Stores Realty Properties Property Insurance Investment Investments Equity Fund "
    "Funds Index Sector Market Markets Class Common Shares Stock Series Inc Corp Co Ltd Plc Limited"
)
GENERIC_WORDS = frozenset(word.lower() for word in _GENERIC_TEXT.split())
"""Words that never stand for a company on their own (nor as its whole name)."""
_AMBIGUOUS_TEXT = (
    "A I AI AN AS AT BE BY DO GO HE IF IN IS IT ME MY NO OF OK ON OR SO TO UP US WE "
    "ALL AND ANY ARE BIG CAN CAR CEO CFO COO CTO EPS ESG ETF EU EV FCF FOR FY GDP HAS IPO KEY LOW NEW NOW "
    "ONE OUT PE ROE ROI SEE TWO UK USA USD EUR GBP VAR YOY Q1 Q2 Q3 Q4 LNG GAAP EBIT EBITDA CEO HR PR "
    "B C D E F G H J K L M N O P Q R S T U V W X Y Z"
)
AMBIGUOUS_SYMBOLS = frozenset(_AMBIGUOUS_TEXT.split())
"""Symbols that are also ordinary upper-case words or abbreviations: named only in a ticker's usual dress."""
_SECTOR_VARIANTS: dict[str, tuple[str, ...]] = {
    "health care": ("healthcare", "health-care"),
    "information technology": ("technology sector", "tech sector"),
    "consumer staples": ("staples sector",),
    "consumer discretionary": ("discretionary sector",),
    "communication services": ("communications sector",),
    "financials": ("financial sector", "financials sector"),
    "real estate": ("real estate sector", "REITs"),
}


@dataclass(frozen=True)
class InstrumentNames:
    """The ways a text may name one instrument (see the module doc)."""

    symbol: str
    aliases: tuple[str, ...] = ()
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` names the instrument: (start, end) of each mention, in order, not overlapping."""
        found = sorted((match.start(), match.end()) for pattern in self._patterns for match in pattern.finditer(text))
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def named_in(self, text: str) -> bool:
        """Whether ``text`` names the instrument."""
        return any(pattern.search(text) for pattern in self._patterns)

    def is_cell(self, cell: str) -> bool:
        """Whether a table cell is the instrument: its symbol (any dress) or one of its names, whole."""
        value = " ".join(cell.split())
        return value == self.symbol or value in self.aliases or (bool(value) and self.named_in(value))


def instrument_names(symbol: str, name: str | None = None) -> InstrumentNames:
    """The names of ``symbol`` given its symbol-master ``name`` (see the module doc)."""
    return _instrument_names(symbol.strip(), " ".join((name or "").split()))


@lru_cache(maxsize=4096)
def _instrument_names(symbol: str, name: str) -> InstrumentNames:
    aliases = company_aliases(name) if name and name != symbol else ()
    patterns = [_symbol_pattern(symbol)] if symbol else []
    for alias in aliases:
        patterns.append(_word_pattern(alias))
        if alias.upper() != alias and len(alias) >= 4:
            patterns.append(_word_pattern(alias.upper()))
    return InstrumentNames(symbol=symbol, aliases=aliases, _patterns=tuple(patterns))


def company_aliases(name: str) -> tuple[str, ...]:
    """The full name, its core without legal suffixes and the core's variants, longest first, never a
    generic word: "Exxon Mobil Corporation" -> ("Exxon Mobil Corporation", "Exxon Mobil", "ExxonMobil",
    "Exxon")."""
    name = " ".join(name.split())
    outer = _PARENTHESISED.sub(" ", name)
    cores = [strip_legal_suffixes(" ".join(outer.split()))]
    cores += [strip_legal_suffixes(inner) for inner in _PARENTHESISED.findall(name)]
    found: list[str] = [name] if _usable(name) else []
    for core in cores:
        for alias in (core, *_variants(core)):
            if _usable(alias) and alias not in found:
                found.append(alias)
    return tuple(sorted(found, key=lambda alias: (-len(alias), alias)))


def strip_legal_suffixes(name: str) -> str:
    """``name`` without a leading "The" and its trailing legal suffixes ("Merck & Co., Inc." -> "Merck")."""
    core = re.sub(r"^The\s+", "", " ".join(name.split()))
    while True:
        shorter = _LEGAL_SUFFIX.sub("", core).strip(" ,")
        if shorter == core or not shorter:
            return core
        core = shorter


def _variants(core: str) -> list[str]:
    variants: list[str] = []
    if " & " in core:
        variants.append(core.replace(" & ", " and "))
    if "-" in core:
        variants.append(core.replace("-", " "))
    ungrouped = _GROUP_SUFFIX.sub("", core)
    if ungrouped != core:
        variants.append(ungrouped)
    words = ungrouped.split()
    if len(words) == 3 and words[1] == "&" and words[0][:1].isupper() and words[2][:1].isupper():
        variants.append(f"{words[0][0]}&{words[2][0]}")  # "Procter & Gamble" -> "P&G"
    distinct = all(word.isalpha() and len(word) >= 4 and word.lower() not in GENERIC_WORDS for word in words)
    if len(words) == 2 and distinct and all(word[:1].isupper() for word in words):
        variants.append("".join(words))  # "Exxon Mobil" -> "ExxonMobil"
    if len(words) >= 2 and words[1] not in ("&", "and", "of"):
        first, last = words[0], words[-1]
        if len(words) == 2 and first.istitle() and len(first.strip(".")) <= 3:
            variants.append(last)  # a given name or an initial: "Eli Lilly" -> "Lilly"
        elif first[:1].isupper() and len(first) >= 4:
            variants.append(first)
    return variants


def _usable(alias: str) -> bool:
    """Any name of several words; one word only if it is at least 3 characters, capitalised and not generic."""
    words = alias.split()
    if not words or len(alias) < 3 or not any(ch.isupper() for ch in alias):
        return False
    return len(words) > 1 or alias.strip(".,").lower() not in GENERIC_WORDS


def _symbol_pattern(symbol: str) -> re.Pattern[str]:
    escaped = re.escape(symbol)
    if symbol.upper() in AMBIGUOUS_SYMBOLS or len(symbol) == 1:
        return re.compile(
            rf"(?:(?<=\()|(?<=\$)|(?<=: )|(?<=:))(?:{escaped})(?=[)\s,.;]|$)"
            rf"|(?:NYSE|NASDAQ|Nasdaq|LSE|TSX|ticker)[:\s]+{escaped}(?![A-Za-z0-9])"
            rf"|\({escaped}(?=\))"
        )
    return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")


def _word_pattern(alias: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w&]){re.escape(alias)}(?![\w&])")


# --- sectors -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectorNames:
    """The ways a text may name one sector (see the module doc)."""

    sector: str
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = {
            (match.start(), match.end())
            for pattern in self._patterns
            for match in pattern.finditer(text)
            if _sector_mention(text, match, self.sector)
        }
        return sorted(found)

    def named_in(self, text: str) -> bool:
        return bool(self.spans(text))

    def is_cell(self, cell: str) -> bool:
        """Whether a table cell is the sector's name."""
        return bool(self.sector) and " ".join(cell.split()).lower() == self.sector.lower()


def sector_names(sector: str | None) -> SectorNames:
    """The names of ``sector`` (a GICS-style sector name such as "Consumer Staples")."""
    return _sector_names(" ".join((sector or "").split()))


@lru_cache(maxsize=256)
def _sector_names(sector: str) -> SectorNames:
    if not sector:
        return SectorNames(sector="")
    lowered = sector.lower()
    if " " in sector:
        terms = {lowered, *_SECTOR_VARIANTS.get(lowered, ())}
    else:  # a one-word sector is a common word ("energy"): only "... sector", "... stocks" and the like
        terms = {f"{lowered} {noun}" for noun in ("sector", "stocks", "companies", "shares", "names")}
        terms |= set(_SECTOR_VARIANTS.get(lowered, ()))
    patterns = tuple(
        re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)
        for term in sorted(terms, key=len, reverse=True)
    )
    return SectorNames(sector=sector, _patterns=patterns)


def _sector_mention(text: str, match: re.Match[str], sector: str) -> bool:
    """A capitalised variant in mid-sentence is part of a proper name ("Change Healthcare"), unless it is the
    sector's own spelling ("Consumer Staples")."""
    found = match.group(0)
    if not found[:1].isupper() or found.startswith(sector):
        return True
    before = text[: match.start()].rstrip()
    return not before or before[-1] in ".!?:;\n(\"'"
