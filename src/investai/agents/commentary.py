"""The quantitative commentary: a few sentences on the figures the analysis computed for one candidate.

The analysis agent asks the quantitative model (:attr:`~investai.domain.llm.TaskKind.QUANTITATIVE`, step
``analysis.commentary``, one call per candidate) to comment on that candidate's computed metrics. The prompt
carries those metrics only, each written as the model may repeat it (fractions as percentages with one decimal,
ratios with two), and never any document text. The answer is structured: the commentary and the keys of the
metrics it discusses.

An answer is kept only when it survives a careful reading (:func:`judge`): it is two to six sentences of words,
names only metrics it was given, and every number it writes is one of those metrics (at the precision written,
by :func:`~investai.agents.grounding.check_numbers`), the horizon, the window length or a number in the name of
a measure shown (the 12 of "12-1 momentum", the 95 of "95% VaR"). Any other answer is rejected and recorded
(an update message naming the reason and the unsupported numbers), and the commentary code writes from the same
metrics (:func:`code_commentary`) is used instead; it is also the offline provider's answer, so the request
works without a model, and it is what a failed model call (throttled or unavailable down the whole chain)
falls back to. A commentary never fails an idea.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from investai.agents.context import Cancelled, RunContext
from investai.agents.grounding import check_numbers, written_numbers
from investai.agents.prompts import NUMBERS_RULE, PromptTemplate
from investai.domain.agents import AgentName, MessagePriority, MessageType
from investai.domain.idea_parts import ModelUse, QuantitativeCommentary
from investai.domain.llm import TaskKind

if TYPE_CHECKING:
    from investai.agents.findings import CandidateAnalysis

COMMENTARY_STEP = "analysis.commentary"
TREND_KEY = "trend"
"""The prompt's line for the 50/200-day moving-average trend, stated in words."""
MAX_CHARS = 1200
MAX_SENTENCES = 6
MIN_WORDS = 8
MAX_METRICS = 16
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")
_WORD = re.compile(r"[A-Za-z]{2,}")

COMMENTARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "commentary": {"type": "string", "maxLength": MAX_CHARS},
        "metrics": {
            "type": "array",
            "items": {"type": "string", "maxLength": 40},
            "minItems": 1,
            "maxItems": MAX_METRICS,
        },
    },
    "required": ["commentary", "metrics"],
}
COMMENTARY_TEMPLATE = PromptTemplate(
    name=COMMENTARY_STEP,
    version="1",
    task=TaskKind.QUANTITATIVE,
    system=(
        "You are a quantitative analyst. In two to four sentences, comment for a professional investor on what "
        "the computed metrics of one instrument say about its return, risk, trend and scenarios over the "
        "horizon. Answer with the commentary and the keys of the metrics it discusses. "
        f"{NUMBERS_RULE} Write no dates, price targets or figures that are not listed."
    ),
    user="Instrument: $symbol. Horizon: $horizon trading days. Daily returns in the window: $observations.\n"
    "Computed metrics (key: value as you may write it, then what it measures):\n$metrics",
    json_schema=COMMENTARY_SCHEMA,
    max_tokens=400,
)


@dataclass(frozen=True)
class ShownMetric:
    """One computed metric as the prompt shows it."""

    key: str
    label: str
    value: float
    style: Literal["pct", "ratio", "index"]

    @property
    def written(self) -> str:
        """The value as the prompt writes it (and the code commentary repeats it)."""
        if self.style == "pct":
            return f"{self.value:.1%}"
        return f"{self.value:.2f}" if self.style == "ratio" else f"{self.value:.1f}"

    @property
    def magnitude(self) -> str:
        """:attr:`written` without its sign (for "a drawdown of 12.0%", "4.1% below its high")."""
        return self.written.lstrip("-\u2212")

    @property
    def rounded(self) -> float:
        """The value at the precision shown, as the same kind of number as :attr:`value`."""
        number = float(self.written.rstrip("%"))
        return number / 100.0 if self.style == "pct" else number


