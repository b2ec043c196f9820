"""Alpha Vantage daily adjusted series: ``GET /query?function=TIME_SERIES_DAILY_ADJUSTED&symbol=…``.

The key goes in the ``apikey`` query parameter (the only way Alpha Vantage documents); it is added on the
request as sent, never on the one httpx logs. The answer is ``{"Meta Data": {…}, "Time Series (Daily)":
{"2024-01-02": {"1. open", "2. high", "3. low", "4. close", "5. adjusted close", "6. volume",
"7. dividend amount", "8. split coefficient"}}}``, numbers as strings, newest first; ``outputsize=compact``
gives the latest 100 days, ``full`` the whole history. A rate-limit answer is HTTP 200 with only a ``Note``
or ``Information`` message; an unknown symbol is HTTP 200 with an ``Error Message``. Free tier: 25 requests a
day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from investai.adapters.market_vendors.base import VendorFetcher, VendorRequest, iso_day, mapping, number, require
from investai.adapters.market_vendors.http import RateLimit
from investai.ports.market_feeds import DailyBarRow, FeedPayloadInvalid, FeedQuery, FeedRefused

SERIES = "Time Series (Daily)"
COMPACT_DAYS = 140
"""Windows shorter than this many calendar days fit in the latest 100 trading days (``outputsize=compact``)."""


class AlphaVantageFeed(VendorFetcher):
    vendor = "alphavantage"
    secret_name = "alphavantage_api_key"
    base_url = "https://www.alphavantage.co"
    default_limit = RateLimit(requests=25, per_seconds=86_400.0)

    def sign(self, request: httpx.Request, key: str) -> httpx.Request:
        return httpx.Request(
            request.method,
            request.url.copy_add_param("apikey", key),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    def transform_query(self, query: FeedQuery) -> VendorRequest:
        size = "compact" if (query.end - query.start).days < COMPACT_DAYS else "full"
        return VendorRequest(
            "/query",
            {"function": "TIME_SERIES_DAILY_ADJUSTED", "symbol": query.symbol, "outputsize": size, "datatype": "json"},
        )

    def throttle_message(self, payload: Any) -> str | None:
        """A ``Note`` or ``Information`` answer without data, unless it says the function needs a premium plan
        (which waiting does not cure: :meth:`check` refuses it)."""
        if isinstance(payload, dict) and SERIES not in payload:
            for field in ("Note", "Information"):
                message = payload.get(field)
                if isinstance(message, str) and "premium endpoint" not in message.lower():
                    return message
        return None

    def check(self, payload: Any) -> None:
        document = mapping(payload, self.vendor)
        for field in ("Error Message", "Information", "Note"):
            if field in document and SERIES not in document:
                raise FeedRefused(f"{self.vendor}: {str(document[field])[:160]}")
        if not isinstance(document.get(SERIES), dict):
            raise FeedPayloadInvalid(f"{self.vendor}: the answer has no {SERIES!r} object")

    def records(self, payload: Any) -> Sequence[Any]:
        series = mapping(payload, self.vendor)[SERIES]
        return [
            {**values, "date": day} if isinstance(values, dict) else {"date": day}
            for day, values in sorted(series.items())
        ]

    def bar_row(self, record: Any) -> DailyBarRow:
        return DailyBarRow(
            date=iso_day(record["date"]),
            open=number(record, "1. open"),
            high=number(record, "2. high"),
            low=number(record, "3. low"),
            close=require(record, "4. close"),
            adj_close=number(record, "5. adjusted close"),
            volume=number(record, "6. volume"),
            dividend=number(record, "7. dividend amount") or 0.0,
            split_factor=number(record, "8. split coefficient") or 1.0,
        )

    def record_date(self, record: Any) -> str | None:
        return str(record.get("date"))[:10] if isinstance(record, dict) else None
