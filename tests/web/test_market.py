"""The market page: symbol search, the price chart's data, the date range (as a market citation opens it),
point in time, the risk table (equal to the analytics service's figures), and refused input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from html import unescape
from typing import Any

import pytest

from investai.bootstrap import Container
from investai.domain.citations import MarketCitation
from investai.domain.market import MarketStoreBusy
from investai.domain.users import Role
from investai.services.market import parse_as_of
from investai.web.links import market_citation_href
from investai.web.rendering import _num, _pct
from investai.web.routes.market import POSITIVE_LOSSES, RISK_ROWS
from tests.web.conftest import WebUser

LAST_BAR = "2022-12-28"


def json_block(html: str, block_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert found, f"no JSON block {block_id}"
    return json.loads(found.group(1))


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:p|div|table)>', html, re.S)
    assert found, f"no element {element_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def risk_cells(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-metric="([a-z_0-9]+)">([^<]*)</td>', html))


def expected_cells(figures: dict[str, Any]) -> dict[str, str]:
    """The service's figures as the page shows them: every loss (VaR, CVaR, drawdown) as a negative return."""

    def shown(key: str) -> Any:
        value = figures[key]
        return -value if key in POSITIVE_LOSSES and value is not None else value

    return {key: (_pct(shown(key), 2) if kind == "pct" else _num(shown(key))) for key, _label, kind in RISK_ROWS}


def test_the_default_page_shows_the_first_symbol_over_the_last_year(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    html = web().page("/market").text
    first = sample_container.market.symbols(limit=1)[0]
    assert "<h1>Market</h1>" in html
    assert f"{first.symbol} · {first.name}" in html
    assert '<label for="symbol">Symbol</label>' in html
    assert '<datalist id="symbol-options">' in html
    assert '<option value="MSFT">' in html
    assert '<option value="Energy">Energy</option>' in html
    coverage = sample_container.market.coverage(first.symbol)
    assert coverage is not None
    assert coverage.last.date.isoformat() == LAST_BAR
    assert f"last close, {LAST_BAR}" in html
    assert _num(coverage.last.adj_close) in html
    assert text_of(html, "range").startswith(f"Showing 2021-12-28 to {LAST_BAR}")
    chart = json_block(html, "market-chart-data")
    assert (chart["symbol"], chart["start"], chart["end"]) == (first.symbol, "2021-12-28", LAST_BAR)
    assert chart["bars"]["date"][-1] == LAST_BAR
    indicators = chart["indicators"]
    assert indicators["date"][0] >= "2021-12-28"
    # computed over the history before the range too, so defined from its first day
    assert None not in indicators["sma_200"]
    assert None not in indicators["rsi_14"]
    assert indicators["bollinger_upper"][0] > indicators["bollinger_lower"][0]
    one_year = '<a class="button" href="/market?symbol=AAPL&amp;start=2021-12-28&amp;end=2022-12-28"'
    assert f'{one_year} aria-current="true">1Y</a>' in html


def test_the_risk_table_equals_the_analytics_service(web: Callable[..., WebUser], sample_container: Container) -> None:
    html = web().page("/market", symbol="jpm", start="2020-01-01", end="2021-12-31").text
    figures = sample_container.analytics.risk("JPM", start=date(2020, 1, 1), end=date(2021, 12, 31))
    assert risk_cells(html) == expected_cells(figures)
    assert len(risk_cells(html)) == len(RISK_ROWS)
    period = " ".join(unescape(re.sub(r"<[^>]+>", " ", html.split('class="risk-period">')[1].split("</p>")[0])).split())
    assert f"Daily returns from {figures['start']} to {figures['end']}" in period
    assert f"({figures['observations']} observations); benchmark: SPX" in period
    for label in (
        "Volatility (annualised)",
        "Sharpe ratio",
        "Sortino ratio",
        "Maximum drawdown",
        "VaR 99%",
        "CVaR 95%",
        "Beta",
        "Alpha (annualised)",
        "Calmar ratio",
    ):
        assert f'<th scope="row">{label}</th>' in html
    assert figures["max_drawdown"] < 0
    assert risk_cells(html)["max_drawdown"].startswith("-")
    assert figures["var_95"] > 0  # the service states VaR as a positive loss; the page as a negative return
    assert risk_cells(html)["var_95"].startswith("-")


def test_a_market_citation_opens_exactly_its_range(web: Callable[..., WebUser], sample_container: Container) -> None:
    citation = MarketCitation(
        symbol="MSFT", series="volatility_63d", start=date(2021, 3, 1), end=date(2021, 6, 30), value=0.2
    )
    user = web()
    href = market_citation_href(citation)
    assert href == "/market?symbol=MSFT&start=2021-03-01&end=2021-06-30"
    html = user.page(href).text
    assert text_of(html, "range").startswith("Showing 2021-03-01 to 2021-06-30")
    assert '<time datetime="2021-03-01">' in html
    assert '<time datetime="2021-06-30">' in html
    chart = json_block(html, "market-chart-data")
    assert (chart["start"], chart["end"]) == ("2021-03-01", "2021-06-30")
    assert chart["bars"]["date"][0] == "2021-03-01"
    assert chart["bars"]["date"][-1] == "2021-06-30"
    assert chart["indicators"]["date"] == chart["bars"]["date"]
    figures = sample_container.analytics.risk("MSFT", start=citation.start, end=citation.end)
    assert risk_cells(html) == expected_cells(figures)
    assert 'aria-current="true"' not in html  # no preset matches a cited range


def test_as_of_is_passed_through_to_every_figure(web: Callable[..., WebUser], sample_container: Container) -> None:
    html = web().page("/market", symbol="XOM", as_of="2015-06-30").text
    moment = parse_as_of("2015-06-30")
    coverage = sample_container.market.coverage("XOM", as_of=moment)
    assert coverage is not None
    assert coverage.last.date == date(2015, 6, 30)
    assert "Point in time: as of 2015-06-30" in html
    assert "last close, 2015-06-30" in html
    assert text_of(html, "range").startswith("Showing 2014-06-30 to 2015-06-30")
    chart = json_block(html, "market-chart-data")
    assert max(chart["bars"]["date"]) == "2015-06-30"
    figures = sample_container.analytics.risk("XOM", start=date(2014, 6, 30), end=date(2015, 6, 30), as_of=moment)
    assert risk_cells(html) == expected_cells(figures)
    assert "as_of=2015-06-30" in html  # presets keep the point in time


def test_a_date_before_any_data_shows_an_empty_state(web: Callable[..., WebUser]) -> None:
    html = web().page("/market", symbol="MTUM", as_of="2010-01-01").text
    assert "There are no prices for MTUM as of 2010-01-01." in html
    assert "market-chart-data" not in html


def test_a_range_too_short_for_risk_still_shows_prices(web: Callable[..., WebUser]) -> None:
    html = web().page("/market", symbol="AAPL", start="2022-12-01", end="2022-12-09").text
    assert "at least 20 are needed" in html
    assert json_block(html, "market-chart-data")["bars"]["date"][-1] == "2022-12-09"


def test_the_sector_filter_narrows_the_symbol_list(web: Callable[..., WebUser], sample_container: Container) -> None:
    html = web().page("/market", sector="Energy").text
    energy = [info.symbol for info in sample_container.market.symbols(sector="Energy")]
    assert energy
    assert energy[0] in html.split('id="symbol-title">')[1][:20]
    options = re.findall(
        r'<option value="([A-Z^.]+)">', html.split('<datalist id="symbol-options">')[1].split("</datalist>")[0]
    )
    assert options == energy
    assert '<option value="Energy" selected>Energy</option>' in html
    master = json_block(html, "symbol-master")
    assert {item["symbol"] for item in master} > set(energy)  # the script filters the whole master


@pytest.mark.parametrize("role", [Role.PORTFOLIO_MANAGER, Role.ANALYST])
def test_research_roles_see_indicators_and_risk(web: Callable[..., WebUser], role: Role) -> None:
    html = web(role=role).page("/market", symbol="KO").text
    assert json_block(html, "market-chart-data")["indicators"] is not None
    assert 'id="risk-table"' in html


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR])
def test_roles_without_analytics_see_prices_only(web: Callable[..., WebUser], role: Role) -> None:
    html = web(role=role).page("/market", symbol="KO").text
    assert "Coca-Cola" in html
    chart = json_block(html, "market-chart-data")
    assert chart["indicators"] is None
    assert chart["bars"]["date"][-1] == LAST_BAR
    assert 'id="risk-table"' not in html
    assert "Indicators and risk figures need the analytics permission" in html


