"""Recognising delimited text (CSV, TSV, semicolon- or pipe-separated) and decoding it.

``csv.Sniffer`` guesses from character frequencies and will happily call a paragraph of prose
comma-separated. The check here is stricter and deterministic: parse a sample with each candidate
delimiter and accept one only if the rows agree on a column count of at least two.
"""

from __future__ import annotations

import csv
import io

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
"""In order of preference when two delimiters fit equally well."""

SAMPLE_CHARS = 64 << 10
_MIN_CONSISTENCY = 0.9
_MIN_ROWS = 2
_MIN_COLUMNS = 2


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 (a byte-order mark is dropped), else latin-1,
    which decodes any bytes and is what spreadsheet exports from older Windows tools usually are."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def complete_lines(sample: str, *, truncated: bool) -> str:
    """The sample without its last line when the sample was cut from a longer text (that line may be
    partial and would look inconsistent)."""
    if not truncated:
        return sample
    cut = sample.rfind("\n")
    return sample[:cut] if cut > 0 else sample


def sniff_delimiter(sample: str) -> str | None:
    """The delimiter that splits ``sample`` into at least two rows of a consistent width of two or more
    columns, or ``None`` when no candidate does (prose, HTML, a single column)."""
    best: tuple[float, int, str] | None = None
    for preference, delimiter in enumerate(CANDIDATE_DELIMITERS):
        consistency = _consistency(sample, delimiter)
        if consistency is None:
            continue
        score = (consistency, -preference, delimiter)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best else None


def _consistency(sample: str, delimiter: str) -> float | None:
    """The share of rows as wide as the first, if the first is wide enough and there are enough rows."""
    try:
        rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    except csv.Error:
        return None
    if len(rows) < _MIN_ROWS or len(rows[0]) < _MIN_COLUMNS:
        return None
    width = len(rows[0])
    consistency = sum(1 for row in rows if len(row) == width) / len(rows)
    return consistency if consistency >= _MIN_CONSISTENCY else None
