"""The idea page: one idea (or an earlier version of it) in tabs — overview, analysis with its charts, risks,
evidence with citations, compliance, history and feedback — with the status changes the viewer's role allows
and the feedback form. Every figure comes from the idea and from the services the API calls."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from pydantic import TypeAdapter, ValidationError, field_validator
from starlette.responses import RedirectResponse, Response

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.citations import Citation, DocumentCitation, MarketCitation
from investai.domain.common import from_epoch_ms
from investai.domain.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from investai.domain.feedback import ActionTaken
from investai.domain.idea_parts import Severity
from investai.domain.idea_views import IdeaView
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.http.deps import ContainerDep, Context
from investai.http.errors import status_of
from investai.http.schemas import FeedbackCreate
from investai.services.auth_common import CallContext
from investai.services.idea_insights import RISK_CONVENTION, RISK_FIGURES, model_use_groups
from investai.services.queries import UserNames
from investai.web.deps import FeedbackPage, IdeaReaderPage
from investai.web.rendering import render

router = APIRouter()
IdeaId = Annotated[str, Path(min_length=1, max_length=128)]
Version = Annotated[int | None, Query(ge=1, le=2**31)]
Choice = Annotated[str, Form(max_length=32)]
REFUSALS = (PermissionDenied, InvalidTransition, Conflict, ValidationFailed)
"""What a status change may answer that the page shows as a message (with the API's status for it)."""
FEEDBACK_LABELS = {
    "rating": "Rating",
    "usefulness": "Usefulness",
    "accuracy": "Accuracy",
    "insight": "Insight",
    "action_taken": "Action taken",
    "comment": "Comments",
}
SEVERITIES = list(Severity)
_CITATION: TypeAdapter[Citation] = TypeAdapter(Citation)


class FeedbackForm(FeedbackCreate):
    """The feedback form: the API's feedback body, where a blank optional field means "not given"."""

    @field_validator("usefulness", "accuracy", "insight", "comment", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def document_titles(
    container: Container, principal: Principal, ctx: CallContext, idea: InvestmentIdea
) -> dict[str, str]:
    """Titles of the documents the idea cites that the viewer may read (others show by id; restricted citations,
    of documents the viewer may not read, are not looked up)."""
    cited = [item.citation for item in idea.supporting_evidence] + list(idea.metrics.sources)
    if idea.expected_return.citation is not None:
        cited.append(idea.expected_return.citation)
    titles: dict[str, str] = {}
    readable = (c.document_id for c in cited if isinstance(c, DocumentCitation) and not c.restricted)
    for document_id in dict.fromkeys(readable):
        try:
            titles[document_id] = container.knowledge.documents.get(principal, document_id, ctx).title
        except DomainError:
            continue
    return titles


def metric_rows(idea: InvestmentIdea) -> list[dict[str, Any]]:
    """Each risk figure with how to format it and the citation of the series it was computed from."""
    sources = {
        citation.series.rsplit(":", 1)[-1]: citation
        for citation in idea.metrics.sources
        if isinstance(citation, MarketCitation)
    }
    return [
        {"label": label, "value": getattr(idea.metrics, key), "format": kind, "citation": sources.get(key)}
        for key, label, kind in RISK_FIGURES
    ]


def chart_data(idea: InvestmentIdea, price: dict[str, Any], explanation: dict[str, Any]) -> dict[str, Any]:
    """What the page's script draws: prices with the trade levels, the scenario fan, factor contributions."""
    fan = idea.analysis.fan if idea.analysis else []
    return {
        "price": price,
        "fan": [{**row, "day": round(row["step"])} for row in fan],
        "contributions": explanation.get("factor_contributions", {}),
    }


def _data_sources(explanation: dict[str, Any]) -> list[tuple[Citation, Any]]:
    """The explanation's data sources as citations, each with its age in days at the data as-of moment."""
    return [
        (_CITATION.validate_python({k: v for k, v in entry.items() if k != "age_days"}), entry.get("age_days"))
        for entry in explanation.get("data_sources", [])
    ]


def _performance(container: Container, idea: InvestmentIdea) -> dict[str, Any] | None:
    try:
        return container.idea_insights.performance_of(idea)
    except DomainError:  # no prices since the idea's data date yet
        return None


def _history(versions: list[IdeaView], people: UserNames) -> dict[str, Any]:
    latest = versions[-1]
    rows = [{"version": v.version, "at": from_epoch_ms(v.timestamp), "status": v.status} for v in versions]
    changes = [(change, people.name(change.by)) for change in latest.status_history]
    return {"latest": latest, "versions": list(reversed(rows)), "status_changes": list(reversed(changes))}


def _version(versions: list[IdeaView], idea_id: str, version: int | None) -> IdeaView:
    if version is None:
        return versions[-1]
    for revision in versions:
        if revision.version == version:
            return revision
    raise NotFound(f"idea {idea_id} has no version {version}")


def page_context(
    container: Container, principal: Principal, ctx: CallContext, idea_id: str, version: int | None
) -> dict[str, Any]:
    """Everything the page shows, from one authorised read of the idea's versions (one audit record)."""
    versions = container.identity.ideas.history(principal, idea_id, ctx)
    idea = _version(versions, idea_id, version)
    people = UserNames(container.identity.users, principal)
    history = _history(versions, people)
    latest: IdeaView = history["latest"]
    explanation = container.idea_insights.explanation_of(principal, idea)
    price = container.idea_insights.price_window(idea)
    feedback = container.idea_lifecycle.feedback_on(principal, idea)
    is_latest = idea.version == latest.version
    return {
        "idea": idea,
        "is_latest": is_latest,
        "latest_version": latest.version,
        **history,
        "owner": people.name(idea.owner_id),
        "moves": container.idea_lifecycle.moves_for(principal, latest) if is_latest else [],
        "explanation": explanation,
        "data_sources": _data_sources(explanation),
        "performance": _performance(container, latest),
        "charts": chart_data(idea, price, explanation),
        "metric_rows": metric_rows(idea),
        "risk_convention": RISK_CONVENTION,
        "model_groups": model_use_groups(idea.provenance.models),
        "issues": sorted(idea.compliance.issues, key=lambda issue: -SEVERITIES.index(issue.severity)),
        "document_titles": document_titles(container, principal, ctx, idea),
        "feedback": [(item, people.name(item.user_id)) for item in feedback],
        "can_feedback": principal.can(Permission.IDEAS_FEEDBACK) and is_latest,
        "action_choices": list(ActionTaken),
        "feedback_labels": FEEDBACK_LABELS,
        "active_tab": "overview",
        "form": {},
    }


def _idea_url(idea_id: str, suffix: str = "") -> str:
    return f"/ideas/{quote(idea_id, safe='')}{suffix}"


@router.get("/ideas/{idea_id}")
def idea_page(
    request: Request,
    idea_id: IdeaId,
    principal: IdeaReaderPage,
    container: ContainerDep,
    ctx: Context,
    version: Version = None,
) -> Response:
    return render(request, "ideas/detail.html", page_context(container, principal, ctx, idea_id, version))


def _refused(
    request: Request, context: dict[str, Any], status: int, message: str, *, tab: str = "overview"
) -> Response:
    return render(request, "ideas/detail.html", {**context, "error": message, "active_tab": tab}, status_code=status)


@router.post("/ideas/{idea_id}/status")
def change_status(
    request: Request,
    idea_id: IdeaId,
    principal: IdeaReaderPage,
    container: ContainerDep,
    ctx: Context,
    status: Choice,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        target = IdeaStatus(status)
    except ValueError:
        context = page_context(container, principal, ctx, idea_id, None)
        return _refused(request, context, 422, f"There is no status called {status!r}.")
    try:
        container.idea_lifecycle.transition(principal, ctx, idea_id, target, reason=reason.strip() or None)
    except REFUSALS as exc:
        context = page_context(container, principal, ctx, idea_id, None)
        return _refused(request, context, status_of(exc), f"The status was not changed: {exc}.")
    return RedirectResponse(_idea_url(idea_id, "?notice=status_changed"), status_code=303)


def _feedback_problem(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        problems.append(f"{FEEDBACK_LABELS.get(field, field)}: {item['msg']}")
    return "The feedback was not recorded. " + "; ".join(problems) + "."


@router.post("/ideas/{idea_id}/feedback")
def give_feedback(
    request: Request,
    idea_id: IdeaId,
    principal: FeedbackPage,
    container: ContainerDep,
    ctx: Context,
    rating: Choice = "",
    usefulness: Choice = "",
    accuracy: Choice = "",
    insight: Choice = "",
    action_taken: Choice = ActionTaken.NONE.value,
    comment: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    values = {"rating": rating, "usefulness": usefulness, "accuracy": accuracy, "insight": insight}
    values |= {"action_taken": action_taken, "comment": comment}
    try:
        fields = FeedbackForm.model_validate(values)
    except ValidationError as exc:
        context = {**page_context(container, principal, ctx, idea_id, None), "form": values}
        return _refused(request, context, 422, _feedback_problem(exc), tab="feedback")
    container.idea_lifecycle.give_feedback(principal, ctx, idea_id, fields.model_dump())
    return RedirectResponse(_idea_url(idea_id, "?notice=feedback_saved#feedback"), status_code=303)
