"""Market data: bars, quotes and symbol master entries in, series out."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from investai.domain.market import Bar, Interval, SymbolInfo
from investai.http.schemas import Strict


class BarCreate(Strict):
    symbol: str = Field(max_length=40)
    date: str = Field(max_length=40, description="ISO date")
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    adj_close: float | None = None
    volume: float | None = None


class BarsCreate(Strict):
    bars: list[BarCreate] = Field(min_length=1, max_length=10_000)
    source: str = Field(default="api", min_length=1, max_length=64)
    history: bool = Field(
        default=False, description="the rows are history: each was public when its day ended (a backfill)"
    )
    auto_create_symbols: bool | None = Field(default=None, description="default: the server's setting")


class QuoteCreate(Strict):
    symbol: str = Field(max_length=40)
    timestamp: str = Field(max_length=40, description="ISO datetime with a zone (naive = UTC)")
    price: float | None = None
    size: float | None = None
    bid: float | None = None
    ask: float | None = None
    source: str = Field(default="api", min_length=1, max_length=64)


class QuotesCreate(Strict):
    quotes: list[QuoteCreate] = Field(min_length=1, max_length=10_000)
    auto_create_symbols: bool | None = None


class SymbolsCreate(Strict):
    symbols: list[SymbolInfo] = Field(min_length=1, max_length=10_000)


class SymbolsPublic(BaseModel):
    symbols: list[SymbolInfo]


class BarSeriesPublic(BaseModel):
    symbol: str
    interval: Interval
    as_of: str | None
    bars: list[Bar]


class ReturnPublic(BaseModel):
    date: date
    value: float = Field(description="the period's return as a fraction (0.01 is 1%)")


class ReturnSeriesPublic(BaseModel):
    symbol: str
    interval: Interval
    kind: Literal["simple", "log"]
    as_of: str | None
    returns: list[ReturnPublic]
