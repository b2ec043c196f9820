"""The dashboard: what needs the signed-in user's attention, one panel per thing their role may read.

Recent ideas and the user's idea requests (research roles), the review queue (compliance officers), job
counts and readiness (administrators), and for everyone who reads market data an overview of the benchmark
and a few sample symbols, rebased to 100 over the last year of data. A panel is built only when the role
holds its permission, so no service is asked for something it would refuse."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.errors import DomainError, StoreUnavailable
from investai.domain.lifecycle import IdeaStatus
from investai.domain.market import AssetClass
from investai.http.deps import ContainerDep, Context
from investai.services.auth_common import CallContext
from investai.web.deps import SignedIn
from investai.web.rendering import render

router = APIRouter()
RECENT_IDEAS = 8
RECENT_REQUESTS = 5
REVIEW_COUNT_CAP = 200
OVERVIEW_SYMBOLS = 4
OVERVIEW_DAYS = 365
MASTER_LIMIT = 1000


def _ideas_panel(container: Container, principal: Principal, ctx: CallContext) -> dict[str, Any]:
    if not principal.can(Permission.IDEAS_READ):
        return {}
    ideas = container.identity.ideas.list(principal, ctx, limit=RECENT_IDEAS)
    return {"ideas": ideas, "organisation_ideas": principal.can(Permission.IDEAS_READ_ORGANISATION)}


def _requests_panel(container: Container, principal: Principal, ctx: CallContext) -> dict[str, Any]:
    if not (principal.can(Permission.IDEAS_REQUEST) and principal.can(Permission.IDEAS_READ)):
        return {}
    return {"requests": container.idea_requests.history(principal, ctx, limit=RECENT_REQUESTS)}


def _review_panel(container: Container, principal: Principal, ctx: CallContext) -> dict[str, Any]:
    if not principal.can(Permission.IDEAS_REVIEW):
        return {}
    waiting = container.identity.ideas.list(principal, ctx, status=IdeaStatus.IN_REVIEW, limit=REVIEW_COUNT_CAP)
    oldest = min(waiting, key=lambda idea: idea.timestamp) if waiting else None
    return {"review": {"count": len(waiting), "capped": len(waiting) >= REVIEW_COUNT_CAP, "oldest": oldest}}


def _operations_panel(container: Container, principal: Principal) -> dict[str, Any]:
    if not principal.can(Permission.OPS_READ):
        return {}
    counts = {status.value: count for status, count in container.operations.job_counts().items()}
    return {"operations": {"jobs": counts, "readiness": container.operations.readiness()}}


def overview_symbols(container: Container) -> list[str]:
    """The benchmark of the first equities in the symbol master, then one equity per sector (up to
    :data:`OVERVIEW_SYMBOLS`), so the overview spreads across the market."""
    equities = container.market.symbols(asset_class=AssetClass.EQUITY, limit=MASTER_LIMIT)
    picked: dict[str, str] = {}
    for info in equities:
        key = info.sector or info.symbol
        if key not in picked and len(picked) < OVERVIEW_SYMBOLS:
            picked[key] = info.symbol
    benchmarks = [info.benchmark for info in equities if info.benchmark][:1]
    return list(dict.fromkeys([*benchmarks, *picked.values()]))


def _overview_panel(container: Container, principal: Principal) -> dict[str, Any]:
    if not principal.can(Permission.MARKET_READ):
        return {}
    try:
        symbols = overview_symbols(container)
        overview = container.analytics.rebased(symbols, lookback_days=OVERVIEW_DAYS) if symbols else None
    except StoreUnavailable:
        return {"overview": None, "overview_error": "Market data is being updated right now; reload in a moment."}
    except DomainError as exc:
        return {"overview": None, "overview_error": str(exc)}
    if overview is not None and not overview["dates"]:
        overview = None
    return {"overview": overview}


@router.get("/")
def dashboard(request: Request, principal: SignedIn, container: ContainerDep, ctx: Context) -> Response:
    context: dict[str, Any] = {}
    context.update(_ideas_panel(container, principal, ctx))
    context.update(_requests_panel(container, principal, ctx))
    context.update(_review_panel(container, principal, ctx))
    context.update(_operations_panel(container, principal))
    context.update(_overview_panel(container, principal))
    return render(request, "dashboard.html", context)
