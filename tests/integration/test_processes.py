"""The server, a separate worker and CLI commands write one data directory at the same time.

For at least 30 seconds: the API creates users, uploads documents, ingests bars, requests ideas and reads the
audit log; the separate worker and the server's own worker process documents and idea requests; CLI commands
create users, import bars, upload documents, verify the audit chain and read bars, each as a process of its
own. Afterwards every SQLite file passes ``PRAGMA integrity_check``, ``investai audit verify`` passes, and every
write that was acknowledged (a 2xx answer, or a CLI exit code of 0) is there, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

from investai.bootstrap import build_container
from investai.config import Settings
from investai.domain.access import Principal
from investai.sample.documents import sample_documents
from investai.services.auth_common import CallContext
from investai.services.samples import LIBRARY_EMAIL
from tests.processes import Api, Deployment, stop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WRITE_FOR_S = 32.0
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "processes"
FIRST_DAY = date(2023, 1, 2)


@dataclass
class Acknowledged:
    """What every writer was told had been stored."""

    users: set[str] = field(default_factory=set)
    documents: dict[str, str] = field(default_factory=dict)  # id -> sha256 of the bytes sent
    requests: set[str] = field(default_factory=set)
    bars: dict[tuple[str, date], float] = field(default_factory=dict)
    audit_reads: int = 0
    cli_runs: int = 0
    backups: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def _loop(stop_at: float, acked: Acknowledged, step: Callable[[int], None], pause: float) -> None:
    index = 0
    while time.monotonic() < stop_at:
        try:
            step(index)
        except Exception as exc:  # every failure is reported, not swallowed
            acked.fail(f"{step.__name__}: {type(exc).__name__}: {exc}")
        index += 1
        time.sleep(pause)


def _csv_document(tag: str, index: int) -> bytes:
    rows = "\n".join(f"{tag}-{index}-{row},{row * 1.5:.2f},note {tag} {index} {row}" for row in range(20))
    return f"label,value,comment\n{rows}\n".encode()


def _bars_csv(days: list[date], closes: list[float]) -> str:
    lines = [f"{day.isoformat()},{close:.2f}" for day, close in zip(days, closes, strict=True)]
    return "date,close\n" + "\n".join(lines) + "\n"


def test_server_worker_and_cli_write_one_data_directory_at_once(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path)
    server = deployment.start_server()
    worker = None
    acked = Acknowledged()
    exits: list[int] = []
    try:
        server.wait_ready()
        admin = Api.admin(server.base_url)
        analyst = admin.new_user("mp.analyst@example.com", "analyst")
        manager = admin.new_user("mp.manager@example.com", "portfolio-manager")
        for symbol in ("MPAPI", "MPCLI"):
            answer = manager.request(
                "POST", "/api/v1/market/symbols", json={"symbols": [{"symbol": symbol, "name": f"{symbol} Corp"}]}
            )
            assert answer.status_code == 200, answer.text
        worker = deployment.start_worker()
        stop_at = time.monotonic() + WRITE_FOR_S
        writers = _api_writers(admin, analyst, manager, acked, stop_at)
        writers += [
            threading.Thread(target=_cli_writer, args=(deployment, acked, stop_at, lane), name=f"cli-{lane}")
            for lane in (0, 1)
        ]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=600)
        assert acked.failures == [], "\n".join(acked.failures[:5])
        _wait_until_processed(analyst, acked)
    finally:
        exits.extend([stop(worker) if worker is not None else 0, server.stop()])

    assert exits == [0, 0], server.log()  # both ended gracefully on SIGTERM
    assert acked.cli_runs >= 10
    assert acked.backups >= 1
    assert len(acked.requests) >= 5
    assert acked.audit_reads >= 10
    integrity = deployment.integrity()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    figures = {
        "write_seconds": WRITE_FOR_S,
        "users": len(acked.users),
        "documents": len(acked.documents),
        "bars": len(acked.bars),
        "idea_requests": len(acked.requests),
        "cli_commands": acked.cli_runs,
        "backups": acked.backups,
        "audit_reads": acked.audit_reads,
        "integrity_check": integrity,
    }
    (ARTIFACTS / "report.json").write_text(json.dumps(figures, indent=2))
    assert integrity == {"embeddings.db": "ok", "investai.db": "ok"}
    verified = deployment.cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout
    _check_acknowledged_writes(deployment, acked)
    _check_backups_taken_meanwhile(deployment, tmp_path / "restored")


def _check_backups_taken_meanwhile(deployment: Deployment, target: Path) -> None:
    """Backups taken while everything was writing verify, and the newest restores into a working directory."""
    verified = deployment.cli("backup", "verify", "--all")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    restored = deployment.cli("backup", "restore", "--to", str(target))
    assert restored.returncode == 0, restored.stderr
    copy = Deployment(target.parent, extra_env={"INVESTAI_DATA_DIR": str(target)})
    assert copy.cli("audit", "verify").returncode == 0
    connection = sqlite3.connect(target / "investai.db")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()


def _api_writers(admin: Api, analyst: Api, manager: Api, acked: Acknowledged, stop_at: float) -> list[threading.Thread]:
    def create_user(index: int) -> None:
        email = f"api.user{index}@example.com"
        answer = admin.request("POST", "/api/v1/admin/users", json={"email": email, "role": "analyst"})
        assert answer.status_code == 201, answer.text
        with acked.lock:
            acked.users.add(email)

    def upload(index: int) -> None:
        body = _csv_document("api", index)
        answer = analyst.request("POST", "/api/v1/documents", files={"file": (f"api-{index}.csv", body, "text/csv")})
        assert answer.status_code == 201, answer.text
        with acked.lock:
            acked.documents[answer.json()["id"]] = hashlib.sha256(body).hexdigest()

    def ingest_bar(index: int) -> None:
        day, close = FIRST_DAY + timedelta(days=index), round(100 + index * 0.01, 2)
        answer = manager.request(
            "POST",
            "/api/v1/market/bars",
            json={"bars": [{"symbol": "MPAPI", "date": day.isoformat(), "close": close}]},
        )
        assert answer.status_code == 200, answer.text
        with acked.lock:
            acked.bars[("MPAPI", day)] = close

    def request_ideas(index: int) -> None:
        body = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 1, "tickers": ["KO", "XOM"]}
        answer = analyst.request("POST", "/api/v1/ideas/requests", json=body)
        assert answer.status_code == 202, answer.text
        with acked.lock:
            acked.requests.add(answer.json()["request_id"])

    def read_audit(index: int) -> None:
        listed = admin.request("GET", "/api/v1/admin/audit", params={"limit": 50})
        assert listed.status_code == 200, listed.text
        verified = admin.request("GET", "/api/v1/admin/audit/verify")
        assert verified.status_code == 200, verified.text
        assert verified.json()["ok"], verified.text
        with acked.lock:
            acked.audit_reads += 1

    plan: list[tuple[Callable[[int], None], float]] = [
        (create_user, 0.3),
        (upload, 1.0),
        (ingest_bar, 0.2),
        (request_ideas, 3.0),
        (read_audit, 0.5),
    ]
    return [
        threading.Thread(target=_loop, args=(stop_at, acked, step, pause), name=step.__name__) for step, pause in plan
    ]


def _cli_writer(deployment: Deployment, acked: Acknowledged, stop_at: float, lane: int) -> None:
    """One CLI command after another, each a process of its own, as an operator would type them; ``lane``
    keeps two such operators' users, files and dates apart."""
    index = 0
    while time.monotonic() < stop_at:
        tag = f"{lane}-{index}"
        email = f"cli.user{tag}@example.com"
        first = FIRST_DAY + timedelta(days=1000 * lane + index * 5)
        days = [first + timedelta(days=offset) for offset in range(5)]
        closes = [round(50 + index * 0.05 + offset * 0.01, 2) for offset in range(5)]
        bars_file = deployment.root / f"cli-bars-{tag}.csv"
        bars_file.write_text(_bars_csv(days, closes))
        document = deployment.root / f"cli-{tag}.csv"
        document.write_bytes(_csv_document("cli", 1000 * lane + index))
        commands = [
            ("users", "create", "--email", email, "--role", "analyst"),
            ("market", "import", str(bars_file), "--symbol", "MPCLI"),
            ("documents", "upload", "--as", "mp.analyst@example.com", str(document)),
            ("audit", "verify"),
            ("backup", "create"),
            ("market", "bars", "MPCLI"),
        ]
        for command in commands:
            run = deployment.cli(*command)
            if run.returncode != 0:
                acked.fail(f"investai {' '.join(command)} exited {run.returncode}: {run.stdout}\n{run.stderr}")
                continue
            with acked.lock:
                acked.cli_runs += 1
                if command[0] == "users":
                    acked.users.add(email)
                elif command[:2] == ("market", "import"):
                    acked.bars.update({("MPCLI", day): close for day, close in zip(days, closes, strict=True)})
                elif command[0] == "documents":
                    document_id = run.stdout.split(": ", 1)[1].split(" ", 1)[0]
                    acked.documents[document_id] = hashlib.sha256(document.read_bytes()).hexdigest()
                elif command[0] == "backup":
                    acked.backups += 1
        index += 1


