"""Cutting a page of text into sections (at heading lines) and sections into overlapping passages.

Every passage is a ``(start, end)`` slice of the page text with no surrounding whitespace, so a citation's
offsets point at exactly the characters that were embedded and shown.

Headings are recognised by their look, as text extracted from a PDF carries no structure: a short line
without closing punctuation that is markdown (``# Risks``), numbered (``1. Introduction``,
``2.3 Margins``, ``IV. Outlook``), ALL CAPS, or in Title Case.

Page furniture is recognised the same way, by look and by repetition across a document's pages
(:func:`page_furniture`): page numbers, running headers and footers, confidentiality notices. Chunking leaves
those lines out, so a footer is never a passage, never part of one, and never a heading (``Page 1 of 3`` looks
like one).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MAX_HEADING_CHARS = 80
MAX_HEADING_WORDS = 10
_MIN_CAPS_WORD_LETTERS = 6
"""A single capitalised word shorter than this is more likely a ticker (``AAPL``) than a heading."""
_MIN_LETTER_SHARE = 0.6
_MARKDOWN_HEADING = re.compile(r"#{1,6}\s+(?P<title>\S.*?)\s*#*")
_NUMBERED_HEADING = re.compile(r"(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVXL]{1,5}\.)\s+(?P<title>[A-Z].*)")
_MINOR_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "per", "the", "to", "vs", "with"}
)
_CLOSING_PUNCTUATION = tuple(".,;:!?")
_BREAKS = (
    ("\n\n", 0),
    (".\n", 1),
    (". ", 1),
    ("!\n", 1),
    ("! ", 1),
    ("?\n", 1),
    ("? ", 1),
    ("\n", 0),
    ("; ", 1),
    (" ", 0),
)
"""Where to end a passage, best first: a paragraph, a sentence, a line, a clause, a word. A single newline
ranks below a sentence end because text extracted from a PDF has one at every visual line wrap. The number
is how many characters of the separator stay with the passage (a sentence keeps its full stop)."""


@dataclass(frozen=True, slots=True)
class Section:
    """``text[start:end]`` is one section of a page, starting with its heading line if it has one."""

    heading: str | None
    start: int
    end: int


def heading_of(line: str) -> str | None:
    """The heading a line announces (markdown markers removed), or ``None`` for an ordinary line."""
    stripped = line.strip()
    if not stripped or len(stripped) > MAX_HEADING_CHARS:
        return None
    markdown = _MARKDOWN_HEADING.fullmatch(stripped)
    if markdown:
        return markdown.group("title")
    words = stripped.split()
    if stripped.endswith(_CLOSING_PUNCTUATION) or len(words) > MAX_HEADING_WORDS:
        return None
    numbered = _NUMBERED_HEADING.fullmatch(stripped)
    if numbered:
        title_words = numbered.group("title").split()
        return stripped if all(word[0].isalpha() for word in title_words) and _is_title_case(title_words) else None
    if _is_all_caps(stripped, words) or (len(words) >= 2 and _is_title_case(words)):
        return stripped
    return None


def _is_all_caps(stripped: str, words: list[str]) -> bool:
    """Capitals, mostly letters (not a table row such as ``AAPL 6.1 29.5``), and not a lone ticker."""
    letters = sum(1 for character in stripped if character.isalpha())
    mostly_letters = letters >= _MIN_LETTER_SHARE * sum(1 for character in stripped if not character.isspace())
    long_enough = letters >= _MIN_CAPS_WORD_LETTERS or (len(words) >= 2 and letters >= 4)
    return stripped.isupper() and mostly_letters and long_enough


def _is_title_case(words: list[str]) -> bool:
    lettered = [word for word in words if word[0].isalpha()]
    if not lettered or not lettered[0][0].isupper() or len(lettered) < len(words) / 2:
        return False
    return all(word[0].isupper() for word in lettered if word.lower() not in _MINOR_WORDS)


def find_sections(text: str) -> list[Section]:
    """The page split before each heading line. Text before the first heading forms a section without a
    heading; a heading directly followed by another joins the next section (``1. Intro`` / ``1.1 Scope``)."""
    sections: list[Section] = []
    heading: str | None = None
    start = 0
    body_seen = False
    for match in re.finditer(r"[^\n]*(?:\n|$)", text):
        line = match.group()
        if not line:
            continue
        found = heading_of(line)
        if found is not None and body_seen:
            sections.append(Section(heading, start, match.start()))
            start, body_seen = match.start(), False
        if found is not None:
            heading = found
        elif line.strip():
            body_seen = True
    sections.append(Section(heading, start, len(text)))
    return [section for section in sections if text[section.start : section.end].strip()]


def split_passages(text: str, start: int, end: int, *, max_chars: int, overlap_chars: int) -> list[tuple[int, int]]:
    """``text[start:end]`` as passages of at most ``max_chars``, each after the first beginning with up to
    ``overlap_chars`` of its predecessor's tail (from a word start), so a sentence cut in two is still
    found whole in one of them. Passages end at the best break available in the second half of their
    room, or mid-word when a single word is longer than ``max_chars``."""
    start, end = trim(text, start, end)
    passages: list[tuple[int, int]] = []
    chunk_start, position = start, start
    while position < end:
        room_end = chunk_start + max_chars
        cut = end if room_end >= end else _break_before(text, position + max(1, (room_end - position) // 2), room_end)
        passage = trim(text, chunk_start, cut)
        if passage[0] < passage[1]:
            passages.append(passage)
        position = trim(text, cut, end)[0]
        chunk_start = _overlap_start(text, position, overlap_chars, floor=passage[0])
    return passages


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The slice narrowed to exclude leading and trailing whitespace (empty slices collapse to ``end``)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _break_before(text: str, low: int, high: int) -> int:
    """The best place to end a passage in ``(low, high]``; ``high`` itself if there is none."""
    for separator, kept in _BREAKS:
        found = text.rfind(separator, low, min(len(text), high - kept + len(separator)))
        if found != -1:
            return found + kept
    return high


def _overlap_start(text: str, position: int, overlap_chars: int, *, floor: int) -> int:
    """Where the next passage begins: at most ``overlap_chars`` before ``position``, at the start of a
    word, never before ``floor``; ``position`` itself when no word fits."""
    candidate = max(floor, position - overlap_chars)
    if candidate >= position or overlap_chars == 0:
        return position
    if candidate > 0 and not text[candidate - 1].isspace():
        while candidate < position and not text[candidate].isspace():
            candidate += 1
    return trim(text, candidate, position)[0] if candidate < position else position


# --- page furniture ---------------------------------------------------------------------------------------------

EDGE_LINES = 4
"""Furniture is looked for among the first and the last this many non-blank lines of a page: running headers,
footers and page numbers sit at its edges, whatever order a PDF's content stream puts them in."""
REPEATED_SHARE = 0.5
"""A line recurring at the edge of more than this share of a document's pages (and of two at least) is a running
header or footer. Lines are compared with the page's own number and the page count masked (``Acme | Page 3`` on
page 3 recurs as ``acme | page #``), and a line without words with every number masked (a bare page number,
however the pages are numbered)."""
MAX_FURNITURE_CHARS = 200
"""Longer lines are body text, whatever they say."""
_MAX_NUMERIC_KEY_CHARS = 12
"""A recurring line without words (``#``, ``- # -``) is a page number only when this short: a longer one is more
likely a row of figures in a table that runs over several pages."""
_DIGITS = re.compile(r"\d+")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_NUMBER_PUNCTUATION = "-\u2013\u2014()[]|/.,:"
_PAGE_NUMBER = re.compile(r"(?:page|pg\.?|p\.)\s*\d{1,5}(?:\s*(?:of|/)\s*\d{1,5})?|\d{1,5}\s*(?:of|/)\s*\d{1,5}", re.I)
_CONFIDENTIALITY = re.compile(
    r"(?:Confidential|CONFIDENTIAL|(?i:(?:strictly|highly|private\s+(?:and|&))\s+confidential))\b.*"
    r"|(?i:.*\b(?:internal\s+(?:use|distribution)\s+only|not\s+for\s+(?:re)?distribution|all\s+rights\s+reserved)\b.*)"
    r"|(?i:(?:\u00a9|\(c\)\s|copyright\b).*)",
)


