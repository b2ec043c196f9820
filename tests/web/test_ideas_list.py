"""The ideas list (filters, sorting, scope) and the comparison of ideas side by side."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from markupsafe import escape

from investai.bootstrap import Container
from investai.domain.ideas import InvestmentIdea
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from tests.conftest import sign_up
from tests.web.conftest import NOW, ORG, WebUser, drain, sign_in


@dataclass
class Generated:
    owner: WebUser
    ideas: list[InvestmentIdea]


@pytest.fixture(scope="module")
def generated(sample_app: FastAPI, sample_container: Container) -> Generated:
    """An analyst with three ideas of their own."""
    account = sign_up(sample_container, role=Role.ANALYST, organisation=ORG)
    principal = sample_container.identity.verifier.verify(account.tokens.access_token)
    record = sample_container.idea_requests.submit(
        principal, CallContext(), {"max_ideas": 3, "min_confidence": 0.0, "tickers": ["AAPL", "MSFT", "JPM", "XOM"]}
    )
    drain(sample_container)
    ideas = sample_container.idea_requests.results(principal, CallContext(), record.id)
    assert len(ideas) >= 2, "the sample data should give at least two ideas"
    return Generated(owner=sign_in(sample_app, account), ideas=ideas)


def rows(page: str) -> list[str]:
    """The idea ids of the table's rows, in order."""
    body = page.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page else ""
    return re.findall(r'<td><a href="/ideas/([^"]+)">', body)


def listed(user: WebUser, **params: str) -> str:
    """The list page for these query parameters (``status`` included, which ``WebUser.page`` keeps for itself)."""
    response = user.client.get("/ideas", params=params)
    assert response.status_code == 200, response.text[:500]
    return response.text


def test_the_list_shows_each_idea_with_its_key_figures(generated: Generated) -> None:
    page = generated.owner.page("/ideas").text
    assert "<h1>Ideas</h1>" in page
    assert sorted(rows(page)) == sorted(idea.id for idea in generated.ideas)  # newest first; these share a time
    first = generated.ideas[0]
    assert f'<a href="/ideas/{first.id}">{escape(first.title)}</a>' in page
    for header in ("Symbols", "Strategy", "Horizon", "Confidence", "Expected return (range)", "Risk level", "Status"):
        assert f">{header}</th>" in page
    assert f"{first.confidence * 100:.0f}%" in page
    assert f"{first.expected_return.point * 100:.1f}%" in page
    assert '<span class="badge status-draft">draft</span>' in page
    assert ">Compare</button>" in page
    assert f'name="id" value="{first.id}"' in page
    assert 'for="scope"' not in page  # an analyst sees only their own: no scope to choose


def test_filters_narrow_the_list(generated: Generated) -> None:
    user, ideas = generated.owner, generated.ideas
    symbol = ideas[0].instruments[0].symbol
    assert rows(user.page("/ideas", symbol=symbol.lower()).text) == [ideas[0].id]
    assert rows(listed(user, status="draft"))
    empty = listed(user, status="approved")
    assert rows(empty) == []
    assert "No idea matches these filters." in empty
    strategy = ideas[0].strategy.value
    assert ideas[0].id in rows(user.page("/ideas", strategy=strategy).text)
    day = NOW.date().isoformat()
    assert len(rows(user.page("/ideas", **{"from": day, "to": day}).text)) == len(ideas)
    assert rows(user.page("/ideas", **{"from": "2099-01-01"}).text) == []
    assert rows(user.page("/ideas", **{"to": "2000-01-01"}).text) == []
    odd = listed(user, status="nonsense", strategy="nonsense", **{"from": "yesterday"})
    assert "Generated from must be a date (YYYY-MM-DD); it was ignored." in odd
    assert len(rows(odd)) == len(ideas)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("confidence", lambda idea: -idea.confidence),
        ("expected_return", lambda idea: -idea.expected_return.point),
        ("risk", lambda idea: (idea.risk_level.rank, -idea.confidence)),
    ],
)
def test_sorting(generated: Generated, sort: str, key: Callable[[InvestmentIdea], object]) -> None:
    page = generated.owner.page("/ideas", sort=sort).text
    assert rows(page) == [idea.id for idea in sorted(generated.ideas, key=key)]  # type: ignore[arg-type, return-value]
    assert f'<option value="{sort}" selected>' in page


