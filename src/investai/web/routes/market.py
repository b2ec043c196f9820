"""The market page: find a symbol in the symbol master, see its prices with technical overlays over a date
range, and its risk and performance figures; everything point in time when an "as of" date is given.

A market citation of an idea opens ``/market?symbol=SYM&start=YYYY-MM-DD&end=YYYY-MM-DD`` and the page shows
exactly that range. Indicators and risk figures come from the analytics service, so they are shown to roles
that may run analytics (as in the API); every role that reads market data sees the prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.errors import NotFound, StoreUnavailable, ValidationFailed
from investai.domain.market import Bar, SymbolInfo
from investai.http.deps import ContainerDep
from investai.http.errors import status_of
from investai.services.market import BarCoverage, parse_as_of
from investai.web.deps import MarketPage
from investai.web.rendering import render

router = APIRouter()
Param = Annotated[str | None, Query(max_length=100)]
MASTER_LIMIT = 1000
PRESETS = (("1Y", 1), ("3Y", 3), ("5Y", 5), ("Max", None))
DEFAULT_YEARS = 1
STORE_BUSY = "Market data is being updated by another process right now. Try again in a few seconds."
RISK_GROUPS = (
    (
        "Return and volatility",
        (
            ("annual_return", "Annual return (CAGR)", "pct"),
            ("volatility", "Volatility (annualised)", "pct"),
            ("sharpe", "Sharpe ratio", "num"),
            ("sortino", "Sortino ratio", "num"),
            ("calmar", "Calmar ratio", "num"),
            ("omega", "Omega ratio", "num"),
            ("max_drawdown", "Maximum drawdown", "pct"),
            ("downside_deviation", "Downside deviation (annualised)", "pct"),
            ("hit_rate", "Share of up days", "pct"),
        ),
    ),
    (
        "Tail risk, one day",
        (
            ("var_95", "VaR 95%", "pct"),
            ("cvar_95", "CVaR 95%", "pct"),
            ("var_99", "VaR 99%", "pct"),
            ("cvar_99", "CVaR 99%", "pct"),
        ),
    ),
    (
        "Against the benchmark",
        (
            ("beta", "Beta", "num"),
            ("alpha", "Alpha (annualised)", "pct"),
            ("tracking_error", "Tracking error (annualised)", "pct"),
            ("information_ratio", "Information ratio", "num"),
        ),
    ),
)
RISK_ROWS = tuple(row for _title, rows in RISK_GROUPS for row in rows)
POSITIVE_LOSSES = frozenset({"var_95", "cvar_95", "var_99", "cvar_99"})
"""Figures the analytics service states as positive losses; the page shows every loss as a negative return (as
the maximum drawdown already is, and as ideas show them)."""
COLOURS = {
    "price": "#1f4e79",
    "sma50": "#bc4c00",
    "sma200": "#8250df",
    "band": "rgba(90, 102, 117, 0.55)",
    "band_fill": "rgba(90, 102, 117, 0.10)",
    "rsi": "#0b6bcb",
    "macd": "#1f4e79",
    "signal": "#bc4c00",
    "up": "#1a7f37",
    "down": "#cf222e",
}


class PageInputError(ValidationFailed):
    """A query parameter of the page that cannot be used."""


@dataclass(frozen=True)
class MarketQuery:
    symbol: str
    sector: str
    start: date | None
    end: date | None
    as_of_text: str
    as_of: datetime | None


def _day(value: str | None, name: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise PageInputError(f"The {name} date {value.strip()[:40]!r} is not a date (YYYY-MM-DD).") from exc


def _query(
    symbol: str | None, sector: str | None, start: str | None, end: str | None, as_of: str | None
) -> MarketQuery:
    first, last = _day(start, "start"), _day(end, "end")
    if first is not None and last is not None and first > last:
        raise PageInputError(f"The start date {first.isoformat()} is after the end date {last.isoformat()}.")
    as_of_day = _day(as_of, "as of")
    moment = parse_as_of(as_of_day.isoformat()) if as_of_day else None
    return MarketQuery(
        symbol=(symbol or "").strip().upper(),
        sector=(sector or "").strip(),
        start=first,
        end=last,
        as_of_text=as_of_day.isoformat() if as_of_day else "",
        as_of=moment,
    )


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _window(query: MarketQuery, coverage: BarCoverage) -> tuple[date, date]:
    """The range to show: as asked; a missing end is the latest bar, a missing start a year before the end."""
    end = query.end or coverage.last.date
    return query.start or _years_before(end, DEFAULT_YEARS), end


def _href(query: MarketQuery, symbol: str, start: date, end: date) -> str:
    params = {"symbol": symbol, "start": start.isoformat(), "end": end.isoformat()}
    if query.as_of_text:
        params["as_of"] = query.as_of_text
    return "/market?" + urlencode(params)


def _presets(query: MarketQuery, symbol: str, coverage: BarCoverage, shown: tuple[date, date]) -> list[dict[str, Any]]:
    last = coverage.last.date
    links = []
    for label, years in PRESETS:
        start = coverage.first if years is None else max(coverage.first, _years_before(last, years))
        links.append({"label": label, "href": _href(query, symbol, start, last), "current": (start, last) == shown})
    return links


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [row.get(name) for row in rows] for name in names}


def _adjusted(bars: list[Bar]) -> dict[str, list[float | None]]:
    """Open, high, low and close adjusted like the adjusted close (each price times adj_close / close), so the
    candles sit on the same scale as the adjusted close and the indicators computed from it."""
    candles: dict[str, list[float | None]] = {"open": [], "high": [], "low": [], "close": []}
    for bar in bars:
        factor = bar.adj_close / bar.close if bar.adj_close is not None and bar.close else 1.0
        for name in ("open", "high", "low"):
            value = getattr(bar, name)
            candles[name].append(None if value is None else value * factor)
        candles["close"].append(bar.close * factor)
    return candles


def _has(values: list[Any]) -> bool:
    return any(value is not None for value in values)


def _line(name: str, x: str, y: str, colour: str, width: float = 1.5, **extra: Any) -> dict[str, Any]:
    line = {"color": colour, "width": width}
    props = {"type": "scatter", "mode": "lines", "name": name, "connectgaps": False, "line": line}
    return {"props": props | extra, "columns": {"x": x, "y": y}}


def _panels(rows: list[tuple[str, str, float]], gap: float = 0.04) -> dict[str, list[float]]:
    """Vertical domains of stacked panels (top first), each as tall as its share of the total."""
    usable = 1.0 - gap * (len(rows) - 1)
    total = sum(share for _axis, _title, share in rows)
    domains, top = {}, 1.0
    for axis, _title, share in rows:
        bottom = max(0.0, top - usable * share / total)
        domains[axis] = [round(bottom, 4), round(top, 4)]
        top = bottom - gap
    return domains


def price_figure(chart: dict[str, Any]) -> dict[str, Any]:
    """The price chart as the page's script draws it: daily candlesticks (open, high, low and close, adjusted)
    with volume bars in a panel below, the moving averages and Bollinger bands over the candles and RSI and MACD
    panels when the indicators are there. Each trace names the columns of the chart data it plots
    (``"columns": {"open": "candles.open", …}``) instead of repeating them; ``props`` are plotly's own."""
    bars, candles, indicators = chart["bars"], chart["candles"], chart["indicators"]
    traces: list[dict[str, Any]] = []
    if indicators:
        band = {"legendgroup": "bollinger", "line": {"color": COLOURS["band"], "width": 1}}
        upper = _line("Bollinger upper", "indicators.date", "indicators.bollinger_upper", COLOURS["band"])
        lower = _line("Bollinger bands", "indicators.date", "indicators.bollinger_lower", COLOURS["band"])
        upper["props"] |= band | {"showlegend": False}
        lower["props"] |= band | {"fill": "tonexty", "fillcolor": COLOURS["band_fill"]}
        traces += [upper, lower]
    with_candles = all(_has(candles[name]) for name in ("open", "high", "low"))
    if with_candles:
        candle = {
            "type": "candlestick",
            "name": f"{chart['symbol']} open, high, low, close (adjusted)",
            "increasing": {"line": {"color": COLOURS["up"]}},
            "decreasing": {"line": {"color": COLOURS["down"]}},
        }
        names = ("open", "high", "low", "close")
        traces.append({"props": candle, "columns": {"x": "bars.date", **{n: f"candles.{n}" for n in names}}})
    close = _line(f"{chart['symbol']} adjusted close", "bars.date", "candles.close", COLOURS["price"], width=2)
    if with_candles:
        close["props"]["visible"] = "legendonly"  # the candles' closes; one click shows the line
    traces.append(close)
    if indicators:
        traces.append(_line("SMA 50", "indicators.date", "indicators.sma_50", COLOURS["sma50"]))
        traces.append(_line("SMA 200", "indicators.date", "indicators.sma_200", COLOURS["sma200"]))
    panels = [("y", "Price", 5.0)]
    if _has(bars["volume"]):
        volume = {"type": "bar", "name": "Volume", "yaxis": "y2", "opacity": 0.6}
        columns = {"x": "bars.date", "y": "bars.volume", "marker.color": "colours.volume"}
        traces.append({"props": volume, "columns": columns})
        panels.append(("y2", "Volume", 1.3))
    if indicators:
        traces.append(_line("RSI 14", "indicators.date", "indicators.rsi_14", COLOURS["rsi"], yaxis="y3"))
        histogram = {"type": "bar", "name": "MACD histogram", "yaxis": "y4", "opacity": 0.6}
        columns = {"x": "indicators.date", "y": "indicators.histogram", "marker.color": "colours.histogram"}
        traces.append({"props": histogram, "columns": columns})
        traces.append(_line("MACD", "indicators.date", "indicators.macd", COLOURS["macd"], yaxis="y4"))
        traces.append(_line("MACD signal", "indicators.date", "indicators.signal", COLOURS["signal"], yaxis="y4"))
        panels += [("y3", "RSI", 1.5), ("y4", "MACD", 1.8)]
    return {"traces": traces, "layout": _layout(chart, panels)}