_METRICS: tuple[tuple[str, str, Literal["pct", "ratio", "index"]], ...] = (
    ("annual_return", "annualised return over the window", "pct"),
    ("volatility", "annualised volatility", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("max_drawdown", "maximum drawdown over the window, as a negative return", "pct"),
    ("beta", "beta against the benchmark $benchmark", "ratio"),
    ("var_95", "one-day 95% value at risk, a loss stated as a positive number", "pct"),
    ("cvar_95", "one-day 95% conditional value at risk, a loss stated as a positive number", "pct"),
    ("var_99", "one-day 99% value at risk, a loss stated as a positive number", "pct"),
    ("cvar_99", "one-day 99% conditional value at risk, a loss stated as a positive number", "pct"),
)
_TECHNICALS: tuple[tuple[str, str, Literal["pct", "ratio", "index"]], ...] = (
    ("momentum_12_1", "12-1 momentum, the return from 12 months to 1 month ago", "pct"),
    ("rsi_14", "RSI(14), the 14-day relative strength index", "index"),
    ("distance_from_high", "distance of the price from its 52-week high", "pct"),
)
_HORIZON: tuple[tuple[str, str, Literal["pct", "ratio", "index"]], ...] = (
    ("point", "median bootstrap return over the horizon", "pct"),
    ("low", "5th percentile of the bootstrap return over the horizon", "pct"),
    ("high", "95th percentile of the bootstrap return over the horizon", "pct"),
    ("probability_of_gain", "share of bootstrap paths that gain over the horizon", "pct"),
)


def shown_metrics(analysis: CandidateAnalysis, benchmark: str | None) -> dict[str, ShownMetric]:
    """The computed metrics the prompt shows, by key: risk and return, technicals, the horizon's scenarios, the
    composite score and the factor z-scores. Metrics that were not computed are left out."""
    shown: dict[str, ShownMetric] = {}

    def add(key: str, label: str, value: float | None, style: Literal["pct", "ratio", "index"]) -> None:
        if value is not None and math.isfinite(value):
            shown[key] = ShownMetric(key=key, label=label, value=float(value), style=style)

    for key, label, style in _METRICS:
        if key == "beta" and not benchmark:
            continue
        add(key, label.replace("$benchmark", benchmark or ""), analysis.metrics.get(key), style)
    for key, label, style in _TECHNICALS:
        add(key, label, analysis.technicals.get(key), style)
    for key, label, style in _HORIZON:
        add(f"horizon_{key}" if key != "probability_of_gain" else key, label, analysis.expected_return[key], style)
    add("composite", "composite factor score in the screen, a weighted z-score", analysis.composite, "ratio")
    add("composite_percentile", "percentile of the composite score in the screen", analysis.composite_percentile, "pct")
    for name, value in sorted(analysis.factors.items()):
        add(f"factor_{name}", f"{name.replace('_', ' ')} factor z-score", value, "ratio")
    return shown


def trend_text(analysis: CandidateAnalysis) -> str | None:
    signal = analysis.technicals.get("trend_signal")
    if signal is None:
        return None
    if signal > 0:
        return "the 50-day average above the 200-day"
    return "the 50-day average below the 200-day" if signal < 0 else "the 50-day average level with the 200-day"


def allowed_numbers(analysis: CandidateAnalysis, shown: dict[str, ShownMetric], benchmark: str | None) -> list[float]:
    """What a commentary may state: the metrics shown (as computed and as shown), the horizon, the window length
    and the numbers in the names of the measures, the symbol and the benchmark."""
    allowed: list[float] = [float(analysis.horizon_days), float(analysis.observations)]
    for metric in shown.values():
        allowed += [metric.value, metric.rounded]
        allowed += [number.value for number in written_numbers(metric.label)]
    trend = trend_text(analysis)
    names = [analysis.symbol, benchmark or "", trend or ""]
    allowed += [number.value for text in names for number in written_numbers(text)]
    return allowed


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def code_commentary(
    analysis: CandidateAnalysis, shown: dict[str, ShownMetric], benchmark: str | None
) -> QuantitativeCommentary:
    """The commentary code writes from the metrics: up to four sentences (return and risk, one-day tail risk and
    beta, trend, the horizon's scenarios), each stating only values as the prompt shows them."""
    used: list[str] = []

    def phrases(*parts: tuple[str, str, bool]) -> list[str]:
        found = []
        for key, text, absolute in parts:
            metric = shown.get(key)
            if metric is not None:
                used.append(key)
                found.append(text.format(metric.magnitude if absolute else metric.written))
        return found

    symbol = analysis.symbol
    sentences: list[str] = []
    earned = phrases(("annual_return", "returned {} a year", False))
    risk = phrases(
        ("volatility", "an annualised volatility of {}", False),
        ("sharpe", "a Sharpe ratio of {}", False),
        ("max_drawdown", "a maximum drawdown of {}", True),
    )
    if earned:
        sentences.append(f"Over the window {symbol} {earned[0]}" + (f", with {_and(risk)}." if risk else "."))
    elif risk:
        sentences.append(f"Over the window {symbol} shows {_and(risk)}.")
    tail = phrases(("var_95", "a 95% VaR of {}", False), ("cvar_95", "a 95% CVaR of {}", False))
    beta = phrases(("beta", f"its beta against {benchmark} is {{}}", False))
    if tail:
        sentences.append(f"Its one-day tail risk is {_and(tail)}" + (f", and {beta[0]}." if beta else "."))
    elif beta:
        sentences.append(f"{beta[0][0].upper()}{beta[0][1:]}.")
    trend = phrases(
        ("momentum_12_1", "12-1 momentum of {}", False),
        ("rsi_14", "an RSI(14) of {}", False),
    )
    high = shown.get("distance_from_high")
    if high is not None:
        used.append(high.key)
        at_high = high.magnitude == "0.0%"
        trend.append("a price at its 52-week high" if at_high else f"a price {high.magnitude} below its 52-week high")
    above = trend_text(analysis)
    if above:
        used.append(TREND_KEY)
        trend.append(above)
    if trend:
        sentences.append(f"The trend shows {_and(trend)}.")
    median = phrases(("horizon_point", "a median return of {}", False))
    if median:
        band = phrases(("horizon_low", "{}", False), ("horizon_high", "{}", False))
        gain = phrases(("probability_of_gain", "{} of the paths gaining", False))
        text = f"Over the {analysis.horizon_days}-trading-day horizon the bootstrap scenarios give {median[0]}"
        if len(band) == 2:
            text += f" (5th to 95th percentile {band[0]} to {band[1]})"
        sentences.append(text + (f", with {gain[0]}." if gain else "."))
    if not sentences:
        sentences.append(f"Too few figures were computed for {symbol} to comment on.")
    return QuantitativeCommentary(text=" ".join(sentences), metrics=list(dict.fromkeys(used)), written_by="code")


@dataclass(frozen=True)
class Verdict:
    commentary: QuantitativeCommentary | None
    reason: str | None = None
    unsupported: tuple[str, ...] = ()


def metric_keys(analysis: CandidateAnalysis, shown: dict[str, ShownMetric]) -> list[str]:
    """The keys the prompt lists: every metric shown, and the trend when it is known."""
    return [*shown, *([TREND_KEY] if trend_text(analysis) else [])]


def judge(data: dict[str, Any] | None, keys: Collection[str], allowed: list[float]) -> Verdict:
    """The model's answer as a commentary, or why it is rejected (see the module docstring); ``keys`` are the
    metrics the prompt listed and ``allowed`` the numbers it may state (:func:`allowed_numbers`)."""
    if not isinstance(data, dict):
        return Verdict(None, "not a JSON object")
    raw_text, raw_metrics = data.get("commentary"), data.get("metrics")
    if not isinstance(raw_text, str) or not raw_text.strip():
        return Verdict(None, "empty commentary")
    text = " ".join(raw_text.split())
    if len(text) > MAX_CHARS:
        return Verdict(None, f"longer than {MAX_CHARS} characters")
    if any(not character.isprintable() for character in text):
        return Verdict(None, "garbled: unprintable characters")
    visible = [character for character in text if not character.isspace()]
    words = _WORD.findall(text)
    if len(words) < MIN_WORDS or sum(character.isalpha() for character in visible) < 0.5 * len(visible):
        return Verdict(None, "garbled: too few words")
    sentences = len(_SENTENCE_END.findall(text if text[-1] in ".!?" else f"{text}."))
    if sentences > MAX_SENTENCES:
        return Verdict(None, f"more than {MAX_SENTENCES} sentences")
    if not isinstance(raw_metrics, list) or not raw_metrics or len(raw_metrics) > MAX_METRICS:
        return Verdict(None, "no list of the metrics discussed")
    named = [str(item).strip() for item in raw_metrics]
    unknown = [key for key in named if key not in keys]
    if unknown:
        return Verdict(None, f"names metrics it was not given: {', '.join(unknown)[:300]}")
    report = check_numbers(text, allowed)
    if not report.ok:
        return Verdict(None, "states numbers that were not computed", tuple(report.unsupported))
    return Verdict(QuantitativeCommentary(text=text, metrics=list(dict.fromkeys(named)), written_by="model"))


def write_commentary(
    ctx: RunContext, analysis: CandidateAnalysis, benchmark: str | None
) -> tuple[QuantitativeCommentary, ModelUse | None]:
    """The commentary on ``analysis`` and the model call it took (``None`` when the call itself failed)."""
    symbol = analysis.symbol
    shown = shown_metrics(analysis, benchmark)
    allowed = allowed_numbers(analysis, shown, benchmark)
    fallback = code_commentary(analysis, shown, benchmark)
    own = check_numbers(fallback.text, allowed)
    if not own.ok:  # the code's text is held to the same rule; a miss here is a defect, made visible
        ctx.message(
            AgentName.ANALYSIS,
            MessageType.ERROR,
            {"symbol": symbol, "grounding": "template not grounded", "unsupported_numbers": own.unsupported},
        )
    request = COMMENTARY_TEMPLATE.render(
        offline_answer={"commentary": fallback.text, "metrics": list(fallback.metrics)},
        symbol=symbol,
        horizon=analysis.horizon_days,
        observations=analysis.observations,
        metrics="\n".join(
            [f"- {m.key}: {m.written} ({m.label})" for m in shown.values()]
            + ([f"- {TREND_KEY}: {trend_text(analysis)}"] if trend_text(analysis) else [])
        ),
    )
    ctx.check_cancelled()
    try:
        answer = ctx.router.complete(request, step=COMMENTARY_STEP)
    except Cancelled:
        raise
    except Exception as exc:  # a commentary never fails the analysis: the code's text stands in
        ctx.message(
            AgentName.ANALYSIS,
            MessageType.ERROR,
            {"symbol": symbol, "step": COMMENTARY_STEP, "error": f"{type(exc).__name__}: {exc}"[:500]},
            recipient=AgentName.SUPERVISOR,
            priority=MessagePriority.HIGH,
        )
        return fallback, None
    ctx.record_answer(
        AgentName.ANALYSIS, answer, symbol=symbol, offline_note={"commentary": "every model failed; written by code"}
    )
    if answer.response.offline:
        return fallback, answer.use
    verdict = judge(answer.response.data, metric_keys(analysis, shown), allowed)
    if verdict.commentary is not None:
        return verdict.commentary, answer.use
    ctx.message(
        AgentName.ANALYSIS,
        MessageType.UPDATE,
        {
            "symbol": symbol,
            "step": COMMENTARY_STEP,
            "grounding": "commentary rejected",
            "reason": verdict.reason,
            "unsupported_numbers": list(verdict.unsupported),
        },
    )
    return fallback, answer.use
