"""``investai backup …``: encrypted backups of every store, and their restore.

Every command here runs beside a live server and worker except ``restore``, which only ever writes into an
empty directory that nothing uses, and refuses anything else before touching it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from investai.cli.common import cli_settings, command

if TYPE_CHECKING:
    from investai.domain.backups import BackupSummary

backup_app = typer.Typer(help="Backups of every store, and restore", no_args_is_help=True)
Repository = Annotated[
    Path | None, typer.Option("--dir", help="The backup repository, any path (default: INVESTAI_BACKUP_DIR)")
]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _line(summary: BackupSummary) -> str:
    return (
        f"{summary.id}  {summary.created_at:%Y-%m-%d %H:%M:%S} UTC  {summary.files:6} files  "
        f"{_size(summary.bytes):>9}  ({_size(summary.new_bytes)} new, {summary.seconds:.1f} s)"
    )


@backup_app.command("create")
def create(directory: Repository = None) -> None:
    """Take a backup now: a consistent, encrypted snapshot of every store (safe while the server runs)."""
    with command(backup_dir=directory) as container:
        summary = container.local_backups().create()
        typer.echo(f"backup {summary.id} in {container.settings.backup_path}")
        typer.echo(_line(summary))


@backup_app.command("list")
def list_backups(directory: Repository = None) -> None:
    """The backups held, newest first."""
    with command(backup_dir=directory) as container:
        found = container.local_backups().list_backups()
        typer.echo(f"{len(found)} backups in {container.settings.backup_path}")
        for summary in found:
            typer.echo(_line(summary))


@backup_app.command("verify")
def verify(
    backup_id: Annotated[str | None, typer.Argument(help="The backup (default: the newest)")] = None,
    every: Annotated[bool, typer.Option("--all", help="Verify every backup")] = False,
    directory: Repository = None,
) -> None:
    """Re-read a backup whole: decrypt every file and compare every hash; exit 1 on any problem."""
    with command(backup_dir=directory) as container:
        held = [summary.id for summary in container.local_backups().list_backups()]
        chosen = held if every else [backup_id or (held[0] if held else "")]
        if not chosen or not chosen[0]:
            typer.echo(f"error: no backups in {container.settings.backup_path}", err=True)
            raise typer.Exit(1)
        broken = 0
        for identifier in chosen:
            result = container.local_backups().verify(identifier)
            state = "ok" if result.ok else "BROKEN"
            typer.echo(f"{identifier}  {state}  {result.files_checked} files, {_size(result.bytes_checked)} checked")
            for problem in result.problems:
                typer.echo(f"  {problem}", err=True)
            broken += not result.ok
    if broken:
        raise typer.Exit(1)


@backup_app.command("restore")
def restore(
    backup_id: Annotated[str | None, typer.Argument(help="The backup (default: the newest)")] = None,
    to: Annotated[
        Path | None, typer.Option("--to", help="An empty directory to restore into (default: INVESTAI_DATA_DIR)")
    ] = None,
    directory: Repository = None,
) -> None:
    """Restore a backup into an empty data directory; refuses a directory that holds anything or is in use."""
    from investai.bootstrap import restore_backup
    from investai.domain.errors import DomainError

    settings = cli_settings(backup_dir=directory)
    target = (to or settings.data_dir).resolve()
    try:
        report = restore_backup(settings, backup_id=backup_id, target=target)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"restored {report.id} into {report.target}: {report.files} files, {_size(report.bytes)}")
    typer.echo(f"in {report.seconds:.1f} s; start the server with INVESTAI_DATA_DIR={report.target}")


@backup_app.command("prune")
def prune(directory: Repository = None) -> None:
    """Drop backups older than the retention (INVESTAI_BACKUP_RETENTION_DAYS; the newest always stays)."""
    with command(backup_dir=directory) as container:
        removed = container.local_backups().prune(container.clock.now())
        typer.echo(f"removed {len(removed)} backups" + (f": {', '.join(removed)}" if removed else ""))