def page_furniture(pages: Sequence[str], *, title: str | None = None) -> list[list[tuple[int, int]]]:
    """Per page, the ``(start, end)`` spans of its furniture lines (page numbers, running headers and footers,
    confidentiality notices), in page order; a line's span excludes its newline.

    Only lines at a page's edges (:data:`EDGE_LINES`) can be furniture, and one of them is when it

    * recurs at the edges of most pages (:data:`REPEATED_SHARE`), page numbers aside: a running header or
      footer, the page number itself (``3``, ``- 3 -``) included;
    * is a page number in words (``Page 3``, ``Page 3 of 12``, ``3 of 12``, ``3/12``, ``p. 3``);
    * is a confidentiality or copyright notice (``Confidential``, ``For internal use only``, ``Not for
      distribution``, ``(c) 2024 ...``, ``All rights reserved``);
    * repeats the document's ``title`` on any page but the first (a running title, on a document too short for
      the title to recur on most pages).
    """
    edges = [_edge_lines(text) for text in pages]
    keys = [
        [_key(text[start:end], number, len(pages)) for start, end in lines]
        for number, (text, lines) in enumerate(zip(pages, edges, strict=True), start=1)
    ]
    recurring = Counter(key for page_keys in keys for key in set(page_keys))
    needed = max(2, math.floor(REPEATED_SHARE * len(pages)) + 1)
    running_title = " ".join(title.split()).casefold() if title else None
    furniture: list[list[tuple[int, int]]] = []
    for number, (text, lines, page_keys) in enumerate(zip(pages, edges, keys, strict=True), start=1):
        spans = []
        for (start, end), key in zip(lines, page_keys, strict=True):
            line = " ".join(text[start:end].split())
            if len(line) > MAX_FURNITURE_CHARS:
                continue
            if (
                (recurring[key] >= needed and (_LETTERS.search(key) or len(key) <= _MAX_NUMERIC_KEY_CHARS))
                or _PAGE_NUMBER.fullmatch(line)
                or _CONFIDENTIALITY.fullmatch(line)
                or (number > 1 and running_title is not None and line.casefold() == running_title)
            ):
                spans.append((start, end))
        furniture.append(spans)
    return furniture


