"""Render a ``ResearchNote`` to PDF bytes with fpdf2, reproducibly.

A core font (Helvetica) keeps the files small and needs no font files, at the price of latin-1 text only.
The creation date and producer are pinned so the same note gives the same bytes on every call: the demo
loader and the tests compare content hashes, and fpdf2 would otherwise stamp the current time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

FOOTER = "Sample research note for the Investment AI Agent demo - illustrative figures, not investment advice."
FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)
PRODUCER = "Investment AI Agent sample corpus"
_FONT = "Helvetica"
_LINE = 5.0


class _NotePDF(FPDF):
    """An A4 page with a running title on continuation pages and the disclaimer footer on every page."""

    def __init__(self, running_title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._running_title = running_title

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font(_FONT, "I", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 4, self._running_title, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(3)
            self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-16)
        self.set_font(_FONT, "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 4, FOOTER, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _section(pdf: FPDF, section: Section) -> None:
    pdf.set_font(_FONT, "B", 12)
    pdf.cell(0, 7, section.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, "", 10)
    for paragraph in section.paragraphs:
        pdf.multi_cell(0, _LINE, paragraph, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    pdf.ln(1)


def _table(pdf: FPDF, table: NoteTable) -> None:
    pdf.set_font(_FONT, "B", 10)
    pdf.cell(0, 6, table.caption, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, "", 9)
    with pdf.table(text_align="LEFT", line_height=6, first_row_as_headings=True) as drawn:
        for cells in (table.header, *table.rows):
            row = drawn.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(4)


def _page(pdf: FPDF, page: NotePage) -> None:
    for section in page.sections:
        _section(pdf, section)
    if page.table is not None:
        _table(pdf, page.table)
    for section in page.after_table:
        _section(pdf, section)


def render_note(note: ResearchNote) -> bytes:
    """The note as PDF bytes, one printed page per ``NotePage``; raises if a page's content overflows."""
    pdf = _NotePDF(running_title=note.title)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_producer(PRODUCER)
    pdf.set_creator(PRODUCER)
    pdf.set_title(note.title)
    pdf.set_author("Investment AI Agent demo research desk")
    pdf.set_margins(left=20, top=18, right=20)
    pdf.set_auto_page_break(auto=True, margin=22)
    for number, page in enumerate(note.pages, start=1):
        pdf.add_page()
        if number == 1:
            pdf.set_font(_FONT, "B", 16)
            pdf.multi_cell(0, 8, note.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font(_FONT, "", 9)
            pdf.set_text_color(90, 90, 90)
            pdf.multi_cell(0, 5, note.byline, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_text_color(0, 0, 0)
            pdf.ln(4)
        _page(pdf, page)
        if pdf.page_no() != number:
            raise ValueError(f"{note.filename}: the content of page {number} does not fit on one page")
    return bytes(pdf.output())
