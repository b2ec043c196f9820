"""Explanations, realised performance and exports of ideas (read paths: the caller must be able to read the
idea, else 404). What they show comes from the idea as the caller may see it (an
:class:`~investai.domain.idea_views.IdeaView`) and from the request's messages as the caller may see them."""

from __future__ import annotations

import base64
import functools
import html
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any, Literal

import pandas as pd

from investai.analytics.returns import adjusted_closes
from investai.domain.access import Principal
from investai.domain.citations import Citation, MarketCitation
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.idea_parts import ModelUse
from investai.domain.idea_views import IdeaView
from investai.domain.ideas import InvestmentIdea
from investai.domain.scoring import CONFIDENCE_WEIGHTS, RANKING_WEIGHTS, confidence_before_research
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
                    "before_research": confidence_before_research(analysis.confidence_inputs),
                    "basis": analysis.confidence_basis,
                    "adjustment": analysis.confidence_adjustment,
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

# --- risk figures and model calls, as the idea page and the exports show them ---------------------------------

RISK_FIGURES: tuple[tuple[str, str, Literal["pct", "num"]], ...] = (
    ("volatility", "Volatility (annualised)", "pct"),
    ("sharpe", "Sharpe ratio", "num"),
    ("sortino", "Sortino ratio", "num"),
    ("max_drawdown", "Maximum drawdown (over the price window)", "pct"),
    ("beta", "Beta", "num"),
    ("var_95", "VaR 95% (one day)", "pct"),
    ("cvar_95", "CVaR 95% (one day)", "pct"),
    ("var_99", "VaR 99% (one day)", "pct"),
    ("cvar_99", "CVaR 99% (one day)", "pct"),
    ("liquidity_days", "Days to liquidate", "num"),
)
"""Each risk figure of an idea (a :class:`~investai.domain.idea_parts.RiskMetrics` field), its label with its
period, and how it is formatted."""
RISK_CONVENTION = (
    "Losses are shown as negative returns: the maximum drawdown is the largest fall from a peak over the price "
    "window the analysis used; VaR and CVaR are one-day figures from daily returns (historical). Volatility is "
    "annualised."
)
"""The one sign convention and the periods of the risk figures, stated wherever they are shown."""


@dataclass(frozen=True)
class ModelUseGroup:
    """Identical model calls of one step (same provider, model and mode), counted, with their usage summed."""

    step: str
    provider: str
    model_id: str
    offline: bool
    calls: int
    prompts: tuple[str, ...]
    """The distinct prompt templates used, as ``name vVERSION``."""
    prompt_hashes: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float


def model_use_groups(uses: Iterable[ModelUse]) -> list[ModelUseGroup]:
    """The model calls grouped by (step, provider, model, offline), in the order each group first appears."""
    grouped: dict[tuple[str, str, str, bool], list[ModelUse]] = {}
    for use in uses:
        grouped.setdefault((use.step, use.provider, use.model_id, use.offline), []).append(use)
    groups = []
    for (step, provider, model_id, offline), members in grouped.items():
        prompts = dict.fromkeys(
            f"{use.prompt_template} v{use.prompt_version or '?'}" for use in members if use.prompt_template
        )
        hashes = dict.fromkeys(use.prompt_hash for use in members if use.prompt_hash)
        groups.append(
            ModelUseGroup(
                step=step,
                provider=provider,
                model_id=model_id,
                offline=offline,
                calls=len(members),
                prompts=tuple(prompts),
                prompt_hashes=tuple(hashes),
                input_tokens=sum(use.input_tokens for use in members),
                output_tokens=sum(use.output_tokens for use in members),
                cost_usd=sum(use.cost_usd for use in members),
                latency_ms=sum(use.latency_ms for use in members),
            )
        )
    return groups


# --- export -------------------------------------------------------------------------------------------------------
# The Markdown and the HTML export render one list of blocks, so each carries every field the other does.


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: Literal["plain", "note", "hint"] = "plain"


@dataclass(frozen=True)
class Facts:
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()
    """Columns of figures (right-aligned)."""
    caption: str | None = None


@dataclass(frozen=True)
class Items:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    png_base64: str
    alt: str


Block = Heading | Paragraph | Facts | Table | Items | Figure


def _restricted_note(idea: IdeaView) -> str | None:
    return RESTRICTED_NOTE.format(count=idea.restricted_sources) if idea.restricted_sources else None


def _citation_text(evidence: Any) -> str:
    return _cite(evidence.citation)


def _cite(citation: Citation) -> str:
    if citation.kind == "document" and citation.restricted:
        return f"restricted document {citation.document_id} v{citation.version}"
    if citation.kind == "document":
        chunk = f" ({citation.chunk_id})" if citation.chunk_id else ""
        return f"document {citation.document_id} v{citation.version}, page {citation.page or '-'}{chunk}"
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