def test_signed_out_visitors_are_sent_to_sign_in(web: Callable[..., WebUser]) -> None:
    user = web()
    user.client.cookies.clear()
    response = user.client.get("/market?symbol=AAPL", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/market")


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"symbol": "NOPE"}, 404, "unknown symbol &#39;NOPE&#39;"),
        (
            {"symbol": "AAPL", "start": "2021-13-01"},
            422,
            "The start date &#39;2021-13-01&#39; is not a date (YYYY-MM-DD).",
        ),
        ({"symbol": "AAPL", "end": "yesterday"}, 422, "The end date &#39;yesterday&#39; is not a date"),
        ({"symbol": "AAPL", "start": "2022-01-01", "end": "2021-01-01"}, 422, "is after the end date 2021-01-01"),
        ({"symbol": "AAPL", "as_of": "soon"}, 422, "The as of date &#39;soon&#39; is not a date"),
    ],
)
def test_refused_input_answers_the_page_with_a_message(
    web: Callable[..., WebUser], params: dict[str, str], status: int, message: str
) -> None:
    html = web().page("/market", status=status, **params).text
    assert "<h1>Market</h1>" in html
    assert 'role="alert"' in html
    assert message in html
    assert '<label for="symbol">Symbol</label>' in html  # the search stays usable


def test_an_overlong_parameter_is_refused_not_a_500(web: Callable[..., WebUser]) -> None:
    response = web().page("/market", status=422, symbol="A" * 500)
    assert "The request was not valid" in response.text


def test_markup_in_the_parameters_is_escaped(web: Callable[..., WebUser]) -> None:
    user = web()
    # a script tag never reaches the page: the WAF refuses it first
    assert user.client.get("/market", params={"symbol": "<script>alert(1)</script>"}).status_code == 403
    payload = '"><b class=x>bold</b><x-tag data-a=1>'
    html = user.page("/market", status=404, symbol=payload, sector=payload).text
    assert "<b class=x>" not in html.lower()
    assert "<x-tag" not in html.lower()
    assert "unknown symbol &#39;&#34;&gt;&lt;B CLASS=X&gt;BOLD&lt;/B&gt;" in html  # the message, upper-cased
    assert 'value="&#34;&gt;&lt;b class=x&gt;' in html  # the form keeps what was typed, escaped
    html = user.page("/market", status=422, symbol="AAPL", start=payload).text
    assert "<b class=x>" not in html
    assert "&lt;b class=x&gt;" in html


def test_a_busy_market_store_gets_a_clear_message(
    web: Callable[..., WebUser], sample_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = web()

    def busy(*args: object, **kwargs: object) -> None:
        raise MarketStoreBusy("the market store is locked by another process")

    monkeypatch.setattr(sample_container.market, "coverage", busy)
    html = user.page("/market", status=503, symbol="AAPL").text
    assert "Market data is being updated by another process right now" in html
