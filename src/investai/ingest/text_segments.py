"""Cutting a page of text into sections (at heading lines) and sections into overlapping passages.

Every passage is a ``(start, end)`` slice of the page text with no surrounding whitespace, so a citation's
offsets point at exactly the characters that were embedded and shown.

Headings are recognised by their look, as text extracted from a PDF carries no structure: a short line
without closing punctuation that is markdown (``# Risks``), numbered (``1. Introduction``,
``2.3 Margins``, ``IV. Outlook``), ALL CAPS, or in Title Case.
"""

from __future__ import annotations

import re
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
