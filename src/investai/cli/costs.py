"""``investai costs``: model cost and tokens for a month by organisation, user, model and step; and
``investai costs budget …``: administrators' overrides of the monthly budgets (audited like the API's)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from investai.cli.common import acting_principal, command, echo_json, fail

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.domain.access import Principal
    from investai.domain.budgets import BudgetScope, CostLine, CostReport

costs_app = typer.Typer(
    help="Model cost and tokens this month (or --month), and monthly budgets", invoke_without_command=True
)
budget_app = typer.Typer(help="Monthly model budgets of an organisation or a user", no_args_is_help=True)
costs_app.add_typer(budget_app, name="budget")

MonthOption = Annotated[str | None, typer.Option("--month", help="YYYY-MM (UTC); default: this month")]
AsAdmin = Annotated[
    str | None, typer.Option("--as", help="E-mail of the administrator acting (default: INVESTAI_ADMIN_EMAIL)")
]
UserOption = Annotated[str | None, typer.Option("--user", help="E-mail of a user of the administrator's organisation")]
OrganisationFlag = Annotated[bool, typer.Option("--organisation", help="The administrator's organisation")]


@costs_app.callback()
def report(
    ctx: typer.Context,
    month: MonthOption = None,
    organisation: Annotated[str | None, typer.Option("--organisation", help="One organisation's id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Print the month-to-date (or --month) model cost and tokens by organisation, user, model and step."""
    if ctx.invoked_subcommand is not None:
        return
    if month is not None and not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", month):
        raise typer.BadParameter(f"{month!r} is not a month (YYYY-MM)", param_hint="--month")
    with command() as container:
        found = container.budgets.report(month=month, organisation_id=organisation)
        if as_json:
            echo_json(found.model_dump(mode="json"))
            return
        _print_report(container, found)


def _print_report(container: Container, found: CostReport) -> None:
    whose = found.organisation_id or "every organisation"
    typer.echo(f"Model usage {found.month} (UTC), {whose}")
    typer.echo(_line("total", found.total))
    for title, lines in (
        ("by organisation", found.by_organisation),
        ("by user", found.by_user),
        ("by model", found.by_model),
        ("by step", found.by_step),
    ):
        typer.echo(f"\n{title}")
        if not lines:
            typer.echo("  (none)")
        for line in lines:
            name = _user_name(container, line.key) if title == "by user" else line.key
            typer.echo(_line(name, line))


def _line(name: str, line: CostLine) -> str:
    return (
        f"  {name:<48} {line.calls:>8,} calls {line.tokens:>14,} tokens"
        f" (in {line.input_tokens:,} / out {line.output_tokens:,}) ${line.cost_usd:,.4f}"
    )


def _user_name(container: Container, user_id: str) -> str:
    from investai.domain.errors import NotFound

    try:
        return f"{container.users.get(user_id).email} ({user_id})"
    except NotFound:
        return user_id


# --- budgets ---------------------------------------------------------------------------------------------------


def _administrator(container: Container, email: str | None) -> Principal:
    from investai.domain.access import Permission

    return acting_principal(container, email or container.settings.admin_email, Permission.USERS_ADMIN)


def _subject(
    container: Container, admin: Principal, *, user: str | None, organisation: bool
) -> tuple[BudgetScope, str]:
    from investai.domain.budgets import BudgetScope

    if organisation == (user is not None):
        fail("name one of --organisation or --user EMAIL", code=2)
    if user is None:
        return BudgetScope.ORGANISATION, admin.organisation_id
    found = container.users.get_by_email(user.strip().lower())
    if found is None or found.organisation_id != admin.organisation_id:
        fail(f"no user {user} in organisation {admin.organisation_id}")
    return BudgetScope.USER, found.id


@budget_app.command("set")
def set_budget(
    usd: Annotated[float | None, typer.Option("--usd", min=0, help="USD a month; 0: no limit")] = None,
    tokens: Annotated[int | None, typer.Option("--tokens", min=0, help="Tokens a month; 0: no limit")] = None,
    user: UserOption = None,
    organisation: OrganisationFlag = False,
    as_admin: AsAdmin = None,
) -> None:
    """Set the monthly budgets of the organisation or one of its users (a metric not given keeps its default)."""
    from investai.services.auth_common import CallContext

    if usd is None and tokens is None:
        fail("give --usd, --tokens or both", code=2)
    with command() as container:
        admin = _administrator(container, as_admin)
        scope, subject = _subject(container, admin, user=user, organisation=organisation)
        saved = container.budgets.set_override(
            admin, CallContext(), scope=scope, subject_id=subject, monthly_usd=usd, monthly_tokens=tokens
        )
        echo_json(saved.model_dump(mode="json"))


@budget_app.command("clear")
def clear_budget(user: UserOption = None, organisation: OrganisationFlag = False, as_admin: AsAdmin = None) -> None:
    """Return the organisation or a user to the configured default budgets."""
    from investai.services.auth_common import CallContext

    with command() as container:
        admin = _administrator(container, as_admin)
        scope, subject = _subject(container, admin, user=user, organisation=organisation)
        had = container.budgets.clear_override(admin, CallContext(), scope=scope, subject_id=subject)
        typer.echo(f"{scope.value} {subject}: default budgets apply{'' if had else ' (it had no budgets of its own)'}")


@budget_app.command("show")
def show_budget(user: UserOption = None, organisation: OrganisationFlag = False, as_admin: AsAdmin = None) -> None:
    """The budgets in force for the organisation or a user, and the month-to-date spend against them."""
    with command() as container:
        admin = _administrator(container, as_admin)
        _, subject = _subject(container, admin, user=user, organisation=organisation)
        status = container.budgets.status_of(
            user_id=subject if user is not None else admin.user_id, organisation_id=admin.organisation_id
        )
        shown = status.user if user is not None else status.organisation
        echo_json({"month": status.month, "resets_at": status.resets_at.isoformat(), **shown.model_dump(mode="json")})