def _layout(chart: dict[str, Any], panels: list[tuple[str, str, float]]) -> dict[str, Any]:
    domains = _panels(panels)
    height = {"y": 420, "y2": 110, "y3": 110, "y4": 130}
    layout: dict[str, Any] = {
        "height": sum(height[axis] for axis, _title, _share in panels),
        "hovermode": "x unified",
        "showlegend": True,
        "xaxis": {
            "type": "date",
            "range": [chart["start"], chart["end"]],
            "rangeslider": {"visible": False},
            "anchor": panels[-1][0],
        },
    }
    for axis, title, _share in panels:
        key = "yaxis" + axis[1:]
        layout[key] = {"title": {"text": title}, "domain": domains[axis]}
    if "y2" in domains:
        layout["yaxis2"] |= {"rangemode": "tozero", "showgrid": False}
    if "y3" in domains:
        layout["yaxis3"] |= {"range": [0, 100], "tickvals": [30, 70]}
        guide = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y3"}
        line = {"color": "#8c959f", "width": 1, "dash": "dot"}
        layout["shapes"] = [guide | {"y0": level, "y1": level, "line": line} for level in (30, 70)]
    if len(panels) > 1:
        layout["legend"] = {"orientation": "h", "y": -0.08}
    return layout


def _colours(chart: dict[str, Any]) -> dict[str, list[str]]:
    """Up-day and down-day colours: of each volume bar (close against open) and MACD histogram bar (sign)."""
    candles, indicators = chart["candles"], chart["indicators"]
    rising = [
        COLOURS["down"] if opened is not None and closed is not None and closed < opened else COLOURS["up"]
        for opened, closed in zip(candles["open"], candles["close"], strict=True)
    ]
    histogram = indicators["histogram"] if indicators else []
    falling = [COLOURS["down"] if value is not None and value < 0 else COLOURS["up"] for value in histogram]
    return {"volume": rising, "histogram": falling}


