"""Quarantined market data and explicit corrections: the rows the plausibility rules held back (listed for market
writers), their release or discard, and corrections of stored bars (market administrators, audited)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from investai.api.deps import MarketAdmin, MarketWriter
from investai.api.schemas.quarantine import (
    BarCorrectionCreate,
    DiscardedPublic,
    QuarantinePublic,
    QuarantineReviewCreate,
)
from investai.domain.market import CorrectionReport, QuarantineStatus
from investai.http.deps import ContainerDep, Context
from investai.services.market import bar_frame_from_rows

router = APIRouter(prefix="/api/v1/market", tags=["market"])
REVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Needs the market:admin permission (administrators)"},
    404: {"description": "No quarantined row with one of these ids"},
    409: {"description": "One of the rows was already released, corrected or discarded"},
    422: {"description": "A malformed row, or a value beyond the limits (which no review overrides)"},
}


@router.get("/quarantine", response_model=QuarantinePublic, summary="Bars held back as implausible")
def list_quarantine(
    principal: MarketWriter,
    container: ContainerDep,
    symbol: Annotated[str | None, Query(max_length=20)] = None,
    status: Literal["pending", "released", "corrected", "discarded", "all"] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Rows a plausibility rule held back, newest first, each with its values as submitted and its reason."""
    chosen = None if status == "all" else QuarantineStatus(status)
    rows = container.market_review.quarantined(symbol=symbol, status=chosen, limit=limit)
    body = QuarantinePublic(rows=rows).model_dump(mode="json")
    return JSONResponse(body, headers={"Cache-Control": "no-store"})  # a review queue: never from the cache


@router.post(
    "/quarantine:release",
    response_model=CorrectionReport,
    responses=REVIEW_ERRORS,
    summary="Store quarantined rows as they were submitted",
)
def release_quarantined(
    principal: MarketAdmin, container: ContainerDep, ctx: Context, body: QuarantineReviewCreate
) -> Any:
    """An explicit correction: each row becomes the current bar of its date from now (reads as of earlier
    moments still see what it replaced), audited with the values before and after."""
    return container.market_review.release(principal, ctx, body.ids, note=body.note)


@router.post(
    "/quarantine:discard", response_model=DiscardedPublic, responses=REVIEW_ERRORS, summary="Discard quarantined rows"
)
def discard_quarantined(
    principal: MarketAdmin, container: ContainerDep, ctx: Context, body: QuarantineReviewCreate
) -> Any:
    return DiscardedPublic(discarded=container.market_review.discard(principal, ctx, body.ids, note=body.note))


@router.post(
    "/bars:correct",
    response_model=CorrectionReport,
    responses=REVIEW_ERRORS,
    summary="Correct stored bars explicitly",
)
def correct_bars(principal: MarketAdmin, container: ContainerDep, ctx: Context, body: BarCorrectionCreate) -> Any:
    """Write bars whatever their move against the stored ones (the limits still hold), all or nothing, visible
    from now and audited; ``resolves`` marks quarantined rows of the same symbols and dates as corrected."""
    frame, problems = bar_frame_from_rows([bar.model_dump() for bar in body.bars])
    return container.market_review.correct(
        principal, ctx, frame, problems=problems, note=body.note, resolves=body.resolves
    )
