"""Analyst ratings in passages, and the research stance they give. Pure text processing, no I/O.

A rating counts when it is in the same record as the instrument: for prose, a rating word in a
sentence or line naming the instrument, written as a rating (capitalised, as in "PG: Underweight" or
"downgraded to Sell", or after "rated", "rating", "recommendation"...), never as part of a name ("Best Buy");
for a table, a cell of a rating column ("rating", "recommendation", "consensus"...) in the instrument's row.
The stance is (positive - negative) / all ratings found, a neutral one ("hold") counting in the denominator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from investai.agents.evidence import Passage, TableText, segments, table_text
from investai.domain.instruments import InstrumentNames
from investai.domain.knowledge import ChunkKind

POSITIVE = ("strong buy", "buy", "outperform", "overweight", "accumulate")
NEGATIVE = ("strong sell", "sell", "underperform", "underweight", "reduce")
NEUTRAL = ("hold", "neutral", "equal weight", "equal-weight", "market perform", "sector perform", "in line")
RATINGS = tuple(sorted((*POSITIVE, *NEGATIVE, *NEUTRAL), key=len, reverse=True))
_RATING_COLUMN = re.compile(r"rating|recommend|consensus|analyst|opinion|stance|\bview\b", re.IGNORECASE)
_RATING_CONTEXT = re.compile(
    r"(?:\brat(?:e|es|ed|ing|ings)|recommend\w*|upgrade[sd]?|downgrade[sd]?|reiterate[sd]?|initiate[sd]?|"
    r"maintain(?:s|ed)?|consensus)\W+(?:\w+\W+){0,3}$",
    re.IGNORECASE,
)
_RATING = re.compile(r"(?<![\w-])(" + "|".join(re.escape(word) for word in RATINGS) + r")(?![\w-])", re.IGNORECASE)


def ratings_in(passage: Passage, names: InstrumentNames) -> list[str]:
    """Every analyst rating the passage gives the instrument, as lower-case rating phrases (module doc)."""
    if passage.kind is ChunkKind.TABLE:
        return _table_ratings(table_text(passage), names)
    found: list[str] = []
    units = [segment.text for segment in segments(passage)]
    for unit in units:
        spans = names.spans(unit)
        if spans:
            found.extend(_prose_ratings(unit, spans))
    return found


def _prose_ratings(text: str, name_spans: Iterable[tuple[int, int]]) -> list[str]:
    spans = list(name_spans)
    found = []
    for match in _RATING.finditer(text):
        if any(start < match.end() and match.start() < end for start, end in spans):
            continue  # part of the instrument's own name ("Best Buy")
        word = match.group(0)
        before = text[: match.start()]
        if word[:1].isupper():
            previous = before.rstrip().rsplit(None, 1)[-1] if before.strip() else ""
            named_before = any(end == len(before.rstrip()) for _, end in spans)
            if previous[:1].isupper() and previous.isalpha() and not named_before and previous.lower() != "strong":
                continue  # a capitalised word before it: another name ("Best Buy"), not a rating
            found.append(word.lower())
        elif _RATING_CONTEXT.search(before):
            found.append(word.lower())
    return found


def _table_ratings(table: TableText, names: InstrumentNames) -> list[str]:
    found: list[str] = []
    columns = (
        [index for index, column in enumerate(table.header) if _RATING_COLUMN.search(column)]
        if table.header is not None
        else None
    )
    for row in table.rows:
        if not any(names.is_cell(cell) for cell in row.cells):
            continue
        cells = row.cells if columns is None else [row.cells[i] for i in columns if i < len(row.cells)]
        for cell in cells:
            rating = _rating_cell(cell)
            if rating:
                found.append(rating)
    return found


def _rating_cell(cell: str) -> str | None:
    value = " ".join(cell.split()).lower()
    for rating in RATINGS:
        if value == rating or re.match(rf"{re.escape(rating)}(?![\w-])", value):
            return rating
    return None


def stance(ratings: Sequence[str]) -> float:
    """Net rating in [-1, 1]: (positive - negative) / all ratings found, neutral ones ("hold") included."""
    positive = sum(rating in POSITIVE for rating in ratings)
    negative = sum(rating in NEGATIVE for rating in ratings)
    return (positive - negative) / len(ratings) if ratings else 0.0
