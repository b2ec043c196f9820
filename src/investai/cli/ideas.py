"""``investai ideas``: generate ideas from the command line with live per-agent progress."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from investai.cli.common import acting_principal, open_container

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.domain.access import Principal

ideas_app = typer.Typer(help="Investment ideas", no_args_is_help=True)
CLI_ANALYST = "analyst@localhost"


def _acting_user(container: Container, email: str | None) -> Principal:
    """The user named by ``--as``; without it, the local command-line analyst (created on first use, with no
    password that was ever shown, so it never signs in over the API)."""
    from investai.domain.access import Permission
    from investai.domain.users import Role

    if email is None:
        email = CLI_ANALYST
        if container.users.get_by_email(CLI_ANALYST) is None:
            container.identity.users.create_user(
                actor=None,
                email=CLI_ANALYST,
                role=Role.ANALYST,
                organisation_id=container.settings.default_organisation,
                display_name="Command-line analyst",
            )
    return acting_principal(container, email, Permission.IDEAS_REQUEST)


def _prepare_samples(container: Container) -> None:
    """Load the sample market history and documents into empty stores and index the documents now."""
    from investai.services.documents import PROCESS_DOCUMENT

    settings = container.settings
    with container.first_start():  # a server starting meanwhile loads them at most once with this command
        if settings.load_sample_market_data:
            container.market.ensure_sample_loaded()
        loaded = settings.load_sample_documents and container.knowledge.samples.ensure_loaded(
            settings.default_organisation
        )
    if loaded and not container.jobs_dispatched:  # with a job queue, the deployment's workers index them
        typer.echo("indexing the sample documents...", err=True)
        worker = container.worker(name="cli", kinds={PROCESS_DOCUMENT})  # nobody else's queued work runs here
        while worker.run_once():
            pass


@ideas_app.command("generate")
def generate(
    risk: Annotated[
        str | None,
        typer.Option(
            help="very_conservative, conservative, moderate, aggressive, very_aggressive "
            "(default: the template's, else your saved preference, else moderate)"
        ),
    ] = None,
    horizon: Annotated[
        str | None,
        typer.Option(help="intraday, short, medium, long, very_long (default as for --risk, else medium)"),
    ] = None,
    max_ideas: Annotated[
        int | None, typer.Option("--max", min=1, max=20, help="How many ideas (default: the template's, else 5)")
    ] = None,
    template: Annotated[str | None, typer.Option(help="A request template, e.g. aggressive_growth")] = None,
    ticker: Annotated[list[str] | None, typer.Option(help="Limit to this symbol (repeatable)")] = None,
    sector: Annotated[list[str] | None, typer.Option(help="Limit to this sector (repeatable)")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Exclude this symbol (repeatable)")] = None,
    amount: Annotated[float | None, typer.Option(help="Capital to deploy, for sizing and liquidity")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Generate as of this date (YYYY-MM-DD)")] = None,
    depth: Annotated[
        str | None, typer.Option(help="quick, standard or deep research (default: the template's, else standard)")
    ] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="E-mail of the requesting user")] = None,
    output_json: Annotated[bool, typer.Option("--json", help="Print the ideas as JSON")] = False,
    use_profile: Annotated[
        bool, typer.Option("--profile/--no-profile", help="Fill unset options from the user's saved preferences")
    ] = True,
) -> None:
    """Generate ideas on the data loaded (the sample data on a fresh install), showing each agent's progress."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from investai.domain.errors import DomainError
    from investai.services.auth_common import CallContext
    from investai.services.idea_requests import RequestValidationFailed

    console = Console(stderr=True)
    container = open_container()
    try:
        principal = _acting_user(container, as_user)
        _prepare_samples(container)
        body: dict[str, object] = {"use_profile": use_profile}
        body |= {"research_depth": depth} if depth else {}
        body |= {"max_ideas": max_ideas} if max_ideas else {}
        body |= {"risk_tolerance": risk} if risk else {}
        body |= {"investment_horizon": horizon} if horizon else {}
        body |= {"template": template} if template else {}
        body |= {"tickers": ticker} if ticker else {}
        body |= {"sectors": sector} if sector else {}
        body |= {"exclusions": exclude} if exclude else {}
        body |= {"amount": amount} if amount else {}
        body |= {"as_of": date.fromisoformat(as_of).isoformat()} if as_of else {}
        service = container.idea_requests
        try:
            record = service.submit_unqueued(principal, CallContext(), body)  # run here, by this command alone
        except RequestValidationFailed as exc:
            for detail in exc.details:
                console.print(f"[red]invalid[/red] {'.'.join(map(str, detail['loc']))}: {detail['msg']}")
            raise typer.Exit(2) from exc
        for warning in record.warnings:
            console.print(f"[yellow]warning[/yellow] {warning}")
        outcome: dict[str, object] = {}
        runner = threading.Thread(target=lambda: outcome.update(record=service.run(record.id)), daemon=True)
        started = time.perf_counter()
        runner.start()

        def table() -> Table:
            current = service.peek(principal, record.id)
            grid = Table(title=f"request {record.id}", show_lines=False)
            for column in ("agent", "state", "%", "detail"):
                grid.add_column(column)
            for item in current.progress.values():
                grid.add_row(item.agent.value, item.state.value, f"{item.percent:.0f}", item.detail or "")
            return grid

        with Live(table(), console=console, refresh_per_second=8) as live:
            while runner.is_alive():
                runner.join(0.15)
                live.update(table())
            live.update(table())
        finished = service.peek(principal, record.id)
        console.print(f"{finished.status.value} in {time.perf_counter() - started:.1f} s")
        if finished.error:
            console.print(f"[red]{finished.error}[/red]")
            raise typer.Exit(1)
        ideas = service.results(principal, CallContext(), record.id)
        if output_json:
            typer.echo(json.dumps([idea.model_dump(mode="json") for idea in ideas], indent=2))
        else:
            summary = Table(title=f"{len(ideas)} ideas")
            for column in ("symbol", "title", "confidence", "risk", "expected", "weight", "compliance"):
                summary.add_column(column)
            for idea in ideas:
                summary.add_row(
                    idea.instruments[0].symbol,
                    idea.title,
                    f"{idea.confidence:.2f}",
                    idea.risk_level.value,
                    _expected(idea.expected_return.point, idea.expected_return.low, idea.expected_return.high),
                    f"{idea.position_sizing.weight:.1%}" if idea.position_sizing else "",
                    idea.compliance.state.value,
                )
            Console().print(summary)
        for symbol, reason in finished.blocked.items():
            console.print(f"blocked {symbol}: {reason}")
    except DomainError as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        container.close()


