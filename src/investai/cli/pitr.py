"""``investai pitr …``: point-in-time reads and restores of ideas and profiles, as an administrator of the
organisation (``--as``, by default ``INVESTAI_ADMIN_EMAIL``), audited like the API's."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from investai.cli.common import acting_principal, echo_json, open_container

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.domain.access import Principal

pitr_app = typer.Typer(help="Point-in-time reads and restores of ideas and profiles", no_args_is_help=True)


class Item(StrEnum):
    IDEA = "idea"
    PROFILE = "profile"


AsOfOption = Annotated[
    str, typer.Option("--as-of", help="A second with a time zone, e.g. 2026-12-01T10:00:05Z (covers all of it)")
]
AsAdmin = Annotated[
    str | None, typer.Option("--as", help="E-mail of the administrator acting (default: INVESTAI_ADMIN_EMAIL)")
]


def _parse(as_of: str) -> datetime:
    try:
        return datetime.fromisoformat(as_of.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{as_of!r} is not an ISO 8601 time", param_hint="--as-of") from exc


def _administrator(container: Container, email: str | None) -> Principal:
    from investai.domain.access import Permission

    return acting_principal(container, email or container.settings.admin_email, Permission.DATA_RESTORE)


def _run(work: Any) -> None:
    """Open the store, run ``work(container, ctx)``, and turn domain errors into exit codes (2: bad as-of)."""
    from investai.domain.errors import DomainError, ValidationFailed
    from investai.services.auth_common import CallContext

    container = open_container()
    try:
        work(container, CallContext())
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if isinstance(exc, ValidationFailed) else 1) from exc
    finally:
        container.close()


@pitr_app.command("show")
def show(
    kind: Annotated[Item, typer.Argument(help="idea or profile")],
    item_id: Annotated[str, typer.Argument(help="The idea id, or the user id of the profile")],
    as_of: AsOfOption,
    as_user: AsAdmin = None,
) -> None:
    """Print an idea or a profile as it was at the end of a second, as JSON."""
    moment = _parse(as_of)

    def work(container: Container, ctx: Any) -> None:
        from investai.domain.pitr import second_of

        admin = _administrator(container, as_user)
        if kind is Item.IDEA:
            item = container.pitr.idea_as_of(admin, ctx, item_id, moment).model_dump(mode="json")
        else:
            item = container.pitr.profile_as_of(admin, ctx, item_id, moment).model_dump(mode="json")
        echo_json({"as_of": second_of(moment).isoformat(), kind.value: item})

    _run(work)


@pitr_app.command("restore")
def restore(
    kind: Annotated[Item, typer.Argument(help="idea or profile")],
    item_id: Annotated[str, typer.Argument(help="The idea id, or the user id of the profile")],
    as_of: AsOfOption,
    as_user: AsAdmin = None,
) -> None:
    """Write a new latest revision equal to the content as of a second (history is kept)."""
    moment = _parse(as_of)

    def work(container: Container, ctx: Any) -> None:
        from investai.domain.pitr import second_of

        admin = _administrator(container, as_user)
        when = second_of(moment).isoformat()
        if kind is Item.IDEA:
            done = container.pitr.restore_idea(admin, ctx, item_id, moment)
            if done.created:
                typer.echo(
                    f"idea {item_id}: version {done.restored_version} (current as of {when})"
                    f" restored as version {done.idea.version}"
                )
            else:
                typer.echo(f"idea {item_id}: already as it was at {when} (version {done.idea.version}), unchanged")
            return
        restored = container.pitr.restore_profile(admin, ctx, item_id, moment)
        if restored.created:
            typer.echo(f"profile of {item_id}: preferences and notifications as of {when} restored")
        else:
            typer.echo(f"profile of {item_id}: already as it was at {when}; nothing written")

    _run(work)


@pitr_app.command("ideas")
def ideas(
    as_of: AsOfOption,
    as_user: AsAdmin = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many ideas")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ideas as JSON")] = False,
) -> None:
    """Every idea of the organisation as it was at the end of a second, newest revision first."""
    moment = _parse(as_of)

    def work(container: Container, ctx: Any) -> None:
        from investai.domain.common import from_epoch_ms
        from investai.domain.pitr import second_of

        admin = _administrator(container, as_user)
        found = container.pitr.ideas_as_of(admin, ctx, moment, limit=limit)
        if as_json:
            ideas_json = [idea.model_dump(mode="json") for idea in found]
            echo_json({"as_of": second_of(moment).isoformat(), "ideas": ideas_json})
            return
        for idea in found:
            revised = from_epoch_ms(idea.timestamp).isoformat(timespec="milliseconds")
            typer.echo(f"{idea.id}  v{idea.version}  {idea.status.value:10}  {revised}  {idea.title}")
        typer.echo(f"{len(found)} ideas as of {second_of(moment).isoformat()}", err=True)

    _run(work)
