"""Web pages: requesting ideas (the form, then the request's live progress), the ideas list and comparison.

The form posts through the page script to the same API the REST clients use (``/api/v1/ideas/requests``);
without JavaScript it posts here and the same service takes it. ``/ideas/new``, ``/ideas/requests/…`` and
``/ideas/compare`` are defined before the idea detail page's ``/ideas/{idea_id}``, which would shadow them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.agents import WORKERS
from investai.domain.errors import BudgetExceeded, ValidationFailed
from investai.domain.idea_jobs import RequestStatus
from investai.domain.idea_parts import AssetClass, Strategy, TimeHorizon
from investai.domain.idea_request import REQUEST_TEMPLATES, IdeaRequest, Priority, ResearchDepth
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import EsgPreference, RiskTolerance
from investai.http.deps import ContainerDep, Context
from investai.http.errors import headers_of
from investai.http.schemas import idea_request_public
from investai.services.idea_requests import RequestValidationFailed
from investai.web.budgets import budget_refusal
from investai.web.deps import IdeaReaderPage, IdeaRequesterPage
from investai.web.rendering import render

router = APIRouter()
E = TypeVar("E", bound=StrEnum)
RequestId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
SCALAR_FIELDS = (
    "template",
    "risk_tolerance",
    "investment_horizon",
    "amount",
    "currency",
    "universe",
    "esg",
    "min_confidence",
    "max_ideas",
    "research_depth",
    "as_of",
    "priority",
    "callback_url",
)
MAX_FIELD_CHARS = 2000
MAX_HOLDING_ROWS = 500
EMPTY_HOLDING_ROWS = 3
SYMBOL_SPLIT = re.compile(r"[\s,;]+")
LIST_LIMIT = 200
COMPARE_MIN, COMPARE_MAX = 2, 6


def ranking_score(idea: InvestmentIdea) -> float | None:
    """The score the agents ranked the idea's candidate by (a weighted blend of confidence, risk-return fit,
    quality and novelty, horizon fit and timing, from 0 to 1), or ``None`` for an idea that kept no analysis."""
    return idea.analysis.ranking_score if idea.analysis else None


def _by_ranking(idea: InvestmentIdea) -> tuple[bool, float]:
    score = ranking_score(idea)
    return score is None, -(score or 0.0)


SORTS = {
    "newest": ("Newest first", lambda idea: -idea.timestamp),
    "ranking": ("Ranking score, highest first", _by_ranking),
    "confidence": ("Confidence, highest first", lambda idea: -idea.confidence),
    "expected_return": ("Expected return, highest first", lambda idea: -idea.expected_return.point),
    "risk": ("Risk level, lowest first", lambda idea: (idea.risk_level.rank, -idea.confidence)),
}
SORTED_COLUMN = {
    "newest": "generated",
    "ranking": "ranking",
    "confidence": "confidence",
    "expected_return": "expected_return",
    "risk": "risk",
}
"""The list's column that shows the figure each sort orders by (marked as sorted on the page)."""


# --- the request form --------------------------------------------------------------------------------------


async def form_data(request: Request) -> FormData:
    """The posted form (small: the session middleware refuses bodies over its limit before this runs)."""
    return await request.form()


Form = Annotated[FormData, Depends(form_data)]


def values_of(request: IdeaRequest, template: str | None = None) -> dict[str, Any]:
    """A request as the form's field values (strings, lists of strings, holding rows)."""
    data = request.model_dump(mode="json")
    values: dict[str, Any] = {name: "" if data.get(name) is None else str(data[name]) for name in SCALAR_FIELDS}
    values.update(
        template=template or "",
        sectors=list(request.sectors),
        asset_classes=[item.value for item in request.asset_classes],
        tickers=", ".join(request.tickers),
        exclusions=", ".join(request.exclusions),
        holdings=[(holding.symbol, f"{holding.weight:g}") for holding in request.holdings],
    )
    return values


def values_from_form(form: FormData) -> dict[str, Any]:
    """The submitted field values as typed (kept for a form shown again with its errors)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""

    def texts(name: str) -> list[str]:
        return [item.strip()[:MAX_FIELD_CHARS] for item in form.getlist(name) if isinstance(item, str)]

    values: dict[str, Any] = {name: text(name) for name in SCALAR_FIELDS}
    values.update(
        sectors=[item for item in texts("sectors") if item],
        asset_classes=[item for item in texts("asset_classes") if item],
        tickers=text("tickers"),
        exclusions=text("exclusions"),
    )
    rows = zip(texts("holding_symbol"), texts("holding_weight"), strict=False)
    values["holdings"] = [(symbol, weight) for symbol, weight in rows if symbol or weight][:MAX_HOLDING_ROWS]
    return values


def submission(values: dict[str, Any]) -> dict[str, Any]:
    """The API body the form's values describe: blank fields are left to the template or the defaults."""
    body: dict[str, Any] = {name: values[name] for name in SCALAR_FIELDS if values.get(name)}
    body.update(
        sectors=values["sectors"],
        asset_classes=values["asset_classes"],
        tickers=[symbol for symbol in SYMBOL_SPLIT.split(values["tickers"]) if symbol],
        exclusions=[symbol for symbol in SYMBOL_SPLIT.split(values["exclusions"]) if symbol],
        holdings=[{"symbol": symbol, "weight": weight} for symbol, weight in values["holdings"]],
    )
    return body