def _chart(
    container: Container, principal: Principal, info: SymbolInfo, query: MarketQuery, window: tuple[date, date]
) -> dict[str, Any]:
    start, end = window
    bars = container.market.bars(info.symbol, start=start, end=end, as_of=query.as_of)
    rows = [bar.model_dump(mode="json") for bar in bars]
    chart: dict[str, Any] = {
        "symbol": info.symbol,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bars": _columns(rows, ("date", "open", "high", "low", "close", "adj_close", "volume")),
        "candles": _adjusted(bars),
        "indicators": None,
    }
    if principal.can(Permission.ANALYTICS_RUN):
        found = container.analytics.indicators(info.symbol, start=start, end=end, as_of=query.as_of)
        names = ("date", "close", "sma_50", "sma_200", "bollinger_upper", "bollinger_middle", "bollinger_lower")
        chart["indicators"] = _columns(found["indicators"], (*names, "rsi_14", "macd", "signal", "histogram"))
    chart["colours"] = _colours(chart)
    chart["figure"] = price_figure(chart)
    candles = chart["candles"]
    shows = {
        "candles": all(_has(candles[name]) for name in ("open", "high", "low")),
        "volume": _has(chart["bars"]["volume"]),
    }
    return {"chart": chart, "bar_count": len(rows), "shows": shows}


