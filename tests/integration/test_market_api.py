"""Market data through the API and the jobs: the sample history, resampling checked against pandas, real-world
CSV imports and malformed ones, JSON ingestion with row-level reasons, point-in-time reads, quotes with their
tiers, the provider refresh and the retention job."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.errors import NotFound, StoreUnavailable
from investai.domain.market import MarketStoreBusy
from investai.domain.users import Role
from investai.jobs.handlers import MARKET_REFRESH, MARKET_RETENTION
from investai.sample.market import sample_prices
from investai.server import create_app
from tests.conftest import Account, sign_up

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)

YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2023-03-01,"1,010.00","1,025.50","1,001.25","1,020.00","1,015.10","1,234,567"
2023-03-02,1020.00,1030.00,1012.00,1028.00,1023.06,"1,100,000"
2023-03-03,1028.00,1040.00,1020.00,1035.50,1030.52,"980,400"
2023-03-06,1036.00,1050.00,1030.00,1047.00,1041.97,"1,320,000"
2023-03-07,1047.00,1049.00,1021.00,1024.00,1019.08,"1,500,000"
2023-03-09,1024.00,1031.00,1015.00,1030.00,1025.05,"870,000"
2023-03-10,1030.00,1032.00,1000.00,1005.00,1000.17,"2,010,000"
2023-03-13,1005.00,1012.00,990.00,995.00,990.22,"1,780,000"
2023-03-31,995.00,1003.00,985.00,1001.00,996.19,"1,000,000"
2023-04-03,1001.00,1015.00,998.00,1012.00,1007.14,"900,000"
"""


@pytest.fixture(scope="module")
def sample_container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """One container with the sample history loaded, shared by the read-only tests of this module."""
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("market") / "var")
    built = build_container(settings, clock=FakeClock(NOW))
    report = built.market.load_sample()
    assert report.inserted > 150_000
    assert not report.rejected
    yield built
    built.close()


