"""``investai users …``: user administration with the operator's trust."""

from __future__ import annotations

from typing import Annotated

import typer

from investai.cli.common import open_container

users_app = typer.Typer(help="User administration", no_args_is_help=True)


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

    container = open_container()
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
