"""From a search hit to evidence: which passages support an idea and what is quoted from them (the analyst
ratings they give are read by :mod:`investai.agents.ratings`). Pure text processing, no I/O.

**Prose.** A passage's text is read line by line. Page furniture is dropped: page numbers ("Page 1 of 3"),
the document's title where it runs at the top of a page (wrapped over lines or not), header bars of
``|``-separated fields ("Equity research | Energy | Coverage: XOM, CVX | 22 July 2024"), disclaimers ("...not
investment advice"), rows of a table printed as text ("KO 22.4x 3.0% +11% +1%") and headings (a short line
without end punctuation followed by a capitalised line). The remaining lines are joined into paragraphs and
split into sentences; citation markers (``[1]``) are removed. A sentence is quotable when it is whole: it
starts with a capital, a digit or an opening quote, ends with ``.``, ``!`` or ``?``, has at least three words,
and is not the first of a passage that begins inside a sentence (a search window, shown by a leading ``…``, or
a chunk whose first line starts mid-line and runs on in lower case) nor the unfinished last one of a window.

**Quotes.** A passage supports an idea about an instrument when one of its quotable sentences names the
instrument (:mod:`investai.domain.instruments`). The lead sentence is the one naming it earliest (where it is
the subject rather than one of a list); the quote is the lead, the sentence after it in the same paragraph and
up to two more sentences naming the instrument, in the passage's order, joined with " … " where they are not
adjacent. Failing that, a passage naming the instrument's sector is *sector* evidence, quoted the same way
from the sentences naming the sector. The claim is the lead sentence (for a sector, prefixed with its name).

**Tables.** A table passage is the table's title line, its header and rows of ``|``-separated cells (as
:mod:`investai.ingest.chunking` renders them), the first row being the chunk's ``row_start``. The row that
names the instrument (a cell that is its symbol or one of its names) is quoted as ``column: value`` pairs and
cited by its own number. Without the header (a window that starts inside the table) no row is quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from investai.domain.citations import EvidenceScope
from investai.domain.instruments import InstrumentNames, SectorNames
from investai.domain.knowledge import ChunkKind, KnowledgeHit, snippet_text

ELLIPSIS = "…"
MIN_WORDS = 3
MAX_NAMING_SENTENCES = 3
MAX_QUOTE_CHARS = 900
MAX_CLAIM_CHARS = 300

_PAGE_LINE = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_DISCLAIMER = re.compile(
    r"not (?:intended as |to be (?:construed|considered) as )?investment advice|for (?:informational|illustrative)"
    r" purposes only|all rights reserved|©|\(c\)\s*\d{4}|\bcopyright\b|confidential(?:ity)? notice|"
    r"important disclosures|^disclaimer\b|^for professional (?:investors|clients) only",
    re.IGNORECASE,
)
_NUMERIC_TOKEN = re.compile(
    r"^(?:[-+\u2212]?[$€£(]?[-+\u2212]?\d[\d,.]*(?:%|x|bn|m|k|pp|bps|\))?|n/a|na|-|\u2013|\u2014)$", re.IGNORECASE
)
_MARKER = re.compile(r"\s*\[\d+(?:\s*[-\u2013,]\s*\d+)*\]|[\u00b9\u00b2\u00b3\u2070\u2074-\u2079]+")
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_START = re.compile(r"^[\"'\u201c\u2018(\[$€£]?[A-Z0-9]")
_BOUNDARY = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[$€£]?[A-Z0-9])")
_BOUNDARY_MARKED = re.compile(
    r"[.!?][\"'\u201d\u2019)\]]*(?:\s*\[\d+(?:\s*[-\u2013,]\s*\d+)*\])*(?=\s+[\"'\u201c\u2018(\[$€£]?[A-Z0-9])"
)
_ABBREVIATIONS_TEXT = (
    "inc co corp ltd plc vs e.g i.e no nos mr mrs ms dr st jr sr approx est fig figs dept jan feb mar apr jun jul aug "
    "sep sept oct nov dec u.s u.k u.n e.u p.a"
)
ABBREVIATIONS = frozenset(_ABBREVIATIONS_TEXT.split())
_RUN_ON_WORDS_TEXT = (
    "a an the of to in on at by for from with and or but nor as than that which who whose its their his her our "
    "your is are was were be been has have had will would can could may might should into onto over under per "
    "about after before between during through via including"
)
_RUN_ON_WORDS = frozenset(_RUN_ON_WORDS_TEXT.split())


# --- passages ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    """The text of one search hit and what is known of its edges (a snippet window may cut both)."""

    text: str
    kind: ChunkKind
    title: str = ""
    row_start: int | None = None
    cut_start: bool = False
    cut_end: bool = False


def passage_of(hit: KnowledgeHit) -> Passage:
    """The hit's passage as plain text: the whole chunk, or the window the search returned."""
    text = snippet_text(hit.snippet)
    cut_start, cut_end = text.startswith(ELLIPSIS), text.endswith(ELLIPSIS)
    text = text.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
    return Passage(
        text=text, kind=hit.kind, title=hit.title, row_start=hit.row_start, cut_start=cut_start, cut_end=cut_end
    )


