"""The HTML export of an idea carries everything its Markdown export does (parsed from both and compared: the
facts, every table row, every list item, every heading and paragraph), is styled with the product's CSS inline
(a saved file needs nothing else, and prints as a plain document), escapes every stored text, and states its
risk figures with one sign convention and their periods."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

from investai.bootstrap import Container
from investai.domain.citations import DocumentCitation, Evidence, MarketCitation
from investai.domain.idea_parts import (
    ComplianceCheck,
    ComplianceIssue,
    ComplianceState,
    ComplianceStatus,
    IdeaAnalysis,
    ModelUse,
    PositionSizing,
    QuantitativeCommentary,
    RiskMetrics,
    Severity,
    TradeLevels,
)
from investai.domain.idea_views import IdeaView, view_for
from investai.domain.ideas import InvestmentIdea
from investai.services.idea_insights import RISK_CONVENTION, _html, _markdown
from tests.factories import make_idea
from tests.web.conftest import WebUser

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CSS = Path(__file__).resolve().parents[2] / "src" / "investai" / "web" / "static" / "css"
CHART = "iVBORw0KGgo="  # stands in for the fan chart's PNG


def rich_idea(**overrides: object) -> InvestmentIdea:
    """An idea with every part an export shows: levels, sizing, all risk figures with a source, commentary,
    evidence from the market and from a document, compliance checks, issues and disclosures, and 17 identical
    offline model calls plus one other."""
    offline = ModelUse(
        step="synthesis", provider="offline", model_id="template", offline=True, input_tokens=10, output_tokens=4
    )
    quant = ModelUse(
        step="commentary",
        provider="bedrock",
        model_id="quant-model",
        prompt_template="commentary",
        prompt_version="3",
        input_tokens=900,
        output_tokens=120,
        cost_usd=0.0125,
        latency_ms=840.0,
    )
    data: dict[str, object] = {
        "levels": [TradeLevels(symbol="AAPL", entry=180.5, target=205.25, stop=165.0)],
        "position_sizing": PositionSizing(method="volatility_target", weight=0.045, notional=45_000, max_loss=3_700),
        "metrics": RiskMetrics(
            volatility=0.24,
            sharpe=1.1,
            sortino=1.6,
            max_drawdown=-0.31,
            beta=1.05,
            var_95=-0.021,
            cvar_95=-0.03,
            var_99=-0.035,
            cvar_99=-0.045,
            liquidity_days=0.2,
            sources=[
                MarketCitation(
                    symbol="AAPL", series="AAPL:volatility", start=date(2021, 1, 4), end=date(2023, 12, 29), value=0.24
                )
            ],
        ),
        "counter_arguments": ["Valuation is stretched | by 20%", "Rates could rise"],
        "supporting_evidence": [
            Evidence(
                claim="63-day volatility 24%",
                citation=MarketCitation(
                    symbol="AAPL", series="volatility_63d", start=date(2023, 9, 29), end=date(2023, 12, 29), value=0.24
                ),
            ),
            Evidence(
                claim="Services revenue grew",
                citation=DocumentCitation(
                    document_id="doc_1", version=1, page=3, chunk_id="doc_1:v1:7", snippet="Services revenue grew"
                ),
                weight=0.5,
            ),
        ],
        "compliance": ComplianceStatus(
            state=ComplianceState.NEEDS_REVIEW,
            checks=[
                ComplianceCheck(name="concentration", passed=True, detail="4.5% is under the 10% limit"),
                ComplianceCheck(name="liquidity", passed=False, detail="thin trading"),
            ],
            issues=[ComplianceIssue(rule="stale_data", severity=Severity.MEDIUM, message="prices are 3 days old")],
            disclosures=["Research, not advice.", "Past performance does not predict returns."],
        ),
        "analysis": IdeaAnalysis(
            composite=0.8,
            rank=2,
            screened=20,
            ranking_score=0.712,
            data_start=date(2021, 1, 4),
            data_end=date(2023, 12, 29),
            commentary=QuantitativeCommentary(
                text="Volatility of 24.0% sits against a Sharpe ratio of 1.10.", metrics=["volatility", "sharpe"]
            ),
        ),
    }
    idea = make_idea(**{**data, **overrides})
    models = [offline] * 17 + [quant]
    provenance = idea.provenance.model_copy(update={"models": models, "request_id": "req_42"})
    return idea.model_copy(update={"provenance": provenance})


def full_view(idea: InvestmentIdea) -> IdeaView:
    return view_for(idea, lambda source: True)


# --- parsing both exports into the same shape -------------------------------------------------------------------


@dataclass
class Fields:
    """What an export states, by kind: facts (label to value), table rows, list items, headings and other text
    (paragraphs, table captions)."""

    facts: dict[str, str] = field(default_factory=dict)
    rows: list[tuple[str, ...]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def _cells(line: str) -> tuple[str, ...]:
    inner = line.strip()[1:-1]
    return tuple(cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner))


def markdown_fields(text: str) -> Fields:
    found = Fields()
    for line in text.splitlines():
        if fact := re.fullmatch(r"- \*\*(.+?):\*\* (.*)", line):
            found.facts[fact.group(1)] = fact.group(2)
        elif line.startswith("- "):
            found.items.append(line[2:])
        elif re.fullmatch(r"\|(-+:?\|)+", line):
            continue
        elif line.startswith("|"):
            found.rows.append(_cells(line))
        elif heading := re.fullmatch(r"#+ (.*)", line):
            found.headings.append(heading.group(1))
        elif image := re.fullmatch(r"!\[(.*)\]\((.*)\)", line):
            found.images.append(image.group(2))
        elif line.strip():
            found.texts.append(line.removeprefix("> ").strip("*"))
    return found


class _HtmlFields(HTMLParser):
    TEXT = {"h1": "headings", "h2": "headings", "h3": "headings", "li": "items", "p": "texts", "caption": "texts"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = Fields()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.row: list[str] = []
        self.label = ""
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("style", "title", "footer") or attributes.get("class") == "product":
            self.skipping += 1  # the page's chrome: not a field of the idea
        if tag == "img":
            self.found.images.append(attributes.get("src") or "")
        if tag == "tr":
            self.row = []
        if tag in (*self.TEXT, "dt", "dd", "td", "th"):
            self.text = []
        self.stack.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        _, attributes = self.stack.pop()
        text = " ".join("".join(self.text).split())
        if tag in ("style", "title", "footer") or attributes.get("class") == "product":
            self.skipping -= 1
            return
        if self.skipping:
            return
        if tag in self.TEXT:
            getattr(self.found, self.TEXT[tag]).append(text)
        elif tag == "dt":
            self.label = text
        elif tag == "dd":
            self.found.facts[self.label] = text
        elif tag in ("td", "th"):
            self.row.append(text)
        elif tag == "tr":
            self.found.rows.append(tuple(self.row))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def html_fields(page: str) -> Fields:
    parser = _HtmlFields()
    parser.feed(page)
    return parser.found


# --- the tests --------------------------------------------------------------------------------------------------


def test_the_html_export_carries_every_field_of_the_markdown_export() -> None:
    view = full_view(rich_idea())
    markdown, page = markdown_fields(_markdown(view, CHART)), html_fields(_html(view, CHART))
    assert markdown.facts == page.facts
    assert markdown.rows == page.rows
    assert markdown.items == page.items
    assert markdown.headings == page.headings
    assert markdown.texts == page.texts
    assert markdown.images == page.images == [f"data:image/png;base64,{CHART}"]

    # what a portfolio manager looks for is there, in both
    facts, rows, items = page.facts, set(page.rows), page.items
    assert ("AAPL", "180.50", "205.25 (+13.7%)", "165.00 (-8.6%)") in rows  # entry, target, stop
    assert facts["Suggested weight"] == "4.5% of the portfolio"
    assert facts["Method"] == "volatility target"
    assert facts["Notional"] == "45,000.00 USD"
    assert facts["Loss at the stop"] == "3,700.00 USD"
    assert facts["Median return"] == "+8.0% over 182 trading days"
    assert facts["Ranking score"] == "0.712"
    assert facts["Rank"] == "2 of 20 screened"
    assert facts["Confidence"] == "70.0%"
    assert ("bear", "25%", "-12.0%") in rows
    volatility = "AAPL AAPL:volatility 2021-01-04..2023-12-29 = 0.24"
    assert ("Volatility (annualised)", "24.00%", volatility) in rows
    assert ("Maximum drawdown (over the price window)", "-31.00%", "not computed") in rows
    assert ("VaR 95% (one day)", "-2.10%", "not computed") in rows
    assert ("CVaR 99% (one day)", "-4.50%", "not computed") in rows
    assert RISK_CONVENTION in page.texts
    assert "Volatility of 24.0% sits against a Sharpe ratio of 1.10." in page.texts
    assert "Services revenue grew — document doc_1 v1, page 3 (doc_1:v1:7) (weight 0.500)" in items
    assert "Valuation is stretched | by 20%" in items
    assert ("liquidity", "failed", "thin trading") in rows
    assert "medium: stale data: prices are 3 days old" in items
    assert "Past performance does not predict returns." in items
    assert "Compliance: needs_review" in page.headings
    assert facts["Request"] == "req_42"
    assert facts["Price window"] == "2021-01-04 to 2023-12-29"
    # the provenance groups identical calls: 17 offline calls are one row with their usage summed
    assert ("synthesis", "offline · template (offline)", "17", "-", "170 / 68", "0.0000", "0") in rows
    assert ("commentary", "bedrock · quant-model", "1", "commentary v3", "900 / 120", "0.0125", "840") in rows


def test_the_html_export_is_styled_self_contained_and_print_friendly() -> None:
    page = _html(full_view(rich_idea()), CHART)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style, "no inline stylesheet"
    css = style.group(1)
    for name in ("app.css", "idea_detail.css", "export.css"):
        assert (CSS / name).read_text(encoding="utf-8") in css, name  # the product's own CSS, inline
    assert "@media print" in css
    assert "@page" in css
    assert "<link" not in page  # nothing to fetch: the saved file is complete
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert '<body class="export">' in page
    assert '<section class="card"><h2>Entry, target, stop and sizing</h2>' in page
    assert '<td class="num">180.50</td>' in page


def test_every_stored_text_is_escaped_in_the_html_export() -> None:
    idea = rich_idea(
        title=f"Title {XSS}",
        summary=f"Summary {XSS}",
        rationale=f"Rationale {XSS}",
        counter_arguments=[f"Counter {XSS}"],
        tags=["momentum"],
        supporting_evidence=[
            Evidence(
                claim=f"Claim {XSS}",
                citation=MarketCitation(
                    symbol="AAPL", series="volatility_63d", start=date(2023, 9, 29), end=date(2023, 12, 29), value=0.2
                ),
            )
        ],
        compliance=ComplianceStatus(
            checks=[ComplianceCheck(name="concentration", passed=True, detail=f"Detail {XSS}")],
            issues=[ComplianceIssue(rule="stale_data", severity=Severity.LOW, message=f"Issue {XSS}")],
            disclosures=[f"Disclosure {XSS}"],
        ),
    )
    page = _html(full_view(idea), None)
    assert "<script" not in page
    assert "<img src=x" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    for label in ("Title", "Summary", "Rationale", "Counter", "Claim", "Detail", "Issue", "Disclosure"):
        assert f"{label} {escaped}" in page, label
    fields = html_fields(page)
    assert f"Title {XSS}" in fields.headings  # the text itself survives, as text
    assert f"Issue {XSS}" in " ".join(fields.items)


def test_the_export_api_serves_the_complete_styled_page(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    """Through the route the idea page links to: the same page, with its security headers."""
    user = web()
    owner = user.account.user
    stored = rich_idea(
        owner_id=owner.id,
        organisation_id=owner.organisation_id,
        supporting_evidence=[item for item in rich_idea().supporting_evidence if item.citation.kind == "market"],
    )
    sample_container.ideas.add(stored)
    page = user.api("GET", f"/api/v1/ideas/{stored.id}/export", params={"format": "html"})
    assert page.status_code == 200, page.text[:300]
    assert page.headers["content-type"].startswith("text/html")
    assert "style-src 'unsafe-inline'" in page.headers["content-security-policy"]
    markdown = user.api("GET", f"/api/v1/ideas/{stored.id}/export", params={"format": "markdown"})
    assert markdown.status_code == 200
    parsed, expected = html_fields(page.text), markdown_fields(markdown.text)
    assert (parsed.facts, parsed.rows, parsed.items) == (expected.facts, expected.rows, expected.items)
    assert ("AAPL", "180.50", "205.25 (+13.7%)", "165.00 (-8.6%)") in parsed.rows
    assert parsed.facts["Suggested weight"] == "4.5% of the portfolio"
    assert "<style>" in page.text
