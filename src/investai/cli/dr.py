"""``investai dr drill``: prove that the backups restore, and measure how much and how long.

The drill backs up the live data directory (beside a running server), restores that backup into a fresh
directory, starts a server on the copy (no worker, no scheduler, its own backup folder, so it changes nothing
outside the copy), waits for ``/ready``, then checks a sample of reads against the live deployment: every
document's bytes by their SHA-256, idea revisions field for field, the audit chain and its head record, and the
administrators' API over HTTP. It prints the recovery point (how old the newest backup was when the drill began)
and the recovery time (restore plus start until ready), and exits 1 if any check fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from investai.cli.common import cli_settings

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.config import Settings

dr_app = typer.Typer(help="Disaster recovery", no_args_is_help=True)
READY_TIMEOUT_S = 300.0


@dataclass
class DrillReport:
    backup_id: str = ""
    backup_s: float = 0.0
    backup_bytes: int = 0
    backup_new_bytes: int = 0
    rpo_s: float | None = None
    schedule: str = ""
    restore_s: float = 0.0
    ready_s: float = 0.0
    rto_s: float = 0.0
    checks: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks[name] = ("ok: " if ok else "FAILED: ") + detail
        if not ok:
            self.failures.append(f"{name}: {detail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(target: Path, drill_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "INVESTAI_DATA_DIR": str(target),
        "INVESTAI_BACKUP_DIR": str(drill_dir / "backups"),
        "INVESTAI_ISSUER": base_url,
        "INVESTAI_LOAD_SAMPLE_MARKET_DATA": "false",
        "INVESTAI_LOAD_SAMPLE_DOCUMENTS": "false",
        "INVESTAI_LOG_LEVEL": "WARNING",
    }
    env.pop("INVESTAI_ADMIN_PASSWORD", None)
    command = [sys.executable, "-m", "investai", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (drill_dir / "server.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - this interpreter running this product, loopback only
            [*command, "--no-worker", "--no-scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, base_url


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the restored server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the restored server was not ready within {READY_TIMEOUT_S:.0f} s")


def _check_documents(live: Container, restored: Container, report: DrillReport, sample: int) -> None:
    """Each sampled document's current bytes in the copy hash to what the live store recorded for them."""
    documents = [
        document
        for user in restored.users.list_users(limit=1000)
        for document in restored.documents.list_by_owner(user.id, limit=1000)
    ][:sample]
    matched = 0
    for document in documents:
        version = document.current
        copy = restored.objects.get(version.object_key, version.object_version)
        original = live.objects.get(version.object_key, version.object_version).version
        matched += hashlib.sha256(copy.data).hexdigest() == original.sha256 == copy.version.sha256
    report.check("documents", matched == len(documents), f"{matched} of {len(documents)} documents' bytes match")


def _check_ideas(live: Container, restored: Container, report: DrillReport, sample: int) -> None:
    ideas = [
        idea
        for user in restored.users.list_users(limit=1000)
        for idea in restored.ideas.list_by_user(user.id, limit=sample)
    ][:sample]
    equal = sum(live.ideas.get(idea.id, version=idea.version) == idea for idea in ideas)
    report.check("ideas", equal == len(ideas), f"{equal} of {len(ideas)} idea revisions equal")


def _check_audit(live: Container, restored: Container, report: DrillReport) -> None:
    verified = restored.identity.audit.verify()
    seq, digest = restored.identity.audit.head()
    original = live.identity.audit.list_events(before_seq=seq + 1, limit=1)
    head_matches = bool(original) and (original[0].seq, original[0].hash) == (seq, digest)
    report.check(
        "audit",
        verified.ok and head_matches,
        f"chain {'intact' if verified.ok else 'BROKEN'} over {verified.checked} records; head record "
        + ("matches the live log" if head_matches else "differs from the live log"),
    )


