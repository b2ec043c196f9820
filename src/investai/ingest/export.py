"""CSV export that a spreadsheet cannot execute.

A cell whose text begins with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel and LibreOffice
(``=cmd|' /C calc'!A0`` runs a program through DDE), and a leading tab or carriage return can smuggle one
in. Uploaded tables are untrusted, so every exported text cell that could start a formula is prefixed with
a single quote, the OWASP "CSV injection" defence. Numbers are left alone: ``-5`` as a number is data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """The value, with a leading ``'`` if it is text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
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
