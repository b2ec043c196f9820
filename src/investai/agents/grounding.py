"""Grounding: every number in model-written text must be one the computation produced.

Numbers come from code, words may come from a model (docs/ARCHITECTURE.md section 5). :func:`check_numbers` finds each
number written in a text (``12``, ``-3.5``, ``1,250.75``, ``23.4%``, ``$187.20``, ``0.8x``) and accepts it only
if it is some allowed value as written at that precision: the value itself or, for a percentage, the value
times 100, rounded to the digits the text shows (signs are ignored, since "a drawdown of 12%" states -0.12).
Allowed values are the idea's computed figures plus the vocabulary numbers of its own terms (``12-1``
momentum, the ``50/200`` cross, ``95%`` VaR, the years of its cited dates), which the caller passes.

Citation markers (``[2]``, ``[1, 3]``, ``[1-2]``: whole numbers alone in square brackets) are not figures and
are not checked here; whether they name a passage is :mod:`investai.agents.faithfulness`'s concern.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_NUMBER = re.compile(
    r"(?<![\w.])[-+\u2212]?\$?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?P<unit>\s?(?:%|percent\b|per cent\b|bps?\b|x\b))?",
    re.IGNORECASE,
)


CITATION_MARKER = re.compile(r"\[\d{1,3}(?:\s*[-\u2013,]\s*\d{1,3})*\]")
"""A citation marker: ``[2]``, ``[1, 3]``, ``[1-2]``."""


@dataclass(frozen=True)
class WrittenNumber:
    text: str
    value: float
    decimals: int
    percent: bool


@dataclass
class GroundingReport:
    checked: list[WrittenNumber] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsupported


def written_numbers(text: str) -> list[WrittenNumber]:
    """Every number written in ``text``, with its precision and whether it is a percentage; the numbers of
    citation markers (``[2]``) are not written numbers."""
    markers = [match.span() for match in CITATION_MARKER.finditer(text)]
    found = []
    for match in _NUMBER.finditer(text):
        if any(start <= match.start() and match.end() <= end for start, end in markers):
            continue
        integer, fraction = match.group("int").replace(",", ""), match.group("frac") or ""
        unit = (match.group("unit") or "").strip().lower()
        value = float(f"{integer}.{fraction}" if fraction else integer)
        found.append(
            WrittenNumber(
                text=match.group(0).strip(),
                value=value,
                decimals=len(fraction),
                percent=unit in {"%", "percent", "per cent"},
            )
        )
    return found


def _matches(number: WrittenNumber, allowed: float) -> bool:
    if not math.isfinite(allowed):
        return False
    half_unit = 0.5 * 10.0 ** (-number.decimals) + 1e-9
    magnitude = abs(allowed)
    # A percentage may state a fraction (0.234 -> 23.4%) or a figure already in percent (a 95% level).
    candidates = (magnitude * 100.0, magnitude) if number.percent else (magnitude,)
    return any(abs(candidate - number.value) <= half_unit for candidate in candidates)


def check_numbers(text: str, allowed: Iterable[float]) -> GroundingReport:
    """Which numbers of ``text`` are not among ``allowed`` at the precision written (see the module doc)."""
    values = [float(value) for value in allowed if value is not None and math.isfinite(float(value))]
    report = GroundingReport()
    for number in written_numbers(text):
        report.checked.append(number)
        if not any(_matches(number, value) for value in values):
            report.unsupported.append(number.text)
    return report
