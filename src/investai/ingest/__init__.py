"""Safe parsing of uploaded documents: type detection, limits, parsers, chunking and CSV export.

Every public function raises only the domain's document errors (UnsupportedDocumentType, DocumentTooLarge,
UnsafeDocument, MalformedDocument) with a message fit for the uploader. Heavy libraries (pandas, openpyxl,
pypdf, pdfplumber) are imported when a document is parsed, never when this package is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from investai.domain.documents import DocumentType
from investai.domain.knowledge import ParsedDocument
from investai.ingest.chunking import ChunkingOptions, chunk_document
from investai.ingest.detect import detect_type
from investai.ingest.export import neutralise_cell, table_to_csv
from investai.ingest.json_doc import parse_json
from investai.ingest.limits import IngestLimits
from investai.ingest.pdf import parse_pdf
from investai.ingest.profiles import profile_columns
from investai.ingest.tabular import parse_csv, parse_xlsx

__all__ = [
    "ChunkingOptions",
    "IngestLimits",
    "chunk_document",
    "detect_type",
    "neutralise_cell",
    "parse_csv",
    "parse_document",
    "parse_json",
    "parse_pdf",
    "parse_xlsx",
    "profile_columns",
    "table_to_csv",
]

_PARSERS: dict[DocumentType, Callable[[Path, IngestLimits], ParsedDocument]] = {
    DocumentType.PDF: parse_pdf,
    DocumentType.CSV: parse_csv,
    DocumentType.XLSX: parse_xlsx,
    DocumentType.JSON: parse_json,
}


def parse_document(path: Path, doc_type: DocumentType, limits: IngestLimits) -> ParsedDocument:
    """The document at ``path`` parsed as ``doc_type`` (which should come from :func:`detect_type`, not
    from the uploader's claim) within ``limits``."""
    return _PARSERS[doc_type](path, limits)
