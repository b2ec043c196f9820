"""Explanations, realised performance and exports of ideas (read paths: the caller must be able to read the
idea, else 404). What they show comes from the idea as the caller may see it (an
:class:`~investai.domain.idea_views.IdeaView`) and from the request's messages as the caller may see them."""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import date, timedelta
from typing import Any, Literal

import pandas as pd

from investai.analytics.returns import adjusted_closes
from investai.domain.access import Principal
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.idea_views import IdeaView
from investai.domain.ideas import InvestmentIdea
from investai.domain.scoring import CONFIDENCE_WEIGHTS, RANKING_WEIGHTS
from investai.ports.repositories import IdeaRequestRepository
from investai.ports.research import MarketReader
from investai.services.auth_common import CallContext
from investai.services.queries import IdeaQueries

DEFAULT_PRICE_WINDOW = timedelta(days=3 * 365)
"""The price history shown for an idea that kept no analysis window."""


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


class IdeaInsights:
    def __init__(self, *, queries: IdeaQueries, requests: IdeaRequestRepository, market: MarketReader) -> None:
        self._queries = queries
        self._requests = requests
        self._market = market

    # --- explanation ------------------------------------------------------------------------------------------

    def explain(self, principal: Principal, ctx: CallContext, idea_id: str) -> dict[str, Any]:
        return self.explanation_of(principal, self._queries.get(principal, idea_id, ctx))

    def explanation_of(self, principal: Principal, idea: IdeaView) -> dict[str, Any]:
        """Decision path, data sources with their age, factor contributions, confidence and ranking breakdown,
        sensitivity. ``idea`` must come from a read the caller was allowed (:class:`IdeaQueries`); the decision
        path is the request's messages as the caller may see them."""
        analysis = idea.analysis
        sources = []
        for evidence in idea.supporting_evidence:
            citation = evidence.citation
            entry: dict[str, Any] = citation.model_dump(mode="json")
            if citation.kind == "market":
                entry["age_days"] = (idea.provenance.data_as_of.date() - citation.end).days
            sources.append(entry)
        explanation: dict[str, Any] = {
            "idea_id": idea.id,
            "version": idea.version,
            "restricted_sources": idea.restricted_sources,
            "decision_path": self._decision_path(principal, idea),
            "data_sources": sources,
            "data_as_of": idea.provenance.data_as_of.isoformat(),
            "models": [use.model_dump(mode="json") for use in idea.provenance.models],
        }
        if analysis is not None:
            explanation |= {
                "factor_contributions": dict(sorted(analysis.contributions.items(), key=lambda kv: -abs(kv[1]))),
                "factor_scores": analysis.factor_scores,
                "factor_weights": analysis.factor_weights,
                "composite": analysis.composite,
                "rank": analysis.rank,
                "screened": analysis.screened,
                "confidence_breakdown": {
                    "inputs": analysis.confidence_inputs,
                    "weights": CONFIDENCE_WEIGHTS,
                    "before_research": sum(
                        CONFIDENCE_WEIGHTS[k] * analysis.confidence_inputs.get(k, 0.0) for k in CONFIDENCE_WEIGHTS
                    ),
                    "research_conflict": analysis.conflict,
                    "confidence": idea.confidence,
                },
                "ranking": {
                    "components": analysis.ranking_components,
                    "weights": RANKING_WEIGHTS,
                    "score": analysis.ranking_score,
                },
                "sensitivity": {
                    "ranking_score_per_unit_component": RANKING_WEIGHTS,
                    "confidence_per_unit_input": CONFIDENCE_WEIGHTS,
                    "return_if_bear_case": next(o.expected_return for o in idea.outcomes if o.scenario.value == "bear"),
                    "return_if_bull_case": next(o.expected_return for o in idea.outcomes if o.scenario.value == "bull"),
                    "stop_distance": (idea.levels[0].stop / idea.levels[0].entry - 1.0) if idea.levels else None,
                    "target_distance": (idea.levels[0].target / idea.levels[0].entry - 1.0) if idea.levels else None,
                },
            }
        return explanation

    def _decision_path(self, principal: Principal, idea: InvestmentIdea) -> list[dict[str, Any]]:
        """The request's messages about the idea's symbol or about no symbol, as ``principal`` may see them."""
        if not idea.provenance.request_id:
            return []
        try:
            messages = self._requests.messages(idea.provenance.request_id)
        except NotFound:
            return []
        symbol = idea.instruments[0].symbol
        return [
            {
                "seq": seq,
                "sender": message.sender.value,
                "type": message.type.value,
                "at": message.created_at.isoformat(),
                "content": message.content,
            }
            for seq, message in self._queries.sources.messages(principal, messages)
            if message.content.get("symbol") in (None, symbol)
        ]

    # --- price history ----------------------------------------------------------------------------------------

    def price_window(self, idea: InvestmentIdea) -> dict[str, Any]:
        """Adjusted closes of the idea's first instrument over its analysis window, as the market data stood at
        the idea's data as-of moment (point in time: no later bar, no later correction), with its trade levels.
        ``idea`` must come from a read the caller was allowed (:class:`IdeaQueries`)."""
        symbol = idea.instruments[0].symbol
        as_of = idea.provenance.data_as_of
        end = idea.analysis.data_end if idea.analysis else as_of.date()
        start = idea.analysis.data_start if idea.analysis else end - DEFAULT_PRICE_WINDOW
        try:
            closes = adjusted_closes(self._market.bar_frame(symbol, start=start, end=end, as_of=as_of)).dropna()
        except NotFound:
            closes = pd.Series(dtype="float64")
        level = next((item for item in idea.levels if item.symbol == symbol), None)
        return {
            "symbol": symbol,
            "as_of": as_of.isoformat(),
            "dates": [stamp.date().isoformat() for stamp in closes.index],
            "closes": [float(value) for value in closes],
            "levels": level.model_dump(exclude={"symbol"}) if level else None,
        }

    # --- performance ------------------------------------------------------------------------------------------

    def _closes(self, symbol: str, since: date) -> pd.Series:
        return adjusted_closes(self._market.bar_frame(symbol, start=since)).dropna()

    def performance(self, principal: Principal, ctx: CallContext, idea_id: str) -> dict[str, Any]:
        return self.performance_of(self._queries.get(principal, idea_id, ctx))

    def performance_of(self, idea: InvestmentIdea) -> dict[str, Any]:
        """Realised return since the idea's data date, against its expected return (pro rata over the horizon)
        and against its benchmark over the same days; whether the target or the stop was touched (closes).
        ``idea`` must come from a read the caller was allowed (:class:`IdeaQueries`)."""
        instrument = idea.instruments[0]
        start = idea.analysis.data_end if idea.analysis else idea.provenance.data_as_of.date()
        closes = self._closes(instrument.symbol, start)
        if closes.empty:
            raise NotFound(f"no prices for {instrument.symbol} since {start.isoformat()}")
        entry, last = float(closes.iloc[0]), float(closes.iloc[-1])
        elapsed = len(closes) - 1
        realised = last / entry - 1.0
        horizon = idea.expected_return.horizon_days
        result: dict[str, Any] = {
            "idea_id": idea.id,
            "symbol": instrument.symbol,
            "since": closes.index[0].date().isoformat(),
            "until": closes.index[-1].date().isoformat(),
            "trading_days": elapsed,
            "horizon_days": horizon,
            "entry": entry,
            "last": last,
            "realised_return": realised,
            "expected_return": idea.expected_return.point,
            "expected_to_date": idea.expected_return.point * min(1.0, elapsed / horizon),
            "benchmark": None,
            "benchmark_return": None,
            "excess_return": None,
            "target_touched": bool(idea.levels and closes.max() >= idea.levels[0].target),
            "stop_touched": bool(idea.levels and closes.min() <= idea.levels[0].stop),
        }
        try:
            benchmark = self._market.symbol(instrument.symbol).benchmark
        except NotFound:
            benchmark = None
        if benchmark:
            bench = self._closes(benchmark, start).reindex(closes.index).dropna()
            if len(bench) >= 2:
                bench_return = float(bench.iloc[-1] / bench.iloc[0] - 1.0)
                result |= {
                    "benchmark": benchmark,
                    "benchmark_return": bench_return,
                    "excess_return": realised - bench_return,
                }
        return result

    # --- export -----------------------------------------------------------------------------------------------

    def export(
        self, principal: Principal, ctx: CallContext, idea_id: str, fmt: Literal["markdown", "html"]
    ) -> tuple[str, str]:
        """The idea as a Markdown or an HTML document with its scenario fan chart; (content, media type)."""
        if fmt not in ("markdown", "html"):
            raise ValidationFailed("format is markdown or html")
        idea = self._queries.get(principal, idea_id, ctx)
        chart = _fan_png(idea)
        if fmt == "markdown":
            return _markdown(idea, chart), "text/markdown; charset=utf-8"
        return _html(idea, chart), "text/html; charset=utf-8"