@dataclass(frozen=True)
class Segment:
    """A sentence of a passage's prose (``whole`` when it may be quoted), or a heading or an unfinished run of
    words (never quoted, but a rating in it still counts)."""

    text: str
    block: int
    whole: bool


def segments(passage: Passage) -> list[Segment]:
    """The passage's prose cut into sentences, in order, without page furniture (see the module doc)."""
    lines = _content_lines(passage)
    blocks, headings = _blocks(lines)
    found = [Segment(text=heading, block=-1, whole=False) for heading in headings]
    sentences: list[Segment] = []
    for number, block in enumerate(blocks):
        for sentence in split_sentences(block):
            sentences.append(Segment(text=sentence, block=number, whole=_is_whole(sentence)))
    if sentences and (passage.cut_start or _starts_mid_sentence(lines)):
        sentences[0] = Segment(text=sentences[0].text, block=sentences[0].block, whole=False)
    if sentences and passage.cut_end and not _END.search(sentences[-1].text):
        sentences[-1] = Segment(text=sentences[-1].text, block=sentences[-1].block, whole=False)
    return found + sentences


def split_sentences(text: str, *, keep_markers: bool = False) -> list[str]:
    """``text`` split after ``.``, ``!`` or ``?`` before a capital or a digit, except after an abbreviation
    ("Inc.", "U.S.", "Jan.") or an initial ("J. P."); whitespace collapsed. Citation markers (``[1]``) are
    removed, or with ``keep_markers`` kept with the sentence they follow ("... grew. [1]")."""
    text = " ".join((text if keep_markers else _MARKER.sub("", text)).split())
    boundary = _BOUNDARY_MARKED if keep_markers else _BOUNDARY
    sentences: list[str] = []
    start = 0
    for match in boundary.finditer(text):
        before = text[start : match.start()].split()
        bare = before[-1].strip("\"'(").lower() if before else ""
        if match.group(0)[0] == "." and (bare in ABBREVIATIONS or (len(bare) == 1 and bare.isalpha())):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return [sentence for sentence in sentences if sentence]


def _is_whole(sentence: str) -> bool:
    return bool(_START.match(sentence) and _END.search(sentence)) and len(sentence.split()) >= MIN_WORDS


def _content_lines(passage: Passage) -> list[str]:
    """The passage's lines with page furniture replaced by blank lines (which end a paragraph)."""
    raw = [" ".join(line.split()) for line in passage.text.splitlines()]
    title = _normalised(passage.title)
    kept: list[str] = []
    index = 0
    while index < len(raw):
        span = _title_span(raw, index, title)
        if span:
            kept.extend([""] * span)
            index += span
            continue
        line = raw[index]
        kept.append("" if _is_furniture(line) else line)
        index += 1
    return kept


def _title_span(lines: Sequence[str], index: int, title: str) -> int:
    """How many lines from ``index`` spell the document's title (a running title, maybe wrapped), or 0."""
    if len(title) < 8:
        return 0
    joined = ""
    for offset in range(index, min(len(lines), index + 4)):
        joined = _normalised(f"{joined} {lines[offset]}")
        if not joined or not title.startswith(joined):
            return 0
        if joined == title:
            return offset - index + 1
    return 0


def _normalised(text: str) -> str:
    return " ".join(text.split()).lower()


def _is_furniture(line: str) -> bool:
    if not line:
        return False
    if _PAGE_LINE.match(line) or _DISCLAIMER.search(line) or line.count("|") >= 2:
        return True
    return is_table_line(line)