def _wait_until_processed(analyst: Api, acked: Acknowledged, timeout_s: float = 240.0) -> None:
    """Every idea request finished (succeeded) and every document indexed, by either worker."""
    deadline = time.monotonic() + timeout_s
    pending_requests, pending_documents = set(acked.requests), set(acked.documents)
    while (pending_requests or pending_documents) and time.monotonic() < deadline:
        for request_id in sorted(pending_requests):
            state = analyst.request("GET", f"/api/v1/ideas/requests/{request_id}").json()["status"]
            assert state not in {"failed", "cancelled"}, f"request {request_id} {state}"
            if state == "succeeded":
                pending_requests.discard(request_id)
        for document_id in sorted(pending_documents):
            state = analyst.request("GET", f"/api/v1/documents/{document_id}").json()["status"]
            assert state != "failed", f"document {document_id} failed"
            if state == "indexed":
                pending_documents.discard(document_id)
        time.sleep(0.5)
    assert not pending_requests, pending_requests
    assert not pending_documents, pending_documents


def _check_acknowledged_writes(deployment: Deployment, acked: Acknowledged) -> None:
    container = build_container(Settings(data_dir=deployment.data_dir, _env_file=None))
    try:
        missing_users = sorted(email for email in acked.users if container.users.get_by_email(email) is None)
        assert missing_users == []
        owner = container.users.get_by_email("mp.analyst@example.com")
        assert owner is not None
        reader = Principal.acting_as(owner, actor="test", at=container.clock.now())
        for document_id, digest in acked.documents.items():
            content = container.knowledge.documents.download(reader, document_id, CallContext())
            assert hashlib.sha256(content.data).hexdigest() == digest, document_id
        for request_id in acked.requests:
            assert container.idea_requests.peek(reader, request_id).status.value == "succeeded"
        stored = {
            (symbol, bar.date): bar.close for symbol in ("MPAPI", "MPCLI") for bar in container.market.bars(symbol)
        }
        assert {key: stored.get(key) for key in acked.bars} == acked.bars
        assert container.knowledge.index.count() > 0
    finally:
        container.close()


