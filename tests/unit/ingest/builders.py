"""Builders of test documents, written into ``tmp_path`` by the tests: benign and hostile PDFs, workbooks,
and ZIP surgery on workbooks. Nothing binary is committed."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
from fpdf import FPDF
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

# --- PDF -----------------------------------------------------------------------------------------------------


def text_pdf(path: Path, pages: Sequence[str], *, table: Sequence[Sequence[str]] | None = None) -> Path:
    """One page per text (with fpdf2); ``table`` (first row the header) is drawn with borders on a last
    page so that pdfplumber finds it by its ruling lines."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    if table is not None:
        pdf.add_page()
        with pdf.table() as drawn:
            for row in table:
                cells = drawn.row()
                for value in row:
                    cells.cell(value)
    pdf.output(str(path))
    return path


def _blank_writer() -> PdfWriter:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    return writer


def _save(writer: PdfWriter, path: Path) -> Path:
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def javascript_pdf(path: Path) -> Path:
    writer = _blank_writer()
    writer.add_open_action(JavaScript("app.alert('hello');"))
    return _save(writer, path)


def launch_action_pdf(path: Path) -> Path:
    writer = _blank_writer()
    launch = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Action"),
            NameObject("/S"): NameObject("/Launch"),
            NameObject("/F"): TextStringObject("calc.exe"),
        }
    )
    writer.root_object[NameObject("/OpenAction")] = writer._add_object(launch)
    return _save(writer, path)


def attachment_pdf(path: Path) -> Path:
    writer = _blank_writer()
    writer.add_attachment("payload.txt", b"not a virus")
    return _save(writer, path)


def file_attachment_annotation_pdf(path: Path) -> Path:
    """A page annotation of subtype FileAttachment (no document-level /EmbeddedFiles tree)."""
    writer = _blank_writer()
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/FileAttachment"),
            NameObject("/Rect"): ArrayObject([FloatObject(10), FloatObject(10), FloatObject(30), FloatObject(30)]),
            NameObject("/Contents"): TextStringObject("attached"),
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])
    return _save(writer, path)


def encrypted_pdf(path: Path, *, user_password: str) -> Path:
    writer = PdfWriter(clone_from=text_pdf(path, ["Secret research note"]))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    return _save(writer, path)


def flate_bomb_pdf(path: Path, *, inflated_bytes: int) -> Path:
    """A one-page PDF whose content stream is ``inflated_bytes`` of spaces, Flate-compressed to a tiny
    fraction of that (written by hand: no PDF library would build it). The page has a font, or text
    extraction would skip the stream without inflating it."""
    compressor = zlib.compressobj(9)
    block = b" " * (1 << 20)
    chunks = [compressor.compress(block) for _ in range(inflated_bytes // len(block))]
    stream = b"".join(chunks) + compressor.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _write_raw_pdf(path, objects)


def _write_raw_pdf(path: Path, objects: list[bytes]) -> Path:
    output = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(output)
    output += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    output += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    output += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    path.write_bytes(bytes(output))
    return path


# --- XLSX ----------------------------------------------------------------------------------------------------


def workbook(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def simple_workbook(path: Path) -> Path:
    return workbook(path, {"Prices": [["ticker", "close"], ["AAPL", 190.5], ["MSFT", 370.25]]})


def rewrite_zip(
    source: Path,
    target: Path,
    *,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """A copy of the ZIP with some entries' content replaced and others added (all deflated)."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        missing = set(replace) - set(original.namelist())
        assert not missing, f"no such entries to replace: {missing}"
        for entry in original.infolist():
            copy.writestr(entry.filename, replace.get(entry.filename, original.read(entry.filename)))
        for name, content in add.items():
            copy.writestr(name, content)
    return target


FIRST_SHEET = "xl/worksheets/sheet1.xml"

BILLION_LAUGHS_SHEET = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE worksheet [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>"""
"""A worksheet that expands a few hundred bytes into thousands of ``lol`` (billions with more levels)."""
