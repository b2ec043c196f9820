"""The market store (DuckDB) and the search index (LanceDB) busy or unreadable when the service starts.

Busy: another process holds the market store's cross-process lease. A market call waits for it up to the
store's wait bound (shortened here to one second), then answers 503 ``market_store_busy`` with ``Retry-After``;
the readiness probe neither waits nor asks the holder for the store; once the other process lets go, the same
calls answer with the same data.

Unreadable: ``market.duckdb`` replaced by bytes that are not a DuckDB database, or the index's newest manifest
garbled or a data file cut short. The service starts and serves; ``/ready`` answers 503 naming the failed
store (the others pass); routes that do not need it work; routes that do answer a 503 JSON error (never a 500)
and say what to do; and the damaged files are left byte for byte as they were, even when a document upload
makes the worker try to write to the damaged index.
"""

from __future__ import annotations

import hashlib
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.documents import DocumentMetadata
from investai.server import create_app
from investai.services.auth_common import CallContext
from tests.conftest import Account, drain, sign_up
from tests.contract.knowledge_fixtures import HashingEmbedder
from tests.document_files import make_csv
from tests.factories import T0

LEASE_WAIT_S = 1.0
FRESH = {"Cache-Control": "no-cache"}  # never an answer the response cache kept
NOT_A_DATABASE = b"market data, honestly\n" + bytes(range(256)) * 16
HOLDER = """
import sys
from pathlib import Path
from investai.adapters.local.process_lease import ProcessLease

lease = ProcessLease(Path(sys.argv[1]), timeout_s=30)
lease.acquire()
print("held", flush=True)
sys.stdin.readline()
lease.release()
"""


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None)


@contextmanager
def serving(settings: Settings) -> Iterator[tuple[Container, TestClient, Account]]:
    """The service started on ``settings``' data directory, with a signed-in analyst; closed afterwards."""
    container = build_container(settings, clock=FakeClock(T0), embedder=HashingEmbedder())
    try:
        with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
            yield container, client, sign_up(container)
    finally:
        container.close()


def upload_note(container: Container, account: Account, name: str) -> None:
    principal = container.identity.verifier.verify(account.tokens.access_token)
    container.knowledge.documents.upload(
        principal,
        CallContext(),
        content=make_csv(["ticker", "note"], [["AAPL", f"{name}: a sound balance sheet"], ["MSFT", f"{name}: steady"]]),
        filename=f"{name}.csv",
        metadata=DocumentMetadata(),
    )


def prepared(tmp_path: Path) -> Settings:
    """A data directory used once: a document indexed, the sample market history loaded; then stopped."""
    settings = settings_for(tmp_path)
    with serving(settings) as (container, _client, account):
        container.market.load_sample()
        upload_note(container, account, "before")
        assert drain(container) == 1
        assert container.knowledge.index.count() > 0
    return settings