@pytest.fixture(scope="module")
def sample_client(sample_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(sample_container), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture(scope="module")
def reader(sample_container: Container) -> Account:
    return sign_up(sample_container, role=Role.ANALYST)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def manager(container: Container) -> Account:
    """Portfolio managers may write market data; analysts may only read it."""
    return sign_up(container, role=Role.PORTFOLIO_MANAGER)


def import_csv(client: TestClient, account: Account, text: str, **form: Any) -> Any:
    return client.post(
        "/api/v1/market/bars:import",
        headers=account.headers,
        files={"file": ("prices.csv", io.BytesIO(text.encode()))},
        data=form,
    )


def add_symbol(client: TestClient, account: Account, symbol: str) -> None:
    body = {"symbols": [{"symbol": symbol, "name": f"{symbol} Corp", "sector": "Industrials"}]}
    assert client.post("/api/v1/market/symbols", headers=account.headers, json=body).status_code == 200


# --- the sample ------------------------------------------------------------------------------------------------


def test_the_sample_loads_every_symbol_with_a_master_entry(sample_client: TestClient, reader: Account) -> None:
    listed = sample_client.get("/api/v1/market/symbols", headers=reader.headers, params={"limit": 100}).json()
    symbols = {entry["symbol"] for entry in listed["symbols"]}
    assert len(symbols) == 26
    assert {"AAPL", "XOM", "SPX", "MTUM"} <= symbols
    energy = sample_client.get("/api/v1/market/symbols", headers=reader.headers, params={"sector": "energy"}).json()
    assert {entry["symbol"] for entry in energy["symbols"]} == {"CVX", "RRC", "XOM"}
    apple = sample_client.get("/api/v1/market/symbols", headers=reader.headers, params={"q": "apple"}).json()
    assert [entry["symbol"] for entry in apple["symbols"]] == ["AAPL"]
    bars = sample_client.get("/api/v1/market/AAPL/bars", headers=reader.headers).json()["bars"]
    prices = sample_prices()["AAPL"].dropna()
    assert len(bars) == len(prices)
    assert bars[0]["date"] == "1990-01-02"
    assert bars[-1]["date"] == "2022-12-28"
    assert bars[-1]["close"] == pytest.approx(prices.iloc[-1])
    assert bars[-1]["open"] is None
    assert bars[-1]["volume"] is None


def test_loading_the_sample_again_changes_nothing(sample_container: Container) -> None:
    report = sample_container.market.load_sample()
    assert report.inserted == 0
    assert report.updated == 0
    assert report.unchanged == report.received


@pytest.mark.parametrize(("interval", "rule"), [("weekly", "W-SUN"), ("monthly", "ME")])
@pytest.mark.parametrize(
    ("symbol", "start", "end"),
    [
        ("AAPL", "1990-01-01", "2022-12-31"),
        ("JPM", "2008-01-01", "2012-12-31"),
        ("SPX", "2019-06-15", "2021-03-10"),
        ("MTUM", "2014-01-01", "2022-12-31"),
    ],
)
def test_resampled_sample_bars_match_pandas(
    sample_client: TestClient, reader: Account, symbol: str, start: str, end: str, interval: str, rule: str
) -> None:
    response = sample_client.get(
        f"/api/v1/market/{symbol}/bars",
        headers=reader.headers,
        params={"interval": interval, "start": start, "end": end},
    )
    got = pd.DataFrame(response.json()["bars"])
    daily = sample_prices()[symbol].dropna().loc[start:end]
    assert len(got) > 20
    grouped = daily.to_frame("close").assign(day=daily.index).resample(rule)
    expected = grouped.agg({"close": "last", "day": "max"}).dropna()
    assert list(got["date"]) == [day.date().isoformat() for day in expected["day"]]
    np.testing.assert_allclose(got["close"].to_numpy(), expected["close"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(got["adj_close"].to_numpy(), expected["close"].to_numpy(), rtol=1e-12)


def test_as_of_reads_never_see_later_bars(sample_client: TestClient, reader: Account) -> None:
    response = sample_client.get(
        "/api/v1/market/MSFT/bars", headers=reader.headers, params={"as_of": "2008-09-15", "start": "2008-09-01"}
    )
    bars = response.json()["bars"]
    assert bars
    assert max(bar["date"] for bar in bars) <= "2008-09-15"
    returns = sample_client.get(
        "/api/v1/market/MSFT/returns", headers=reader.headers, params={"as_of": "2008-09-15", "start": "2008-09-01"}
    ).json()["returns"]
    assert len(returns) == len(bars) - 1
    assert max(point["date"] for point in returns) <= "2008-09-15"
    closes = [bar["close"] for bar in bars]
    assert returns[0]["value"] == pytest.approx(closes[1] / closes[0] - 1)


def test_reads_of_unknown_symbols_and_bad_parameters_are_4xx(sample_client: TestClient, reader: Account) -> None:
    assert sample_client.get("/api/v1/market/NOPE/bars", headers=reader.headers).status_code == 404
    bad = sample_client.get("/api/v1/market/AAPL/bars", headers=reader.headers, params={"as_of": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_failed"
    backwards = sample_client.get(
        "/api/v1/market/AAPL/bars", headers=reader.headers, params={"start": "2020-01-01", "end": "2019-01-01"}
    )
    assert backwards.status_code == 422
    assert sample_client.get("/api/v1/market/AAPL/bars", params={}).status_code == 401


@pytest.mark.parametrize(
    ("error", "code", "retry_after"),
    [
        (
            MarketStoreBusy("the market data store stayed busy in another process; retry in a moment"),
            "market_store_busy",
            "5",
        ),
        (StoreUnavailable("the store is failing over", retry_after_s=12.5), "store_unavailable", "13"),
    ],
)
def test_an_unavailable_store_answers_503_with_retry_after(
    client: TestClient,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    error: StoreUnavailable,
    code: str,
    retry_after: str,
) -> None:
    """The API knows only the backend-neutral :class:`StoreUnavailable`; the DuckDB store's busy error is one."""
    reader = sign_up(container, role=Role.ANALYST)

    def unavailable(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(container.market, "symbol", unavailable)
    answer = client.get("/api/v1/market/symbols/AAPL", headers=reader.headers)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == retry_after
    body = answer.json()["error"]
    assert set(body) == {"code", "message", "request_id"}
    assert body["code"] == code
    assert body["message"] == str(error)
    assert body["request_id"] == answer.headers["x-request-id"]


# --- imports ---------------------------------------------------------------------------------------------------


def test_a_real_world_csv_imports_and_resamples_like_pandas(client: TestClient, manager: Account) -> None:
    add_symbol(client, manager, "ACME")
    response = import_csv(client, manager, YAHOO_CSV, symbol="ACME")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["received"] == 10
    assert report["inserted"] == 10
    assert report["rejected"] == []
    bars = client.get("/api/v1/market/ACME/bars", headers=manager.headers).json()["bars"]
    assert bars[0] == {
        "date": "2023-03-01",
        "open": 1010.0,
        "high": 1025.5,
        "low": 1001.25,
        "close": 1020.0,
        "adj_close": 1015.1,
        "volume": 1234567.0,
    }
    daily = pd.read_csv(io.StringIO(YAHOO_CSV), thousands=",", parse_dates=["Date"], index_col="Date")
    for interval, rule in (("weekly", "W-SUN"), ("monthly", "ME")):
        got = pd.DataFrame(
            client.get("/api/v1/market/ACME/bars", headers=manager.headers, params={"interval": interval}).json()[
                "bars"
            ]
        )
        frame = daily.assign(day=daily.index).resample(rule)
        expected = frame.agg(
            {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Adj Close": "last", "Volume": "sum"}
        )
        expected["day"] = frame["day"].max()
        expected = expected.dropna(subset=["Close"])
        assert list(got["date"]) == [day.date().isoformat() for day in expected["day"]]
        for ours, theirs in (("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close")):
            np.testing.assert_allclose(got[ours], expected[theirs], rtol=1e-12)
        np.testing.assert_allclose(got["volume"], expected["Volume"], rtol=1e-12)
    again = import_csv(client, manager, YAHOO_CSV, symbol="ACME").json()
    assert again["unchanged"] == 10
    assert again["inserted"] == 0


def test_a_partly_bad_csv_keeps_the_good_rows_and_names_each_bad_one(client: TestClient, manager: Account) -> None:
    add_symbol(client, manager, "ACME")
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "2023-05-01,10,11,9,10.5,100\n"
        "2023-05-02,10,9,11,10.5,100\n"  # high below low
        "2023-05-03,10,11,9,abc,100\n"  # not a number
        "2023-05-04,10,11,9,-3,100\n"  # non-positive
        "2099-01-01,10,11,9,10,100\n"  # future
        "2023-05-05,10,11,9,10.2,100\n"
    )
    report = import_csv(client, manager, text, symbol="ACME").json()
    assert report["accepted"] == 2
    reasons = {row["row"]: row["reason"] for row in report["rejected"]}
    assert sorted(reasons) == [2, 3, 4, 5]
    assert "high" in reasons[2]
    assert "abc" in reasons[3]
    assert "close" in reasons[4]
    assert "future" in reasons[5]


def test_a_malformed_csv_is_refused_with_row_level_reasons(client: TestClient, manager: Account) -> None:
    add_symbol(client, manager, "ACME")
    text = "Date,Close\n2023-05-01,-1\n2023-05-01,-2\nnot a date,5\n"
    response = import_csv(client, manager, text, symbol="ACME")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "rows_rejected"
    assert [detail["row"] for detail in error["details"]] == [1, 2, 3]
    unreadable = import_csv(client, manager, "a,b,c\n1,2,3\n", symbol="ACME")
    assert unreadable.status_code == 422
    assert unreadable.json()["error"]["code"] == "unreadable_market_file"
    binary = client.post(
        "/api/v1/market/bars:import",
        headers=manager.headers,
        files={"file": ("x.csv", io.BytesIO(b"\x00\x01\x02PK\x03\x04" * 50))},
        data={"symbol": "ACME"},
    )
    assert binary.status_code == 422
    unknown = import_csv(client, manager, "Date,Close\n2023-05-01,5\n", symbol="ZZZZ")
    assert unknown.status_code == 422
    assert "unknown symbol" in unknown.json()["error"]["details"][0]["reason"]
    created = import_csv(client, manager, "Date,Close\n2023-05-01,5\n", symbol="ZZZZ", auto_create_symbols="true")
    assert created.status_code == 200
    assert created.json()["symbols_created"] == ["ZZZZ"]


def test_only_market_writers_may_ingest(client: TestClient, container: Container) -> None:
    analyst = sign_up(container, role=Role.ANALYST)
    assert import_csv(client, analyst, YAHOO_CSV, symbol="ACME").status_code == 403
    body = {"bars": [{"symbol": "ACME", "date": "2023-01-03", "close": 1.0}]}
    assert client.post("/api/v1/market/bars", headers=analyst.headers, json=body).status_code == 403
    assert client.post("/api/v1/market/bars", json=body).status_code == 401


def test_json_bars_report_each_bad_row_and_store_the_rest(
    client: TestClient, manager: Account, container: Container
) -> None:
    add_symbol(client, manager, "ACME")
    rows = [
        {"symbol": "ACME", "date": "2023-06-01", "open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 5},
        {"symbol": "ACME", "date": "2023-06-01", "close": 10.6},  # duplicate key: both rows are refused
        {"symbol": "ACME", "date": "2023-06-02", "close": 12, "high": 11, "low": 9},  # close above high
        {"symbol": "ACME", "date": "06/03/2023", "close": 12},  # not ISO
        {"symbol": "bad symbol!", "date": "2023-06-05", "close": 12},
        {"symbol": "ACME", "date": "2023-06-06", "close": 12.5},
    ]
    response = client.post("/api/v1/market/bars", headers=manager.headers, json={"bars": rows})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["accepted"] == 1
    assert report["received"] == 6
    assert [row["row"] for row in report["rejected"]] == [1, 2, 3, 4, 5]
    assert "duplicate" in report["rejected"][0]["reason"]
    events = container.identity.audit.list_events(action="market.bars_ingested")
    assert events
    assert events[0].details == {"received": 6, "accepted": 1, "rejected": 5, "quarantined": 0}
    assert events[0].actor_id == manager.user.id


def test_a_correction_is_visible_now_and_invisible_as_of_before(
    client: TestClient, manager: Account, clock: FakeClock
) -> None:
    add_symbol(client, manager, "ACME")
    first = {"bars": [{"symbol": "ACME", "date": "2023-12-29", "close": 100.0}]}
    assert client.post("/api/v1/market/bars", headers=manager.headers, json=first).status_code == 200
    before_correction = clock.now()
    clock.advance(timedelta(minutes=30))  # within the access token's hour
    corrected = {"bars": [{"symbol": "ACME", "date": "2023-12-29", "close": 101.0}]}
    assert client.post("/api/v1/market/bars", headers=manager.headers, json=corrected).json()["updated"] == 1

    def close_as_of(as_of: str | None) -> Any:
        params = {"as_of": as_of} if as_of else {}
        bars = client.get("/api/v1/market/ACME/bars", headers=manager.headers, params=params).json()["bars"]
        return [bar["close"] for bar in bars]

    assert close_as_of(None) == [101.0]
    assert close_as_of(before_correction.isoformat()) == [100.0]
    assert close_as_of((before_correction - timedelta(minutes=1)).isoformat()) == []  # not yet ingested


def test_colleagues_of_one_role_share_cached_bars_and_a_correction_drops_them(
    client: TestClient, container: Container, manager: Account
) -> None:
    add_symbol(client, manager, "ACME")
    first = {"bars": [{"symbol": "ACME", "date": "2023-12-29", "close": 100.0}]}
    assert client.post("/api/v1/market/bars", headers=manager.headers, json=first).status_code == 200
    organisation = manager.user.organisation_id
    alice, bob = (sign_up(container, role=Role.ANALYST, organisation=organisation) for _ in range(2))
    path = "/api/v1/market/ACME/bars"

    read_by_alice = client.get(path, headers=alice.headers)
    read_by_bob = client.get(path, headers=bob.headers)
    assert (read_by_alice.headers["x-cache"], read_by_bob.headers["x-cache"]) == ("MISS", "HIT")
    assert read_by_bob.content == read_by_alice.content
    assert client.get(path, headers=manager.headers).headers["x-cache"] == "MISS"  # another role: its own entry

    corrected = {"bars": [{"symbol": "ACME", "date": "2023-12-29", "close": 101.0}]}
    assert client.post("/api/v1/market/bars", headers=manager.headers, json=corrected).status_code == 200
    after = client.get(path, headers=bob.headers)
    assert after.headers["x-cache"] == "MISS"
    assert [bar["close"] for bar in after.json()["bars"]] == [101.0]


# --- quotes, tiers and jobs ------------------------------------------------------------------------------------


def test_quotes_latest_as_of_and_the_retention_job(
    client: TestClient, manager: Account, container: Container, clock: FakeClock
) -> None:
    add_symbol(client, manager, "ACME")
    now = clock.now()
    quotes = [
        {"symbol": "ACME", "timestamp": (now - timedelta(hours=30)).isoformat(), "price": 99.0},
        {
            "symbol": "ACME",
            "timestamp": (now - timedelta(minutes=5)).isoformat(),
            "price": 100.0,
            "bid": 99.9,
            "ask": 100.1,
            "size": 300,
        },
        {"symbol": "ACME", "timestamp": (now - timedelta(days=9)).isoformat(), "price": 98.0},  # past retention
        {"symbol": "ACME", "timestamp": now.isoformat(), "price": 101.0, "bid": 101.2, "ask": 101.0},  # crossed
    ]
    report = client.post("/api/v1/market/quotes", headers=manager.headers, json={"quotes": quotes}).json()
    assert report["accepted"] == 2
    assert [row["row"] for row in report["rejected"]] == [3, 4]
    assert container.market.tier_counts() == {"memory": 1, "magnetic": 1}
    latest = client.get("/api/v1/market/ACME/quote", headers=manager.headers)
    assert latest.json()["price"] == 100.0
    assert latest.headers["cache-control"] == "no-store"
    clock.advance(timedelta(minutes=10))
    later = {"symbol": "ACME", "timestamp": (now + timedelta(minutes=9)).isoformat(), "price": 102.0}
    assert client.post("/api/v1/market/quotes", headers=manager.headers, json={"quotes": [later]}).status_code == 200

    def price_as_of(moment: datetime) -> Any:
        response = client.get(
            "/api/v1/market/ACME/quote", headers=manager.headers, params={"as_of": moment.isoformat()}
        )
        return response.json()["price"] if response.status_code == 200 else response.status_code

    assert price_as_of(clock.now()) == 102.0
    assert price_as_of(now + timedelta(minutes=1)) == 100.0  # the later quote was neither stamped nor ingested yet
    assert price_as_of(now - timedelta(hours=1)) == 404  # stamped then, but nothing had been ingested

    clock.advance(timedelta(hours=25))
    run_job(container, MARKET_RETENTION)
    assert container.market.tier_counts() == {"memory": 0, "magnetic": 3}
    assert container.market.quote("ACME").price == 102.0  # moved, still read
    clock.advance(timedelta(days=7))
    run_job(container, MARKET_RETENTION)
    assert container.market.tier_counts() == {"memory": 0, "magnetic": 0}
    with pytest.raises(NotFound):
        container.market.quote("ACME")


def run_job(container: Container, kind: str) -> dict[str, Any]:
    job = container.jobs.enqueue(kind)
    worker = container.worker_pool().workers[0]
    while worker.run_once():
        pass
    finished = container.jobs.get(job.id)
    assert finished.status.value == "succeeded", finished
    return dict(finished.result or {})


def test_the_refresh_job_ingests_new_files_from_the_drop_folder_once(
    container: Container, client: TestClient, manager: Account
) -> None:
    add_symbol(client, manager, "ACME")
    drop: Path = container.settings.market_drop_path
    drop.mkdir(parents=True, exist_ok=True)
    (drop / "ACME.csv").write_text(YAHOO_CSV)
    (drop / "broken.csv").write_text("nothing,useful\n1,2\n")
    old = datetime.now(UTC).timestamp() - 60  # settled files only
    for path in drop.iterdir():
        os.utime(path, (old, old))
    first = run_job(container, MARKET_REFRESH)
    assert first == {"files": 2, "refused": ["broken.csv"], "accepted": 10}
    assert run_job(container, MARKET_REFRESH) == {"files": 0, "refused": [], "accepted": 0}
    bars = container.market.bars("ACME", start=date(2023, 3, 1), end=date(2023, 3, 31))
    assert len(bars) == 9


# --- analytics over the sample ---------------------------------------------------------------------------------


def test_risk_metrics_of_a_sample_stock_match_the_reference_library(sample_client: TestClient, reader: Account) -> None:
    import empyrical

    params = {"start": "2015-01-01", "end": "2019-12-31"}
    body = sample_client.get("/api/v1/market/JPM/risk", headers=reader.headers, params=params).json()
    prices = sample_prices()
    returns = prices["JPM"].loc["2015-01-01":"2019-12-31"].pct_change().dropna()
    bench = prices["SPX"].loc["2015-01-01":"2019-12-31"].pct_change().dropna()
    assert body["symbol"] == "JPM"
    assert body["benchmark"] == "SPX"
    assert body["observations"] == len(returns)
    assert body["volatility"] == pytest.approx(empyrical.annual_volatility(returns), rel=1e-8)
    assert body["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns), rel=1e-8)
    assert body["sortino"] == pytest.approx(empyrical.sortino_ratio(returns), rel=1e-8)
    assert body["max_drawdown"] == pytest.approx(empyrical.max_drawdown(returns), rel=1e-8)
    assert body["max_drawdown"] < 0
    assert body["var_95"] == pytest.approx(-empyrical.value_at_risk(returns, cutoff=0.05), rel=1e-8)
    assert body["cvar_95"] >= body["var_95"] > 0
    assert body["beta"] == pytest.approx(empyrical.beta(returns, bench), rel=1e-8)


def test_risk_and_indicators_as_of_ignore_everything_later(sample_client: TestClient, reader: Account) -> None:
    as_of = {"as_of": "2020-03-02"}
    early = sample_client.get("/api/v1/market/AAPL/risk", headers=reader.headers, params=as_of).json()
    capped = sample_client.get("/api/v1/market/AAPL/risk", headers=reader.headers, params={"end": "2020-03-02"}).json()
    assert early["end"] == "2020-03-02"
    for key in ("volatility", "sharpe", "max_drawdown", "var_95", "beta"):
        assert early[key] == pytest.approx(capped[key], rel=1e-12)
    indicators = sample_client.get(
        "/api/v1/market/AAPL/indicators", headers=reader.headers, params={**as_of, "start": "2020-01-01"}
    ).json()
    assert indicators["latest"]["date"] == "2020-03-02"
    assert indicators["indicators"][0]["date"] >= "2020-01-01"
    latest = indicators["latest"]
    assert latest["sma_200"] is not None
    assert 0 <= latest["rsi_14"] <= 100
    assert latest["distance_from_high"] <= 0
    closes = sample_prices()["AAPL"].loc[:"2020-03-02"]
    assert latest["sma_50"] == pytest.approx(closes.iloc[-50:].mean(), rel=1e-10)


def test_risk_refuses_too_short_a_range(sample_client: TestClient, reader: Account) -> None:
    short = sample_client.get(
        "/api/v1/market/KO/risk", headers=reader.headers, params={"start": "2020-01-02", "end": "2020-01-10"}
    )
    assert short.status_code == 422
    assert sample_client.get("/api/v1/market/NOPE/risk", headers=reader.headers).status_code == 404


def test_portfolio_optimisation_over_the_sample_respects_caps(sample_client: TestClient, reader: Account) -> None:
    body = {
        "symbols": ["AAPL", "MSFT", "JPM", "BAC", "XOM", "CVX", "KO", "PG"],
        "method": "min_variance",
        "start": "2015-01-01",
        "end": "2019-12-31",
        "max_weight": 0.3,
        "sector_cap": 0.4,
    }
    result = sample_client.post("/api/v1/analytics/portfolio", headers=reader.headers, json=body)
    assert result.status_code == 200, result.text
    weights = result.json()["weights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(weights.values()) <= 0.3 + 1e-6
    assert weights["KO"] + weights["PG"] <= 0.4 + 1e-6  # consumer staples
    infeasible = sample_client.post(
        "/api/v1/analytics/portfolio", headers=reader.headers, json={**body, "max_weight": 0.1}
    )
    assert infeasible.status_code == 422


def test_stress_test_replays_the_crises_the_data_covers(sample_client: TestClient, reader: Account) -> None:
    body = {"weights": {"AAPL": 0.5, "JPM": 0.5}, "as_of": "2022-12-28", "sector_shocks": {"Financials": -0.1}}
    result = sample_client.post("/api/v1/analytics/stress", headers=reader.headers, json=body)
    assert result.status_code == 200, result.text
    windows = {row["window"]: row for row in result.json()["historical"]}
    assert len(windows) == 4
    assert set(windows) == {"dot_com", "gfc", "covid", "rate_shock_2022"}
    assert windows["gfc"]["portfolio_return"] < -0.2
    shock = result.json()["hypothetical"]
    assert shock["portfolio_return"] < 0
    assert shock["stressed_volatility"] == pytest.approx(2 * shock["volatility"], rel=1e-9)
