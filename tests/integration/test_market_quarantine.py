"""Implausible market data through the API and the CLI: well-formed rows that break a plausibility rule (a price
or volume beyond its ceiling, a one-day jump beyond the bounds, an oversized change of a stored bar) are held in
quarantine with their reason instead of replacing real bars; administrators release, discard or correct them
explicitly, audited and point in time. The whole sample history passes the default rules."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.cli import app
from investai.config import Settings
from investai.domain.market import IngestReport, SymbolInfo
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.sample.market import sample_bars
from investai.server import create_app
from investai.services.market import bar_frame_from_rows
from tests.conftest import Account, sign_up

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
LAST_DAY = "2022-12-28"  # the sample's last trading day
HUGE = 1e308
HUGE_VOLUME = 99999999999999999999999999
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, clock: FakeClock, embedder: Embedder
) -> Iterator[tuple[Container, IngestReport]]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("quarantine") / "var")
    built = build_container(settings, clock=clock, embedder=embedder)
    report = built.market.load_sample()
    yield built, report
    built.close()


@pytest.fixture(scope="module")
def container(loaded: tuple[Container, IngestReport]) -> Container:
    return loaded[0]


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def manager(container: Container) -> Account:
    return sign_up(container, role=Role.PORTFOLIO_MANAGER)


@pytest.fixture(scope="module")
def administrator(container: Container) -> Account:
    return sign_up(container, role=Role.ADMINISTRATOR)


@pytest.fixture(scope="module")
def analyst(container: Container) -> Account:
    return sign_up(container, role=Role.ANALYST)


def absurd_bar(symbol: str, day: str = LAST_DAY, **values: float) -> dict[str, Any]:
    prices = dict.fromkeys(("open", "high", "low", "close", "adj_close"), HUGE)
    return {"symbol": symbol, "date": day, **prices, "volume": HUGE_VOLUME, **values}


def post_bars(client: TestClient, account: Account, *rows: dict[str, Any]) -> Any:
    return client.post("/api/v1/market/bars", headers=account.headers, json={"bars": list(rows)})


def bars_of(client: TestClient, account: Account, symbol: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/market/{symbol}/bars", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["bars"])


def last_bar(client: TestClient, account: Account, symbol: str) -> dict[str, Any]:
    return bars_of(client, account, symbol, start="2022-12-01")[-1]


def analytics_of(client: TestClient, account: Account, symbol: str) -> tuple[Any, Any]:
    returns = client.get(f"/api/v1/market/{symbol}/returns", headers=account.headers, params={"start": "2022-06-01"})
    risk = client.get(f"/api/v1/market/{symbol}/risk", headers=account.headers, params={"start": "2022-01-01"})
    assert returns.status_code == risk.status_code == 200
    return returns.json(), risk.json()


def quarantined(client: TestClient, account: Account, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/market/quarantine", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


# --- the sample ------------------------------------------------------------------------------------------------


def test_the_whole_sample_history_passes_the_default_rules(loaded: tuple[Container, IngestReport]) -> None:
    _, report = loaded
    assert report.received == len(sample_bars())
    assert report.quarantined == []
    assert report.rejected == []
    assert report.accepted == report.inserted == report.received


# --- ingest: quarantined, never stored --------------------------------------------------------------------------


def test_a_json_bar_of_absurd_values_is_quarantined_and_the_real_bar_stays(
    client: TestClient, manager: Account
) -> None:
    before = last_bar(client, manager, "AAPL")
    analytics_before = analytics_of(client, manager, "AAPL")

    response = post_bars(client, manager, absurd_bar("AAPL"))

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["received"], report["accepted"], report["updated"], report["rejected"]) == (1, 0, 0, [])
    (held,) = report["quarantined"]
    assert (held["row"], held["symbol"], held["date"]) == (1, "AAPL", LAST_DAY)
    assert "ceiling" in held["reason"]
    assert last_bar(client, manager, "AAPL") == before
    assert analytics_of(client, manager, "AAPL") == analytics_before
    listed = quarantined(client, manager, symbol="AAPL")
    assert [row["id"] for row in listed] == [held["id"]]
    assert listed[0]["close"] == HUGE
    assert listed[0]["status"] == "pending"
    assert listed[0]["reason"] == held["reason"]


def test_a_csv_import_of_absurd_values_is_quarantined_and_the_real_bar_stays(
    client: TestClient, manager: Account
) -> None:
    before = last_bar(client, manager, "MSFT")
    analytics_before = analytics_of(client, manager, "MSFT")
    text = f"Date,Open,High,Low,Close,Adj Close,Volume\n{LAST_DAY},1e308,1e308,1e308,1e308,1e308,{HUGE_VOLUME}\n"

    response = client.post(
        "/api/v1/market/bars:import",
        headers=manager.headers,
        files={"file": ("msft.csv", io.BytesIO(text.encode()))},
        data={"symbol": "MSFT"},
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["updated"], len(report["quarantined"])) == (0, 0, 1)
    assert last_bar(client, manager, "MSFT") == before
    assert analytics_of(client, manager, "MSFT") == analytics_before
    assert [row["date"] for row in quarantined(client, manager, symbol="MSFT")] == [LAST_DAY]


def test_an_absurd_volume_alone_is_quarantined(client: TestClient, manager: Account) -> None:
    before = last_bar(client, manager, "KO")
    row = {"symbol": "KO", "date": LAST_DAY, "close": before["close"], "volume": HUGE_VOLUME}

    report = post_bars(client, manager, row).json()

    (held,) = report["quarantined"]
    assert held["reason"].startswith("volume")
    assert last_bar(client, manager, "KO") == before
    assert last_bar(client, manager, "KO")["volume"] is None


def test_a_sixty_percent_one_day_jump_is_quarantined_and_later_rows_still_go_in(
    client: TestClient, manager: Account
) -> None:
    close = last_bar(client, manager, "JPM")["close"]
    jump = {"symbol": "JPM", "date": "2022-12-29", "close": close * 1.6}
    calm = {"symbol": "JPM", "date": "2022-12-30", "close": close * 1.01}

    report = post_bars(client, manager, jump, calm).json()

    assert report["inserted"] == 1
    assert [(row["row"], row["date"]) for row in report["quarantined"]] == [(1, "2022-12-29")]
    assert "+60.0%" in report["quarantined"][0]["reason"]
    assert [bar["date"] for bar in bars_of(client, manager, "JPM", start="2022-12-28")] == [LAST_DAY, "2022-12-30"]


def test_a_large_change_of_a_stored_bar_is_quarantined_and_a_small_one_still_applies(
    client: TestClient, manager: Account
) -> None:
    close = last_bar(client, manager, "PEP")["close"]

    large = post_bars(client, manager, {"symbol": "PEP", "date": LAST_DAY, "close": close * 1.4}).json()
    small = post_bars(client, manager, {"symbol": "PEP", "date": LAST_DAY, "close": close * 1.001}).json()

    assert len(large["quarantined"]) == 1
    assert "stored" in large["quarantined"][0]["reason"]
    assert small["updated"] == 1
    assert small["quarantined"] == []
    assert last_bar(client, manager, "PEP")["close"] == pytest.approx(close * 1.001)


def test_an_ingest_that_quarantines_rows_is_audited_with_the_count(
    client: TestClient, manager: Account, container: Container
) -> None:
    post_bars(client, manager, absurd_bar("BAC"))

    event = container.identity.audit.list_events(action="market.bars_ingested", actor_id=manager.user.id)[0]

    assert event.details == {"received": 1, "accepted": 0, "rejected": 0, "quarantined": 1}


# --- review: release, discard, correct ---------------------------------------------------------------------------


def test_an_administrator_releases_a_quarantined_row_audited_and_point_in_time(
    client: TestClient, manager: Account, administrator: Account, container: Container, clock: FakeClock
) -> None:
    close = last_bar(client, manager, "XOM")["close"]
    held = post_bars(client, manager, {"symbol": "XOM", "date": "2022-12-29", "close": close * 1.7}).json()
    (row,) = held["quarantined"]
    clock.advance(MINUTE)
    body = {"ids": [row["id"]], "note": "confirmed with the exchange"}

    released = client.post("/api/v1/market/quarantine:release", headers=administrator.headers, json=body)

    assert released.status_code == 200, released.text
    result = released.json()
    assert (result["inserted"], result["resolved"]) == (1, [row["id"]])
    moment = datetime.fromisoformat(result["corrected_at"])
    assert moment == clock.now()
    assert last_bar(client, manager, "XOM")["close"] == pytest.approx(close * 1.7)
    before = (moment - timedelta(microseconds=1)).isoformat()
    assert bars_of(client, manager, "XOM", start="2022-12-28", as_of=before)[-1]["date"] == LAST_DAY
    assert bars_of(client, manager, "XOM", start="2022-12-28", as_of=moment.isoformat())[-1]["date"] == "2022-12-29"
    (listed,) = [entry for entry in quarantined(client, manager, status="released") if entry["id"] == row["id"]]
    assert listed["resolved_by"] == administrator.user.id
    assert listed["note"] == "confirmed with the exchange"
    assert row["id"] not in [entry["id"] for entry in quarantined(client, manager, symbol="XOM")]
    (event,) = container.identity.audit.list_events(action="market.quarantine_released")
    assert event.actor_id == administrator.user.id
    assert event.details["note"] == "confirmed with the exchange"
    assert event.details["resolved"] == [row["id"]]
    (change,) = event.details["changes"]
    assert (change["symbol"], change["date"], change["before"]) == ("XOM", "2022-12-29", None)
    assert change["after"]["close"] == pytest.approx(close * 1.7)
    again = client.post("/api/v1/market/quarantine:release", headers=administrator.headers, json=body)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "quarantine_resolved"


def test_an_administrator_corrects_a_stored_bar_audited_and_point_in_time(
    client: TestClient, manager: Account, administrator: Account, container: Container, clock: FakeClock
) -> None:
    original = last_bar(client, manager, "PG")
    corrected = {"symbol": "PG", "date": LAST_DAY, "close": original["close"] * 1.5}
    ordinary = post_bars(client, manager, corrected).json()
    (held,) = ordinary["quarantined"]
    clock.advance(MINUTE)
    body = {"bars": [corrected], "note": "vendor restated the close", "resolves": [held["id"]]}

    response = client.post("/api/v1/market/bars:correct", headers=administrator.headers, json=body)

    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["updated"], result["resolved"]) == (1, [held["id"]])
    moment = datetime.fromisoformat(result["corrected_at"])
    assert last_bar(client, manager, "PG")["close"] == pytest.approx(original["close"] * 1.5)
    before = (moment - timedelta(microseconds=1)).isoformat()
    assert bars_of(client, manager, "PG", start=LAST_DAY, as_of=before) == [original]
    after = bars_of(client, manager, "PG", start=LAST_DAY, as_of=moment.isoformat())
    assert after[0]["close"] == pytest.approx(original["close"] * 1.5)
    (event,) = container.identity.audit.list_events(action="market.bars_corrected")
    assert event.actor_id == administrator.user.id
    assert event.details["note"] == "vendor restated the close"
    (change,) = event.details["changes"]
    assert change["before"]["close"] == pytest.approx(original["close"])
    assert change["after"]["close"] == pytest.approx(original["close"] * 1.5)
    (entry,) = [row for row in quarantined(client, manager, status="corrected") if row["id"] == held["id"]]
    assert entry["resolved_by"] == administrator.user.id


def test_an_administrator_discards_a_quarantined_row(
    client: TestClient, manager: Account, administrator: Account, container: Container
) -> None:
    before = last_bar(client, manager, "CVX")
    (held,) = post_bars(client, manager, absurd_bar("CVX")).json()["quarantined"]
    body = {"ids": [held["id"]], "note": "garbage from the feed"}

    response = client.post("/api/v1/market/quarantine:discard", headers=administrator.headers, json=body)

    assert response.status_code == 200, response.text
    assert response.json()["discarded"] == [held["id"]]
    assert last_bar(client, manager, "CVX") == before
    assert held["id"] not in [row["id"] for row in quarantined(client, manager)]
    (event,) = container.identity.audit.list_events(action="market.quarantine_discarded")
    assert event.details["resolved"] == [held["id"]]


def test_review_needs_the_market_admin_permission(
    client: TestClient, manager: Account, analyst: Account, administrator: Account
) -> None:
    (held,) = post_bars(client, manager, absurd_bar("HD")).json()["quarantined"]
    ids = {"ids": [held["id"]], "note": "n"}
    correction = {"bars": [{"symbol": "HD", "date": LAST_DAY, "close": 1.0}], "note": "n"}
    for path, body in (("quarantine:release", ids), ("quarantine:discard", ids), ("bars:correct", correction)):
        response = client.post(f"/api/v1/market/{path}", headers=manager.headers, json=body)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "forbidden"
        assert client.post(f"/api/v1/market/{path}", json=body).status_code == 401
    assert client.get("/api/v1/market/quarantine", headers=analyst.headers).status_code == 403
    assert quarantined(client, administrator, symbol="HD")[0]["id"] == held["id"]


def test_review_errors_are_clear_4xx(client: TestClient, manager: Account, administrator: Account) -> None:
    (held,) = post_bars(client, manager, absurd_bar("JNJ")).json()["quarantined"]

    def post(path: str, body: dict[str, Any]) -> Any:
        return client.post(f"/api/v1/market/{path}", headers=administrator.headers, json=body)

    unknown = post("quarantine:release", {"ids": ["qb_nothing"], "note": "n"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    beyond_ceiling = post("quarantine:release", {"ids": [held["id"]], "note": "n"})
    assert beyond_ceiling.status_code == 422
    assert "INVESTAI_MARKET_MAX_PRICE" in beyond_ceiling.json()["error"]["message"]
    crossed = post("bars:correct", {"bars": [{"symbol": "JNJ", "date": LAST_DAY, "close": 5, "high": 4}], "note": "n"})
    assert crossed.status_code == 422
    assert crossed.json()["error"]["code"] == "rows_rejected"
    plain = {"symbol": "JNJ", "date": LAST_DAY, "close": 150.0}
    absurd = post("bars:correct", {"bars": [plain, absurd_bar("HD")], "note": "n"})
    assert absurd.status_code == 422
    assert absurd.json()["error"]["message"].startswith("row 2: close 1e+308 is above the price ceiling")
    no_note = post("bars:correct", {"bars": [{"symbol": "JNJ", "date": LAST_DAY, "close": 5}]})
    assert no_note.status_code == 422
    bad_status = client.get("/api/v1/market/quarantine", headers=manager.headers, params={"status": "lost"})
    assert bad_status.status_code == 422
    assert quarantined(client, manager, symbol="JNJ")[0]["status"] == "pending"  # nothing changed


# --- ideas ---------------------------------------------------------------------------------------------------------


def test_an_idea_request_still_covers_a_symbol_after_an_absurd_bar_was_sent(
    client: TestClient, manager: Account, analyst: Account
) -> None:
    post_bars(client, manager, absurd_bar("UNH"))

    response = client.post(
        "/api/v1/ideas/requests",
        headers=analyst.headers,
        params={"mode": "sync"},
        json={"tickers": ["UNH"], "max_ideas": 1, "risk_tolerance": "aggressive"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request"]["failures"] == []
    assert [idea["instruments"][0]["symbol"] for idea in body["ideas"]] == ["UNH"]
    assert body["ideas"][0]["metrics"]["volatility"] is not None


# --- configuration -------------------------------------------------------------------------------------------------


def test_the_rules_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", market_max_daily_rise=0.7, market_max_volume=1e6)
    built = build_container(settings, clock=FakeClock(NOW))
    try:
        built.market.upsert_symbols([SymbolInfo(symbol="ACME", name="Acme")])
        rows = [
            {"symbol": "ACME", "date": "2023-03-01", "close": 10.0},
            {"symbol": "ACME", "date": "2023-03-02", "close": 16.5},  # +65%: within +70%
            {"symbol": "ACME", "date": "2023-03-03", "close": 16.6, "volume": 2e6},
        ]
        frame, problems = bar_frame_from_rows(rows)
        report = built.market.ingest_bars(frame, problems=problems, source="test")
    finally:
        built.close()

    assert report.inserted == 2
    assert [(row.row, row.reason) for row in report.quarantined] == [
        (3, "volume 2e+06 is above the volume ceiling 1e+06")
    ]


def test_crossed_price_limits_are_refused() -> None:
    with pytest.raises(ValidationError, match="INVESTAI_MARKET_MIN_PRICE"):
        Settings(_env_file=None, market_min_price=10.0, market_max_price=5.0)


# --- the command line ----------------------------------------------------------------------------------------------


def test_the_cli_reports_lists_releases_and_corrects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    history = tmp_path / "ACME.csv"
    history.write_text("Date,Close\n2023-03-01,10\n2023-03-02,10.2\n2023-03-03,10.1\n")
    jump = tmp_path / "jump.csv"
    jump.write_text("Date,Close\n2023-03-06,16.5\n")
    assert runner.invoke(app, ["market", "import", "--symbol", "ACME", "--auto-create", str(history)]).exit_code == 0
    for email, role in (("ops@example.com", "administrator"), ("pm@example.com", "portfolio-manager")):
        created = runner.invoke(app, ["users", "create", "--email", email, "--role", role])
        assert created.exit_code == 0, created.output

    imported = runner.invoke(app, ["market", "import", "--symbol", "ACME", str(jump)])
    assert imported.exit_code == 0, imported.output
    assert "1 quarantined" in imported.output
    assert "row 1: close 16.5 is +63.4%" in imported.output

    listed = runner.invoke(app, ["market", "quarantine", "--symbol", "ACME"])
    assert listed.exit_code == 0, listed.output
    (line,) = [text for text in listed.output.splitlines() if "2023-03-06" in text]
    quarantine_id = line.split()[0]
    assert "pending" in line

    refused = runner.invoke(
        app, ["market", "release", quarantine_id, "--as", "pm@example.com", "--note", "looks right"]
    )
    assert refused.exit_code == 1
    assert "market:admin" in refused.output
    released = runner.invoke(
        app, ["market", "release", quarantine_id, "--as", "ops@example.com", "--note", "looks right"]
    )
    assert released.exit_code == 0, released.output
    corrected = runner.invoke(
        app,
        ["market", "correct", "ACME", "2023-03-02", "--close", "30", "--as", "ops@example.com", "--note", "restated"],
    )
    assert corrected.exit_code == 0, corrected.output
    bars = runner.invoke(app, ["market", "bars", "ACME"])
    assert [line.split(",")[4] for line in bars.output.splitlines()[1:]] == ["10", "30", "10.1", "16.5"]
    audit = runner.invoke(app, ["audit", "verify"])
    assert audit.exit_code == 0, audit.output