def _check_api(restored: Container, base_url: str, report: DrillReport) -> None:
    """Sign in over HTTP as a drill administrator created in the copy only, and read through the API."""
    import httpx

    from investai.domain.users import Role

    password = f"Drill-{secrets.token_urlsafe(12)}-9a!"
    organisation = restored.settings.default_organisation
    restored.identity.users.create_user(
        actor=None, email="dr-drill@localhost", role=Role.ADMINISTRATOR, organisation_id=organisation, password=password
    )
    with httpx.Client(base_url=base_url, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"email": "dr-drill@localhost", "password": password})
        token = login.json().get("access_token") if login.status_code == 200 else None
        headers = {"Authorization": f"Bearer {token}"}
        verified = client.get("/api/v1/admin/audit/verify", headers=headers)
        users = client.get("/api/v1/admin/users", headers=headers)
    ok = token is not None and verified.status_code == 200 and verified.json().get("ok") and users.status_code == 200
    detail = f"sign-in {login.status_code}, audit verify {verified.status_code}, users {users.status_code}"
    report.check("api", bool(ok), detail)


def _run(settings: Settings, report: DrillReport, drill_dir: Path, sample: int) -> None:
    from investai.bootstrap import build_container, restore_backup

    live = build_container(settings)
    try:
        previous = live.local_backups().latest()
        if previous is not None:
            report.rpo_s = round((live.clock.now() - previous.created_at).total_seconds(), 1)
        started = time.perf_counter()
        summary = live.local_backups().create()
        report.backup_s = round(time.perf_counter() - started, 3)
        report.backup_id, report.backup_bytes, report.backup_new_bytes = summary.id, summary.bytes, summary.new_bytes
        target = drill_dir / "var"
        started = time.perf_counter()
        restore_backup(settings, backup_id=summary.id, target=target)
        report.restore_s = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        process, base_url = _start_server(target, drill_dir)
        try:
            _wait_ready(process, base_url, drill_dir / "server.log")
            report.ready_s = round(time.perf_counter() - started, 3)
            report.rto_s = round(report.restore_s + report.ready_s, 3)
            copy_settings = settings.model_copy(update={"data_dir": target, "backup_dir": drill_dir / "backups"})
            restored = build_container(copy_settings)
            try:
                _check_documents(live, restored, report, sample)
                _check_ideas(live, restored, report, sample)
                _check_audit(live, restored, report)
                _check_api(restored, base_url, report)
            finally:
                restored.close()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    finally:
        live.close()


@dr_app.command("drill")
def drill(
    keep: Annotated[bool, typer.Option(help="Keep the restored copy (its path is printed)")] = False,
    sample: Annotated[int, typer.Option(min=1, help="Documents and idea revisions to compare")] = 50,
    output_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Back up, restore into a fresh directory, start a server on it and check it; print the RPO and RTO."""
    settings = cli_settings()
    report = DrillReport(schedule=settings.backup_cron or "none")
    drills = settings.backup_path / "drills"
    drills.mkdir(parents=True, exist_ok=True, mode=0o700)
    drill_dir = Path(tempfile.mkdtemp(prefix="dr-drill-", dir=drills))
    try:
        _run(settings, report, drill_dir, sample)
    except Exception as exc:  # the drill reports what broke rather than a traceback
        report.failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        if not keep:
            shutil.rmtree(drill_dir, ignore_errors=True)
    if output_json:
        typer.echo(json.dumps(asdict(report), indent=2))
    else:
        _print(report, drill_dir if keep else None)
    if report.failures:
        raise typer.Exit(1)


def _print(report: DrillReport, kept: Path | None) -> None:
    lines: list[Any] = [
        f"backup {report.backup_id}: {report.backup_bytes / 1e6:.1f} MB in {report.backup_s:.1f} s"
        f" ({report.backup_new_bytes / 1e6:.1f} MB new)",
        f"restore: {report.restore_s:.1f} s; server ready {report.ready_s:.1f} s later",
        *(f"check {name}: {outcome}" for name, outcome in report.checks.items()),
        (
            f"RPO: the newest backup before the drill was {report.rpo_s / 60:.1f} min old"
            if report.rpo_s is not None
            else "RPO: no backup existed before the drill: everything since the start was at risk"
        )
        + f" (schedule '{report.schedule}')",
        f"RTO: {report.rto_s:.1f} s (restore and start until ready)",
    ]
    if kept is not None:
        lines.append(f"the restored copy is kept in {kept}")
    for line in lines:
        typer.echo(line)
    for failure in report.failures:
        typer.echo(f"FAILED {failure}", err=True)
