"""Turning rows of normalised cells into an :class:`ExtractedTable`, the same way for every format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from investai.domain.knowledge import ExtractedTable
from investai.ingest.limits import IngestLimits
from investai.ingest.profiles import (
    header_names,
    is_blank_row,
    normalise_cell,
    pad_rows,
    profile_columns,
    type_text_columns,
)

_MAX_NAME_CHARS = 255


@dataclass(slots=True)
class RowCollector:
    """Rows streamed from a source: the first non-blank row is the header, blank rows are skipped, and
    only the first ``max_table_rows`` data rows are kept while all of them are counted."""

    limits: IngestLimits
    header: list[Any] | None = None
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 0
    columns_dropped: bool = False

    def add(self, raw: Sequence[Any]) -> None:
        if is_blank_row(raw):
            return
        if self.header is None:
            self.header = self._normalised(raw)
            return
        self.row_count += 1
        if len(self.rows) < self.limits.max_table_rows:
            self.rows.append(self._normalised(raw))

    @property
    def rows_dropped(self) -> bool:
        return self.row_count > len(self.rows)

    def _normalised(self, raw: Sequence[Any]) -> list[Any]:
        if len(raw) > self.limits.max_table_columns:
            self.columns_dropped = True
            raw = raw[: self.limits.max_table_columns]
        return [normalise_cell(cell, max_chars=self.limits.max_cell_chars) for cell in raw]

    def warnings(self, name: str) -> list[str]:
        notes = []
        if self.rows_dropped:
            notes.append(f"{name}: kept the first {len(self.rows):,} of {self.row_count:,} rows")
        if self.columns_dropped:
            notes.append(f"{name}: kept the first {self.limits.max_table_columns:,} columns")
        return notes


def assemble_table(
    *,
    index: int,
    name: str,
    header_row: Sequence[Any],
    rows: list[list[Any]],
    row_count: int,
    text_cells: bool = False,
    page: int | None = None,
    sheet: str | None = None,
) -> ExtractedTable:
    """The table with unique header names, rows padded to the header's width (trailing columns that are
    empty everywhere dropped), cells typed per column when they were read as text, and column profiles."""
    width = _used_width(header_row, rows)
    header = header_names(header_row, width)
    cells = pad_rows([row[:width] for row in rows], width)
    if text_cells:
        cells = type_text_columns(cells, width)
    return ExtractedTable(
        index=index,
        name=table_name(name),
        page=page,
        sheet=sheet,
        header=header,
        columns=profile_columns(header, cells),
        rows=cells,
        row_count=row_count,
    )


def table_name(text: str) -> str:
    """A usable table name: whitespace collapsed, at most 255 characters, never empty."""
    name = " ".join(text.split())[:_MAX_NAME_CHARS]
    return name or "table"


def _used_width(header_row: Sequence[Any], rows: list[list[Any]]) -> int:
    width = _last_filled(header_row)
    for row in rows:
        if len(row) > width:
            width = max(width, _last_filled(row))
    return max(width, 1)


def _last_filled(row: Sequence[Any]) -> int:
    for position in range(len(row) - 1, -1, -1):
        cell = row[position]
        if cell is not None and not (isinstance(cell, str) and not cell.strip()):
            return position + 1
    return 0
