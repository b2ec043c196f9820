"""CSV and XLSX documents: one table per CSV file, one per non-empty worksheet.

An XLSX file is inspected as a ZIP archive (bombs, macros, DTDs; see :mod:`investai.ingest.archive`)
before openpyxl opens it, and openpyxl must be parsing through defusedxml: the two checks back each other
up. openpyxl is imported when a workbook is parsed, not when this module is, to keep the package cheap to
import.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from investai.domain.documents import DocumentType
from investai.domain.errors import MalformedDocument, UnsafeDocument
from investai.domain.knowledge import ExtractedTable, ParsedDocument
from investai.ingest.archive import check_directory, is_workbook, open_archive, reject_macros, scan_parts
from investai.ingest.delimited import SAMPLE_CHARS, complete_lines, decode_text, sniff_delimiter
from investai.ingest.limits import IngestLimits
from investai.ingest.profiles import profile_columns
from investai.ingest.tables import RowCollector, assemble_table

__all__ = ["parse_csv", "parse_xlsx", "profile_columns"]

CSV_TABLE_NAME = "data"


def parse_csv(path: Path, limits: IngestLimits) -> ParsedDocument:
    """The CSV file as one table named ``data``: delimiter sniffed, UTF-8 (with or without a byte-order
    mark) or else latin-1, every cell read as text and then typed per column."""
    text, encoding = decode_text(path.read_bytes())
    sample = complete_lines(text[:SAMPLE_CHARS], truncated=len(text) > SAMPLE_CHARS)
    delimiter = sniff_delimiter(sample) or ","
    collector = RowCollector(limits)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            collector.add(row)
    except csv.Error as exc:
        raise MalformedDocument(f"the CSV file could not be read at line {reader.line_num:,}: {exc}") from exc
    if collector.header is None:
        raise MalformedDocument("the CSV file has no rows")
    table = assemble_table(
        index=0,
        name=CSV_TABLE_NAME,
        header_row=collector.header,
        rows=collector.rows,
        row_count=collector.row_count,
        text_cells=True,
    )
    warnings = collector.warnings(CSV_TABLE_NAME)
    if encoding != "utf-8":
        warnings.append("the file is not valid UTF-8; it was read as latin-1")
    return ParsedDocument(doc_type=DocumentType.CSV, tables=[table], warnings=warnings)


def parse_xlsx(path: Path, limits: IngestLimits) -> ParsedDocument:
    """Each non-empty worksheet as a table: the first non-empty row is the header, the following non-empty
    rows the data. Cached formula results are read, formulas never evaluated."""
    with open_archive(path, max_entries=limits.max_zip_entries) as archive:
        if not is_workbook(archive):
            raise MalformedDocument("the file is a ZIP archive but not an Excel workbook")
        reject_macros(archive)
        check_directory(archive, limits)
        scan_parts(archive, limits)
    tables, warnings = _read_workbook(path, limits)
    if not tables:
        warnings.append("the workbook has no non-empty worksheets")
    return ParsedDocument(doc_type=DocumentType.XLSX, tables=tables, warnings=warnings)


def _read_workbook(path: Path, limits: IngestLimits) -> tuple[list[ExtractedTable], list[str]]:
    """The workbook's tables. openpyxl is handed an open file, not the path: given a path it insists on an
    ``.xlsx`` suffix, and stored uploads are named by key, not by their original file name."""
    import openpyxl

    if not openpyxl.DEFUSEDXML:
        raise UnsafeDocument("workbooks cannot be read safely here: openpyxl is not using defusedxml")
    with path.open("rb") as handle:
        try:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True, keep_links=False)
        except Exception as exc:
            raise _workbook_error(exc, "the workbook could not be read") from exc
        try:
            return _read_sheets(workbook, limits)
        except Exception as exc:
            raise _workbook_error(exc, "a worksheet of the workbook could not be read") from exc
        finally:
            workbook.close()


def _read_sheets(workbook: Any, limits: IngestLimits) -> tuple[list[ExtractedTable], list[str]]:
    tables: list[ExtractedTable] = []
    warnings: list[str] = []
    for sheet in workbook.worksheets:
        table, notes = _read_sheet(sheet, len(tables), limits)
        tables.extend([table] if table else [])
        warnings.extend(notes)
    return tables, warnings


def _workbook_error(exc: Exception, message: str) -> UnsafeDocument | MalformedDocument:
    """UnsafeDocument when defusedxml refused something anywhere in the chain of causes (openpyxl wraps
    parser errors in its own ValueError), otherwise MalformedDocument with ``message``."""
    from defusedxml import DefusedXmlException

    cause: BaseException | None = exc
    for _ in range(20):
        if cause is None:
            break
        if isinstance(cause, DefusedXmlException):
            return UnsafeDocument("XML entity declarations are not allowed in a workbook (entity expansion?)")
        cause = cause.__cause__ or cause.__context__
    return MalformedDocument(message)


def _read_sheet(sheet: Any, index: int, limits: IngestLimits) -> tuple[ExtractedTable | None, list[str]]:
    """The sheet's table (``None`` for a sheet without content) and the warnings about it.

    The sheet's declared dimensions are discarded first: a forged ``A1:XFD1048576`` would make openpyxl pad
    every row to 16,384 cells. Without them each row is as wide as its last cell.
    """
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    collector = RowCollector(limits)
    for row in sheet.iter_rows(values_only=True):
        collector.add(row)
    if collector.header is None:
        return None, []
    title = str(sheet.title)
    table = assemble_table(
        index=index,
        name=title,
        sheet=title,
        header_row=collector.header,
        rows=collector.rows,
        row_count=collector.row_count,
    )
    return table, collector.warnings(title)
