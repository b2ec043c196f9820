"""``investai audit …``: the audit log."""

from __future__ import annotations

import typer

from investai.cli.common import open_container

audit_app = typer.Typer(help="The audit log", no_args_is_help=True)


@audit_app.command("verify")
def verify_audit() -> None:
    """Walk the audit hash chain; exit 1 and name the first broken record if any."""
    container = open_container()
    try:
        result = container.identity.audit.verify()
        if result.ok:
            typer.echo(f"audit chain intact: {result.checked} records")
            return
        typer.echo(f"audit chain BROKEN at record {result.first_broken_seq}: {result.reason}", err=True)
        raise typer.Exit(1)
    finally:
        container.close()
