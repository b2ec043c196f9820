"""CSV export that a spreadsheet cannot execute.

A cell whose text begins with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel and LibreOffice
(``=cmd|' /C calc'!A0`` runs a program through DDE), and leading blanks — spaces, a tab or carriage return,
other whitespace, invisible format characters — can smuggle one in (spreadsheets trim them on import, or
the cell's shown text hides them). Uploaded tables are untrusted, so every exported text cell whose first
character that is not blank is one of those four, or that starts with a tab or carriage return at all, is
prefixed with a single quote, the OWASP "CSV injection" defence. Numbers are left alone: ``-5`` as a number
is data; the same characters as text (a column of labels) are neutralised like any text.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@")
BLANK_TRIGGERS = ("\t", "\r")


def _is_blank(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in {"Cc", "Cf"}


def neutralise_cell(value: Any) -> Any:
    """The value, with a leading ``'`` if it is text that a spreadsheet would read as a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(BLANK_TRIGGERS):
        return "'" + value
    first = next((char for char in value if not _is_blank(char)), "")
    if first in FORMULA_TRIGGERS:
        return "'" + value
    return value


def table_to_csv(header: list[str], rows: Iterable[list[Any]]) -> str:
    """The table as CSV text (RFC 4180 quoting, CRLF line ends) with every cell neutralised; ``None`` is
    written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise_cell(name) for name in header])
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()