def without_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``(start, end)`` stretches of ``text`` between ``spans`` (sorted, not overlapping), blank ones left out."""
    blocks, position = [], 0
    for start, end in spans:
        if start > position:
            blocks.append((position, start))
        position = max(position, end)
    if position < len(text):
        blocks.append((position, len(text)))
    return [block for block in blocks if text[block[0] : block[1]].strip()]


def is_substantive(text: str) -> bool:
    """Whether a passage holds a word (two letters or more), not just numbers, dashes and stray letters."""
    return _LETTERS.search(text) is not None


def _edge_lines(text: str) -> list[tuple[int, int]]:
    """The spans of the first and last :data:`EDGE_LINES` non-blank lines, in order (all of a short page's)."""
    lines = [(match.start(), match.end()) for match in re.finditer(r"[^\n]+", text) if match.group().strip()]
    if len(lines) <= 2 * EDGE_LINES:
        return lines
    return lines[:EDGE_LINES] + lines[-EDGE_LINES:]


def _key(line: str, number: int, count: int) -> str:
    """A line as compared across pages: case and spacing ignored, the page's number and the page count masked
    (every number, in a line without words)."""
    words = line.casefold().split()
    if not _LETTERS.search(line):
        return _DIGITS.sub("#", " ".join(words))
    return " ".join(_masked(word, {str(number), str(count)}) for word in words)


def _masked(word: str, numbers: set[str]) -> str:
    """The word with its number as ``#`` when that number is one of ``numbers`` (``3``, ``(3)``, ``-3-``, ``3.``)."""
    bare = word.strip(_NUMBER_PUNCTUATION)
    return word.replace(bare, "#") if bare in numbers else word
