"""One harness for every market-data vendor feed, run against each vendor in :data:`VENDORS`.

Vendors answer from recorded responses (``tests/data/vendors/<vendor>/<scenario>.json``: the requests expected,
in order, each with the vendor's documented answer) through ``httpx.MockTransport``; nothing reaches the
network. Each cassette entry names the path and the query parameters the request must carry; the transport
also checks that every request carries the key where the vendor documents it. Bars go through the real
:class:`~investai.services.market.MarketDataService` into a DuckDB store under ``tmp_path``, on a fake clock;
sleeps are recorded, not slept. To add a vendor: record its cassettes and add a :class:`Vendor` row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_audit import SqliteAuditLog
from investai.adapters.market_vendors import AlphaVantageFeed, PolygonFeed, RateLimit, RetryPolicy, TiingoFeed
from investai.adapters.market_vendors.base import VendorFetcher
from investai.domain.market import SymbolInfo
from investai.ports.market_feeds import DailyBarRow, FeedQuery
from investai.services.market import MarketDataService, MarketLimits, bar_frame_from_rows
from investai.services.market_feeds import FeedOptions, FeedOutcome, MarketFeedService

DATA = Path(__file__).resolve().parents[1] / "data" / "vendors"
KEY = "k3y-5f2a9c0d1e"
SYMBOL = "ACME"
NOW = datetime(2024, 3, 8, 23, 0, tzinfo=UTC)
SEEDED_AT = datetime(2024, 3, 6, 1, 0, tzinfo=UTC)
BEFORE_RUN = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
HISTORY_DAYS, OVERLAP_DAYS = 14, 3
SEED_LAST = date(2024, 3, 5)
VALUES = ("open", "high", "low", "close", "adj_close", "volume")


@dataclass(frozen=True)
class Vendor:
    name: str
    feed: type[VendorFetcher]
    carries_key: Callable[[httpx.Request], bool]
    throttle_wait: float
    """How long the vendor's rate-limit answer in ``rate_limited.json`` asks to wait."""

    def __str__(self) -> str:
        return self.name


VENDORS = [
    Vendor("polygon", PolygonFeed, lambda r: r.headers.get("Authorization") == f"Bearer {KEY}", 7.0),
    Vendor("tiingo", TiingoFeed, lambda r: r.headers.get("Authorization") == f"Token {KEY}", 7.0),
    Vendor("alphavantage", AlphaVantageFeed, lambda r: r.url.params.get("apikey") == KEY, 60.0),
]