def _fan_png(idea: InvestmentIdea) -> str | None:
    if idea.analysis is None or not idea.analysis.fan:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fan = pd.DataFrame(idea.analysis.fan).set_index("step")
    figure, axis = plt.subplots(figsize=(7, 3.5), dpi=100)
    axis.fill_between(fan.index, fan["5"] * 100, fan["95"] * 100, alpha=0.2, label="5th-95th percentile")
    axis.fill_between(fan.index, fan["25"] * 100, fan["75"] * 100, alpha=0.35, label="25th-75th percentile")
    axis.plot(fan.index, fan["50"] * 100, label="median")
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set_xlabel("trading days")
    axis.set_ylabel("cumulative return, %")
    axis.set_title(f"{idea.instruments[0].symbol}: bootstrap scenarios")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


RESTRICTED_NOTE = (
    "{count} document source(s) behind this idea are restricted for you: their passages are withheld, and the "
    "narrative, confidence and ranking shown are those written without documents."
)


def _restricted_note(idea: IdeaView) -> str | None:
    return RESTRICTED_NOTE.format(count=idea.restricted_sources) if idea.restricted_sources else None


def _citation_text(evidence: Any) -> str:
    citation = evidence.citation
    if citation.kind == "document" and citation.restricted:
        return f"restricted document {citation.document_id} v{citation.version}"
    if citation.kind == "document":
        return f"document {citation.document_id} v{citation.version}, page {citation.page or '-'} ({citation.chunk_id})"
    return f"{citation.symbol} {citation.series} {citation.start}..{citation.end} = {citation.value}"


