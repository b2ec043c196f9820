"""The PDF parser's child process: ``python -m investai.ingest.pdf_worker <path>``, limits as JSON on stdin.

PDF parsers are large C-and-Python code bases fed hostile input, so they run in a process of their own
that caps its own address space and CPU time (``setrlimit``) before it opens the document. A bomb or a
parser bug then kills this process, not the service. The worker writes one JSON object to stdout, either
``{"document": <ParsedDocument>}`` or ``{"error": {"code": <domain error code>, "message": ...}}``; running
out of memory exits with :data:`EXIT_OUT_OF_MEMORY`. Tables come back with their cells as text and no
column profiles: typing and profiling need pandas, which the parent process has loaded anyway.

The limits are applied here rather than in a ``preexec_fn`` of the parent because ``preexec_fn`` is not
safe in a multi-threaded parent (the API server's thread pool), as the ``subprocess`` documentation warns;
they are in force before the document is opened either way. pypdf and pdfplumber are imported inside the
functions that use them, so the parent can import this module's constants without loading them.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any

from investai.domain.documents import DocumentType
from investai.domain.errors import DocumentTooLarge, MalformedDocument, UnsafeDocument, ValidationFailed
from investai.domain.knowledge import ExtractedTable, ParsedDocument, ParsedPage, SecurityFlag
from investai.ingest.limits import IngestLimits
from investai.ingest.profiles import header_names, pad_rows
from investai.ingest.tables import RowCollector, table_name

EXIT_OUT_OF_MEMORY = 3
ACTIVE_CONTENT_FLAGS = frozenset(
    {SecurityFlag.PDF_JAVASCRIPT, SecurityFlag.PDF_LAUNCH_ACTION, SecurityFlag.PDF_EMBEDDED_FILES}
)


def apply_resource_limits(limits: IngestLimits) -> None:
    """Cap this process's address space and CPU seconds (never raising a limit already lower), and turn
    off core dumps, which a killed parser would otherwise leave behind."""
    _lower_limit(resource.RLIMIT_AS, limits.pdf_memory_bytes)
    cpu_seconds = math.ceil(limits.pdf_timeout_s) + 1
    _lower_limit(resource.RLIMIT_CPU, cpu_seconds, hard=cpu_seconds + 1)
    _lower_limit(resource.RLIMIT_CORE, 0)


def _lower_limit(kind: int, soft: int, *, hard: int | None = None) -> None:
    _, current_hard = resource.getrlimit(kind)
    wanted_hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        wanted_hard = min(wanted_hard, current_hard)
    resource.setrlimit(kind, (min(soft, wanted_hard), wanted_hard))


def extract_pdf(path: Path, limits: IngestLimits) -> ParsedDocument:
    """Text per page (pypdf), tables per page (pdfplumber) and active-content flags. Raises the domain's
    errors for documents it refuses; any other exception means the PDF is broken."""
    from pypdf import PdfReader

    from investai.ingest.pdf_active import scan_active_content

    reader = PdfReader(path, strict=False)
    encrypted = _decrypt(reader)
    flags, complete = scan_active_content(reader)
    warnings = [] if complete else ["the PDF has too many objects to check them all for active content"]
    if encrypted:
        flags.append(SecurityFlag.PDF_ENCRYPTED)
    if limits.pdf_active_content == "reject" and ACTIVE_CONTENT_FLAGS.intersection(flags):
        raise UnsafeDocument(active_content_message(flags))
    page_count = len(reader.pages)
    if page_count > limits.max_pages:
        raise DocumentTooLarge(f"the PDF has {page_count:,} pages, more than the limit of {limits.max_pages:,}")
    pages = _page_texts(reader, limits)
    tables, table_warnings = _tables(path, limits)
    return ParsedDocument(
        doc_type=DocumentType.PDF, pages=pages, tables=tables, flags=flags, warnings=warnings + table_warnings
    )


def active_content_message(flags: list[SecurityFlag]) -> str:
    found = ", ".join(
        flag.value.removeprefix("pdf_").replace("_", " ") for flag in flags if flag in ACTIVE_CONTENT_FLAGS
    )
    return f"the PDF contains active content ({found}), which is not accepted"


def _decrypt(reader: Any) -> bool:
    """Open an encrypted PDF with the empty password (a common "no copying" protection); one that needs a
    real password cannot be read."""
    if not reader.is_encrypted:
        return False
    from pypdf import PasswordType

    if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise MalformedDocument("the PDF is password-protected; upload a copy without a password")
    return True


def _page_texts(reader: Any, limits: IngestLimits) -> list[ParsedPage]:
    pages = []
    total_chars = 0
    for number, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").replace("\x00", "")
        total_chars += len(text)
        if total_chars > limits.max_text_chars:
            raise DocumentTooLarge(f"the PDF's text is longer than the limit of {limits.max_text_chars:,} characters")
        pages.append(ParsedPage(number=number, text=text))
    return pages


def pages_with_drawing(path: Path) -> set[int] | None:
    """Numbers of the pages that draw any path (line, rectangle, curve), read with PDFium, which is fast; None
    when that cannot be told. pdfplumber finds tables by their ruling lines, so a page that draws nothing
    holds no table it could find, and skipping it spares its layout analysis, by far the costliest step
    (about 0.1 s a page against a few milliseconds for the text)."""
    try:
        import pypdfium2
        import pypdfium2.raw as pdfium_c

        document = pypdfium2.PdfDocument(str(path), password="")
        try:
            drawn = set()
            for index in range(len(document)):
                page = document[index]
                if next(iter(page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_PATH,))), None) is not None:
                    drawn.add(index + 1)
                page.close()
            return drawn
        finally:
            document.close()
    except MemoryError:
        raise
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return None


def _tables(path: Path, limits: IngestLimits) -> tuple[list[ExtractedTable], list[str]]:
    """Tables found by pdfplumber's ruling-line detection. Failing here loses the tables, not the text."""
    tables: list[ExtractedTable] = []
    warnings: list[str] = []
    drawn = pages_with_drawing(path)
    if drawn == set():
        return tables, warnings
    import pdfplumber

    try:
        with pdfplumber.open(path, password="") as pdf:
            for number, page in enumerate(pdf.pages, start=1):
                if drawn is not None and number not in drawn:
                    continue
                for ordinal, raw in enumerate(page.extract_tables(), start=1):
                    name = table_name(f"page {number} table {ordinal}")
                    table, notes = _table(raw, len(tables), name, number, limits)
                    tables.extend([table] if table else [])
                    warnings.extend(notes)
                page.close()
    except MemoryError:
        raise
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return tables, [*warnings, "the PDF's tables could not be extracted; its text was"]
    return tables, warnings


