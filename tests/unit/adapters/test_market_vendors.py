"""Vendor feeds beyond the shared harness (:mod:`tests.contract.test_market_feeds`): the request budget, a
``Retry-After`` too long to wait, paging that leaves the vendor's host, latest quotes, the split bounds, and
the market-refresh job and ``investai market fetch`` running the feeds end to end on a DuckDB store."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.adapters.market_vendors import RateLimit, vendor_feeds
from investai.adapters.market_vendors.http import RequestBudget, retry_after_seconds
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.market import SymbolInfo
from investai.ingest.market_plausibility import PlausibilityRules
from investai.jobs.kinds import MARKET_REFRESH
from investai.ports.market_feeds import FeedRateLimited, Split
from investai.services.market_feeds import FeedOptions, MarketFeedService, feed_summary, split_rules
from tests.contract.test_market_feeds import KEY, NOW, SYMBOL, VENDORS, Recorded, World, cassette, world

__all__ = ["world"]  # the harness's fixture, used here too

POLYGON, TIINGO = VENDORS[0], VENDORS[1]
FEEDS_BUILDER = "investai.bootstrap.embedded.vendor_feeds"


def test_the_budget_spends_its_burst_then_paces_requests() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    budget = RequestBudget(
        RateLimit(requests=5, per_seconds=60.0), max_wait_s=120.0, sleep=sleep, monotonic=lambda: now[0]
    )
    for _ in range(6):
        budget.take("polygon")
    assert sleeps == [pytest.approx(12.0)]
    slow = RequestBudget(
        RateLimit(requests=1, per_seconds=3600.0), max_wait_s=120.0, sleep=sleep, monotonic=lambda: now[0]
    )
    slow.take("tiingo")
    with pytest.raises(FeedRateLimited, match="request budget spent"):
        slow.take("tiingo")
    assert len(sleeps) == 1  # no slot taken, nothing slept


def test_a_spent_budget_stops_asking_the_vendor_for_the_rest_of_the_run(world: World) -> None:
    recorded = Recorded(TIINGO, cassette(TIINGO, "history"))
    feed = world.feed(TIINGO, recorded, limit=RateLimit(requests=1, per_seconds=3600.0))
    outcomes = world.service(feed, symbols=(SYMBOL, "BETA", "GAMMA")).run()

    assert [(o.symbol, o.status) for o in outcomes] == [
        (SYMBOL, "ingested"),
        ("BETA", "rate_limited"),
        ("GAMMA", "rate_limited"),
    ]
    assert "request budget spent" in outcomes[1].detail
    assert outcomes[2].detail.startswith("not asked: ")
    assert len(recorded.requests) == 1
    assert world.sleeps == []


def test_a_retry_after_beyond_the_longest_wait_fails_at_once(world: World) -> None:
    first = {**cassette(POLYGON, "rate_limited")[0], "headers": {"Retry-After": "3600"}}
    outcome, recorded = world.run(POLYGON, [first])

    assert outcome.status == "rate_limited"
    assert "retry after 3600 s" in outcome.detail
    assert len(recorded.requests) == 1
    assert world.sleeps == []


def test_a_next_page_on_another_host_is_not_followed(world: World) -> None:
    page = cassette(POLYGON, "history")[0]
    page["json"]["next_url"] = "https://collector.example.net/v2/aggs?cursor=abc"
    outcome, recorded = world.run(POLYGON, [page])

    assert outcome.status == "invalid_payload"
    assert [request.url.host for request in recorded.requests] == ["api.polygon.io"]


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    clock = datetime(2024, 3, 8, 12, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("7", now=lambda: clock) == 7.0
    assert retry_after_seconds("Fri, 08 Mar 2024 12:00:30 GMT", now=lambda: clock) == 30.0
    assert retry_after_seconds("soon", now=lambda: clock) is None
    assert retry_after_seconds(None, now=lambda: clock) is None


def test_split_bounds_widen_moves_and_changes_by_the_ratio_and_keep_the_limits() -> None:
    base = PlausibilityRules()
    forward = split_rules(base, [Split(date(2024, 3, 6), 4.0)])
    reverse = split_rules(base, [Split(date(2024, 3, 6), 0.25)])
    assert forward == reverse
    assert forward.max_correction == pytest.approx(1.25 * 4 - 1)
    assert forward.max_daily_fall == pytest.approx(1 - 0.25 / 4)
    assert forward.max_daily_rise == pytest.approx(1.55 * 4 - 1)
    assert (forward.max_price, forward.min_price, forward.max_volume) == (
        base.max_price,
        base.min_price,
        base.max_volume,
    )
    assert split_rules(base, [Split(date(2024, 3, 6), 2.0), Split(date(2024, 3, 7), 2.0)]) == forward


def test_latest_quotes_go_in_after_the_bars_and_an_unreadable_one_is_rejected(world: World) -> None:
    world.market.upsert_symbols([SymbolInfo(symbol="BETA", name="Beta Inc")])
    quotes, history = cassette(TIINGO, "quotes")[0], cassette(TIINGO, "history")[0]
    beta = {**history, "path": "/tiingo/daily/beta/prices", "json": []}
    recorded = Recorded(TIINGO, [history, beta, quotes])
    outcomes = world.service(world.feed(TIINGO, recorded), symbols=(SYMBOL, "BETA"), quotes=True).run()

    assert [(o.symbol, o.status) for o in outcomes] == [
        (SYMBOL, "ingested"),
        ("BETA", "no_data"),
        ("(quotes)", "ingested"),
    ]
    report = outcomes[2].report
    assert report is not None
    assert (report.accepted, [row.row for row in report.rejected]) == (1, [2])
    assert "last" in report.rejected[0].reason
    quote = world.market.quote(SYMBOL)
    assert (quote.price, quote.bid, quote.ask, quote.source) == (105.02, 105.01, 105.02, "vendor:tiingo")
    assert quote.timestamp == datetime(2024, 3, 8, 20, 59, 59, 999999, tzinfo=UTC)


def test_unknown_vendor_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown market vendor"):
        vendor_feeds(["bloomberg"], secrets=EnvFileSecretStore(environ={}))


# --- end to end: the scheduled job and the command ---------------------------------------------------------


def _serve_tiingo_history(request: httpx.Request) -> httpx.Response:
    assert request.headers.get("Authorization") == f"Token {KEY}"
    assert request.url.path == "/tiingo/daily/acme/prices"
    return httpx.Response(200, json=cassette(TIINGO, "history")[0]["json"])


@pytest.fixture
def vendor_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """A container whose settings switch Tiingo on, its HTTP answered from the recorded history."""
    transport = httpx.MockTransport(_serve_tiingo_history)
    monkeypatch.setattr(
        "investai.bootstrap.embedded.vendor_feeds", functools.partial(vendor_feeds, transport=transport)
    )
    settings = Settings(
        data_dir=tmp_path / "var",
        market_vendors=["tiingo"],
        market_vendor_symbols=[SYMBOL],
        market_vendor_history_days=14,
        _env_file=None,
    )
    secrets = EnvFileSecretStore(environ={"INVESTAI_TIINGO_API_KEY": KEY})
    built = build_container(settings, clock=FakeClock(NOW), secrets=secrets)
    built.market.upsert_symbols([SymbolInfo(symbol=SYMBOL, name="Acme Corp")])
    yield built
    built.close()


def test_the_market_refresh_job_ingests_vendor_bars_after_the_drop_folder(vendor_container: Container) -> None:
    drop = vendor_container.settings.market_drop_path
    drop.mkdir(parents=True, exist_ok=True)
    job = vendor_container.jobs.enqueue(MARKET_REFRESH)
    worker = vendor_container.worker_pool().workers[0]
    while worker.run_once():
        pass
    finished = vendor_container.jobs.get(job.id)

    assert finished.status.value == "succeeded", finished.last_error
    result = dict(finished.result or {})
    assert (result["files"], result["accepted"]) == (0, 0)
    assert result["vendors"] == {"tiingo": {"symbols": 1, "accepted": 11, "failed": [], "failures": 0, "deferred": 0}}
    bars = vendor_container.market_store.read_bars(SYMBOL)
    assert len(bars) == 11
    assert float(bars["adj_close"].iloc[-1]) == 105.0
    assert vendor_container.market_store.bar_range(SYMBOL) == (date(2024, 2, 23), date(2024, 3, 8), 11)


def test_a_deployment_without_vendors_runs_the_drop_folder_only(container: Container) -> None:
    assert container.market_feeds.vendors == []
    job = container.jobs.enqueue(MARKET_REFRESH)
    worker = container.worker_pool().workers[0]
    while worker.run_once():
        pass
    assert container.jobs.get(job.id).result == {"files": 0, "refused": [], "accepted": 0}


def test_the_fetch_command_prints_each_symbols_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from investai.cli import app

    transport = httpx.MockTransport(_serve_tiingo_history)
    monkeypatch.setattr(
        "investai.bootstrap.embedded.vendor_feeds", functools.partial(vendor_feeds, transport=transport)
    )
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("INVESTAI_MARKET_VENDORS", '["tiingo", "polygon"]')
    monkeypatch.setenv("INVESTAI_MARKET_AUTO_CREATE_SYMBOLS", "true")
    monkeypatch.setenv("INVESTAI_TIINGO_API_KEY", KEY)
    monkeypatch.delenv("INVESTAI_POLYGON_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["market", "fetch", "--symbol", "acme"])

    assert result.exit_code == 1, result.output  # polygon has no key
    lines = result.output.splitlines()
    assert any(line.startswith("tiingo ") and "ACME: 11 rows, 11 new" in line for line in lines), result.output
    assert "polygon *: not_configured no API key in the secret store" in lines
    only = CliRunner().invoke(app, ["market", "fetch", "--vendor", "tiingo", "--symbol", "ACME"])
    assert only.exit_code == 0, only.output
    assert "tiingo 2024-03-03.." in only.output  # the second run starts at the last bar less the overlap
    assert "5 rows, 0 new, 0 changed, 5 unchanged" in only.output
    assert KEY not in result.output + only.output


def test_the_fetch_window_of_a_run_follows_the_clock(world: World) -> None:
    world.clock.set(NOW + timedelta(days=3))
    outcome, _ = world.run(TIINGO, [{**cassette(TIINGO, "history")[0], "params": {"endDate": "2024-03-11"}}])
    assert (outcome.start, outcome.end) == (date(2024, 2, 26), date(2024, 3, 11))
    assert outcome.report is not None
    assert outcome.report.received == 10  # Feb 23 is before the window


def test_a_run_defers_the_symbols_it_has_no_time_left_for(world: World) -> None:
    recorded = Recorded(TIINGO, cassette(TIINGO, "history"))
    feed = world.feed(TIINGO, recorded)
    ticks = iter([0.0, 10.0, 31.0])
    options = FeedOptions(history_days=14, overlap_days=3, symbols=(SYMBOL, "BETA"), max_run_s=30.0)
    service = MarketFeedService(
        market=world.market,
        store=world.store,
        clock=world.clock,
        feeds=[feed],
        options=options,
        monotonic=lambda: next(ticks),
    )
    outcomes = service.run()

    assert [(o.symbol, o.status, o.ok) for o in outcomes] == [(SYMBOL, "ingested", True), ("BETA", "deferred", True)]
    assert feed_summary(outcomes)["tiingo"] == {
        "symbols": 2,
        "accepted": 11,
        "failed": [],
        "failures": 0,
        "deferred": 1,
    }
    assert len(recorded.requests) == 1