def _commentary(idea: IdeaView) -> tuple[str, str] | None:
    """The idea's quantitative commentary and a note on who wrote it, or ``None`` for an idea without one."""
    commentary = idea.analysis.commentary if idea.analysis else None
    if commentary is None:
        return None
    author = (
        "Written by the quantitative model from the computed metrics only; every number in it was checked against them."
        if commentary.written_by == "model"
        else "Written by code from the computed metrics."
    )
    return commentary.text, author


def _markdown(idea: IdeaView, chart: str | None) -> str:
    m = idea.metrics
    note = _restricted_note(idea)
    lines = [
        f"# {idea.title}",
        "",
        f"*{idea.status.value}* · {idea.strategy.value} · {idea.time_horizon.value} horizon · confidence "
        f"{idea.confidence:.2f} · risk {idea.risk_level.value} · generated {idea.generated_at.date().isoformat()} "
        f"(data as of {idea.provenance.data_as_of.isoformat()})",
        *(["", f"> {note}"] if note else []),
        "",
        idea.summary,
        "",
        "## Rationale",
        "",
        idea.rationale,
        "",
        "## Expected return and scenarios",
        "",
        f"Median {_pct(idea.expected_return.point)} over {idea.expected_return.horizon_days} trading days "
        f"(5th to 95th percentile {_pct(idea.expected_return.low)} to {_pct(idea.expected_return.high)}).",
        "",
        "| scenario | probability | median return |",
        "|---|---:|---:|",
        *[f"| {o.scenario.value} | {o.probability:.0%} | {_pct(o.expected_return)} |" for o in idea.outcomes],
    ]
    if chart:
        lines += ["", f"![scenario fan chart](data:image/png;base64,{chart})"]
    lines += [
        "",
        "## Risk",
        "",
        f"Volatility {_pct(m.volatility)}, Sharpe {m.sharpe if m.sharpe is None else round(m.sharpe, 2)}, maximum "
        f"drawdown {_pct(m.max_drawdown)}, beta {m.beta if m.beta is None else round(m.beta, 2)}, one-day VaR 95% "
        f"{_pct(m.var_95)}, CVaR 99% {_pct(m.cvar_99)}.",
    ]
    commentary = _commentary(idea)
    if commentary:
        lines += ["", "### Quantitative commentary", "", commentary[0], "", f"*{commentary[1]}*"]
    if idea.levels:
        level = idea.levels[0]
        lines += ["", f"Entry {level.entry:.2f}, target {level.target:.2f}, stop {level.stop:.2f}."]
    if idea.position_sizing:
        lines += ["", f"Suggested weight {_pct(idea.position_sizing.weight)} ({idea.position_sizing.method})."]
    lines += ["", "## Counter-arguments", "", *[f"- {text}" for text in idea.counter_arguments]]
    lines += ["", "## Evidence", "", *[f"- {e.claim} — {_citation_text(e)}" for e in idea.supporting_evidence]]
    lines += ["", f"## Compliance: {idea.compliance.state.value}", ""]
    lines += [f"- {issue.severity.value}: {issue.message}" for issue in idea.compliance.issues]
    lines += ["", *[f"> {text}" for text in idea.compliance.disclosures]]
    return "\n".join(lines) + "\n"


