from __future__ import annotations

import dataclasses

import pytest

from investai.ingest import IngestLimits


def test_defaults_match_the_documented_budget() -> None:
    limits = IngestLimits()
    assert limits.max_pages == 2000
    assert limits.pdf_timeout_s == 60.0
    assert limits.pdf_memory_bytes == 1 << 30
    assert limits.pdf_active_content == "flag"
    assert limits.max_json_depth == 64
    assert limits.max_int_digits == 100


def test_limits_are_immutable_and_keyword_only() -> None:
    limits = IngestLimits(max_pages=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_pages = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        IngestLimits(5)  # type: ignore[misc]


@pytest.mark.parametrize("overrides", [{"pdf_active_content": "ignore"}, {"max_pages": 0}, {"pdf_timeout_s": -1.0}])
def test_nonsense_limits_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(overrides))):
        IngestLimits(**overrides)  # type: ignore[arg-type]


def test_limits_survive_the_trip_to_the_pdf_worker() -> None:
    limits = IngestLimits(max_pages=3, pdf_active_content="reject", pdf_timeout_s=2.5)
    assert IngestLimits.from_json_dict(limits.to_json_dict()) == limits
