"""Portfolio analytics over market data, point in time: optimisation (skfolio) under caps, and stress tests
(dated historical windows and hypothetical shocks)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from investai.api.deps import AnalyticsRunner, ContainerDep
from investai.services.market import parse_as_of

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "A symbol is unknown"}}
Symbol = Annotated[str, Field(min_length=1, max_length=20)]


class PortfolioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[Symbol] = Field(min_length=2, max_length=100)
    method: Literal["mean_variance", "min_variance", "risk_parity", "hrp", "cvar"] = "min_variance"
    start: date | None = None
    end: date | None = None
    as_of: str | None = Field(default=None, max_length=40)
    max_weight: float | None = Field(default=None, gt=0, le=1)
    sector_cap: float | None = Field(default=None, gt=0, le=1)


class StressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: dict[Symbol, Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1, max_length=100)
    as_of: str | None = Field(default=None, max_length=40)
    market_move: float = Field(default=-0.20, ge=-1, le=1)
    sector_shocks: dict[Annotated[str, Field(max_length=100)], Annotated[float, Field(ge=-1, le=1)]] | None = Field(
        default=None, max_length=50
    )
    vol_multiplier: float = Field(default=2.0, gt=0, le=10)


@router.post(
    "/portfolio", responses=NOT_FOUND, summary="Optimise a long-only portfolio (skfolio) under weight and sector caps"
)
def optimise_portfolio(principal: AnalyticsRunner, container: ContainerDep, body: PortfolioIn) -> dict[str, Any]:
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
def stress_portfolio(principal: AnalyticsRunner, container: ContainerDep, body: StressIn) -> dict[str, Any]:
    return container.analytics.stress(
        {symbol.strip().upper(): weight for symbol, weight in body.weights.items()},
        as_of=parse_as_of(body.as_of),
        market_move=body.market_move,
        sector_shocks=body.sector_shocks,
        vol_multiplier=body.vol_multiplier,
    )
