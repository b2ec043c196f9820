"""Portfolio analytics over market data, point in time: optimisation (skfolio) under caps, and stress tests
(dated historical windows and hypothetical shocks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from investai.api.deps import AnalyticsRunner
from investai.api.schemas.analytics import PortfolioOptimisationCreate, StressTestCreate
from investai.http.deps import ContainerDep
from investai.services.market import parse_as_of

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "A symbol is unknown"}}


@router.post(
    "/portfolio", responses=NOT_FOUND, summary="Optimise a long-only portfolio (skfolio) under weight and sector caps"
)
def optimise_portfolio(
    principal: AnalyticsRunner, container: ContainerDep, body: PortfolioOptimisationCreate
) -> dict[str, Any]:
    return container.analytics.optimise(
        body.symbols,
        method=body.method,
        start=body.start,
        end=body.end,
        as_of=parse_as_of(body.as_of),
        max_weight=body.max_weight,
        sector_cap=body.sector_cap,
    )


@router.post(
    "/stress", responses=NOT_FOUND, summary="Replay historical crises and apply hypothetical shocks to a portfolio"
)
def stress_portfolio(principal: AnalyticsRunner, container: ContainerDep, body: StressTestCreate) -> dict[str, Any]:
    return container.analytics.stress(
        {symbol.strip().upper(): weight for symbol, weight in body.weights.items()},
        as_of=parse_as_of(body.as_of),
        market_move=body.market_move,
        sector_shocks=body.sector_shocks,
        vol_multiplier=body.vol_multiplier,
    )
