"""The shared shape of a vendor feed, after OpenBB's fetchers: transform the query, extract, transform the data.

:meth:`VendorFetcher.daily_bars` runs the three steps for every vendor:

1. :meth:`~VendorFetcher.transform_query`: our :class:`~investai.ports.market_feeds.FeedQuery` becomes the
   vendor's first request (path and parameters);
2. :meth:`~VendorFetcher.extract`: the HTTP calls, within the vendor's request budget, with bounded retries
   (see :mod:`investai.adapters.market_vendors.http`), following the vendor's paging
   (:meth:`~VendorFetcher.next_page`) and refusing answers that are not what it documents
   (:meth:`~VendorFetcher.check`);
3. :meth:`~VendorFetcher.transform_data`: the vendor's records (:meth:`~VendorFetcher.records`) become
   :class:`~investai.ports.market_feeds.DailyBarRow` (:meth:`~VendorFetcher.bar_row`); a record that cannot be
   read stays in its place as an :class:`~investai.ports.market_feeds.UnreadableRow` with the reason.

A vendor fills those hooks and names its key's secret, its base URL and its free tier's request limit.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import httpx

from investai.adapters.market_vendors.http import (
    RateLimit,
    RequestBudget,
    RetryPolicy,
    SigningTransport,
    Sleep,
    VendorHttp,
)
from investai.ports.market_feeds import (
    BarBatch,
    DailyBarRow,
    FeedNotConfigured,
    FeedPayloadInvalid,
    FeedQuery,
    FeedUnsupported,
    QuoteBatch,
    QuoteRow,
    Split,
    UnreadableRow,
)
from investai.ports.secrets import SecretStore

MAX_PAGES = 200
"""Pages one request may follow (a vendor that keeps offering a next page is not followed forever)."""
_UNREADABLE = (KeyError, TypeError, ValueError, OverflowError)


@dataclass(frozen=True)
class VendorRequest:
    """A GET: a path under the vendor's base URL (or a URL on the vendor's host, for paging) and parameters."""

    url: str
    params: Mapping[str, str] | None = None


class VendorFetcher(ABC):
    """One vendor's feed (:class:`~investai.ports.market_feeds.MarketFeed`); subclasses fill the hooks."""

    vendor: ClassVar[str]
    secret_name: ClassVar[str]
    """The key's name in the secret store (``INVESTAI_<NAME>`` locally, a field of the secret on AWS)."""
    base_url: ClassVar[str]
    default_limit: ClassVar[RateLimit]
    """The vendor's documented free-tier limit, used unless the settings give another."""
    throttle_delay_s: ClassVar[float] = 60.0
    """How long to wait after a rate-limit answer sent as HTTP 200 (see :meth:`throttle_message`)."""

    def __init__(
        self,
        *,
        secrets: SecretStore,
        transport: httpx.BaseTransport | None = None,
        limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        policy = retry or RetryPolicy()
        self._secrets = secrets
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=SigningTransport(transport or httpx.HTTPTransport(), self.sign),
            timeout=policy.timeout_s,
            headers={"Accept": "application/json"},
        )
        budget = RequestBudget(
            limit or self.default_limit, max_wait_s=policy.max_wait_s, sleep=sleep, monotonic=monotonic
        )
        self._http = VendorHttp(vendor=self.vendor, client=self._client, budget=budget, retry=policy, sleep=sleep)
        self._sent = 0

    # --- the port --------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.vendor

    @property
    def configured(self) -> bool:
        return bool(self._secrets.get(self.secret_name))

    @property
    def supports_quotes(self) -> bool:
        return False

    def daily_bars(self, query: FeedQuery) -> BarBatch:
        key = self._key()
        sent = self._sent
        pages = self.extract(self.transform_query(query), key)
        rows = self.transform_data(query, pages)
        splits = self.splits(query, rows, key)
        return BarBatch(symbol=query.symbol, rows=rows, splits=splits, requests=self._sent - sent)

    def latest_quotes(self, symbols: Sequence[str]) -> QuoteBatch:
        request = self.quote_request(symbols)
        if request is None:
            raise FeedUnsupported(f"{self.vendor}: no latest quotes through this feed")
        key = self._key()
        sent = self._sent
        rows: list[QuoteRow | UnreadableRow] = []
        for page in self.extract(request, key):
            for record in self.quote_records(page):
                try:
                    rows.append(self.quote_row(record))
                except _UNREADABLE as exc:
                    rows.append(UnreadableRow(reason=f"{self.vendor}: {describe(exc)}", symbol=_text(record, "ticker")))
        return QuoteBatch(rows=rows, requests=self._sent - sent)

    def close(self) -> None:
        self._client.close()

    # --- the three steps -------------------------------------------------------------------------------------

    @abstractmethod
    def transform_query(self, query: FeedQuery) -> VendorRequest:
        """The vendor's first request for the query."""

    def extract(self, request: VendorRequest, key: str) -> list[Any]:
        """Every page of the answer (JSON documents), following :meth:`next_page`."""
        pages: list[Any] = []
        following: VendorRequest | None = request
        while following is not None and len(pages) < MAX_PAGES:
            payload = self.get(following, key)
            self.check(payload)
            pages.append(payload)
            following = self.next_page(payload)
        return pages

    def transform_data(self, query: FeedQuery, pages: Sequence[Any]) -> list[DailyBarRow | UnreadableRow]:
        """The bars of every page dated within the query's window, unreadable records in place."""
        rows: list[DailyBarRow | UnreadableRow] = []
        for page in pages:
            for record in self.records(page):
                try:
                    bar = self.bar_row(record)
                except _UNREADABLE as exc:
                    rows.append(UnreadableRow(reason=f"{self.vendor}: {describe(exc)}", date=self.record_date(record)))
                    continue
                if query.start <= bar.date <= query.end:
                    rows.append(bar)
        return rows

    # --- hooks -----------------------------------------------------------------------------------------------

    @abstractmethod
    def sign(self, request: httpx.Request, key: str) -> httpx.Request:
        """The request with the key where the vendor documents it."""

    def check(self, payload: Any) -> None:
        """Raise :class:`~investai.ports.market_feeds.FeedError` for an answer that carries no data (a
        documented error document, a different shape); by default every answer passes."""
        return None

    def throttle_message(self, payload: Any) -> str | None:
        """The message of a rate-limit answer that arrives as HTTP 200 (Alpha Vantage's), else ``None``."""
        return None

    def next_page(self, payload: Any) -> VendorRequest | None:
        """The request for the page after ``payload``, if the vendor pages."""
        return None

    @abstractmethod
    def records(self, payload: Any) -> Sequence[Any]:
        """The bar records of one page; :class:`FeedPayloadInvalid` when the page has no such list."""

    @abstractmethod
    def bar_row(self, record: Any) -> DailyBarRow:
        """One record as a bar; ``KeyError``, ``TypeError`` or ``ValueError`` when it cannot be read."""

    def record_date(self, record: Any) -> str | None:
        """The date a record claims, as text, for the report of an unreadable one."""
        return None

    def splits(self, query: FeedQuery, rows: Sequence[DailyBarRow | UnreadableRow], key: str) -> list[Split]:
        """The splits within the window: by default, the bars' own split factors."""
        return [
            Split(date=row.date, factor=row.split_factor)
            for row in rows
            if isinstance(row, DailyBarRow) and not math.isclose(row.split_factor, 1.0)
        ]

    def quote_request(self, symbols: Sequence[str]) -> VendorRequest | None:
        """The request for the latest quotes of ``symbols``; ``None`` where the vendor has none."""
        return None

    def quote_records(self, payload: Any) -> Sequence[Any]:
        raise FeedUnsupported(f"{self.vendor}: no latest quotes through this feed")

    def quote_row(self, record: Any) -> QuoteRow:
        raise FeedUnsupported(f"{self.vendor}: no latest quotes through this feed")

    # --- shared ----------------------------------------------------------------------------------------------

    def get(self, request: VendorRequest, key: str) -> Any:
        self._sent += 1
        return self._http.get_json(
            request.url,
            params=request.params,
            key=key,
            throttled=self.throttle_message,
            throttle_delay_s=self.throttle_delay_s,
        )

    def _key(self) -> str:
        key = self._secrets.get(self.secret_name)
        if not key:
            raise FeedNotConfigured(f"{self.vendor}: no API key (secret {self.secret_name!r} is not set)")
        return key

    def same_host(self, url: str) -> bool:
        """Whether ``url`` is on the vendor's own host over HTTPS (a next page elsewhere would get the key)."""
        target, home = httpx.URL(url), httpx.URL(self.base_url)
        return target.scheme == home.scheme and target.host == home.host


