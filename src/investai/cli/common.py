"""What the command modules share: the settings (with logging set up), a container built from them and closed
when the command ends, the user a command acts as, and output helpers.

Imports of the product happen inside the functions, so that ``investai --help`` and a command's own startup do
not pay for loading every store and model library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.config import Settings
    from investai.domain.access import Permission, Principal

AsUser = Annotated[str, typer.Option("--as", help="E-mail of the user acting (an analyst or portfolio manager)")]
_LOGGING = {"json": False}


def log_as_json(value: bool) -> None:
    """``--log-json``: commands write their log lines as JSON to stderr."""
    _LOGGING["json"] = value


def cli_settings(*, service: bool = False, backup_dir: Path | None = None) -> Settings:
    """The settings, with logging set up: a service (serve, worker) logs JSON lines as configured; a command
    prints what it has to say for people and logs only warnings, readable, unless ``--log-json`` asks for JSON."""
    from investai.config import load_settings
    from investai.observability.logging import configure_logging

    loaded = load_settings(**({"backup_dir": backup_dir} if backup_dir is not None else {}))
    if service or _LOGGING["json"]:
        configure_logging(level=loaded.effective_log_level, json=loaded.log_json or _LOGGING["json"])
    else:
        configure_logging(level="WARNING", json=False)
    return loaded


def open_container(*, service: bool = False, backup_dir: Path | None = None) -> Container:
    """The container over the configured stores; the caller closes it. A deployment that cannot be opened (an
    AWS shape not provisioned yet, a setting refused) ends the command with the reason, exit 1."""
    from investai.bootstrap import build_container
    from investai.config import ConfigurationError
    from investai.domain.errors import DomainError

    settings = cli_settings(service=service, backup_dir=backup_dir)
    try:
        return build_container(settings)
    except (DomainError, ConfigurationError) as exc:
        fail(f"cannot open the {settings.backend.value} deployment: {exc}")


@contextmanager
def command(*, errors: tuple[type[Exception], ...] = (), backup_dir: Path | None = None) -> Iterator[Container]:
    """The container of one command, closed when it ends. A domain error (or one of ``errors``) is printed for
    people, with its per-row details if any, and the command exits 1."""
    from investai.domain.errors import DomainError

    container = open_container(backup_dir=backup_dir)
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


def acting_principal(container: Container, email: str, permission: Permission) -> Principal:
    """The active user ``email`` as the principal a command acts as (``--as``), if the role holds ``permission``;
    otherwise the command exits 1. The command line runs with the operator's trust: no password is asked."""
    from investai.domain.access import Principal
    from investai.domain.users import UserStatus

    user = container.users.get_by_email(email.strip().lower())
    if user is None or user.status is UserStatus.DISABLED:
        fail(f"no active user {email}")
    principal = Principal.acting_as(user, actor="cli", at=container.clock.now())
    if not principal.can(permission):
        fail(f"a {user.role.value} may not {permission.value}")
    return principal


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def echo_json(data: dict[str, Any]) -> None:
    """Print ``data`` as indented JSON with sorted keys."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True))