def _table(
    raw: list[list[Any]], index: int, name: str, page: int, limits: IngestLimits
) -> tuple[ExtractedTable | None, list[str]]:
    """One pdfplumber table: its first row is the header, cells are text with whitespace collapsed."""
    collector = RowCollector(limits)
    for row in raw:
        collector.add([None if cell is None else " ".join(str(cell).split()) for cell in row])
    if collector.header is None:
        return None, []
    width = max([len(collector.header), *(len(row) for row in collector.rows)])
    table = ExtractedTable(
        index=index,
        name=name,
        page=page,
        header=header_names(collector.header, width),
        columns=[],
        rows=pad_rows(collector.rows, width),
        row_count=collector.row_count,
    )
    return table, collector.warnings(name)


def main(argv: list[str]) -> int:
    limits = IngestLimits.from_json_dict(json.loads(sys.stdin.read()))
    apply_resource_limits(limits)
    try:
        envelope: dict[str, Any] = {"document": extract_pdf(Path(argv[1]), limits).model_dump(mode="json")}
    except ValidationFailed as refusal:
        envelope = {"error": {"code": refusal.code, "message": str(refusal)}}
    except MemoryError:
        raise
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        envelope = {"error": _unreadable(exc)}
    sys.stdout.write(json.dumps(envelope, ensure_ascii=False))
    return 0


def _unreadable(exc: Exception) -> dict[str, str]:
    from pypdf.errors import LimitReachedError

    if isinstance(exc, LimitReachedError):
        return {"code": UnsafeDocument.code, "message": "the PDF exceeded a decompression limit (decompression bomb?)"}
    return {"code": MalformedDocument.code, "message": "the PDF is damaged and could not be read"}


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
