"""Pages a portfolio manager reads: the market page's candlesticks with volume, people by name (audit log,
document owners and uploaders, in the pages and the API), the idea page's provenance grouped and its risk
figures with one sign convention and their periods, the system page's busiest routes with their counts, and the
ideas list showing (and sorting by) the ranking score."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI

from investai.bootstrap import Container
from investai.domain.citations import Evidence, MarketCitation
from investai.domain.documents import DocumentMetadata, Visibility
from investai.domain.idea_parts import IdeaAnalysis, ModelUse
from investai.domain.ideas import InvestmentIdea
from investai.domain.market import SymbolInfo
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from investai.services.idea_insights import RISK_CONVENTION
from tests.conftest import PASSWORD, Account
from tests.document_files import make_csv
from tests.factories import make_idea
from tests.web.conftest import ORG, WebUser, drain, sign_in


def json_block(page: str, block_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', page, re.S)
    assert found, f"no JSON block {block_id}"
    return json.loads(found.group(1))


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def table(page: str, attribute: str, *, after: str = "") -> list[list[str]]:
    """The body rows of the first table with ``attribute`` (e.g. ``id="risk-metrics"``) after the text ``after``,
    each as the text of its cells."""
    found = re.search(rf"<table[^>]*{attribute}[^>]*>(.*?)</table>", page.split(after, 1)[1] if after else page, re.S)
    assert found, f"no table {attribute}"
    body = found.group(1).split("<tbody>", 1)[1]
    return [
        [text_of(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def named_account(container: Container, name: str, *, role: Role = Role.ANALYST, organisation: str = ORG) -> Account:
    """A signed-up user with a display name."""
    email = f"{name.lower().replace(' ', '.')}.{role.value}.{organisation}@example.com"
    created = container.identity.users.create_user(
        actor=None, email=email, role=role, organisation_id=organisation, display_name=name, password=PASSWORD
    )
    tokens = container.identity.auth.login(email, PASSWORD, CallContext())
    return Account(user=created.user, password=PASSWORD, tokens=tokens)  # type: ignore[arg-type]


def stored_idea(container: Container, owner: Account, **overrides: Any) -> InvestmentIdea:
    """An idea of ``owner``'s, stored as generation stores one (market evidence only, so every reader sees it
    whole)."""
    evidence = Evidence(
        claim="63-day volatility 24%",
        citation=MarketCitation(
            symbol="AAPL", series="volatility_63d", start=date(2022, 9, 29), end=date(2022, 12, 28), value=0.24
        ),
    )
    data: dict[str, Any] = {
        "owner_id": owner.user.id,
        "organisation_id": owner.user.organisation_id,
        "supporting_evidence": [evidence],
    }
    idea = make_idea(**{**data, **overrides})
    container.ideas.add(idea)
    return idea


# --- the market page: candlesticks with volume ------------------------------------------------------------------

CANDLE_DAYS = pd.bdate_range("2022-09-01", "2023-12-29")


@pytest.fixture(scope="module")
def candle_symbol(sample_container: Container) -> pd.DataFrame:
    """A symbol with open, high, low, close, an adjusted close (half the close: one 2-for-1 split) and volume."""
    sample_container.market.upsert_symbols([SymbolInfo(symbol="CNDL", name="Candle Corp", sector="Industrials")])
    count = len(CANDLE_DAYS)
    close = [round(100.0 + 5.0 * math.sin(index / 10), 4) for index in range(count)]
    opened = [value - 0.5 if index % 2 else value + 0.5 for index, value in enumerate(close)]
    frame = pd.DataFrame(
        {
            "symbol": "CNDL",
            "date": [day.date().isoformat() for day in CANDLE_DAYS],
            "open": opened,
            "high": [max(pair) + 1.0 for pair in zip(opened, close, strict=True)],
            "low": [min(pair) - 1.0 for pair in zip(opened, close, strict=True)],
            "close": close,
            "adj_close": [value / 2 for value in close],
            "volume": [1_000_000.0 + 1_000 * index for index in range(count)],
        }
    )
    report = sample_container.market.ingest_bars(frame, source="test", history=True)
    assert report.accepted == count, report
    return frame


def resolve(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node[key]
    return node


def test_the_market_chart_draws_candlesticks_with_volume(
    web: Callable[..., WebUser], candle_symbol: pd.DataFrame
) -> None:
    page = web().page("/market", symbol="CNDL", start="2023-06-01", end="2023-12-29").text
    data = json_block(page, "market-chart-data")
    figure = data["figure"]
    traces = {spec["props"]["type"] + ":" + spec["props"]["name"]: spec for spec in figure["traces"]}
    (candle,) = [spec for spec in figure["traces"] if spec["props"]["type"] == "candlestick"]
    assert set(candle["columns"]) == {"x", "open", "high", "low", "close"}
    shown = candle_symbol[candle_symbol["date"] >= "2023-06-01"]
    assert resolve(data, candle["columns"]["x"]) == list(shown["date"])
    for name in ("open", "high", "low", "close"):  # adjusted like the adjusted close, so the indicators fit
        assert resolve(data, candle["columns"][name]) == pytest.approx(list(shown[name] / 2)), name
    assert candle["props"].get("visible", True) is True
    assert "yaxis" not in candle["props"] or candle["props"]["yaxis"] == "y"

    (volume,) = [spec for spec in figure["traces"] if spec["props"]["name"] == "Volume"]
    assert volume["props"]["type"] == "bar"
    assert resolve(data, volume["columns"]["y"]) == list(shown["volume"])
    assert resolve(data, volume["columns"]["x"]) == list(shown["date"])
    assert volume["props"]["yaxis"] == "y2"  # its own panel, below the prices
    layout = figure["layout"]
    assert layout["yaxis2"]["domain"][1] < layout["yaxis"]["domain"][0]
    assert layout["yaxis2"]["title"]["text"] == "Volume"
    colours = resolve(data, volume["columns"]["marker.color"])
    assert len(colours) == len(shown)
    assert any(trace.startswith("scatter:SMA 200") for trace in traces)  # the indicators still overlay
    assert layout["xaxis"]["range"] == ["2023-06-01", "2023-12-29"]
    assert layout["xaxis"]["rangeslider"] == {"visible": False}
    assert "CNDL daily candlesticks and volume from 2023-06-01" in page


def test_without_open_high_low_or_volume_the_chart_draws_the_close(web: Callable[..., WebUser]) -> None:
    """The sample history has one price a day: no candle or volume is invented."""
    data = json_block(web().page("/market", symbol="AAPL").text, "market-chart-data")
    types = [spec["props"]["type"] for spec in data["figure"]["traces"]]
    assert "candlestick" not in types
    assert "Volume" not in [spec["props"]["name"] for spec in data["figure"]["traces"]]
    (close,) = [spec for spec in data["figure"]["traces"] if spec["props"]["name"] == "AAPL adjusted close"]
    assert close["props"].get("visible", True) is True
    assert resolve(data, close["columns"]["y"]) == data["bars"]["adj_close"]


# --- people by name ---------------------------------------------------------------------------------------------


def test_the_audit_log_names_its_actors(sample_app: FastAPI, sample_container: Container) -> None:
    admin = sign_in(sample_app, named_account(sample_container, "Avery Admin", role=Role.ADMINISTRATOR))
    dana = named_account(sample_container, "Dana Whitfield")
    erin = named_account(sample_container, "Erin Gone")
    erin_principal = sample_container.identity.verifier.verify(erin.tokens.access_token)
    sample_container.identity.profiles.erase(erin_principal, CallContext())

    page = admin.page("/admin/audit").text
    records = table(page, 'class="audit"')
    logins = {row[4] for row in records if row[2] == "auth.login"}
    assert f"Dana Whitfield {dana.user.id}" in logins  # the name, with the id beneath
    assert f"{erin.user.id} (deleted user)" in logins  # an erased account keeps its id, marked
    assert "Erin Gone" not in page
    erased = [row for row in records if row[2] == "user.erased"]
    assert erased[0][5] == f"user {erin.user.id} (deleted user)"
    assert f'href="/admin/audit?actor={dana.user.id}"' in page  # still filters by id

    # the API answers the same names beside the ids
    events = admin.api("GET", "/api/v1/admin/audit", params={"action": "auth.login"}).json()
    by_actor = {event["actor_id"]: event for event in events}
    assert by_actor[dana.user.id]["actor_name"] == "Dana Whitfield"
    assert by_actor[erin.user.id]["actor_name"] == f"{erin.user.id} (deleted user)"
    erasures = admin.api("GET", "/api/v1/admin/audit", params={"action": "user.erased"}).json()
    assert erasures[0]["resource_name"] == f"{erin.user.id} (deleted user)"

    # another organisation's auditor never sees them, by name or otherwise
    other = sign_in(
        sample_app, named_account(sample_container, "Olive Other", role=Role.ADMINISTRATOR, organisation="org_2")
    )
    assert "Dana Whitfield" not in other.page("/admin/audit").text
    assert "Dana Whitfield" not in other.api("GET", "/api/v1/admin/audit").text


def test_document_owners_and_uploaders_are_named_to_their_readers(
    sample_app: FastAPI, sample_container: Container, tmp_path: Path
) -> None:
    owner_account = named_account(sample_container, "Olivia Owner")
    owner = sign_in(sample_app, owner_account)
    principal = sample_container.identity.verifier.verify(owner_account.tokens.access_token)
    shared = sample_container.knowledge.documents.upload(
        principal,
        CallContext(),
        content=make_csv(["ticker", "eps"], [["AAPL", 6.1]]),
        filename="eps.csv",
        metadata=DocumentMetadata(title="Shared estimates", visibility=Visibility.ORGANISATION),
    )
    private = sample_container.knowledge.documents.upload(
        principal,
        CallContext(),
        content=make_csv(["ticker", "eps"], [["MSFT", 9.9]]),
        filename="mine.csv",
        metadata=DocumentMetadata(title="Private estimates"),
    )
    drain(sample_container)
    reader = sign_in(sample_app, named_account(sample_container, "Riley Reader", role=Role.PORTFOLIO_MANAGER))

    listing = reader.page("/documents").text
    row = listing.split(f'data-document-id="{shared.id}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="owner">Olivia Owner</td>' in row
    assert private.id not in listing
    detail = reader.page(f"/documents/{shared.id}").text
    assert '<dd id="document-owner">Olivia Owner</dd>' in detail
    assert '<td class="uploaded-by">Olivia Owner</td>' in detail
    assert owner_account.user.id not in text_of(detail.split('id="versions-heading"', 1)[1].split("</table>", 1)[0])
    assert '<dd id="document-owner">you</dd>' in owner.page(f"/documents/{shared.id}").text

    body = reader.api("GET", f"/api/v1/documents/{shared.id}").json()
    assert (body["owner_id"], body["owner_name"]) == (owner_account.user.id, "Olivia Owner")
    assert body["versions"][0]["uploaded_by"] == owner_account.user.id
    assert body["versions"][0]["uploaded_by_name"] == "Olivia Owner"
    listed = {item["id"]: item for item in reader.api("GET", "/api/v1/documents").json()}
    assert listed[shared.id]["owner_name"] == "Olivia Owner"
    versions = reader.api("GET", f"/api/v1/documents/{shared.id}/versions").json()
    assert versions[0]["uploaded_by_name"] == "Olivia Owner"
    assert reader.api("GET", f"/api/v1/documents/{private.id}").status_code == 404  # nor any name with it

    # an owner who erased their account shows by id, marked as deleted
    sample_container.identity.profiles.erase(principal, CallContext())
    detail = reader.page(f"/documents/{shared.id}").text
    assert f'<dd id="document-owner">{owner_account.user.id} (deleted user)</dd>' in detail
    again = reader.api("GET", f"/api/v1/documents/{shared.id}").json()
    assert again["owner_name"] == f"{owner_account.user.id} (deleted user)"


# --- the idea page: provenance grouped, risk figures with one convention ----------------------------------------


def test_the_provenance_table_groups_identical_model_calls(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    offline = ModelUse(
        step="synthesis", provider="offline", model_id="template", offline=True, input_tokens=10, output_tokens=4
    )
    priced = ModelUse(
        step="commentary", provider="bedrock", model_id="quant", input_tokens=900, output_tokens=100, cost_usd=0.01
    )
    provenance = make_idea().provenance.model_copy(update={"models": [offline] * 17 + [priced, priced]})
    idea = stored_idea(sample_container, user.account, provenance=provenance)
    page = user.page(f"/ideas/{idea.id}").text
    rows = table(page, "", after="Models by step")
    assert rows == [
        ["synthesis", "offline · template offline", "17", "—", "170 / 68", "0.0000", "0 ms"],
        ["commentary", "bedrock · quant", "2", "—", "1,800 / 200", "0.0200", "0 ms"],
    ]


def test_risk_figures_have_one_sign_convention_and_their_periods(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    idea = stored_idea(sample_container, user.account)  # drawdown -31%, one-day VaR 95% -2.1%: losses
    page = user.page(f"/ideas/{idea.id}").text
    metrics = {row[0]: row[1] for row in table(page, 'id="risk-metrics"')}
    assert metrics["Volatility (annualised)"] == "24.00%"
    assert metrics["Maximum drawdown (over the price window)"] == "-31.00%"
    assert metrics["VaR 95% (one day)"] == "-2.10%"
    assert f'<caption id="risk-convention" class="hint">{html.escape(RISK_CONVENTION)}</caption>' in page
    assert "losses over one trading day" not in page  # a drawdown is over the window, not one day
    risks = page.split('id="panel-risks"', 1)[1]
    assert "Maximum drawdown over the price window</dt><dd>-31.0%</dd>" in risks
    assert "VaR 95% (one day)</dt><dd>-2.10%</dd>" in risks
    markdown = user.api("GET", f"/api/v1/ideas/{idea.id}/export", params={"format": "markdown"}).text
    assert f"*{RISK_CONVENTION}*" in markdown
    assert "| VaR 95% (one day) | -2.10% | not computed |" in markdown
    assert "| Maximum drawdown (over the price window) | -31.00% | not computed |" in markdown


# --- the system page --------------------------------------------------------------------------------------------


def test_the_busiest_routes_show_their_counts(sample_app: FastAPI, sample_container: Container) -> None:
    admin = sign_in(sample_app, named_account(sample_container, "Sam Sysop", role=Role.ADMINISTRATOR))
    for _ in range(3):
        admin.page("/admin/audit")
    admin.api("GET", "/api/v1/documents/doc_nothing/tables")  # a long route: its count must stay in view
    counted = sample_container.metrics.totals("investai_http_requests_total", "method", "route")
    page = admin.page("/admin/system").text  # counted once it has answered
    rows = table(page, "", after="Busiest routes")
    assert rows, "no busiest routes"
    for count, route in rows:  # the count first: a long route wraps beside it, never pushes it out of view
        method, path = route.split(" ", 1)
        assert count == f"{int(counted[(method, path)]):,}", route
    assert '<th scope="col" class="num">Requests</th><th scope="col">Route</th>' in page
    css = (Path(__file__).resolve().parents[2] / "src/investai/web/static/css/admin.css").read_text()
    rule = css.split("table.busiest td.route code", 1)[1].split("}", 1)[0]
    assert "overflow-wrap: anywhere" in rule


# --- the ideas list ---------------------------------------------------------------------------------------------


def test_the_ideas_list_shows_and_sorts_by_the_ranking_score(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    scores = {"low": 0.21, "high": 0.93, "middle": 0.55}
    ideas = {}
    for name, score in scores.items():
        analysis = IdeaAnalysis(
            composite=0.5,
            rank=1,
            screened=10,
            ranking_score=score,
            data_start=date(2021, 1, 4),
            data_end=date(2022, 12, 28),
        )
        ideas[name] = stored_idea(sample_container, user.account, title=f"Idea {name}", analysis=analysis)
    without = stored_idea(sample_container, user.account, title="Idea without analysis")

    page = user.page("/ideas", sort="ranking").text
    assert '<option value="ranking" selected>Ranking score, highest first</option>' in page
    header = re.search(r'<th scope="col" class="num"[^>]*aria-sort="descending"[^>]*>Ranking score', page)
    assert header, "the ranking score column is not marked as the sorted one"
    order = re.findall(r'<td><a href="/ideas/([^"]+)">', page.split("<tbody>", 1)[1])
    assert order == [ideas["high"].id, ideas["middle"].id, ideas["low"].id, without.id]
    cells = re.findall(r'<td class="num" data-column="ranking">([^<]*)</td>', page)
    assert cells == ["0.930", "0.550", "0.210", "n/a"]

    newest = user.page("/ideas").text  # every sort shows the ranking score; the sorted column is marked
    assert '<td class="num" data-column="ranking">0.930</td>' in newest
    assert re.search(r'aria-sort="descending"[^>]*>Generated', newest)