def with_template(values: dict[str, Any], name: str) -> dict[str, Any]:
    """The values with a template's parameters applied (what the page script does when one is chosen)."""
    template = REQUEST_TEMPLATES.get(name)
    if template is None:
        return {**values, "template": ""}
    return {**values, **{key: str(value) for key, value in template.parameters.items()}, "template": name}


def field_errors(details: list[dict[str, Any]]) -> tuple[dict[str, list[str]], list[str]]:
    """Problems by form field (the first part of each ``loc``), and those of the request as a whole."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for detail in details:
        loc = [part for part in detail.get("loc", []) if part != "body"]
        message = str(detail.get("msg", "not valid")).removeprefix("Value error, ")
        where = ", ".join(f"row {part + 1}" if isinstance(part, int) else str(part) for part in loc[1:])
        if where:
            message = f"{where}: {message}"
        if loc:
            by_field.setdefault(str(loc[0]), []).append(message)
        else:
            general.append(message)
    return by_field, general


def _defaults(container: Container, principal: Principal) -> dict[str, Any]:
    """The form's starting values: the request the user's profile preferences suggest."""
    preferences = container.identity.profiles.get(principal).preferences
    return values_of(container.idea_requests.defaults(preferences))


def _form_page(
    request: Request, container: Container, principal: Principal, values: dict[str, Any], **extra: Any
) -> Response:
    symbols = container.market.symbols(limit=2000)
    status = extra.pop("status_code", 200)
    context = {
        "values": values,
        "defaults": _defaults(container, principal),
        "templates": list(REQUEST_TEMPLATES.values()),
        "template_data": [template.model_dump(mode="json") for template in REQUEST_TEMPLATES.values()],
        "choices": {
            "risk_tolerance": list(RiskTolerance),
            "investment_horizon": list(TimeHorizon),
            "esg": list(EsgPreference),
            "research_depth": list(ResearchDepth),
            "priority": list(Priority),
        },
        "asset_classes": list(AssetClass),
        "sectors": sorted({info.sector for info in symbols if info.sector} | set(values["sectors"])),
        "symbols": symbols,
        "empty_rows": max(0, EMPTY_HOLDING_ROWS - len(values["holdings"])),
        "errors": {},
        "form_errors": [],
        "warnings": [],
        "budget_refusal": None,
        **extra,
    }
    return render(request, "ideas/new.html", context, status_code=status)


@router.get("/ideas/new")
def new_request_page(
    request: Request,
    principal: IdeaRequesterPage,
    container: ContainerDep,
    template: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    values = _defaults(container, principal)
    if template:
        values = with_template(values, template)
    return _form_page(request, container, principal, values)


@router.post("/ideas/new")
def submit_request(
    request: Request, form: Form, principal: IdeaRequesterPage, container: ContainerDep, ctx: Context
) -> Response:
    values = values_from_form(form)
    if form.get("action") == "apply_template":
        return _form_page(request, container, principal, with_template(values, values["template"]))
    try:
        record = container.idea_requests.submit(principal, ctx, submission(values))
    except RequestValidationFailed as exc:
        errors, general = field_errors(exc.details)
        return _form_page(
            request, container, principal, values, errors=errors, form_errors=general or [str(exc)], status_code=422
        )
    except BudgetExceeded as exc:  # the form again, as filled in, with the budget, the spend and the reset
        request.state.error_code = exc.code
        page = _form_page(request, container, principal, values, budget_refusal=budget_refusal(exc), status_code=429)
        page.headers.update(headers_of(exc) or {})
        return page
    return RedirectResponse(f"/ideas/requests/{record.id}", status_code=303)


# --- a request's progress ----------------------------------------------------------------------------------


def idea_summary(idea: InvestmentIdea) -> dict[str, Any]:
    """What the progress page lists of each resulting idea (the same fields the page script shows)."""
    return {
        "id": idea.id,
        "title": idea.title,
        "symbols": [instrument.symbol for instrument in idea.instruments],
        "confidence": idea.confidence,
        "status": idea.status.value,
    }


@router.get("/ideas/requests/{request_id}")
def request_progress(
    request: Request, request_id: RequestId, principal: IdeaReaderPage, container: ContainerDep, ctx: Context
) -> Response:
    record = container.idea_requests.status(principal, ctx, request_id)
    ideas = (
        container.idea_requests.results(principal, ctx, request_id) if record.status is RequestStatus.SUCCEEDED else []
    )
    state = idea_request_public(record, container.clock.now())
    context = {
        "record": record,
        "state": state,
        "agents": [record.progress[agent] for agent in WORKERS if agent in record.progress],
        "ideas": [idea_summary(idea) for idea in ideas],
        "template_title": REQUEST_TEMPLATES[record.template].title if record.template in REQUEST_TEMPLATES else None,
        "can_cancel": record.owner_id == principal.user_id
        and principal.can(Permission.IDEAS_REQUEST)
        and not record.finished,
        "page_data": {"request_id": record.id, "state": state},
    }
    return render(request, "ideas/request.html", context)


# --- the list and the comparison ---------------------------------------------------------------------------


def _choice(kind: type[E], value: str | None) -> E | None:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _day(value: str | None, label: str, problems: list[str]) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        problems.append(f"{label} must be a date (YYYY-MM-DD); it was ignored.")
        return None


@dataclass(frozen=True)
class IdeaFilters:
    """The list's filters as understood (a value that means nothing is dropped, not an error)."""

    status: IdeaStatus | None = None
    symbol: str | None = None
    strategy: Strategy | None = None
    since: str | None = None
    until: str | None = None

    @property
    def active(self) -> bool:
        return any(value is not None for value in (self.status, self.symbol, self.strategy, self.since, self.until))

    def query(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "symbol": self.symbol,
            "strategy": self.strategy.value if self.strategy else None,
            "since": self.since,
            "until": self.until,
        }


