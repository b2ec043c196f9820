"""Vendor feeds into the market store: each run pulls, per vendor and symbol, the bars since the last stored
one and hands them to :class:`~investai.services.market.MarketDataService` like any other ingest.

Window. A symbol with stored bars is fetched from its last stored date minus ``overlap_days`` (so a vendor's
corrections to recent days are seen: a changed bar becomes a new version, the old one stays readable as of
earlier moments) to today; a symbol without bars fetches ``history_days`` of history. Vendor bars are loaded
as history (:mod:`investai.domain.market`): a first-time bar is available from the end of its own day.

Splits. When a vendor reports a split inside an incremental window, the adjusted history stored before it no
longer matches the vendor's: the symbol's whole history is fetched again and ingested with the plausibility
bounds on changes and jumps widened by the split's ratio (and by no more), so the restated adjusted closes go
in rather than into quarantine. The price and volume limits stay as they are.

Failures. Rows a vendor sent that cannot be read are rejected with their reason, the others still go in; a
symbol whose request fails (no key, rate limit spent, server errors, a payload that is not what the vendor
documents, every row rejected) is an outcome, logged once, never an exception out of :meth:`run`. A vendor
without a key is reported once as not configured and asked nothing; a vendor whose request budget is spent is
asked nothing more in this run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.market import AssetClass, IngestReport
from investai.ingest.market_plausibility import PlausibilityRules
from investai.observability.logging import get_logger
from investai.ports.clock import Clock
from investai.ports.market import TimeSeriesStore
from investai.ports.market_feeds import (
    BarBatch,
    FeedError,
    FeedQuery,
    FeedRateLimited,
    MarketFeed,
    Split,
    UnreadableRow,
)
from investai.services.market import MarketDataService, bar_frame_from_rows, quote_frame_from_rows

log = get_logger(__name__)
ALL_SYMBOLS = 100_000
QUOTES = "(quotes)"


@dataclass(frozen=True)
class FeedOptions:
    """``symbols``: what every run fetches (empty: the symbol master, indices excepted)."""

    history_days: int = 365 * 5
    overlap_days: int = 5
    symbols: tuple[str, ...] = ()
    quotes: bool = False
    max_run_s: float | None = None
    """A run asks for no new symbol after this long (they are ``deferred`` to the next run, which continues
    from their stored bars): a vendor's free tier paces requests, and a job must end before its lease does."""


@dataclass(frozen=True)
class FeedOutcome:
    """What one vendor did for one symbol (``symbol`` is ``*`` for the vendor as a whole, ``(quotes)`` for its
    latest quotes). ``status``: ``ingested``, ``no_data``, ``rejected`` (every row refused) or a
    :class:`~investai.ports.market_feeds.FeedError` kind (``not_configured``, ``rate_limited`` …)."""

    vendor: str
    symbol: str
    status: str
    start: date | None = None
    end: date | None = None
    report: IngestReport | None = None
    detail: str = ""
    split_refetch: bool = False
    requests: int = 0

    @property
    def ok(self) -> bool:
        return self.status in {"ingested", "no_data", "deferred"}


