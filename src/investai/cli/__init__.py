"""The ``investai`` command line: serve, worker and housekeeping commands.

One module per command group (``users``, ``audit``, ``tokens``, ``keys``, ``backup``, ``dr``, ``documents``,
``knowledge``, ``market``, ``ideas`` with ``evaluate``, ``pitr``, ``aws``, ``costs``; ``service`` holds ``serve``,
``worker`` and ``ready``); what they share (settings, the container of a command, the acting user, output) is
:mod:`investai.cli.common`. This module assembles them into one app; ``main`` is the console script."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from investai import __version__
from investai.cli.audit import audit_app
from investai.cli.aws import aws_app
from investai.cli.backup import backup_app
from investai.cli.common import log_as_json
from investai.cli.costs import costs_app
from investai.cli.documents import documents_app
from investai.cli.dr import dr_app
from investai.cli.ideas import evaluate, ideas_app
from investai.cli.keys import keys_app
from investai.cli.knowledge import knowledge_app
from investai.cli.market import market_app
from investai.cli.pitr import pitr_app
from investai.cli.service import ready, run_worker, serve
from investai.cli.tokens import tokens_app
from investai.cli.users import users_app

__all__ = ["app", "main"]

app = typer.Typer(help="Investment AI Agent", no_args_is_help=True, add_completion=False)
app.command("evaluate")(evaluate)
app.command("serve")(serve)
app.command("worker")(run_worker)
app.command("ready")(ready)
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
app.add_typer(aws_app, name="aws")
app.add_typer(costs_app, name="costs")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"investai {__version__}")
        raise typer.Exit


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
    log_as_json(log_json)


def main() -> None:
    # whatever the shell's umask, every file and folder the product creates (databases and their WAL files, the
    # search index, object folders, backups) is readable by its owner only
    os.umask(0o077)
    app()