def test_two_servers_started_together_on_a_new_data_directory_prepare_it_once(tmp_path: Path) -> None:
    """The first administrator, the sample history and the sample corpus are made once however many processes
    start on an empty data directory at the same moment; both servers come up and serve the same data."""
    deployment = Deployment(tmp_path)
    servers = [deployment.start_server(), deployment.start_server()]
    try:
        for server in servers:
            server.wait_ready()
        admins = [Api.admin(server.base_url) for server in servers]
        created = admins[0].request(
            "POST", "/api/v1/admin/users", json={"email": "both@example.com", "role": "analyst"}
        )
        assert created.status_code == 201, created.text
        listed = admins[1].request("GET", "/api/v1/admin/users")
        assert "both@example.com" in listed.text
    finally:
        exits = [server.stop() for server in servers]
    assert exits == [0, 0], "\n".join(server.log() for server in servers)
    container = build_container(Settings(data_dir=deployment.data_dir, _env_file=None))
    try:
        library = container.users.get_by_email(LIBRARY_EMAIL)
        assert library is not None
        titles = [document.title for document in container.documents.list_by_owner(library.id, limit=1000)]
        assert sorted(titles) == sorted({sample.title for sample in sample_documents()})
        assert container.market.bar_frame("KO").shape[0] > 8000  # the sample history is there
    finally:
        container.close()


def test_every_file_a_server_creates_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path)
    server = deployment.start_server()
    try:
        server.wait_ready()
    finally:
        assert server.stop() == 0
    assert deployment.cli("backup", "create").returncode == 0
    loose = [
        f"{path.relative_to(tmp_path)} {path.stat().st_mode & 0o777:o}"
        for root in (deployment.data_dir, tmp_path / "backups")
        for path in [root, *root.rglob("*")]
        if path.stat().st_mode & 0o077
    ]
    assert loose == []