def _risk(
    container: Container, principal: Principal, info: SymbolInfo, query: MarketQuery, window: tuple[date, date]
) -> dict[str, Any]:
    if not principal.can(Permission.ANALYTICS_RUN):
        return {"risk": None, "risk_error": None}
    try:
        figures = container.analytics.risk(info.symbol, start=window[0], end=window[1], as_of=query.as_of)
    except ValidationFailed as exc:  # too few returns in a short range: the prices still show
        return {"risk": None, "risk_error": str(exc)}
    return {"risk": figures, "risk_error": None}


def _symbol_view(container: Container, principal: Principal, info: SymbolInfo, query: MarketQuery) -> dict[str, Any]:
    coverage = container.market.coverage(info.symbol, as_of=query.as_of)
    view: dict[str, Any] = {"info": info, "coverage": coverage, "may_analyse": principal.can(Permission.ANALYTICS_RUN)}
    if coverage is None:
        return view
    window = _window(query, coverage)
    view.update(window=window, presets=_presets(query, info.symbol, coverage, window))
    view.update(_chart(container, principal, info, query, window))
    view.update(_risk(container, principal, info, query, window))
    return view


def _master(container: Container, sector: str) -> dict[str, Any]:
    every = container.market.symbols(limit=MASTER_LIMIT)
    listed = [info for info in every if not sector or (info.sector or "").lower() == sector.lower()]
    sectors = sorted({info.sector for info in every if info.sector})
    master = [{"symbol": info.symbol, "name": info.name, "sector": info.sector or ""} for info in every]
    return {"symbols": listed, "sectors": sectors, "master": master}


@router.get("/market")
def market_page(
    request: Request,
    principal: MarketPage,
    container: ContainerDep,
    symbol: Param = None,
    sector: Param = None,
    start: Param = None,
    end: Param = None,
    as_of: Param = None,
) -> Response:
    form = {
        "symbol": (symbol or "").strip(),
        "sector": (sector or "").strip(),
        "start": start or "",
        "end": end or "",
        "as_of": as_of or "",
    }
    context: dict[str, Any] = {
        "form": form,
        "symbols": [],
        "sectors": [],
        "master": [],
        "risk_groups": RISK_GROUPS,
        "positive_losses": POSITIVE_LOSSES,
    }
    try:
        context.update(_master(container, form["sector"]))
        query = _query(symbol, sector, start, end, as_of)
        chosen = query.symbol or (context["symbols"][0].symbol if context["symbols"] else "")
        if chosen:
            info = container.market.symbol(chosen)
            context.update(query=query, **_symbol_view(container, principal, info, query))
    except (ValidationFailed, NotFound, StoreUnavailable) as exc:
        message = STORE_BUSY if isinstance(exc, StoreUnavailable) else str(exc)
        context.update(error=message)
        return render(request, "market/page.html", context, status_code=status_of(exc))
    return render(request, "market/page.html", context)
