"""Market data: the symbol master, bar and quote ingestion (JSON, or a CSV/Parquet file), and point-in-time
reads of bars (daily, weekly, monthly), returns and the latest quote."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from investai.api.deps import AnalyticsRunner, MarketReader, MarketWriter
from investai.api.schemas.market import (
    BarsCreate,
    BarSeriesPublic,
    QuotesCreate,
    ReturnPublic,
    ReturnSeriesPublic,
    SymbolsCreate,
    SymbolsPublic,
)
from investai.domain.market import AssetClass, IngestReport, Interval, Quote, SymbolInfo
from investai.http.deps import ContainerDep, Context
from investai.services.market import bar_frame_from_rows, parse_as_of, quote_frame_from_rows

router = APIRouter(prefix="/api/v1/market", tags=["market"])
SymbolPath = Annotated[str, PathParam(min_length=1, max_length=20, description="e.g. AAPL, BRK.B, ^GSPC")]
AsOf = Annotated[
    str | None,
    Query(max_length=40, description="point in time: an ISO date (its end, UTC) or datetime; nothing later is used"),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown symbol, or no data"}}
REJECTED: dict[int | str, dict[str, Any]] = {
    422: {"description": "Every row was rejected: `error.details` lists each row with its reason"}
}
NO_STORE = {"Cache-Control": "no-store"}
SHARED = {"Cache-Control": "public"}


@router.get("/symbols", response_model=SymbolsPublic, summary="Search the symbol master")
def list_symbols(
    principal: MarketReader,
    container: ContainerDep,
    q: Annotated[str | None, Query(max_length=100, description="part of a symbol or name")] = None,
    sector: Annotated[str | None, Query(max_length=100)] = None,
    asset_class: AssetClass | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    found = container.market.symbols(query=q, sector=sector, asset_class=asset_class, limit=limit)
    return SymbolsPublic(symbols=found)


@router.post("/symbols", summary="Add or replace symbol master entries")
def put_symbols(principal: MarketWriter, container: ContainerDep, body: SymbolsCreate) -> dict[str, int]:
    return {"written": container.market.upsert_symbols(body.symbols)}


@router.get("/symbols/{symbol}", response_model=SymbolInfo, responses=NOT_FOUND, summary="One symbol")
def get_symbol(principal: MarketReader, container: ContainerDep, symbol: SymbolPath) -> Any:
    return container.market.symbol(symbol)


@router.post("/bars", response_model=IngestReport, responses=REJECTED, summary="Ingest daily bars (JSON)")
def ingest_bars(principal: MarketWriter, container: ContainerDep, ctx: Context, body: BarsCreate) -> Any:
    frame, problems = bar_frame_from_rows([bar.model_dump() for bar in body.bars])
    report = container.market.ingest_bars(
        frame, problems=problems, source=body.source, history=body.history, auto_create=body.auto_create_symbols
    )
    container.market.record_ingest(principal, ctx, "market.bars_ingested", report)
    return report


@router.post(
    "/bars:import",
    response_model=IngestReport,
    responses={**REJECTED, 413: {"description": "Larger than the upload cap"}},
    summary="Import daily bars from a CSV or Parquet file",
)
def import_bars(
    principal: MarketWriter,
    container: ContainerDep,
    ctx: Context,
    file: Annotated[UploadFile, File(description="CSV (any common header style) or Parquet")],
    symbol: Annotated[str | None, Form(max_length=20, description="for files without a symbol column")] = None,
    source: Annotated[str | None, Form(max_length=64)] = None,
    history: Annotated[bool, Form()] = False,
    auto_create_symbols: Annotated[bool | None, Form()] = None,
) -> Any:
    report = container.market.import_bars(
        file.file,
        symbol=symbol or None,
        source=source or f"upload:{(file.filename or 'file')[:40]}",
        history=history,
        auto_create=auto_create_symbols,
    )
    container.market.record_ingest(principal, ctx, "market.bars_imported", report)
    return report


@router.post("/quotes", response_model=IngestReport, responses=REJECTED, summary="Ingest real-time quotes")
def ingest_quotes(principal: MarketWriter, container: ContainerDep, ctx: Context, body: QuotesCreate) -> Any:
    frame, problems = quote_frame_from_rows([quote.model_dump() for quote in body.quotes])
    report = container.market.ingest_quotes(frame, problems=problems, auto_create=body.auto_create_symbols)
    container.market.record_ingest(principal, ctx, "market.quotes_ingested", report)
    return report


@router.get("/{symbol}/bars", response_model=BarSeriesPublic, responses=NOT_FOUND, summary="Bars, point in time")
def get_bars(
    principal: MarketReader,
    container: ContainerDep,
    symbol: SymbolPath,
    start: date | None = None,
    end: date | None = None,
    interval: Interval = Interval.DAILY,
    as_of: AsOf = None,
) -> Any:
    moment = parse_as_of(as_of)
    bars = container.market.bars(symbol, start=start, end=end, interval=interval, as_of=moment)
    series = BarSeriesPublic(
        symbol=symbol.strip().upper(), interval=interval, as_of=moment.isoformat() if moment else None, bars=bars
    )
    # serialised once by pydantic-core; returned as a model, FastAPI would validate the years of bars again.
    # The same for every reader: the response cache shares it between colleagues of one role ("public")
    return Response(series.model_dump_json(), media_type="application/json", headers=SHARED)


@router.get(
    "/{symbol}/returns", response_model=ReturnSeriesPublic, responses=NOT_FOUND, summary="Returns, point in time"
)
def get_returns(
    principal: MarketReader,
    container: ContainerDep,
    symbol: SymbolPath,
    start: date | None = None,
    end: date | None = None,
    interval: Interval = Interval.DAILY,
    kind: Literal["simple", "log"] = "simple",
    as_of: AsOf = None,
) -> Any:
    moment = parse_as_of(as_of)
    points = container.market.returns(symbol, start=start, end=end, interval=interval, as_of=moment, kind=kind)
    return ReturnSeriesPublic(
        symbol=symbol.strip().upper(),
        interval=interval,
        kind=kind,
        as_of=moment.isoformat() if moment else None,
        returns=[ReturnPublic(date=point.date, value=point.value) for point in points],
    )


@router.get("/{symbol}/quote", response_model=Quote, responses=NOT_FOUND, summary="The latest quote")
def get_quote(principal: MarketReader, container: ContainerDep, symbol: SymbolPath, as_of: AsOf = None) -> Any:
    quote = container.market.quote(symbol, as_of=parse_as_of(as_of))
    # real-time: never from the response cache
    return JSONResponse(quote.model_dump(mode="json"), headers=NO_STORE)


@router.get("/{symbol}/risk", responses=NOT_FOUND, summary="Risk and performance metrics, point in time")
def get_risk(
    principal: AnalyticsRunner,
    container: ContainerDep,
    symbol: SymbolPath,
    start: date | None = None,
    end: date | None = None,
    as_of: AsOf = None,
    benchmark: Annotated[str | None, Query(max_length=20, description="default: the symbol's benchmark")] = None,
) -> dict[str, Any]:
    """Annualised `volatility`, `sharpe`, `sortino`, `calmar`, `omega`, `max_drawdown` (a negative fraction),
    `hit_rate`, `annual_return`, one-day historical `var_95`/`cvar_95`/`var_99`/`cvar_99` (positive loss
    fractions) and, against the benchmark, `beta`, `alpha`, `tracking_error`, `information_ratio`; a figure
    that is undefined for the data (e.g. Sortino with no losing day) is null."""
    return container.analytics.risk(symbol, start=start, end=end, as_of=parse_as_of(as_of), benchmark=benchmark)


@router.get("/{symbol}/indicators", responses=NOT_FOUND, summary="Technical indicators, point in time")
def get_indicators(
    principal: AnalyticsRunner,
    container: ContainerDep,
    symbol: SymbolPath,
    start: date | None = None,
    end: date | None = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Per date: close, SMA 50/200, EMA 20, RSI 14, MACD (12, 26, 9), Bollinger bands (20, 2), 12-1 momentum,
    the 50/200 trend signal and the distance from the 52-week high; null during each indicator's warm-up."""
    return container.analytics.indicators(symbol, start=start, end=end, as_of=parse_as_of(as_of))
