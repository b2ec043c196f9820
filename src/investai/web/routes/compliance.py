"""Web pages: the compliance review queue. Compliance officers approve or reject the organisation's ideas
in review through the same lifecycle service as the API's status route; what it refuses (a critical issue,
a rejection without a reason, an idea no longer in review) is shown on the queue with the service's message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from starlette.responses import RedirectResponse, Response

from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from investai.domain.idea_parts import Severity
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.http.deps import ContainerDep, Context
from investai.http.errors import status_of
from investai.services.auth_common import CallContext
from investai.web.deps import IdeaReviewerPage
from investai.web.rendering import render

router = APIRouter()
IdeaId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Note = Annotated[str, Form(max_length=2000)]
QUEUE_LIMIT = 200
DECIDED_LIMIT = 10
SEVERITY_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
DECISIONS = {"approve": (IdeaStatus.APPROVED, "idea_approved"), "reject": (IdeaStatus.REJECTED, "idea_rejected")}


def submitted_at(idea: InvestmentIdea) -> datetime:
    """When the idea last entered review (its generation time when the history says nothing)."""
    moves = [change.at for change in idea.status_history if change.to_status is IdeaStatus.IN_REVIEW]
    return moves[-1] if moves else idea.generated_at


def _queue(container: Container, principal: Principal, ctx: CallContext) -> dict[str, object]:
    ideas = container.identity.ideas
    waiting = ideas.list(principal, ctx, status=IdeaStatus.IN_REVIEW, limit=QUEUE_LIMIT)
    decided = [
        idea
        for status in (IdeaStatus.APPROVED, IdeaStatus.REJECTED)
        for idea in ideas.list(principal, ctx, status=status, limit=DECIDED_LIMIT)
    ]
    return {
        "queue": sorted(waiting, key=submitted_at),  # oldest first: the longest waiting is reviewed first
        "decided": sorted(decided, key=lambda idea: -idea.timestamp)[:DECIDED_LIMIT],
        "severities": SEVERITY_ORDER,
        "submitted_at": submitted_at,
    }


def queue_page(
    request: Request,
    container: Container,
    principal: Principal,
    ctx: CallContext,
    *,
    error: str | None = None,
    failed_id: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {**_queue(container, principal, ctx), "error": error, "failed_id": failed_id}
    return render(request, "compliance/queue.html", context, status_code=status_code)


@router.get("/compliance")
def compliance_queue(request: Request, principal: IdeaReviewerPage, container: ContainerDep, ctx: Context) -> Response:
    return queue_page(request, container, principal, ctx)


def _decide(
    request: Request,
    container: Container,
    principal: Principal,
    ctx: CallContext,
    idea_id: str,
    decision: str,
    note: str,
    override: bool = False,
) -> Response:
    target, notice = DECISIONS[decision]
    try:
        container.idea_lifecycle.transition(
            principal, ctx, idea_id, target, reason=note.strip() or None, override=override
        )
    except (ValidationFailed, InvalidTransition, Conflict, PermissionDenied) as exc:
        status = status_of(exc)
        message = f"The idea was not {target.value}: {exc}."
        return queue_page(request, container, principal, ctx, error=message, failed_id=idea_id, status_code=status)
    return RedirectResponse(f"/compliance?notice={notice}", status_code=303)


@router.post("/compliance/{idea_id}/approve")
def approve(
    request: Request,
    idea_id: IdeaId,
    principal: IdeaReviewerPage,
    container: ContainerDep,
    ctx: Context,
    note: Note = "",
    override: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    return _decide(request, container, principal, ctx, idea_id, "approve", note, override == "yes")


@router.post("/compliance/{idea_id}/reject")
def reject(
    request: Request,
    idea_id: IdeaId,
    principal: IdeaReviewerPage,
    container: ContainerDep,
    ctx: Context,
    reason: Note = "",
) -> Response:
    return _decide(request, container, principal, ctx, idea_id, "reject", reason)