# --- reading vendor records ------------------------------------------------------------------------------------


def number(record: Mapping[str, Any], field: str, *, required: bool = False) -> float | None:
    """A finite number from a record (a JSON number or a numeric string); ``None`` when absent and optional."""
    value = record[field] if required else record.get(field)
    if value is None:
        if required:
            raise KeyError(field)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{field} is not a number")
    parsed = float(value)
    if not math.isfinite(parsed):
        raise ValueError(f"{field} is not finite")
    return parsed


def require(record: Mapping[str, Any], field: str) -> float:
    value = number(record, field, required=True)
    if value is None:  # number() raises rather than return None when required
        raise KeyError(field)
    return value


def iso_day(value: Any) -> date:
    """A date from ``2024-01-02`` or ``2024-01-02T00:00:00.000Z`` (the day as the vendor writes it)."""
    if not isinstance(value, str) or len(value) < 10:
        raise ValueError(f"date {str(value)[:40]!r} is not an ISO date")
    return date.fromisoformat(value[:10])


def describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"field {exc.args[0]!r} is missing" if exc.args else "a field is missing"
    return str(exc)[:160] or type(exc).__name__


def mapping(payload: Any, vendor: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise FeedPayloadInvalid(f"{vendor}: the answer is a {type(payload).__name__}, not an object")
    return payload


def _text(record: Any, field: str) -> str | None:
    value = record.get(field) if isinstance(record, Mapping) else None
    return str(value)[:20] if value is not None else None
