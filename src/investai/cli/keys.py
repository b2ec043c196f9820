"""``investai keys rotate|rewrap``: the keyring's master keys (envelope encryption of what is stored)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from investai.cli.common import command

keys_app = typer.Typer(help="The keyring's master keys", no_args_is_help=True)


@keys_app.command("rotate")
def rotate() -> None:
    """Make a new master key current: new data is sealed with it; everything sealed earlier stays readable.
    On AWS this asks KMS for an on-demand rotation of the key material (automatic yearly rotation stays on)."""
    from investai.services.key_rotation import KeyRotation

    with command() as container:
        outcome = KeyRotation(keys=container.keys, audit=container.identity.audit).rotate(source="cli")
        typer.echo(f"sealing new data with master key {outcome['key_id']}")


@keys_app.command("rewrap")
def rewrap(
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="re-wrap at most this many envelopes")] = None,
) -> None:
    """Re-wrap, under the current master key, the data keys of stored envelopes (objects, profiles, MFA secrets)
    that an earlier master key wrapped; the encrypted data itself is not rewritten. Safe beside the server."""
    from investai.services.key_rotation import KeyRotation

    with command() as container:
        current = container.keys.current_key_id()
        if not container.cipher.rewraps:
            typer.echo(f"nothing to re-wrap: the key service keeps every key generation (current key {current})")
            return
        stores = {
            "objects": container.objects,
            "profiles": container.profiles,
            "mfa_secrets": container.identity.mfa_secrets,
        }
        counts = KeyRotation(keys=container.keys, audit=container.identity.audit).rewrap(stores, limit=limit)
        total = sum(count.total_rewrapped for count in counts.values())
        typer.echo(f"re-wrapped {total} envelope(s) under master key {current}")
        for name, count in counts.items():
            typer.echo(f"  {name}: re-wrapped {_by_key(count.rewrapped)}; seen {_by_key(count.seen)}")
        if limit is not None and total >= limit:
            typer.echo(f"stopped at the limit of {limit}: run it again for the rest")


def _by_key(counter: Counter[str]) -> str:
    if not counter:
        return "none"
    return ", ".join(f"{key_id}={number}" for key_id, number in sorted(counter.items()))