def _html(idea: IdeaView, chart: str | None) -> str:
    """A standalone page: every text escaped, the chart inline, no script."""
    e = html.escape
    m = idea.metrics
    note = _restricted_note(idea)
    restricted = f'<p class="restricted"><strong>{e(note)}</strong></p>' if note else ""
    rows = "".join(
        f"<tr><td>{e(o.scenario.value)}</td><td>{o.probability:.0%}</td><td>{e(_pct(o.expected_return))}</td></tr>"
        for o in idea.outcomes
    )
    evidence = "".join(
        f"<li>{e(item.claim)} <small>{e(_citation_text(item))}</small></li>" for item in idea.supporting_evidence
    )
    issues = "".join(f"<li>{e(i.severity.value)}: {e(i.message)}</li>" for i in idea.compliance.issues)
    counter = "".join(f"<li>{e(text)}</li>" for text in idea.counter_arguments)
    disclosures = "".join(f"<p><small>{e(text)}</small></p>" for text in idea.compliance.disclosures)
    image = f'<img alt="scenario fan chart" src="data:image/png;base64,{chart}">' if chart else ""
    commentary = _commentary(idea)
    quantitative = (
        f'<h3>Quantitative commentary</h3><p class="commentary"><small>{e(commentary[0])}</small></p>'
        f"<p><small><em>{e(commentary[1])}</em></small></p>"
        if commentary
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(idea.title)}</title></head><body>"
        f"<h1>{e(idea.title)}</h1>"
        f"<p><em>{e(idea.status.value)}</em> · {e(idea.strategy.value)} · {e(idea.time_horizon.value)} horizon · "
        f"confidence {idea.confidence:.2f} · risk {e(idea.risk_level.value)}</p>{restricted}"
        f"<p>{e(idea.summary)}</p><h2>Rationale</h2><p>{e(idea.rationale)}</p>"
        f"<h2>Scenarios</h2><table><tr><th>scenario</th><th>probability</th><th>median return</th></tr>{rows}</table>"
        f"{image}<h2>Risk</h2><p>Volatility {e(_pct(m.volatility))}, maximum drawdown {e(_pct(m.max_drawdown))}, "
        f"one-day VaR 95% {e(_pct(m.var_95))}.</p>{quantitative}"
        f"<h2>Counter-arguments</h2><ul>{counter}</ul><h2>Evidence</h2><ul>{evidence}</ul>"
        f"<h2>Compliance: {e(idea.compliance.state.value)}</h2><ul>{issues}</ul>{disclosures}</body></html>"
    )
