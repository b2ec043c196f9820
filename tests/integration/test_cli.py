"""The command line: version, readiness, and `investai serve` as a real uvicorn process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from investai import __version__
from investai.cli import app
from investai.services.auth_common import CallContext

ADMIN_PASSWORD = "Serve-Test-Passw0rd!"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_version_flag() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"investai {__version__}"


def test_ready_command_reports_each_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["ready"])
    assert result.exit_code == 0, result.output
    for name in ("sqlite", "object_store", "job_queue", "keyring", "audit_log"):
        assert name in result.stdout


def test_serve_runs_api_worker_and_scheduler_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "INVESTAI_DATA_DIR": str(tmp_path / "var"),
        "INVESTAI_WORKER_POLL_INTERVAL_S": "0.1",
        "INVESTAI_ADMIN_EMAIL": "ops@example.com",
        "INVESTAI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "INVESTAI_METRICS_TOKEN": "scrape-token-of-the-serve-test",
    }
    command = [sys.executable, "-m", "investai", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert httpx.get(f"{base}/ready").json()["status"] == "ready"
        assert httpx.get(f"{base}/docs").status_code == 200
        login = httpx.post(f"{base}/api/v1/auth/login", json={"email": "ops@example.com", "password": ADMIN_PASSWORD})
        token = login.json()["access_token"]
        assert httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-token-of-the-serve-test"})
        assert "investai_http_requests_total" in metrics.text
        # the sample market history was loaded on first start
        bars = httpx.get(f"{base}/api/v1/market/SPX/bars", headers={"Authorization": f"Bearer {token}"}).json()
        assert len(bars["bars"]) > 8000
        assert bars["bars"][-1]["date"] == "2022-12-28"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended
    assert process.returncode in (0, -signal.SIGTERM), output
    events = {json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")}
    assert {"app.started", "app.stopped", "worker.started", "worker.stopped", "http.request"} <= events
    assert "Traceback" not in output


def test_serve_prints_a_temporary_password_for_the_first_administrator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from investai.bootstrap import build_container
    from investai.cli.service import ensure_first_administrator
    from investai.config import Settings

    container = build_container(Settings(_env_file=None, data_dir=tmp_path / "var"))
    try:
        lines: list[str] = []
        monkeypatch.setattr("typer.echo", lambda message, err=False: lines.append(message))
        ensure_first_administrator(container)
        ensure_first_administrator(container)  # a second start creates nothing and prints nothing
        assert len(lines) == 1
        password = lines[0].split("first sign-in): ")[1].strip()
        challenge = container.identity.auth.login("admin@localhost", password, CallContext())
        assert getattr(challenge, "challenge", None) == "NEW_PASSWORD_REQUIRED"
    finally:
        container.close()


def test_users_create_and_audit_verify_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    created = runner.invoke(app, ["users", "create", "--email", "Ana@Example.com", "--role", "analyst"])
    assert created.exit_code == 0, created.output
    assert "created ana@example.com (analyst)" in created.stdout
    assert "temporary password: " in created.stdout
    assert runner.invoke(app, ["users", "create", "--email", "x@example.com", "--role", "boss"]).exit_code != 0
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact: 1 records" in verified.stdout
    assert runner.invoke(app, ["tokens", "rotate-keys"]).exit_code == 0


def test_a_weak_admin_password_stops_serve_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "INVESTAI_DATA_DIR": str(tmp_path / "var"), "INVESTAI_ADMIN_PASSWORD": "short"}
    command = [sys.executable, "-m", "investai", "serve", "--port", str(free_port())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "cannot create the first administrator" in result.stderr
    assert "Traceback" not in result.stderr


def test_documents_upload_list_and_knowledge_search_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert runner.invoke(app, ["users", "create", "--email", "ana@example.com", "--role", "analyst"]).exit_code == 0
    note = tmp_path / "note.csv"
    note.write_text("ticker,comment\nAAPL,ocelot services growth\nMSFT,cloud\n")
    hostile = tmp_path / "fake.pdf"
    hostile.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    uploaded = runner.invoke(app, ["documents", "upload", "--as", "ana@example.com", str(note), str(hostile)])
    assert uploaded.exit_code == 1  # one of the two was refused
    assert "note.csv: doc_" in uploaded.output
    assert "fake.pdf: refused:" in uploaded.output
    listed = runner.invoke(app, ["documents", "list", "--as", "ana@example.com"])
    assert "note.csv" in listed.output
    assert "uploaded" in listed.output
    worker = runner.invoke(app, ["knowledge", "search", "--as", "nobody@example.com", "ocelot"])
    assert worker.exit_code == 1
    assert "no active user" in worker.output


def test_market_import_load_sample_symbols_and_bars_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    good = tmp_path / "ACME.csv"
    good.write_text(
        'Date,Open,High,Low,Close,Adj Close,Volume\n2023-03-01,10,11,9,10.5,10.4,"1,000"\n'
        "2023-03-02,10.5,11,10,10.8,10.7,900\n2023-03-03,10.8,10.9,9,12,11.9,800\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Close\n2023-03-01,-5\n")
    imported = runner.invoke(app, ["market", "import", "--symbol", "ACME", "--auto-create", str(good), str(bad)])
    assert imported.exit_code == 1, imported.output  # the second file was refused
    assert "ACME.csv: 3 rows, 2 new, 0 changed, 0 unchanged, 1 rejected" in imported.output
    assert "row 3: close 12" in imported.output
    assert "bad.csv: refused:" in imported.output
    assert "row 1:" in imported.output
    sample = runner.invoke(app, ["market", "load-sample"])
    assert sample.exit_code == 0, sample.output
    assert "sample: " in sample.output
    assert " 0 rejected" in sample.output
    listed = runner.invoke(app, ["market", "symbols", "--sector", "financials"])
    assert [line.split()[0] for line in listed.output.splitlines()] == ["BAC", "JPM"]
    bars = runner.invoke(app, ["market", "bars", "KO", "--start", "2022-12-01", "--interval", "monthly"])
    assert bars.exit_code == 0, bars.output
    assert bars.output.splitlines()[1].startswith("2022-12-28,,,,")


def test_ideas_generate_on_a_fresh_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a new user would: nothing loaded, no model configured; the command loads and indexes the samples."""
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    result = runner.invoke(
        app, ["ideas", "generate", "--risk", "moderate", "--horizon", "medium", "--max", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    ideas = json.loads(result.stdout[result.stdout.index("[") :])
    assert len(ideas) == 5
    for idea in ideas:
        assert idea["time_horizon"] == "medium"
        assert idea["provenance"]["models"][0]["offline"] is True
        assert idea["supporting_evidence"]
    assert any(e["citation"]["kind"] == "document" for idea in ideas for e in idea["supporting_evidence"])
    bad = runner.invoke(app, ["ideas", "generate", "--risk", "reckless"])
    assert bad.exit_code == 2
    assert "risk_tolerance" in bad.output


def test_backup_commands_to_any_path_and_a_restore_that_refuses_a_live_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    repository = tmp_path / "elsewhere" / "backups"
    runner = CliRunner()
    assert runner.invoke(app, ["users", "create", "--email", "ana@example.com", "--role", "analyst"]).exit_code == 0
    created = runner.invoke(app, ["backup", "create", "--dir", str(repository)])
    assert created.exit_code == 0, created.output
    backup_id = created.stdout.split()[1]
    assert f"backup {backup_id} in {repository}" in created.stdout
    assert "{" not in created.output  # for people: no JSON log lines unless asked for
    listed = runner.invoke(app, ["backup", "list", "--dir", str(repository)])
    assert f"1 backups in {repository}" in listed.stdout
    assert backup_id in listed.stdout
    verified = runner.invoke(app, ["backup", "verify", "--dir", str(repository)])
    assert verified.exit_code == 0, verified.output
    assert f"{backup_id}  ok" in verified.stdout

    refused = runner.invoke(app, ["backup", "restore", "--dir", str(repository), "--to", str(tmp_path / "var")])
    assert refused.exit_code == 1
    assert "is not empty: a restore never overwrites a data directory" in refused.output
    restored = runner.invoke(
        app, ["backup", "restore", backup_id, "--dir", str(repository), "--to", str(tmp_path / "r")]
    )
    assert restored.exit_code == 0, restored.output
    assert f"restored {backup_id} into {tmp_path / 'r'}" in restored.stdout
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "r"))
    assert "audit chain intact" in runner.invoke(app, ["audit", "verify"]).stdout
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert "sealing new data with master key local:2" in rotated.stdout
