"""The package's front door: detect, parse and chunk any supported upload; importing it costs nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.knowledge import ChunkKind
from investai.ingest import IngestLimits, chunk_document, detect_type, parse_document
from tests.factories import make_document
from tests.unit.ingest import builders


def _csv(path: Path) -> Path:
    path.write_text("ticker,eps\nAAPL,6.1\nMSFT,11.2\n")
    return path


def _json(path: Path) -> Path:
    path.write_text(json.dumps([{"ticker": "AAPL", "eps": 6.1}, {"ticker": "MSFT", "eps": 11.2}]))
    return path


@pytest.mark.parametrize(
    ("build", "doc_type", "kinds"),
    [
        (lambda path: builders.text_pdf(path, ["Apple reported strong results."]), DocumentType.PDF, [ChunkKind.TEXT]),
        (_csv, DocumentType.CSV, [ChunkKind.TABLE]),
        (builders.simple_workbook, DocumentType.XLSX, [ChunkKind.TABLE]),
        (_json, DocumentType.JSON, [ChunkKind.TABLE]),
    ],
)
def test_each_type_goes_from_bytes_to_chunks(
    tmp_path: Path, build: Callable[[Path], Path], doc_type: DocumentType, kinds: list[ChunkKind]
) -> None:
    path = build(tmp_path / "upload")

    detected = detect_type(path)
    parsed = parse_document(path, detected, IngestLimits())
    chunks = chunk_document(parsed, document=make_document(doc_type=doc_type))

    assert detected is doc_type
    assert parsed.doc_type is doc_type
    assert [chunk.kind for chunk in chunks] == kinds
    assert all(chunk.doc_type is doc_type for chunk in chunks)


def test_importing_the_package_loads_no_parsing_library() -> None:
    probe = (
        "import sys, investai.ingest\n"
        "heavy = {'pandas', 'numpy', 'openpyxl', 'pypdf', 'pdfplumber', 'pdfminer'}\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