def is_table_line(line: str) -> bool:
    """A row of a table printed as text: no end punctuation and mostly figures ("KO 22.4x 3.0% +11% +1%")."""
    tokens = line.split()
    if len(tokens) < 3 or _END.search(line):
        return False
    numeric = sum(1 for token in tokens if _NUMERIC_TOKEN.match(token))
    return numeric >= 2 and numeric * 2 >= len(tokens)


def _blocks(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """Paragraphs (lines joined, hyphenated line ends mended) and the headings between them."""
    width = max((len(line) for line in lines), default=0)
    blocks: list[str] = []
    headings: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        if not line:
            current = _flush(blocks, current)
            continue
        previous = lines[index - 1] if index else ""
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _is_heading(line, previous, following, width, continuing=bool(current)):
            current = _flush(blocks, current)
            headings.append(line)
            continue
        if current.endswith("-") and line[:1].islower():
            current += line
        else:
            current = f"{current} {line}".strip()
    _flush(blocks, current)
    return blocks, headings


def _flush(blocks: list[str], current: str) -> str:
    if current:
        blocks.append(current)
    return ""


def _is_heading(line: str, previous: str, following: str, width: int, *, continuing: bool) -> bool:
    """A short line without end punctuation, after the end of a sentence (or nothing), before a capital, that
    does not break off after a word that needs a continuation ("The $18.25 billion acquisition of")."""
    if _END.search(line) or line.endswith((",", ";", "-")) or len(line) > 0.75 * width:
        return False
    if line.rsplit(None, 1)[-1].lower() in _RUN_ON_WORDS:
        return False
    after_sentence = not continuing or not previous or bool(_END.search(previous)) or previous.endswith(":")
    before_capital = not following or not following[:1].islower()
    return after_sentence and before_capital


def _starts_mid_sentence(lines: Sequence[str]) -> bool:
    """A chunk cut from a page inside a sentence: its first line is shorter than the page's lines, has no end
    punctuation and runs on into a line starting in lower case."""
    content = [line for line in lines if line]
    if len(content) < 2:
        return bool(content) and not _START.match(content[0])
    first, second = content[0], content[1]
    width = max(len(line) for line in content)
    return not _START.match(first) or (len(first) < 0.8 * width and not _END.search(first) and second[:1].islower())


# --- tables --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    number: int | None
    cells: tuple[str, ...]


@dataclass(frozen=True)
class TableText:
    name: str | None
    header: tuple[str, ...] | None
    rows: tuple[TableRow, ...]


def table_text(passage: Passage) -> TableText:
    """The rows of a table passage with their numbers in the table (unknown in a window cut at its start)."""
    lines = [line for line in passage.text.splitlines() if line.strip()]
    if passage.cut_end and lines:
        lines = lines[:-1]
    if passage.cut_start:
        rows = tuple(TableRow(number=None, cells=split_cells(line)) for line in lines[1:])
        return TableText(name=None, header=None, rows=rows)
    name = None
    if lines and lines[0].startswith("Table:"):
        name = re.sub(r"\s*\((?:sheet|page)[^()]*\)$", "", lines[0].removeprefix("Table:").strip())
        lines = lines[1:]
    if not lines:
        return TableText(name=name, header=None, rows=())
    header, body = split_cells(lines[0]), lines[1:]
    first = passage.row_start
    rows = tuple(
        TableRow(number=None if first is None else first + offset, cells=split_cells(line))
        for offset, line in enumerate(body)
    )
    return TableText(name=name, header=header, rows=rows)


def split_cells(line: str) -> tuple[str, ...]:
    """A rendered row's cells: split on unescaped ``|``, ``\\|`` read back as ``|``."""
    return tuple(cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line))


def row_pairs(header: Sequence[str], cells: Sequence[str]) -> list[tuple[str, str]]:
    """(column, value) for each non-empty cell of the row."""
    return [(column, value) for column, value in zip(header, cells, strict=False) if value]


# --- quotes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """What a passage says about an instrument or its sector, and where in a table it says it."""

    scope: EvidenceScope
    subject: str
    quote: str
    claim: str
    sentences: tuple[str, ...]
    row: int | None = None


