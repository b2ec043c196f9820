"""``investai tokens …``: the keys that sign access tokens."""

from __future__ import annotations

import typer

from investai.cli.common import open_container

tokens_app = typer.Typer(help="Token signing keys", no_args_is_help=True)


@tokens_app.command("rotate-keys")
def rotate_signing_keys() -> None:
    """Sign new tokens with a fresh key; tokens signed earlier stay valid until they expire."""
    container = open_container()
    try:
        typer.echo(f"signing with key {container.signing_keys().rotate()}")
    finally:
        container.close()
