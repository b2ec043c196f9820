"""``investai keys rotate``: the keyring's master keys (envelope encryption of what is stored)."""

from __future__ import annotations

import typer

from investai.cli.common import command

keys_app = typer.Typer(help="The keyring's master keys", no_args_is_help=True)


@keys_app.command("rotate")
def rotate() -> None:
    """Make a new master key current: new data is sealed with it; everything sealed earlier stays readable."""
    with command() as container:
        typer.echo(f"sealing new data with master key {container.keys.rotate()}")
