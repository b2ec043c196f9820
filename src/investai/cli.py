"""The ``investai`` command line: serve, worker and housekeeping commands."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from investai import __version__
from investai.cli_backup import backup_app, keys_app
from investai.cli_dr import dr_app
from investai.cli_ideas import evaluate, ideas_app
from investai.cli_knowledge import documents_app, knowledge_app
from investai.cli_market import market_app
from investai.cli_pitr import pitr_app

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.config import Settings

app = typer.Typer(help="Investment AI Agent", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(help="User administration", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log", no_args_is_help=True)
tokens_app = typer.Typer(help="Token signing keys", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(tokens_app, name="tokens")
app.add_typer(documents_app, name="documents")
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(market_app, name="market")
app.add_typer(ideas_app, name="ideas")
app.add_typer(pitr_app, name="pitr")
app.add_typer(backup_app, name="backup")
app.add_typer(keys_app, name="keys")
app.add_typer(dr_app, name="dr")
app.command("evaluate")(evaluate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"investai {__version__}")
        raise typer.Exit


_LOGGING = {"json": False}


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Commands: write log lines as JSON to stderr (serve and worker always)")
    ] = False,
) -> None:
    """Investment AI Agent."""
    _LOGGING["json"] = log_json


def _settings(*, service: bool = False, backup_dir: Path | None = None) -> Settings:
    """The settings, with logging set up: a service (serve, worker) logs JSON lines as configured; a command
    prints what it has to say for people and logs only warnings, readable, unless ``--log-json`` asks for JSON."""
    from investai.config import load_settings
    from investai.observability.logging import configure_logging

    settings = load_settings(**({"backup_dir": backup_dir} if backup_dir is not None else {}))
    if service or _LOGGING["json"]:
        configure_logging(level=settings.effective_log_level, json=settings.log_json or _LOGGING["json"])
    else:
        configure_logging(level="WARNING", json=False)
    return settings


def _container(*, service: bool = False, backup_dir: Path | None = None) -> Container:
    from investai.bootstrap import build_container

    return build_container(_settings(service=service, backup_dir=backup_dir))


@contextmanager
def command(*, errors: tuple[type[Exception], ...] = (), backup_dir: Path | None = None) -> Iterator[Container]:
    """The container of one command, closed when it ends. A domain error (or one of ``errors``) is printed for
    people, with its per-row details if any, and the command exits 1."""
    from investai.domain.errors import DomainError

    container = _container(backup_dir=backup_dir)
    caught: tuple[type[Exception], ...] = (DomainError, *errors)
    try:
        yield container
    except caught as exc:
        typer.echo(f"error: {exc}", err=True)
        for detail in getattr(exc, "details", None) or []:
            if isinstance(detail, dict) and "row" in detail:
                typer.echo(f"  row {detail['row']}: {detail['reason']}", err=True)
        raise typer.Exit(1) from exc
    finally:
        container.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from INVESTAI_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from INVESTAI_PORT)")] = None,
    worker: Annotated[bool, typer.Option(help="Run the job worker in this process")] = True,
    scheduler: Annotated[bool, typer.Option(help="Run the scheduler in this process")] = True,
) -> None:
    """Serve the API and UI; by default the job worker and scheduler run in the same process."""
    import uvicorn

    from investai.api.app import create_app

    container = _container(service=True)
    with container.first_start():
        _ensure_first_administrator(container)
        if container.settings.load_sample_market_data:
            report = container.market.ensure_sample_loaded()
            if report is not None:
                typer.echo(f"loaded the sample market history: {report.inserted} bars", err=True)
        if container.settings.load_sample_documents:
            loaded = container.knowledge.samples.ensure_loaded(container.settings.default_organisation)
            if loaded:
                typer.echo(f"loaded {loaded} sample documents; the worker indexes them now", err=True)
    settings = container.settings.model_copy(update={"serve_with_worker": worker, "serve_with_scheduler": scheduler})
    container.settings = settings
    application = create_app(container, background=True)
    # uvicorn shuts down gracefully on SIGTERM or SIGINT, then raises the signal again against the handler found
    # before it started; this one ends the process normally, so the stores below are closed (and DuckDB
    # checkpointed) and the exit code is 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_normally)
    try:
        uvicorn.run(
            application,
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            proxy_headers=False,
            server_header=False,
        )
    finally:
        container.close()


def _exit_normally(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@app.command("worker")
def run_worker() -> None:
    """Run the job worker alone until SIGTERM or Ctrl-C; the job in hand is finished first."""
    container = _container(service=True)
    pool = container.worker_pool()
    stopped = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        typer.echo(f"signal {signum}: finishing the job in hand, then stopping", err=True)
        stopped.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pool.start()
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        pool.stop()
        container.close()


@app.command()
def ready() -> None:
    """Check every store once and exit non-zero if any fails (for scripts and probes)."""
    container = _container()
    try:
        readiness = container.operations.readiness()
        for check in readiness.checks:
            state = "ok" if check.ok else "FAILED"
            typer.echo(f"{check.name:14} {state:6} {check.latency_ms:8.2f} ms {check.error or ''}")
        if not readiness.ready:
            raise typer.Exit(1)
    finally:
        container.close()


def _ensure_first_administrator(container: Container) -> None:
    settings = container.settings
    from investai.domain.errors import DomainError

    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    try:
        created = container.identity.users.ensure_first_administrator(
            email=settings.admin_email, password=password, organisation_id=settings.default_organisation
        )
    except DomainError as exc:
        typer.echo(f"cannot create the first administrator: {exc} (INVESTAI_ADMIN_PASSWORD)", err=True)
        container.close()
        raise typer.Exit(2) from exc
    if created is not None and created.temporary_password is not None:
        typer.echo(
            f"\nFirst administrator: {created.user.email}\n"
            f"Temporary password (shown once, change it at first sign-in): {created.temporary_password}\n",
            err=True,
        )


@users_app.command("create")
def create_user(
    email: Annotated[str, typer.Option(help="E-mail address, the sign-in name")],
    role: Annotated[str, typer.Option(help="analyst, portfolio-manager, compliance-officer or administrator")],
    organisation: Annotated[str | None, typer.Option(help="Organisation id (default from settings)")] = None,
) -> None:
    """Create a user with a temporary password (printed once; valid 7 days)."""
    from investai.domain.users import Role

    try:
        chosen = Role(role)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown role {role!r}") from exc
    from investai.domain.errors import DomainError

    container = _container()
    try:
        created = container.identity.users.create_user(
            actor=None,
            email=email,
            role=chosen,
            organisation_id=organisation or container.settings.default_organisation,
        )
        typer.echo(f"created {created.user.email} ({created.user.role.value}) id={created.user.id}")
        typer.echo(f"temporary password: {created.temporary_password}")
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        container.close()


@audit_app.command("verify")
def verify_audit() -> None:
    """Walk the audit hash chain; exit 1 and name the first broken record if any."""
    container = _container()
    try:
        result = container.identity.audit.verify()
        if result.ok:
            typer.echo(f"audit chain intact: {result.checked} records")
            return
        typer.echo(f"audit chain BROKEN at record {result.first_broken_seq}: {result.reason}", err=True)
        raise typer.Exit(1)
    finally:
        container.close()


@tokens_app.command("rotate-keys")
def rotate_signing_keys() -> None:
    """Sign new tokens with a fresh key; tokens signed earlier stay valid until they expire."""
    container = _container()
    try:
        typer.echo(f"signing with key {container.identity.issuer.rotate()}")
    finally:
        container.close()


def main() -> None:
    # whatever the shell's umask, every file and folder the product creates (databases and their WAL files, the
    # search index, object folders, backups) is readable by its owner only
    os.umask(0o077)
    app()