def _label(value: Any) -> str:
    return str(getattr(value, "value", value)).replace("_", " ")


def _signed(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.1%}"


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _figure(value: float | None, kind: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2%}" if kind == "pct" else f"{value:,.2f}"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _overview(idea: IdeaView) -> list[Block]:
    facts = [
        ("Idea", f"{idea.id}, version {idea.version}"),
        ("Status", _label(idea.status)),
        ("Symbols", ", ".join(instrument.symbol for instrument in idea.instruments)),
        ("Strategy", _label(idea.strategy)),
        ("Horizon", f"{_label(idea.time_horizon)} ({idea.expected_return.horizon_days} trading days)"),
        ("Confidence", _pct(idea.confidence)),
        ("Risk level", _label(idea.risk_level)),
    ]
    if idea.analysis is not None:
        facts += [
            ("Ranking score", _number(idea.analysis.ranking_score, 3)),
            ("Rank", f"{idea.analysis.rank} of {idea.analysis.screened} screened"),
        ]
    facts += [
        ("Generated", _when(idea.generated_at)),
        ("Expires", _when(idea.expires_at)),
        ("Data as of", _when(idea.provenance.data_as_of)),
    ]
    if idea.tags:
        facts.append(("Tags", ", ".join(idea.tags)))
    note = _restricted_note(idea)
    blocks: list[Block] = [Heading(idea.title, 1), Facts(tuple(facts))]
    if note:
        blocks.append(Paragraph(note, "note"))
    if idea.as_of_note:
        blocks.append(Paragraph(idea.as_of_note, "note"))
    if idea.analysis is not None and idea.analysis.confidence_basis:
        basis = idea.analysis.confidence_basis
        if idea.analysis.confidence_adjustment:
            basis += f"; {idea.analysis.confidence_adjustment}"
        blocks.append(Paragraph(f"Confidence: {basis}.", "hint"))
    if idea.analysis is not None and idea.analysis.constraints:
        blocks += [Heading("What shaped this idea", 3), Items(tuple(idea.analysis.constraints))]
    blocks += [Heading("Summary"), Paragraph(idea.summary), Heading("Rationale")]
    blocks += [Paragraph(part.strip()) for part in idea.rationale.split("\n\n") if part.strip()]
    blocks += [
        Heading("Instruments", 3),
        Table(
            ("Symbol", "Name", "Asset class", "Sector", "Direction"),
            tuple(
                (i.symbol, i.name or "-", _label(i.asset_class), i.sector or "-", _label(i.direction))
                for i in idea.instruments
            ),
        ),
    ]
    return blocks


def _scenarios(idea: IdeaView, chart: str | None) -> list[Block]:
    expected = idea.expected_return
    facts = [
        ("Median return", f"{_signed(expected.point)} over {expected.horizon_days} trading days"),
        ("5th to 95th percentile", f"{_signed(expected.low)} to {_signed(expected.high)}"),
    ]
    if expected.citation is not None:
        facts.append(("Source", _cite(expected.citation)))
    blocks: list[Block] = [
        Heading("Expected return and scenarios"),
        Facts(tuple(facts)),
        Table(
            ("Scenario", "Probability", "Median return"),
            tuple((o.scenario.value, f"{o.probability:.0%}", _signed(o.expected_return)) for o in idea.outcomes),
            numeric=frozenset({1, 2}),
        ),
    ]
    if chart:
        blocks.append(Figure(chart, "Scenario fan chart: percentiles of the simulated cumulative return"))
    for outcome in idea.outcomes:
        items = [f"Condition: {text}" for text in outcome.conditions]
        items += [f"Catalyst: {text}" for text in outcome.catalysts]
        items += [f"Key risk: {text}" for text in outcome.key_risks]
        if items:
            blocks += [Heading(f"{outcome.scenario.value.capitalize()} case", 3), Items(tuple(items))]
    return blocks


def _position(idea: IdeaView) -> list[Block]:
    blocks: list[Block] = [Heading("Entry, target, stop and sizing")]
    if idea.levels:
        rows = tuple(
            (
                level.symbol,
                _number(level.entry),
                f"{_number(level.target)} ({_signed(level.target / level.entry - 1.0)})",
                f"{_number(level.stop)} ({_signed(level.stop / level.entry - 1.0)})",
            )
            for level in idea.levels
        )
        blocks.append(Table(("Symbol", "Entry", "Target", "Stop"), rows, numeric=frozenset({1, 2, 3})))
    else:
        blocks.append(Paragraph("No trade levels were set.", "hint"))
    sizing = idea.position_sizing
    if sizing is None:
        blocks.append(Paragraph("No sizing was suggested for this idea.", "hint"))
        return blocks
    facts = [("Suggested weight", f"{_pct(sizing.weight)} of the portfolio"), ("Method", _label(sizing.method))]
    if sizing.notional is not None:
        facts.append(("Notional", f"{_number(sizing.notional)} {sizing.currency}"))
    if sizing.max_loss is not None:
        facts.append(("Loss at the stop", f"{_number(sizing.max_loss)} {sizing.currency}"))
    blocks.append(Facts(tuple(facts)))
    return blocks