def quote_passage(passage: Passage, names: InstrumentNames, sector: SectorNames | None = None) -> Quote | None:
    """The passage's quote about the instrument, else about its sector, else ``None`` (it supports nothing)."""
    if passage.kind is ChunkKind.TABLE:
        return _quote_table(passage, names, sector)
    whole = [segment for segment in segments(passage) if segment.whole]
    mentions = _first_mentions(whole, names.spans)
    if mentions:
        return _quote_sentences(whole, mentions, EvidenceScope.INSTRUMENT, names.symbol, prefix="")
    if sector is None or not sector.sector:
        return None
    mentions = _first_mentions(whole, sector.spans)
    if not mentions:
        return None
    return _quote_sentences(whole, mentions, EvidenceScope.SECTOR, sector.sector, prefix=f"{sector.sector} sector: ")


def _first_mentions(whole: Sequence[Segment], spans: Callable[[str], list[tuple[int, int]]]) -> dict[int, int]:
    """Sentence index -> where in it the first mention starts, for the sentences naming the subject."""
    found = {}
    for index, segment in enumerate(whole):
        mentions = spans(segment.text)
        if mentions:
            found[index] = mentions[0][0]
    return found


def _quote_sentences(
    whole: Sequence[Segment], mentions: dict[int, int], scope: EvidenceScope, subject: str, *, prefix: str
) -> Quote:
    """The lead is the sentence naming the subject earliest (where it is the subject, not one of a list); the
    quote is the lead, the sentence after it (same paragraph) and the other naming sentences, in the passage's
    order, as many as fit in ``MAX_QUOTE_CHARS``."""
    lead = min(mentions, key=lambda index: (mentions[index], index))
    wanted = [lead]
    if lead + 1 < len(whole) and whole[lead + 1].block == whole[lead].block:
        wanted.append(lead + 1)
    wanted += [index for index in sorted(mentions) if index not in wanted][: MAX_NAMING_SENTENCES - 1]
    while len(wanted) > 1 and len(_joined(whole, sorted(wanted))) > MAX_QUOTE_CHARS:
        wanted.pop()
    chosen = sorted(wanted)
    claim = prefix + shorten(whole[lead].text, MAX_CLAIM_CHARS - len(prefix))
    return Quote(
        scope=scope,
        subject=subject,
        quote=shorten(_joined(whole, chosen), 2000),
        claim=claim,
        sentences=(whole[lead].text, *(whole[index].text for index in chosen if index != lead)),
    )


def _joined(whole: Sequence[Segment], chosen: Sequence[int]) -> str:
    parts: list[str] = []
    for position, index in enumerate(chosen):
        if position:
            adjacent = index == chosen[position - 1] + 1 and whole[index].block == whole[index - 1].block
            parts.append(" " if adjacent else f" {ELLIPSIS} ")
        parts.append(whole[index].text)
    return "".join(parts)


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else cut at the last whole word with ``…`` appended."""
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut}{ELLIPSIS}"


def _quote_table(passage: Passage, names: InstrumentNames, sector: SectorNames | None) -> Quote | None:
    table = table_text(passage)
    if table.header is None:
        return None
    for row in table.rows:
        if row.number is not None and any(names.is_cell(cell) for cell in row.cells):
            return _row_quote(table, row, EvidenceScope.INSTRUMENT, names.symbol, skip=names.is_cell)
    if sector is None or not sector.sector:
        return None
    for row in table.rows:
        if row.number is not None and any(sector.is_cell(cell) for cell in row.cells):
            return _row_quote(table, row, EvidenceScope.SECTOR, sector.sector, skip=sector.is_cell)
    return None


def _row_quote(
    table: TableText, row: TableRow, scope: EvidenceScope, subject: str, *, skip: Callable[[str], bool]
) -> Quote:
    assert table.header is not None
    pairs = row_pairs(table.header, row.cells)
    quote = "; ".join(f"{column}: {value}" for column, value in pairs)
    figures = [f"{column} {value}" for column, value in pairs if not skip(value)]
    where = f"table {table.name}, row {row.number}" if table.name else f"row {row.number}"
    lead = f"{subject} sector in {where}" if scope is EvidenceScope.SECTOR else f"{subject} in {where}"
    claim = lead
    for figure in figures:
        extended = f"{claim}{', ' if claim != lead else ': '}{figure}"
        if len(extended) > MAX_CLAIM_CHARS:
            break
        claim = extended
    return Quote(scope=scope, subject=subject, quote=shorten(quote, 2000), claim=claim, sentences=(), row=row.number)
