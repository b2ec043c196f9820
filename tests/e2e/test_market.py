"""The market page and the dashboard's market overview in a real browser: choose a symbol, see the chart drawn
and the risk table, open a cited range, and see the overview chart; no console error, no failed request."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Session
from tests.e2e.flows import new_user_session


def expect_chart_drawn(page: Page, selector: str) -> None:
    chart = page.locator(selector)
    expect(chart.locator(".plot-container")).to_be_visible()
    expect(chart.locator("svg.main-svg").first).to_be_visible()


def test_choose_a_symbol_and_read_its_chart_and_risk(open_session: Callable[..., Session], server: Server) -> None:
    session = open_session("analyst")
    new_user_session(session, server, "analyst", "market")
    page = session.page

    expect_chart_drawn(page, "#market-overview")
    expect(page.locator("#market-overview")).to_contain_text("SPX")

    page.get_by_role("link", name="Market", exact=True).click()
    expect(page.get_by_role("heading", name="Market", level=1)).to_be_visible()
    expect_chart_drawn(page, "#price-chart")  # the first symbol of the master, by default

    page.get_by_label("Sector").select_option("Energy")
    options = page.locator("#symbol-options option").evaluate_all("nodes => nodes.map(node => node.value)")
    assert options
    assert "XOM" in options
    assert "AAPL" not in options
    page.get_by_label("Symbol", exact=True).fill("XOM")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/market\?symbol=XOM"))
    expect(page.get_by_role("heading", name=re.compile(r"^XOM · Exxon"))).to_be_visible()
    expect_chart_drawn(page, "#price-chart")
    expect(page.locator("#price-chart")).to_contain_text("SMA 200")
    table = page.locator("#risk-table")
    expect(table).to_be_visible()
    expect(table.get_by_role("row", name=re.compile(r"^Volatility \(annualised\) \d+\.\d\d%$"))).to_be_visible()
    expect(table.get_by_role("row", name=re.compile(r"^Maximum drawdown -\d+\.\d\d%$"))).to_be_visible()
    expect(page.locator(".risk-period")).to_contain_text("benchmark: SPX")

    page.get_by_role("link", name="3Y").click()
    expect(page.locator("#range")).to_contain_text("Showing 2019-12-28 to 2022-12-28")
    expect(page.get_by_role("link", name="3Y")).to_have_attribute("aria-current", "true")
    expect_chart_drawn(page, "#price-chart")


def test_a_cited_range_is_shown_exactly(open_session: Callable[..., Session], server: Server) -> None:
    session = open_session("analyst")
    new_user_session(session, server, "analyst", "citation")
    page = session.page
    expect_chart_drawn(page, "#market-overview")  # the dashboard has finished loading before we leave it

    session.goto("/market?symbol=MSFT&start=2021-03-01&end=2021-06-30")
    expect(page.locator("#range")).to_contain_text("Showing 2021-03-01 to 2021-06-30")
    expect_chart_drawn(page, "#price-chart")
    x_range = page.locator("#price-chart").evaluate("node => node.layout.xaxis.range")
    assert [str(value)[:10] for value in x_range] == ["2021-03-01", "2021-06-30"]
    expect(page.locator("#risk-table")).to_be_visible()