def fingerprint(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` but the lock files processes take beside the stores."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix not in {".lock", ".want"}
    }


def get(client: TestClient, account: Account, path: str) -> Any:
    return client.get(path, headers={**account.headers, **FRESH})


def assert_store_refused(answer: Any, code: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == code, error
    assert int(answer.headers["Retry-After"]) >= 1
    assert "/" not in error["message"], "no file system path in an answer"


def readiness(client: TestClient) -> tuple[int, dict[str, dict[str, Any]]]:
    answer = client.get("/ready")
    body = answer.json()
    checks = body["checks"] if answer.status_code == 200 else body["error"]["checks"]
    return answer.status_code, {check["name"]: check for check in checks}


def assert_ready_but(client: TestClient, failed: str, reason: str) -> None:
    status, checks = readiness(client)
    assert status == 503
    answer = client.get("/ready").json()["error"]
    assert answer["code"] == "not_ready"
    assert failed in answer["message"]
    assert {name for name, check in checks.items() if not check["ok"]} == {failed}
    assert reason in checks[failed]["error"], checks[failed]
    assert {"market_store", "search_index", "sqlite"} <= checks.keys()


# --- busy ------------------------------------------------------------------------------------------------------


@contextmanager
def held_by_another_process(path: Path) -> Iterator[Callable[[], None]]:
    """A separate process holding ``path``'s cross-process lease; yields the function that makes it let go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    stdin = holder.stdin

    def let_go() -> None:
        stdin.write("\n")
        stdin.flush()
        assert holder.wait(timeout=30) == 0

    try:
        readable, _, _ = select.select([holder.stdout], [], [], 60)
        assert readable, "the other process took the lease"
        assert holder.stdout.readline().strip() == "held"
        yield let_go
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        stdin.close()
        holder.stdout.close()


def test_a_market_store_held_by_another_process_answers_503_busy_and_recovers(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"market_lease_timeout_s": LEASE_WAIT_S})
    with serving(settings) as (container, client, account):
        container.market.load_sample()
        symbols = get(client, account, "/api/v1/market/symbols?limit=100")
        bars = get(client, account, "/api/v1/market/AAPL/bars")
        assert symbols.status_code == bars.status_code == 200
        assert symbols.json()["symbols"]
        assert bars.json()["bars"]

        with held_by_another_process(settings.market_path) as let_go:
            started = time.monotonic()
            busy = get(client, account, "/api/v1/market/symbols?limit=100")
            waited = time.monotonic() - started
            assert_store_refused(busy, "market_store_busy")
            assert LEASE_WAIT_S <= waited < LEASE_WAIT_S + 5
            assert_store_refused(get(client, account, "/api/v1/market/AAPL/bars"), "market_store_busy")
            started = time.monotonic()
            status, checks = readiness(client)
            assert time.monotonic() - started < LEASE_WAIT_S, "the probe does not wait for the lease"
            assert (status, checks["market_store"]["ok"]) == (200, True), checks["market_store"]
            assert get(client, account, "/api/v1/documents").status_code == 200
            let_go()

        assert get(client, account, "/api/v1/market/symbols?limit=100").json() == symbols.json()
        assert get(client, account, "/api/v1/market/AAPL/bars").json() == bars.json()
        assert readiness(client)[0] == 200


# --- unreadable at start ---------------------------------------------------------------------------------------


def test_a_market_store_that_is_not_a_database_fails_readiness_and_market_routes_only(tmp_path: Path) -> None:
    settings = prepared(tmp_path)
    settings.market_path.write_bytes(NOT_A_DATABASE)
    before = fingerprint(settings.data_dir)
    with serving(settings) as (_container, client, account):
        assert client.get("/health").status_code == 200
        assert_ready_but(client, "market_store", "not a DuckDB database")
        for path in ("/api/v1/documents", "/api/v1/ideas", "/api/v1/knowledge/search?q=balance+sheet"):
            answer = get(client, account, path)
            assert answer.status_code == 200, (path, answer.text)
        for path in ("/api/v1/market/symbols", "/api/v1/market/AAPL/bars", "/api/v1/market/AAPL/risk"):
            assert_store_refused(get(client, account, path), "market_store_unavailable")
        assert "restore it from a backup" in get(client, account, "/api/v1/market/symbols").json()["error"]["message"]
    assert settings.market_path.read_bytes() == NOT_A_DATABASE
    assert fingerprint(settings.data_dir)["market.duckdb"] == before["market.duckdb"]
    assert not settings.market_path.with_name("market.duckdb.wal").exists()


def garble_newest_manifest(table: Path) -> None:
    newest = min((table / "_versions").glob("*.manifest"))  # newer versions have smaller names
    newest.write_bytes(b"\xff" * newest.stat().st_size)


def cut_a_data_file_short(table: Path) -> None:
    data = max((table / "data").glob("*.lance"), key=lambda path: path.stat().st_size)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


@pytest.mark.parametrize("damage", [garble_newest_manifest, cut_a_data_file_short], ids=["manifest", "data-file"])
def test_a_damaged_search_index_fails_readiness_and_search_only(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    settings = prepared(tmp_path)
    damage(settings.knowledge_dir / "chunks.lance")
    before = fingerprint(settings.knowledge_dir)
    with serving(settings) as (container, client, account):
        assert client.get("/health").status_code == 200
        assert_ready_but(client, "search_index", "search index cannot be read")
        for path in ("/api/v1/documents", "/api/v1/ideas", "/api/v1/market/symbols", "/api/v1/market/AAPL/bars"):
            answer = get(client, account, path)
            assert answer.status_code == 200, (path, answer.text)
        for mode in ("keyword", "semantic", "hybrid"):
            refused = get(client, account, f"/api/v1/knowledge/search?q=balance+sheet&mode={mode}")
            assert_store_refused(refused, "search_index_unavailable")
        upload_note(container, account, "after")  # accepted; its processing cannot write to the index
        drain(container)
        assert fingerprint(settings.knowledge_dir) == before
        assert [item["title"] for item in get(client, account, "/api/v1/documents").json()] == ["after.csv"]
    assert fingerprint(settings.knowledge_dir) == before


def test_first_start_on_an_unreadable_market_store_serves_without_the_sample_market_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``investai serve``'s first start loads the sample market history; on a damaged market file it says so and
    goes on to serve (readiness names the store), instead of stopping the whole service."""
    from investai.cli.service import prepare_first_start

    settings = settings_for(tmp_path).model_copy(
        update={"load_sample_documents": False, "admin_email": "admin@example.com"}
    )
    settings.market_path.parent.mkdir(parents=True, exist_ok=True)
    settings.market_path.write_bytes(NOT_A_DATABASE)
    container = build_container(settings, clock=FakeClock(T0), embedder=HashingEmbedder())
    try:
        assert prepare_first_start(container) is True  # the administrator is still created
        assert "the sample data was not loaded" in capsys.readouterr().err
        with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
            assert_ready_but(client, "market_store", "not a DuckDB database")
    finally:
        container.close()
    assert settings.market_path.read_bytes() == NOT_A_DATABASE
