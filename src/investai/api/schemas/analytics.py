"""Portfolio analytics: optimisation and stress tests."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Symbol = Annotated[str, Field(min_length=1, max_length=20)]


class PortfolioOptimisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[Symbol] = Field(min_length=2, max_length=100)
    method: Literal["mean_variance", "min_variance", "risk_parity", "hrp", "cvar"] = "min_variance"
    start: date | None = None
    end: date | None = None
    as_of: str | None = Field(default=None, max_length=40)
    max_weight: float | None = Field(default=None, gt=0, le=1)
    sector_cap: float | None = Field(default=None, gt=0, le=1)


class StressTestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: dict[Symbol, Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1, max_length=100)
    as_of: str | None = Field(default=None, max_length=40)
    market_move: float = Field(default=-0.20, ge=-1, le=1)
    sector_shocks: dict[Annotated[str, Field(max_length=100)], Annotated[float, Field(ge=-1, le=1)]] | None = Field(
        default=None, max_length=50
    )
    vol_multiplier: float = Field(default=2.0, gt=0, le=10)
