"""The resource limits every parser obeys.

Uploaded documents are untrusted input: a few kilobytes can expand into gigabytes (zip and PDF stream
bombs, XML entities), nest deeply enough to exhaust the stack, or hold numbers that take quadratic time to
convert. Every such limit lives in one immutable value, so a caller (a service, a test) states its budget
once and each parser reads from the same place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

_ACTIVE_CONTENT_POLICIES = ("flag", "reject")
"""``flag`` accepts active PDF content and reports it as a SecurityFlag; ``reject`` refuses the document."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestLimits:
    """Budgets for parsing one document; the defaults suit interactive uploads of research material."""

    max_pages: int = 2000
    pdf_timeout_s: float = 60.0
    pdf_memory_bytes: int = 1 << 30
    pdf_active_content: str = "flag"
    max_zip_entries: int = 10_000
    max_uncompressed_bytes: int = 512 << 20
    max_compression_ratio: float = 100.0
    max_json_bytes: int = 50 << 20
    max_json_depth: int = 64
    max_int_digits: int = 100
    max_table_rows: int = 100_000
    max_table_columns: int = 1_000
    max_cell_chars: int = 32_768
    max_text_chars: int = 20_000_000

    def __post_init__(self) -> None:
        if self.pdf_active_content not in _ACTIVE_CONTENT_POLICIES:
            raise ValueError(f"pdf_active_content must be one of {_ACTIVE_CONTENT_POLICIES}")
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                raise ValueError(f"{field.name} must be positive")

    def to_json_dict(self) -> dict[str, Any]:
        """The limits as plain values, for handing them to the PDF worker process."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> IngestLimits:
        """The inverse of :meth:`to_json_dict`; unknown keys are an error, not silently dropped."""
        return cls(**data)