def _expected(point: float, low: float, high: float) -> str:
    return f"{point:+.1%} ({low:+.1%} to {high:+.1%})"


def evaluate(
    start: Annotated[str, typer.Option(help="First rebalance date, YYYY-MM-DD")] = "2012-01-01",
    end: Annotated[str, typer.Option(help="Last rebalance date, YYYY-MM-DD")] = "2022-09-30",
    freq: Annotated[str, typer.Option(help="weekly, monthly or quarterly")] = "monthly",
    horizon: Annotated[str, typer.Option(help="Holding period: 1m, 3m, 6m or 12m")] = "3m",
    max_ideas: Annotated[int, typer.Option("--max", min=1, max=20, help="Ideas per date")] = 5,
    risk: Annotated[str, typer.Option(help="Risk tolerance of the requests")] = "moderate",
    out: Annotated[
        str, typer.Option(help="Directory for evaluation.md, evaluation.png and the per-date CSV")
    ] = "evaluation",
) -> None:
    """Run the idea generator walk-forward over history and report its track record against baselines."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress

    from investai.domain.errors import DomainError
    from investai.domain.knowledge import AccessScope
    from investai.domain.users import RiskTolerance
    from investai.services.evaluation import WalkForward, write_report

    console = Console(stderr=True)
    container = open_container()
    try:
        principal = _acting_user(container, None)
        if container.settings.load_sample_market_data:
            container.market.ensure_sample_loaded()
        reader = AccessScope(
            user_id=principal.user_id, organisation_id=principal.organisation_id, role=principal.role.value
        )
        walk = WalkForward(generator=container.idea_requests.generator, market=container.market)
        command = (
            f"investai evaluate --start {start} --end {end} --freq {freq} --horizon {horizon} --max {max_ideas} "
            f"--risk {risk}"
        )
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("walking forward", total=None)

            def tick(done: int, total: int, day: date) -> None:
                progress.update(task, total=total, completed=done, description=f"as of {day.isoformat()}")

            report = walk.run(
                start=date.fromisoformat(start),
                end=date.fromisoformat(end),
                freq=freq,
                horizon=horizon,
                max_ideas=max_ideas,
                risk=RiskTolerance(risk),
                reader=reader,
                command=command,
                models=container.settings.model_provider.value,
                on_period=tick,
            )
        markdown, chart = write_report(report, Path(out))
        typer.echo(markdown.read_text(encoding="utf-8"))
        console.print(f"wrote {markdown} and {chart}")
    except (DomainError, ValueError) as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        container.close()
