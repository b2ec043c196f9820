"""What a file is, judged by its bytes, never by its name or the type the client declared.

A PNG renamed ``report.pdf`` or an HTML page renamed ``prices.csv`` must not reach a parser that trusts
the label. Detection reads a bounded head of the file; the full parse (with its own limits) comes later,
so a check here only has to be cheap and conservative.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

from investai.domain.documents import DocumentType
from investai.domain.errors import UnsupportedDocumentType
from investai.ingest.archive import is_workbook, open_archive, reject_macros
from investai.ingest.delimited import SAMPLE_CHARS, complete_lines, sniff_delimiter
from investai.ingest.limits import IngestLimits

HEAD_BYTES = SAMPLE_CHARS
_PDF_MAGIC = b"%PDF-"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_BOM = codecs.BOM_UTF8
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
"""C0 controls other than tab, newline, form feed and carriage return: a sign of binary content."""

_JSON_TOKEN = re.compile(
    r"""\s+|[\[\]{}:,]|"(?:[^"\\\x00-\x1f]|\\["\\/bfnrtu])*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?"""
    r"|true|false|null|NaN|-?Infinity"
)
"""One JSON token. NaN and Infinity are not JSON, but a file using them is meant as JSON: it is detected
as such so that the parser can say precisely what is wrong with it."""
_PARSED_DEPTH = 200
"""Complete texts up to this depth are parsed to confirm they are JSON; far below the recursion limit."""
_JSON_PARTIAL_TOKEN = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*\\?|-?[0-9.eE+-]*|[A-Za-z]{1,8}')


def detect_type(path: Path) -> DocumentType:
    """The document type of the file at ``path`` from its content.

    Raises UnsupportedDocumentType for anything that is not a PDF, an XLSX workbook, JSON or delimited
    text, and UnsafeDocument for a macro-enabled workbook.
    """
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES + 1)
    truncated = len(head) > HEAD_BYTES
    head = head[:HEAD_BYTES]
    if not head.strip():
        raise UnsupportedDocumentType("the file is empty")
    if head.startswith(_PDF_MAGIC):
        return DocumentType.PDF
    if head.startswith(_ZIP_MAGIC):
        return _detect_zip(path)
    if head.startswith(_EMPTY_ZIP_MAGIC):
        raise UnsupportedDocumentType("the file is an empty ZIP archive, not a supported document")
    if head.startswith(_OLE2_MAGIC):
        raise UnsupportedDocumentType(
            "legacy Office files (.xls, .doc) are not supported; save the workbook as .xlsx or .csv"
        )
    return _detect_text(head, truncated=truncated)


def _detect_zip(path: Path) -> DocumentType:
    """A workbook, checked for macros. Detection takes no limits, so the default entry limit applies."""
    with open_archive(path, max_entries=IngestLimits().max_zip_entries) as archive:
        if not is_workbook(archive):
            raise UnsupportedDocumentType("the file is a ZIP archive but not an Excel workbook (.xlsx)")
        reject_macros(archive)
    return DocumentType.XLSX


def _detect_text(head: bytes, *, truncated: bool) -> DocumentType:
    text = _decode_head(head, truncated=truncated)
    if text is None or _CONTROL_CHARACTERS.search(text):
        raise UnsupportedDocumentType("the file is binary content of an unsupported type")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and looks_like_json(stripped, truncated=truncated):
        return DocumentType.JSON
    if stripped.startswith("<"):
        raise UnsupportedDocumentType("markup (HTML or XML) is not a supported document type")
    if sniff_delimiter(complete_lines(text, truncated=truncated)) is not None:
        return DocumentType.CSV
    raise UnsupportedDocumentType("the text is neither JSON nor delimited rows with at least two columns")


def _decode_head(head: bytes, *, truncated: bool) -> str | None:
    """The head as text: UTF-8 (a sequence cut at the end of a truncated head is fine), else latin-1 if it
    has no NUL bytes; ``None`` for content with NUL bytes, which text never has."""
    if b"\x00" in head:
        return None
    has_bom = head.startswith(_UTF8_BOM)
    body = head[len(_UTF8_BOM) :] if has_bom else head
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(body, final=not truncated)
    except UnicodeDecodeError:
        return None if has_bom else body.decode("latin-1")


def looks_like_json(text: str, *, truncated: bool) -> bool:
    """Whether ``text`` is one JSON value (or, when truncated, lexes as the beginning of one).

    A lexical check with a bracket counter, cheap on a bounded prefix and free of recursion. A text that
    is complete and shallow is then also parsed, with number conversion switched off (cheap, and a
    100,000-digit integer is the parser's business). Deep nesting is not parsed here: the parser rejects it
    with a clear message.
    """
    depth, deepest, position = 0, 0, 0
    while position < len(text):
        match = _JSON_TOKEN.match(text, position)
        if match is None:
            return truncated and _JSON_PARTIAL_TOKEN.fullmatch(text, position) is not None
        token = match.group()
        if depth == 0 and position > 0 and not token.isspace():
            return False
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
            if depth < 0:
                return False
        position = match.end()
    if truncated:
        return True
    return depth == 0 and (deepest > _PARSED_DEPTH or _parses(text))


def _parses(text: str) -> bool:
    try:
        json.loads(text, parse_int=_ignore, parse_float=_ignore, parse_constant=_ignore)
    except ValueError:
        return False
    return True


def _ignore(_: str) -> None:
    return None
