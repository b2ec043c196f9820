"""``investai serve``, ``investai worker`` and ``investai ready``: run the product, and probe its stores."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from investai.cli.common import open_container

if TYPE_CHECKING:
    from investai.bootstrap import Container


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from INVESTAI_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from INVESTAI_PORT)")] = None,
    worker: Annotated[bool, typer.Option(help="Run the job worker in this process")] = True,
    scheduler: Annotated[bool, typer.Option(help="Run the scheduler in this process")] = True,
) -> None:
    """Serve the API and UI; by default the job worker and scheduler run in the same process."""
    import uvicorn

    from investai.server import create_app

    container = open_container(service=True)
    prepare_first_start(container)
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


def run_worker() -> None:
    """Run the job worker alone until SIGTERM or Ctrl-C; the job in hand is finished first."""
    container = open_container(service=True)
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


def ready() -> None:
    """Check every store once and exit non-zero if any fails (for scripts and probes)."""
    container = open_container()
    try:
        readiness = container.operations.readiness()
        width = max([14, *(len(check.name) for check in readiness.checks)])
        for check in readiness.checks:
            state = "ok" if check.ok else "FAILED"
            typer.echo(f"{check.name:{width}} {state:6} {check.latency_ms:8.2f} ms {check.error or ''}")
        if not readiness.ready:
            raise typer.Exit(1)
    finally:
        container.close()


def prepare_first_start(container: Container) -> bool:
    """What a deployment needs before it serves, done once however many processes start together: the first
    administrator, and the sample market history and documents when the settings ask for them. True when this
    call created the administrator."""
    from investai.domain.errors import StoreUnavailable

    with container.first_start():
        created = ensure_first_administrator(container)
        try:
            _load_samples(container)
        except StoreUnavailable as exc:  # serve anyway: /ready names the store, the routes that need it say 503
            typer.echo(f"the sample data was not loaded: {exc}", err=True)
    return created


def _load_samples(container: Container) -> None:
    if container.settings.load_sample_market_data:
        report = container.market.ensure_sample_loaded()
        if report is not None:
            typer.echo(f"loaded the sample market history: {report.inserted} bars", err=True)
    if container.settings.load_sample_documents:
        loaded = container.knowledge.samples.ensure_loaded(container.settings.default_organisation)
        if loaded:
            typer.echo(f"loaded {loaded} sample documents; the worker indexes them now", err=True)


def ensure_first_administrator(container: Container) -> bool:
    """On a deployment without users, create the first administrator (``INVESTAI_ADMIN_EMAIL``); without
    ``INVESTAI_ADMIN_PASSWORD`` its temporary password is printed once. Exits 2 on a password the policy refuses.
    True when it was created now."""
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
    return created is not None