@router.get("/ideas")
def ideas_list(
    request: Request,
    principal: IdeaReaderPage,
    container: ContainerDep,
    ctx: Context,
    status: Annotated[str | None, Query(max_length=32)] = None,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    strategy: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    scope: Annotated[str | None, Query(max_length=16)] = None,
    sort: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    problems: list[str] = []
    everyone = principal.can(Permission.IDEAS_READ_ORGANISATION)
    chosen_scope = scope if everyone and scope in ("mine", "organisation") else ("organisation" if everyone else "mine")
    chosen_sort = sort if sort in SORTS else "newest"
    filters = IdeaFilters(
        status=_choice(IdeaStatus, status),
        symbol=(symbol or "").strip().upper() or None,
        strategy=_choice(Strategy, strategy),
        since=_day(since, "Generated from", problems),
        until=_day(until, "Generated to", problems),
    )
    owner = None if chosen_scope == "organisation" else principal.user_id
    found = container.identity.ideas.list(principal, ctx, **filters.query(), owner_id=owner, limit=LIST_LIMIT)
    context = {
        "ideas": sorted(found, key=SORTS[chosen_sort][1]),
        "filters": filters,
        "scope": chosen_scope,
        "can_choose_scope": everyone,
        "sort": chosen_sort,
        "sorted_column": SORTED_COLUMN[chosen_sort],
        "sorts": {key: label for key, (label, _) in SORTS.items()},
        "ranking_score": ranking_score,
        "statuses": list(IdeaStatus),
        "strategies": list(Strategy),
        "problems": problems,
        "limit": LIST_LIMIT,
        "compare_range": (COMPARE_MIN, COMPARE_MAX),
    }
    return render(request, "ideas/list.html", context)


def fan_series(idea: InvestmentIdea) -> dict[str, Any]:
    """An idea's scenario fan (cumulative-return percentiles) against trading days, for the chart."""
    fan = idea.analysis.fan if idea.analysis else []
    return {
        "id": idea.id,
        "name": f"{idea.title} ({', '.join(i.symbol for i in idea.instruments)})",
        "days": [round(row["step"]) for row in fan],
        "percentiles": {key: [row.get(key) for row in fan] for key in ("5", "25", "50", "75", "95")},
        "outcomes": {outcome.scenario.value: outcome.expected_return for outcome in idea.outcomes},
    }


@router.get("/ideas/compare")
def compare_ideas(
    request: Request,
    principal: IdeaReaderPage,
    container: ContainerDep,
    ctx: Context,
    id: Annotated[list[str] | None, Query(max_length=64)] = None,
) -> Response:
    wanted = list(dict.fromkeys(item for item in id or [] if item))
    if not COMPARE_MIN <= len(wanted) <= COMPARE_MAX:
        raise ValidationFailed(f"choose between {COMPARE_MIN} and {COMPARE_MAX} ideas to compare")
    ideas = [container.identity.ideas.get(principal, idea_id, ctx) for idea_id in wanted]
    context = {
        "ideas": ideas,
        "chart_data": [fan_series(idea) for idea in ideas],
    }
    return render(request, "ideas/compare.html", context)