def test_scope_for_organisation_wide_readers(generated: Generated, web: Callable[..., WebUser]) -> None:
    manager = web(role=Role.PORTFOLIO_MANAGER)
    organisation = manager.page("/ideas").text
    assert 'for="scope"' in organisation
    assert set(rows(organisation)) >= {idea.id for idea in generated.ideas}
    assert rows(manager.page("/ideas", scope="mine").text) == []
    colleague = web()  # an analyst sees only their own
    assert rows(colleague.page("/ideas").text) == []
    assert "No ideas yet." in colleague.page("/ideas").text
    outsider = web(role=Role.PORTFOLIO_MANAGER, organisation="org_other")
    assert not set(rows(outsider.page("/ideas").text)) & {idea.id for idea in generated.ideas}


def test_compare_two_ideas_side_by_side(generated: Generated) -> None:
    first, second = generated.ideas[:2]
    response = generated.owner.client.get(f"/ideas/compare?id={first.id}&id={second.id}")
    assert response.status_code == 200, response.text[:500]
    page = response.text
    assert "<h1>Compare ideas</h1>" in page
    for idea in (first, second):
        assert f'<th scope="col"><a href="/ideas/{idea.id}">{escape(idea.title)}</a></th>' in page
    for figure in ("Confidence", "Expected return", "Return range", "Volatility (annual)", "Sharpe ratio"):
        assert f'<th scope="row">{figure}</th>' in page
    for figure in ("Max drawdown", "VaR 95%", "Position weight", "Horizon", "Risk level", "Compliance", "Status"):
        assert f'<th scope="row">{figure}</th>' in page
    data = json.loads(html.unescape(re.search(r'id="compare-data">(.*?)</script>', page, re.S).group(1)))  # type: ignore[union-attr]
    assert [series["id"] for series in data] == [first.id, second.id]
    assert data[0]["days"]
    assert len(data[0]["percentiles"]["50"]) == len(data[0]["days"])
    assert set(data[0]["outcomes"]) == {outcome.scenario.value for outcome in first.outcomes}
    assert '<script src="/static/vendor/plotly.min.js" defer></script>' in page


def test_compare_needs_two_to_six_visible_ideas(generated: Generated, web: Callable[..., WebUser]) -> None:
    user, ideas = generated.owner, generated.ideas
    one = user.client.get(f"/ideas/compare?id={ideas[0].id}")
    assert one.status_code == 422
    assert "choose between 2 and 6 ideas to compare" in one.text
    assert user.client.get("/ideas/compare").status_code == 422
    seven = "&".join(f"id=idea{index}" for index in range(7))
    assert user.client.get(f"/ideas/compare?{seven}").status_code == 422
    colleague = web()
    hidden = colleague.client.get(f"/ideas/compare?id={ideas[0].id}&id={ideas[1].id}")
    assert hidden.status_code == 404
    assert ideas[0].title not in hidden.text


def test_the_list_needs_the_read_permission(web: Callable[..., WebUser]) -> None:
    admin = web(role=Role.ADMINISTRATOR)
    assert "Your role does not allow this page." in admin.page("/ideas", status=403).text
    admin.page("/ideas/compare", status=403, id=["a", "b"])


def test_titles_are_escaped(generated: Generated, sample_container: Container) -> None:
    idea = sample_container.ideas.get(generated.ideas[-1].id)  # the stored idea: a reader's view is never revised
    payload = '<img src=x onerror="alert(1)">'
    sample_container.ideas.add(idea.revise(at=NOW, title=payload))
    page = generated.owner.page("/ideas").text
    assert payload not in page
    assert escape(payload) in page
    compared = generated.owner.client.get(f"/ideas/compare?id={idea.id}&id={generated.ideas[0].id}").text
    assert payload not in compared