def cassette(vendor: Vendor, scenario: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((DATA / vendor.name / f"{scenario}.json").read_text())
    return entries


class Recorded:
    """A MockTransport handler answering from a cassette, in order, checking each request against it."""

    def __init__(self, vendor: Vendor, entries: list[dict[str, Any]]) -> None:
        self.vendor = vendor
        self.entries = list(entries)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.entries, f"unexpected request {request.method} {request.url.path}"
        entry = self.entries.pop(0)
        assert request.url.host == httpx.URL(self.vendor.feed.base_url).host
        assert (request.method, request.url.path) == (entry["method"], entry["path"])
        for name, value in entry.get("params", {}).items():
            assert request.url.params.get(name) == value, name
        assert self.vendor.carries_key(request), "the key is not where the vendor documents it"
        headers = entry.get("headers", {})
        if "json" in entry:
            return httpx.Response(entry["status"], json=entry["json"], headers=headers)
        return httpx.Response(entry["status"], text=entry.get("text", ""), headers=headers)


@dataclass
class World:
    tmp: Path
    clock: FakeClock
    store: DuckDbTimeSeriesStore
    market: MarketDataService
    sleeps: list[float] = field(default_factory=list)
    monotonic: list[float] = field(default_factory=lambda: [1000.0])

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.monotonic[0] += seconds

    def feed(
        self,
        vendor: Vendor,
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        keys: dict[str, str] | None = None,
        limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
    ) -> VendorFetcher:
        secrets = EnvFileSecretStore(
            environ=keys if keys is not None else {f"INVESTAI_{vendor.feed.secret_name.upper()}": KEY}
        )
        return vendor.feed(
            secrets=secrets,
            transport=httpx.MockTransport(handler),
            limit=limit or RateLimit(requests=1000, per_seconds=1.0),
            retry=retry or RetryPolicy(attempts=4, base_s=1.0, cap_s=30.0, max_wait_s=120.0),
            sleep=self.sleep,
            monotonic=lambda: self.monotonic[0],
        )

    def service(
        self, *feeds: VendorFetcher, symbols: tuple[str, ...] = (SYMBOL,), quotes: bool = False
    ) -> MarketFeedService:
        options = FeedOptions(history_days=HISTORY_DAYS, overlap_days=OVERLAP_DAYS, symbols=symbols, quotes=quotes)
        return MarketFeedService(market=self.market, store=self.store, clock=self.clock, feeds=feeds, options=options)

    def run(self, vendor: Vendor, entries: list[dict[str, Any]], **feed_options: Any) -> tuple[FeedOutcome, Recorded]:
        recorded = Recorded(vendor, entries)
        feed = self.feed(vendor, recorded, **feed_options)
        try:
            outcomes = self.service(feed).run()
        finally:
            feed.close()
        assert len(outcomes) == 1
        return outcomes[0], recorded

    def seed(self, vendor: Vendor) -> None:
        """The vendor's own history up to :data:`SEED_LAST`, stored as an earlier run would have stored it."""
        parser = self.feed(vendor, Recorded(vendor, []))
        rows: list[dict[str, object]] = []
        for page in (entry["json"] for entry in cassette(vendor, "history")):
            for record in parser.records(page):
                bar: DailyBarRow = parser.bar_row(record)
                if bar.date <= SEED_LAST:
                    values = {
                        name: getattr(bar, name) for name in ("open", "high", "low", "close", "adj_close", "volume")
                    }
                    rows.append({"symbol": SYMBOL, "date": bar.date.isoformat(), **values})
        parser.close()
        frame, problems = bar_frame_from_rows(rows)
        self.clock.set(SEEDED_AT)
        report = self.market.ingest_bars(frame, source=f"vendor:{vendor.name}", problems=problems, history=True)
        assert report.inserted == 8
        self.clock.set(NOW)

    def close(self, at: datetime, day: date, column: str = "close") -> float:
        frame = self.store.read_bars(SYMBOL, start=day, end=day, as_of=at)
        assert len(frame) == 1, f"no bar on {day} as of {at}"
        return float(frame[column].iloc[0])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(NOW)
    store = DuckDbTimeSeriesStore(path=tmp_path / "market.duckdb")
    database = SqliteDatabase(path=tmp_path / "records.db", migrations=MIGRATIONS)
    database.migrate()
    limits = MarketLimits(
        auto_create_symbols=False,
        max_import_rows=100_000,
        quote_max_age=timedelta(days=7),
        quote_max_skew=timedelta(seconds=5),
    )
    market = MarketDataService(store=store, clock=clock, audit=SqliteAuditLog(db=database, clock=clock), limits=limits)
    market.upsert_symbols([SymbolInfo(symbol=SYMBOL, name="Acme Corp")])
    yield World(tmp=tmp_path, clock=clock, store=store, market=market)
    store.close()
    database.close()


def _first(vendor: Vendor, status: int, **answer: Any) -> dict[str, Any]:
    """The first request of the history cassette, answered with ``status`` instead."""
    entry = dict(cassette(vendor, "history")[0])
    entry.pop("json")
    return {**entry, "status": status, **answer}


parametrise = pytest.mark.parametrize("vendor", VENDORS, ids=str)


@parametrise
def test_a_symbol_without_bars_fetches_the_history_depth_with_every_page(
    vendor: Vendor, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    entries = cassette(vendor, "history")
    outcome, recorded = world.run(vendor, entries)

    assert outcome.status == "ingested", outcome.detail
    assert (outcome.start, outcome.end) == (NOW.date() - timedelta(days=HISTORY_DAYS), NOW.date())
    assert outcome.report is not None
    assert (outcome.report.received, outcome.report.inserted, outcome.report.rejected) == (11, 11, [])
    assert len(recorded.requests) == outcome.requests == len(entries)  # every page followed (Polygon: next_url)
    assert world.close(NOW, date(2024, 2, 23)) == 100.0
    assert world.close(NOW, date(2024, 3, 8)) == 105.0
    assert "HTTP Request: GET" in caplog.text
    assert KEY not in caplog.text  # httpx logs the request it was given, which holds no key


@parametrise
def test_an_incremental_run_starts_at_the_last_bar_less_the_overlap_and_keeps_corrected_versions(
    vendor: Vendor, world: World
) -> None:
    world.seed(vendor)
    outcome, recorded = world.run(vendor, cassette(vendor, "incremental"))

    assert outcome.status == "ingested", outcome.detail
    assert outcome.start == SEED_LAST - timedelta(days=OVERLAP_DAYS)
    assert outcome.report is not None
    report = outcome.report
    assert (report.received, report.inserted, report.updated, report.unchanged) == (5, 3, 1, 1)
    assert world.close(NOW, date(2024, 3, 5)) == 103.9  # the vendor's correction is the current version
    assert world.close(BEFORE_RUN, date(2024, 3, 5)) == 103.5  # and reads before it still see the old one
    # new bars are history (available from the end of their own day); the correction is not backdated
    assert len(world.store.read_bars(SYMBOL, as_of=BEFORE_RUN)) == 10
    assert not recorded.entries


@parametrise
def test_a_split_in_the_window_refetches_the_whole_adjusted_history(vendor: Vendor, world: World) -> None:
    world.seed(vendor)
    entries = cassette(vendor, "split")
    outcome, recorded = world.run(vendor, entries)

    assert outcome.status == "ingested", outcome.detail
    assert outcome.split_refetch
    assert outcome.report is not None
    assert outcome.report.quarantined == []  # restated by the split's ratio: not held for review
    assert outcome.report.received == 11
    assert len(recorded.requests) == len(entries)
    assert world.close(NOW, date(2024, 2, 23), "adj_close") == 50.0
    assert world.close(NOW, date(2024, 3, 8), "adj_close") == 52.5
    assert world.close(BEFORE_RUN, date(2024, 2, 23), "adj_close") == 100.0


@parametrise
def test_rows_that_cannot_be_read_are_rejected_and_the_others_go_in(vendor: Vendor, world: World) -> None:
    outcome, _ = world.run(vendor, cassette(vendor, "partial"))

    assert outcome.status == "ingested", outcome.detail
    assert outcome.report is not None
    assert (outcome.report.received, outcome.report.accepted) == (11, 9)
    assert [row.row for row in outcome.report.rejected] == [3, 5]
    assert all(row.reason.startswith(f"{vendor.name}: ") for row in outcome.report.rejected)


@parametrise
def test_a_rate_limit_answer_is_waited_out(vendor: Vendor, world: World) -> None:
    outcome, _ = world.run(vendor, cassette(vendor, "rate_limited"))

    assert outcome.status == "ingested", outcome.detail
    assert world.sleeps == [vendor.throttle_wait]


@parametrise
def test_server_errors_are_retried_with_back_off(vendor: Vendor, world: World) -> None:
    entries = [_first(vendor, 503), _first(vendor, 500), *cassette(vendor, "history")]
    outcome, _ = world.run(vendor, entries)

    assert outcome.status == "ingested", outcome.detail
    assert world.sleeps == [1.0, 2.0]


@parametrise
def test_spent_retries_are_a_failure_outcome_not_an_exception(vendor: Vendor, world: World) -> None:
    outcome, recorded = world.run(vendor, [_first(vendor, 502)] * 4)

    assert (outcome.status, outcome.report) == ("unavailable", None)
    assert "gave up after 4 attempts" in outcome.detail
    assert len(recorded.requests) == 4
    assert world.sleeps == [1.0, 2.0, 4.0]
    assert world.store.bar_range(SYMBOL) is None


@parametrise
def test_an_answer_that_is_not_json_is_a_failure_of_that_symbol(vendor: Vendor, world: World) -> None:
    html = _first(vendor, 200, text="<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/html"})
    outcome, _ = world.run(vendor, [html])

    assert outcome.status == "invalid_payload"
    assert world.store.bar_range(SYMBOL) is None


@parametrise
def test_an_answer_of_another_shape_than_documented_is_a_failure_of_that_symbol(vendor: Vendor, world: World) -> None:
    outcome, _ = world.run(vendor, cassette(vendor, "wrong_shape"))

    assert outcome.status == "invalid_payload", outcome.detail
    assert world.store.bar_range(SYMBOL) is None


@parametrise
def test_a_vendor_without_a_key_is_reported_once_and_asked_nothing(vendor: Vendor, world: World) -> None:
    recorded = Recorded(vendor, [])
    feed = world.feed(vendor, recorded, keys={})
    outcomes = world.service(feed, symbols=(SYMBOL, "BETA", "GAMMA")).run()

    assert [(o.vendor, o.symbol, o.status) for o in outcomes] == [(vendor.name, "*", "not_configured")]
    assert recorded.requests == []
    assert not feed.configured


@parametrise
def test_the_query_window_reaches_the_vendor(vendor: Vendor, world: World) -> None:
    """The feed's own answer to a standard query, without the service: rows of the window only, in order."""
    feed = world.feed(vendor, Recorded(vendor, cassette(vendor, "history")))
    batch = feed.daily_bars(FeedQuery(SYMBOL, date(2024, 2, 23), date(2024, 3, 8)))
    feed.close()

    assert [bar.date for bar in batch.bars] == sorted(bar.date for bar in batch.bars)
    assert len(batch.bars) == 11
    assert batch.splits == []
