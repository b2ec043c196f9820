"""Polygon.io daily aggregates: ``GET /v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}``.

The key goes in an ``Authorization: Bearer`` header. Bars are asked for split-adjusted (``adjusted=true``):
Polygon adjusts open, high, low and close for splits (not for dividends), so the close doubles as the adjusted
close. Each result is ``{"o", "h", "l", "c", "v", "vw", "n", "t"}`` with ``t`` the start of the day in
milliseconds since the epoch (midnight in New York). A long range comes in pages: the answer's ``next_url``
(on Polygon's own host) leads to the next. Splits come from ``GET /v3/reference/splits`` (``split_from``,
``split_to``, ``execution_date``), asked only for an incremental window, since a full-history fetch is
adjusted as a whole. Free tier: 5 requests a minute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from investai.adapters.market_vendors.base import VendorFetcher, VendorRequest, mapping, number, require
from investai.adapters.market_vendors.http import RateLimit
from investai.ports.market_feeds import (
    DailyBarRow,
    FeedPayloadInvalid,
    FeedQuery,
    FeedRefused,
    Split,
    UnreadableRow,
)

_NEW_YORK = ZoneInfo("America/New_York")
_ANSWERED = {"OK", "DELAYED"}


class PolygonFeed(VendorFetcher):
    vendor = "polygon"
    secret_name = "polygon_api_key"
    base_url = "https://api.polygon.io"
    default_limit = RateLimit(requests=5, per_seconds=60.0)

    def sign(self, request: httpx.Request, key: str) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {key}"
        return request

    def transform_query(self, query: FeedQuery) -> VendorRequest:
        ticker = quote(query.symbol, safe="")
        return VendorRequest(
            f"/v2/aggs/ticker/{ticker}/range/1/day/{query.start.isoformat()}/{query.end.isoformat()}",
            {"adjusted": "true", "sort": "asc", "limit": "50000"},
        )

    def check(self, payload: Any) -> None:
        document = mapping(payload, self.vendor)
        status = document.get("status")
        if status not in _ANSWERED:
            message = str(document.get("error") or document.get("message") or status)[:160]
            if status in {"ERROR", "NOT_AUTHORIZED", "NOT_FOUND"}:
                raise FeedRefused(f"{self.vendor}: {message}")
            raise FeedPayloadInvalid(f"{self.vendor}: unexpected status {str(status)[:40]!r}")

    def next_page(self, payload: Any) -> VendorRequest | None:
        following = mapping(payload, self.vendor).get("next_url")
        if not following:
            return None
        if not isinstance(following, str) or not self.same_host(following):
            raise FeedPayloadInvalid(f"{self.vendor}: next_url is not on {httpx.URL(self.base_url).host}")
        return VendorRequest(following)

    def records(self, payload: Any) -> Sequence[Any]:
        results = mapping(payload, self.vendor).get("results", [])  # omitted when there are none
        if not isinstance(results, list):
            raise FeedPayloadInvalid(f"{self.vendor}: results is not a list")
        return results

    def bar_row(self, record: Any) -> DailyBarRow:
        close = require(record, "c")
        return DailyBarRow(
            date=_day(record),
            open=number(record, "o"),
            high=number(record, "h"),
            low=number(record, "l"),
            close=close,
            adj_close=close,
            volume=number(record, "v"),
        )

    def record_date(self, record: Any) -> str | None:
        try:
            return _day(record).isoformat()
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
            return None

    def splits(self, query: FeedQuery, rows: Sequence[DailyBarRow | UnreadableRow], key: str) -> list[Split]:
        if not query.incremental:
            return []
        request = VendorRequest(
            "/v3/reference/splits",
            {
                "ticker": query.symbol,
                "execution_date.gte": query.start.isoformat(),
                "execution_date.lte": query.end.isoformat(),
                "limit": "1000",
            },
        )
        found: list[Split] = []
        for page in self.extract(request, key):
            for record in self.records(page):
                try:
                    found.append(_split(record))
                except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                    raise FeedPayloadInvalid(f"{self.vendor}: a split cannot be read ({exc})") from None
        return found


def _day(record: Mapping[str, Any]) -> date:
    stamp = require(record, "t")
    return datetime.fromtimestamp(stamp / 1000.0, tz=UTC).astimezone(_NEW_YORK).date()


def _split(record: Mapping[str, Any]) -> Split:
    ratio = require(record, "split_to") / require(record, "split_from")
    if ratio <= 0:
        raise ValueError("a split ratio must be positive")
    return Split(date=date.fromisoformat(str(record["execution_date"])[:10]), factor=ratio)
