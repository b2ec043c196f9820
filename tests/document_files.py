"""Small documents built in memory for the document and knowledge-base tests."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook


def make_pdf(pages: Sequence[str], *, title: str = "Test note") -> bytes:
    """A text PDF, one string per page (paragraphs separated by blank lines)."""
    pdf = FPDF()
    pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=UTC))
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def make_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def make_xlsx(sheets: dict[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    workbook = Workbook()
    first = True
    for name, (header, rows) in sheets.items():
        sheet = workbook.active if first else workbook.create_sheet()
        assert sheet is not None
        sheet.title = name
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        first = False
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_json(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records).encode()
