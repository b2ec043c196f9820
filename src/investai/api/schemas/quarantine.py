"""Quarantined market data and explicit corrections of stored bars."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from investai.api.schemas.market import BarCreate
from investai.domain.market import QuarantinedBar
from investai.http.schemas import Strict
from investai.services.market_quarantine import MAX_REVIEW_ROWS

QuarantineId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Note = Annotated[str, Field(min_length=1, max_length=500, description="why: recorded in the audit log")]


class QuarantinePublic(BaseModel):
    rows: list[QuarantinedBar]


class QuarantineReviewCreate(Strict):
    ids: list[QuarantineId] = Field(min_length=1, max_length=MAX_REVIEW_ROWS)
    note: Note


class BarCorrectionCreate(Strict):
    bars: list[BarCreate] = Field(min_length=1, max_length=MAX_REVIEW_ROWS)
    note: Note
    resolves: list[QuarantineId] = Field(
        default_factory=list, max_length=MAX_REVIEW_ROWS, description="quarantined rows this correction settles"
    )


class DiscardedPublic(BaseModel):
    discarded: list[str]
