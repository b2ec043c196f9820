"""How ideas are scored: the ranking blend (docs/ARCHITECTURE.md section 5) and the inputs of confidence. The
synthesis agent computes with these weights and explanations report them, so both read them from here."""

from __future__ import annotations

import math
from collections.abc import Mapping

RANKING_WEIGHTS: dict[str, float] = {
    "confidence": 0.30,
    "risk_return_fit": 0.25,
    "quality_novelty": 0.20,
    "horizon_fit": 0.15,
    "timing": 0.10,
}
"""Weight of each ranking component (each component in [0, 1]); they sum to 1."""

CONFIDENCE_WEIGHTS: dict[str, float] = {"composite_percentile": 0.5, "probability_of_gain": 0.3, "history_share": 0.2}
"""Weight of each confidence input before the research adjustment; they sum to 1."""

CONFIDENCE_RANGE: tuple[float, float] = (0.05, 0.95)
"""Confidence is clipped to this range: no idea is certain, none is worthless."""

PASSAGE_QUALITY_WEIGHT = 0.6
"""Share of the quality/novelty component earned by cited document passages (the rest is novelty)."""

PASSAGES_FOR_FULL_QUALITY = 3
"""Cited passages that earn the whole passage share of quality/novelty."""


def clip_confidence(value: float) -> float:
    """``value`` clipped to :data:`CONFIDENCE_RANGE` (the low end for a non-finite value)."""
    low, high = CONFIDENCE_RANGE
    return max(low, min(high, value)) if math.isfinite(value) else low


def confidence_before_research(inputs: Mapping[str, float]) -> float:
    """Confidence from the analysis alone, what confidence is when no document passage (and so no analyst
    rating) was read: the measured probability of a gain over the horizon (``calibrated_probability``) when
    the screen had past windows to measure it on, else the weighted heuristic inputs; clipped."""
    if "calibrated_probability" in inputs:
        return clip_confidence(inputs["calibrated_probability"])
    return clip_confidence(sum(weight * inputs.get(name, 0.0) for name, weight in CONFIDENCE_WEIGHTS.items()))


def passage_quality(passages: int) -> float:
    """The quality/novelty points cited document passages earn: ``0.6 x min(1, passages / 3)``."""
    return PASSAGE_QUALITY_WEIGHT * min(1.0, passages / PASSAGES_FOR_FULL_QUALITY)


def ranking_score(components: Mapping[str, float]) -> float:
    """The ranking blend of the components (each in [0, 1]) by :data:`RANKING_WEIGHTS`."""
    return sum(weight * components.get(name, 0.0) for name, weight in RANKING_WEIGHTS.items())