def _risk(idea: IdeaView) -> list[Block]:
    metrics = idea.metrics
    sources = {
        citation.series.rsplit(":", 1)[-1]: citation
        for citation in metrics.sources
        if isinstance(citation, MarketCitation)
    }
    rows = tuple(
        (label, _figure(getattr(metrics, key), kind), _cite(sources[key]) if key in sources else "not computed")
        for key, label, kind in RISK_FIGURES
    )
    blocks: list[Block] = [
        Heading("Risk"),
        Table(("Metric", "Value", "Source"), rows, numeric=frozenset({1}), caption=RISK_CONVENTION),
    ]
    commentary = _commentary(idea)
    if commentary:
        blocks += [Heading("Quantitative commentary", 3), Paragraph(commentary[0]), Paragraph(commentary[1], "hint")]
    blocks += [Heading("Counter-arguments")]
    blocks.append(
        Items(tuple(idea.counter_arguments))
        if idea.counter_arguments
        else Paragraph("No counter-arguments were recorded.", "hint")
    )
    return blocks


def _evidence(idea: IdeaView) -> list[Block]:
    items = tuple(
        f"{item.claim} — {_citation_text(item)} (weight {item.weight:.3f})" for item in idea.supporting_evidence
    )
    return [Heading("Evidence"), Items(items) if items else Paragraph("No evidence was recorded.", "hint")]


def _compliance(idea: IdeaView) -> list[Block]:
    compliance = idea.compliance
    checked = _when(compliance.checked_at) if compliance.checked_at else "not checked yet"
    blocks: list[Block] = [
        Heading(f"Compliance: {compliance.state.value}"),
        Facts((("State", _label(compliance.state)), ("Checked", checked))),
    ]
    if compliance.checks:
        rows = tuple((_label(check.name), check.outcome, check.detail or "-") for check in compliance.checks)
        blocks.append(Table(("Check", "Result", "Detail"), rows))
    blocks.append(Heading("Issues", 3))
    issues = tuple(f"{issue.severity.value}: {_label(issue.rule)}: {issue.message}" for issue in compliance.issues)
    blocks.append(Items(issues) if issues else Paragraph("No issues were found.", "hint"))
    blocks.append(Heading("Disclosures", 3))
    disclosures = tuple(compliance.disclosures)
    blocks.append(Items(disclosures) if disclosures else Paragraph("No disclosures are attached.", "hint"))
    return blocks


def _provenance(idea: IdeaView) -> list[Block]:
    provenance = idea.provenance
    facts = [("Data as of", _when(provenance.data_as_of))]
    if idea.analysis is not None:
        facts.append(("Price window", f"{idea.analysis.data_start} to {idea.analysis.data_end}"))
    facts.append(("Code version", provenance.code_version))
    if provenance.request_id:
        facts.append(("Request", provenance.request_id))
    facts += [
        ("Tokens", f"{provenance.total_tokens:,}"),
        ("Model cost", f"{provenance.total_cost_usd:,.4f} USD"),
    ]
    blocks: list[Block] = [Heading("Provenance"), Facts(tuple(facts))]
    groups = model_use_groups(provenance.models)
    if groups:
        rows = tuple(
            (
                group.step,
                f"{group.provider} · {group.model_id}" + (" (offline)" if group.offline else ""),
                f"{group.calls:,}",
                ", ".join(group.prompts) or "-",
                f"{group.input_tokens:,} / {group.output_tokens:,}",
                f"{group.cost_usd:,.4f}",
                f"{group.latency_ms:,.0f}",
            )
            for group in groups
        )
        header = ("Step", "Model", "Calls", "Prompt templates", "Tokens in / out", "Cost (USD)", "Latency (ms)")
        caption = (
            "Model calls by step: identical calls (same step, model and mode) are grouped, with their usage summed."
        )
        blocks.append(Table(header, rows, numeric=frozenset({2, 4, 5, 6}), caption=caption))
    else:
        blocks.append(Paragraph("No model calls were recorded.", "hint"))
    return blocks


def export_blocks(idea: IdeaView, chart: str | None) -> list[Block]:
    """What an export of ``idea`` shows, in order (the Markdown and the HTML render exactly these blocks)."""
    return [
        *_overview(idea),
        *_scenarios(idea, chart),
        *_position(idea),
        *_risk(idea),
        *_evidence(idea),
        *_compliance(idea),
        *_provenance(idea),
    ]


# --- Markdown -----------------------------------------------------------------------------------------------------