class MarketFeedService:
    def __init__(
        self,
        *,
        market: MarketDataService,
        store: TimeSeriesStore,
        clock: Clock,
        feeds: Sequence[MarketFeed],
        options: FeedOptions,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._market = market
        self._store = store
        self._clock = clock
        self._feeds = list(feeds)
        self._options = options
        self._monotonic = monotonic

    @property
    def vendors(self) -> list[str]:
        return [feed.name for feed in self._feeds]

    def run(self, *, vendor: str | None = None, symbols: Sequence[str] | None = None) -> list[FeedOutcome]:
        """Fetch and ingest from every configured feed (or ``vendor``), for ``symbols`` or the configured ones."""
        feeds = self._chosen(vendor)
        wanted = self._symbols(symbols)
        limit = self._options.max_run_s
        deadline = self._monotonic() + limit if limit is not None else math.inf
        outcomes: list[FeedOutcome] = []
        for feed in feeds:
            if not feed.configured:
                log.warning("market.feed_not_configured", vendor=feed.name)
                outcomes.append(FeedOutcome(feed.name, "*", "not_configured", detail="no API key in the secret store"))
                continue
            outcomes.extend(self._vendor_run(feed, wanted, deadline))
        return outcomes

    def _vendor_run(self, feed: MarketFeed, symbols: Sequence[str], deadline: float) -> list[FeedOutcome]:
        outcomes: list[FeedOutcome] = []
        spent: FeedOutcome | None = None
        for symbol in symbols:
            if spent is not None:
                outcomes.append(replace(spent, symbol=symbol, detail=f"not asked: {spent.detail}", requests=0))
                continue
            if self._monotonic() >= deadline:
                outcomes.append(FeedOutcome(feed.name, symbol, "deferred", detail="the run's time is up"))
                continue
            outcome = self._fetch_symbol(feed, symbol)
            outcomes.append(outcome)
            if outcome.status == FeedRateLimited.kind:
                spent = outcome
        if self._options.quotes and feed.supports_quotes and spent is None and symbols:
            outcomes.append(self._fetch_quotes(feed, symbols))
        return outcomes

    def _fetch_symbol(self, feed: MarketFeed, symbol: str) -> FeedOutcome:
        query = self._window(symbol)
        try:
            batch = feed.daily_bars(query)
            requests = batch.requests
            rules: PlausibilityRules | None = None
            if query.incremental and batch.splits:
                query, rules = self._history_query(symbol, query), split_rules(self._market.plausibility, batch.splits)
                log.info("market.feed_split", vendor=feed.name, symbol=symbol, splits=_describe(batch.splits))
                batch = feed.daily_bars(query)
                requests += batch.requests
            if not batch.rows:
                return FeedOutcome(feed.name, symbol, "no_data", query.start, query.end, requests=requests)
            report = self._ingest(feed.name, batch, rules)
        except (FeedError, ValidationFailed) as exc:
            status = exc.kind if isinstance(exc, FeedError) else "rejected"
            log.warning("market.feed_failed", vendor=feed.name, symbol=symbol, status=status, reason=str(exc))
            return FeedOutcome(feed.name, symbol, status, query.start, query.end, detail=str(exc))
        return FeedOutcome(
            feed.name,
            symbol,
            "ingested",
            query.start,
            query.end,
            report=report,
            split_refetch=rules is not None,
            requests=requests,
        )

    def _window(self, symbol: str) -> FeedQuery:
        today = self._clock.now().date()
        span = self._store.bar_range(symbol)
        if span is None:
            return FeedQuery(symbol, today - timedelta(days=self._options.history_days), today)
        start = min(span[1] - timedelta(days=self._options.overlap_days), today)
        return FeedQuery(symbol, start, today, incremental=True)

    def _history_query(self, symbol: str, window: FeedQuery) -> FeedQuery:
        span = self._store.bar_range(symbol)
        first = span[0] if span is not None else window.start
        return FeedQuery(symbol, min(first, window.start), window.end)

    def _ingest(self, vendor: str, batch: BarBatch, rules: PlausibilityRules | None) -> IngestReport:
        records: list[dict[str, object]] = []
        ours: dict[int, str] = {}
        for number, row in enumerate(batch.rows, start=1):
            if isinstance(row, UnreadableRow):
                ours[number] = row.reason
                records.append({"symbol": batch.symbol, "date": row.date})
                continue
            values = {name: getattr(row, name) for name in ("open", "high", "low", "close", "adj_close", "volume")}
            records.append({"symbol": batch.symbol, "date": row.date.isoformat(), **values})
        frame, unreadable = bar_frame_from_rows(records)
        report = self._market.ingest_bars(
            frame, source=f"vendor:{vendor}", problems={**unreadable, **ours}, history=True, plausibility=rules
        )
        log.info(
            "market.feed_ingested",
            vendor=vendor,
            symbol=batch.symbol,
            requests=batch.requests,
            received=report.received,
            accepted=report.accepted,
            rejected=len(report.rejected),
            quarantined=len(report.quarantined),
        )
        return report

    def _fetch_quotes(self, feed: MarketFeed, symbols: Sequence[str]) -> FeedOutcome:
        try:
            batch = feed.latest_quotes(symbols)
            source = f"vendor:{feed.name}"
            records: list[dict[str, object]] = []
            problems: dict[int, str] = {}
            for number, row in enumerate(batch.rows, start=1):
                if isinstance(row, UnreadableRow):
                    problems[number] = row.reason
                    records.append({"symbol": row.symbol, "timestamp": None, "source": source})
                    continue
                stamp = row.timestamp.isoformat()
                records.append({**asdict(row), "timestamp": stamp, "source": source})
            if not records:
                return FeedOutcome(feed.name, QUOTES, "no_data", requests=batch.requests)
            frame, unreadable = quote_frame_from_rows(records)
            report = self._market.ingest_quotes(frame, problems={**unreadable, **problems})
        except (FeedError, ValidationFailed) as exc:
            status = exc.kind if isinstance(exc, FeedError) else "rejected"
            log.warning("market.feed_failed", vendor=feed.name, symbol=QUOTES, status=status, reason=str(exc))
            return FeedOutcome(feed.name, QUOTES, status, detail=str(exc))
        return FeedOutcome(feed.name, QUOTES, "ingested", report=report, requests=batch.requests)

    def _chosen(self, vendor: str | None) -> list[MarketFeed]:
        if vendor is None:
            return list(self._feeds)
        chosen = [feed for feed in self._feeds if feed.name == vendor.strip().lower()]
        if not chosen:
            configured = ", ".join(self.vendors) or "none (INVESTAI_MARKET_VENDORS is empty)"
            raise NotFound(f"market vendor {vendor!r} is not configured; configured: {configured}")
        return chosen

    def _symbols(self, symbols: Sequence[str] | None) -> list[str]:
        given = symbols if symbols else self._options.symbols
        if given:
            return list(dict.fromkeys(symbol.strip().upper() for symbol in given if symbol.strip()))
        return [
            info.symbol
            for info in self._market.symbols(limit=ALL_SYMBOLS)
            if info.asset_class is not AssetClass.INDEX and not info.symbol.startswith("^")
        ]


def split_rules(base: PlausibilityRules, splits: Sequence[Split]) -> PlausibilityRules:
    """``base`` with the bounds on one-day moves and on changes of stored prices widened by the splits' ratio
    (4 for a 4-for-1 split or a 1-for-4 reverse split; the product for several); the limits unchanged."""
    spread = math.prod(max(split.factor, 1.0 / split.factor) for split in splits if split.factor > 0)
    return replace(
        base,
        max_daily_rise=(1.0 + base.max_daily_rise) * spread - 1.0,
        max_daily_fall=1.0 - (1.0 - base.max_daily_fall) / spread,
        max_correction=(1.0 + base.max_correction) * spread - 1.0,
    )


def _describe(splits: Sequence[Split]) -> list[str]:
    return [f"{split.date.isoformat()} x{split.factor:g}" for split in splits]


def feed_summary(outcomes: Sequence[FeedOutcome], *, listed: int = 50) -> dict[str, object]:
    """A job result's account of a run: per vendor, symbols asked, rows accepted, and the failures (up to
    ``listed`` of them, as ``SYMBOL: status``)."""
    summary: dict[str, object] = {}
    for vendor in dict.fromkeys(outcome.vendor for outcome in outcomes):
        mine = [outcome for outcome in outcomes if outcome.vendor == vendor]
        failed = [f"{outcome.symbol}: {outcome.status}" for outcome in mine if not outcome.ok]
        summary[vendor] = {
            "symbols": len(mine),
            "accepted": sum(outcome.report.accepted for outcome in mine if outcome.report is not None),
            "failed": failed[:listed],
            "failures": len(failed),
            "deferred": sum(outcome.status == "deferred" for outcome in mine),
        }
    return summary
