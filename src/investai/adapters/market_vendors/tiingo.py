"""Tiingo end-of-day prices: ``GET /tiingo/daily/{ticker}/prices?startDate=…&endDate=…``, and IEX top-of-book
quotes: ``GET /iex/?tickers=…``.

The key goes in an ``Authorization: Token`` header. A price answer is a list of
``{"date", "open", "high", "low", "close", "volume", "adjOpen", "adjHigh", "adjLow", "adjClose", "adjVolume",
"divCash", "splitFactor"}``: raw prices, CRSP-adjusted prices (splits and dividends), the cash dividend and the
split factor of each day. The whole range comes in one answer. A ticker with a dot is written with a dash
(``BRK.B`` is ``brk-b``). Free tier: 50 requests an hour (and 1,000 a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd

from investai.adapters.market_vendors.base import VendorFetcher, VendorRequest, iso_day, number, require
from investai.adapters.market_vendors.http import RateLimit
from investai.ports.market_feeds import DailyBarRow, FeedPayloadInvalid, FeedQuery, FeedRefused, QuoteRow


class TiingoFeed(VendorFetcher):
    vendor = "tiingo"
    secret_name = "tiingo_api_key"
    base_url = "https://api.tiingo.com"
    default_limit = RateLimit(requests=50, per_seconds=3600.0)

    @property
    def supports_quotes(self) -> bool:
        return True

    def sign(self, request: httpx.Request, key: str) -> httpx.Request:
        request.headers["Authorization"] = f"Token {key}"
        return request

    def transform_query(self, query: FeedQuery) -> VendorRequest:
        return VendorRequest(
            f"/tiingo/daily/{_ticker(query.symbol)}/prices",
            {
                "startDate": query.start.isoformat(),
                "endDate": query.end.isoformat(),
                "resampleFreq": "daily",
                "format": "json",
            },
        )

    def check(self, payload: Any) -> None:
        if isinstance(payload, dict) and "detail" in payload:
            raise FeedRefused(f"{self.vendor}: {str(payload['detail'])[:160]}")
        if not isinstance(payload, list):
            raise FeedPayloadInvalid(f"{self.vendor}: the answer is a {type(payload).__name__}, not a list")

    def records(self, payload: Any) -> Sequence[Any]:
        return list(payload)

    def bar_row(self, record: Any) -> DailyBarRow:
        return DailyBarRow(
            date=iso_day(record["date"]),
            open=number(record, "open"),
            high=number(record, "high"),
            low=number(record, "low"),
            close=require(record, "close"),
            adj_close=number(record, "adjClose"),
            volume=number(record, "volume"),
            split_factor=number(record, "splitFactor") or 1.0,
            dividend=number(record, "divCash") or 0.0,
        )

    def record_date(self, record: Any) -> str | None:
        value = record.get("date") if isinstance(record, dict) else None
        return str(value)[:10] if value is not None else None

    def quote_request(self, symbols: Sequence[str]) -> VendorRequest | None:
        return VendorRequest("/iex/", {"tickers": ",".join(_ticker(symbol) for symbol in symbols)})

    def quote_records(self, payload: Any) -> Sequence[Any]:
        return self.records(payload)

    def quote_row(self, record: Any) -> QuoteRow:
        price = number(record, "last") or number(record, "tngoLast")
        if price is None:
            raise KeyError("last")
        stamp = pd.Timestamp(str(record["timestamp"]))
        if stamp.tzinfo is None:
            raise ValueError(f"timestamp {str(record['timestamp'])[:40]!r} has no offset")
        return QuoteRow(
            symbol=str(record["ticker"]).upper().replace("-", "."),
            timestamp=stamp.tz_convert("UTC").floor("us").to_pydatetime(),
            price=price,
            size=number(record, "lastSize"),
            bid=number(record, "bidPrice"),
            ask=number(record, "askPrice"),
        )


def _ticker(symbol: str) -> str:
    return quote(symbol.lower().replace(".", "-"), safe="")