def _md_line(text: str) -> str:
    """Text kept on one line (a list item, a fact)."""
    return " ".join(text.split())


def _md_cell(text: str) -> str:
    return _md_line(text).replace("|", "\\|")


def _md_block(block: Block) -> str:
    match block:
        case Heading(text, level):
            return f"{'#' * level} {_md_line(text)}"
        case Paragraph(text, "note"):
            return "\n".join(f"> {line}" for line in text.splitlines())
        case Paragraph(text, "hint"):
            return f"*{_md_line(text)}*"
        case Paragraph(text, _):
            return text
        case Facts(rows):
            return "\n".join(f"- **{_md_line(label)}:** {_md_line(value)}" for label, value in rows)
        case Items(items):
            return "\n".join(f"- {_md_line(item)}" for item in items)
        case Figure(png, alt):
            return f"![{_md_line(alt)}](data:image/png;base64,{png})"
        case Table(header, rows, numeric, caption):
            align = ["---:" if index in numeric else "---" for index in range(len(header))]
            lines = [f"*{_md_line(caption)}*", ""] if caption else []
            lines += [
                "| " + " | ".join(_md_cell(cell) for cell in header) + " |",
                "|" + "|".join(align) + "|",
                *("| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows),
            ]
            return "\n".join(lines)
    raise AssertionError(f"unknown block {block!r}")


def _markdown(idea: IdeaView, chart: str | None) -> str:
    return "\n\n".join(_md_block(block) for block in export_blocks(idea, chart)) + "\n"


# --- HTML ---------------------------------------------------------------------------------------------------------

EXPORT_STYLESHEETS = ("app.css", "idea_detail.css", "export.css")
"""The web UI's stylesheets (``investai/web/static/css``) the HTML export inlines, in order: the product's look,
then the export's own layout and print rules."""


@functools.cache
def export_stylesheet() -> str:
    """The export's CSS, read once from the web UI's stylesheets (a file that cannot be read is left out: the
    export is still complete, only plainer)."""
    folder = resources.files("investai").joinpath("web", "static", "css")
    parts = []
    for name in EXPORT_STYLESHEETS:
        try:
            parts.append(folder.joinpath(name).read_text(encoding="utf-8"))
        except OSError:
            continue
    return "\n".join(parts)


NUMERIC = ' class="num"'


def _html_block(block: Block) -> str:
    e = html.escape
    match block:
        case Heading(text, level):
            return f"<h{level}>{e(text)}</h{level}>"
        case Paragraph(text, "note"):
            return f'<p class="warning" role="note"><strong>{e(text)}</strong></p>'
        case Paragraph(text, "hint"):
            return f'<p class="hint">{e(text)}</p>'
        case Paragraph(text, _):
            return f'<p class="prose">{e(text)}</p>'
        case Facts(rows):
            return '<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows) + "</dl>"
        case Items(items):
            return "<ul>" + "".join(f"<li>{e(item)}</li>" for item in items) + "</ul>"
        case Figure(png, alt):
            return f'<figure><img alt="{e(alt)}" src="data:image/png;base64,{png}"></figure>'
        case Table(header, rows, numeric, caption):

            def cells(row: tuple[str, ...], tag: str) -> str:
                scope = ' scope="col"' if tag == "th" else ""
                return "".join(
                    f"<{tag}{scope}{NUMERIC if index in numeric else ''}>{e(cell)}</{tag}>"
                    for index, cell in enumerate(row)
                )

            caption_html = f"<caption>{e(caption)}</caption>" if caption else ""
            body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
            return (
                f'<div class="table-wrap"><table class="compact">{caption_html}'
                f"<thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table></div>"
            )
    raise AssertionError(f"unknown block {block!r}")


def _html(idea: IdeaView, chart: str | None) -> str:
    """A standalone page: the product's stylesheet inline, every text escaped, the chart inline, no script.
    The title and the key facts head the page; each level-2 heading opens a section (a card on screen)."""
    blocks = export_blocks(idea, chart)
    head, body, open_section = [], [], False
    for block in blocks:
        if isinstance(block, Heading) and block.level == 1:
            head.append(_html_block(block))
            continue
        if isinstance(block, Heading) and block.level == 2:
            body.append("</section>" if open_section else "")
            body.append('<section class="card">')
            open_section = True
        (body if open_section else head).append(_html_block(block))
    if open_section:
        body.append("</section>")
    e = html.escape
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(idea.title)}</title><style>{export_stylesheet()}</style></head>"
        f'<body class="export"><main><header class="card export-head">'
        f'<p class="product">Investment AI Agent · investment idea</p>{"".join(head)}</header>'
        f"{''.join(body)}</main>"
        '<footer class="site-footer">Investment AI Agent · ideas are research, not advice; every figure is computed '
        "and cited.</footer></body></html>"
    )
