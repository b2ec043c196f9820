"""How ideas are scored: the ranking blend (DESIGN section 5) and the inputs of confidence. The synthesis agent
computes with these weights and explanations report them, so both read them from here."""

from __future__ import annotations

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
