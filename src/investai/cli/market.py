"""``investai market …``: import bar files, load the bundled sample history, look up symbols and bars, and
review the bars held in quarantine as implausible (list, release, discard, correct).

These commands run with the operator's trust, like ``investai users``: they open the store directly, and
every row still goes through the same validation and plausibility rules as the API. The review commands act
as a named administrator (``--as``), who needs the ``market:admin`` permission and is recorded in the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from investai.cli.common import acting_principal, command, open_container

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.domain.access import Principal
    from investai.domain.market import CorrectionReport, IngestReport

market_app = typer.Typer(help="Market data", no_args_is_help=True)
AsAdministrator = Annotated[str, typer.Option("--as", help="E-mail of the administrator acting (market:admin)")]
Note = Annotated[str, typer.Option(help="Why: recorded in the audit log")]


def _summary(name: str, report: IngestReport) -> str:
    return (
        f"{name}: {report.received} rows, {report.inserted} new, {report.updated} changed, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected, {len(report.quarantined)} quarantined"
        + (f"; symbols created: {', '.join(report.symbols_created)}" if report.symbols_created else "")
    )


def _administrator(container: Container, email: str) -> Principal:
    from investai.domain.access import Permission

    return acting_principal(container, email, Permission.MARKET_ADMIN)


def _echo_correction(report: CorrectionReport) -> None:
    typer.echo(
        f"at {report.corrected_at.isoformat()}: {report.inserted} new, {report.updated} changed,"
        f" {report.unchanged} unchanged; resolved: {', '.join(report.resolved) or 'none'}"
    )


@market_app.command("import")
def import_files(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or Parquet")],
    symbol: Annotated[str | None, typer.Option(help="The symbol, for files without a symbol column")] = None,
    history: Annotated[
        bool, typer.Option(help="The rows are history: each was public when its day ended (a backfill)")
    ] = False,
    auto_create: Annotated[bool, typer.Option(help="Add unknown symbols to the master")] = False,
    source: Annotated[str | None, typer.Option(help="Recorded with each row (default: the file name)")] = None,
    show_rejected: Annotated[int, typer.Option(help="How many rejected rows to list per file")] = 20,
) -> None:
    """Import daily bars from files; rejected rows are listed with their reasons."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from investai.domain.errors import DomainError

    container = open_container()
    failures = 0
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, transient=False) as progress:
            for path in paths:
                task = progress.add_task(f"{path.name}: reading", total=None)

                def advance(done: int, total: int, task: TaskID = task, name: str = path.name) -> None:
                    progress.update(task, description=f"{name}: writing", completed=done, total=total)

                try:
                    with path.open("rb") as content:
                        report = container.market.import_bars(
                            content,
                            symbol=symbol,
                            source=source or f"file:{path.name}"[:64],
                            history=history,
                            auto_create=auto_create,
                            progress=advance,
                        )
                except DomainError as exc:
                    failures += 1
                    progress.console.print(f"{path.name}: refused: {exc}")
                    for detail in (getattr(exc, "details", None) or [])[:show_rejected]:
                        progress.console.print(f"  row {detail['row']}: {detail['reason']}")
                    continue
                progress.console.print(_summary(path.name, report))
                for rejected in report.rejected[:show_rejected]:
                    progress.console.print(f"  row {rejected.row}: {rejected.reason}")
                for held in report.quarantined[:show_rejected]:
                    progress.console.print(f"  row {held.row}: {held.reason} (quarantined as {held.id})")
    finally:
        container.close()
    if failures:
        raise typer.Exit(1)


@market_app.command("load-sample")
def load_sample() -> None:
    """Load the sample history bundled with skfolio (20 US large caps 1990-2022, the S&P 500, 5 factor ETFs)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with command() as container:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as progress:
            task = progress.add_task("sample: writing", total=None)
            report = container.market.load_sample(
                progress=lambda done, total: progress.update(task, completed=done, total=total)
            )
        typer.echo(_summary("sample", report))


@market_app.command("symbols")
def symbols(
    query: Annotated[str | None, typer.Argument(help="Part of a symbol or name")] = None,
    sector: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List symbol master entries."""

    with command() as container:
        found = container.market.symbols(query=query, sector=sector, limit=1000)
    for info in found:
        typer.echo(f"{info.symbol:<8} {info.asset_class.value:<7} {info.sector or '':<24} {info.name}")


@market_app.command("bars")
def bars(
    symbol: Annotated[str, typer.Argument()],
    start: Annotated[str | None, typer.Option(help="ISO date")] = None,
    end: Annotated[str | None, typer.Option(help="ISO date")] = None,
    interval: Annotated[str, typer.Option(help="daily, weekly or monthly")] = "daily",
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO date or datetime")] = None,
) -> None:
    """Print bars as CSV."""
    from datetime import date

    from investai.domain.market import Interval
    from investai.services.market import parse_as_of

    with command(errors=(ValueError,)) as container:
        found = container.market.bars(
            symbol,
            start=date.fromisoformat(start) if start else None,
            end=date.fromisoformat(end) if end else None,
            interval=Interval(interval),
            as_of=parse_as_of(as_of),
        )
    typer.echo("date,open,high,low,close,adj_close,volume")
    for bar in found:
        values = [bar.open, bar.high, bar.low, bar.close, bar.adj_close, bar.volume]
        typer.echo(",".join([bar.date.isoformat(), *("" if v is None else f"{v:g}" for v in values)]))


@market_app.command("quarantine")
def list_quarantine(
    symbol: Annotated[str | None, typer.Option(help="Only this symbol")] = None,
    status: Annotated[str, typer.Option(help="pending, released, corrected, discarded or all")] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List bars held in quarantine as implausible: id, symbol, date, status, close and reason."""
    from investai.domain.market import QuarantineStatus

    try:
        chosen = None if status == "all" else QuarantineStatus(status)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown status {status!r}") from exc
    with command() as container:
        rows = container.market_review.quarantined(symbol=symbol, status=chosen, limit=limit)
    for row in rows:
        typer.echo(f"{row.id}  {row.symbol:<8} {row.date}  {row.status.value:<9}  close={row.close:g}  {row.reason}")


@market_app.command("release")
def release(
    ids: Annotated[list[str], typer.Argument(help="Quarantined row ids")], as_user: AsAdministrator, note: Note
) -> None:
    """Store quarantined rows as they were submitted (an explicit, audited correction, visible from now)."""
    from investai.services.auth_common import CallContext

    with command() as container:
        principal = _administrator(container, as_user)
        _echo_correction(container.market_review.release(principal, CallContext(), ids, note=note))


@market_app.command("discard")
def discard(
    ids: Annotated[list[str], typer.Argument(help="Quarantined row ids")], as_user: AsAdministrator, note: Note
) -> None:
    """Discard quarantined rows (audited; nothing is stored)."""
    from investai.services.auth_common import CallContext

    with command() as container:
        principal = _administrator(container, as_user)
        discarded = container.market_review.discard(principal, CallContext(), ids, note=note)
        typer.echo(f"discarded: {', '.join(discarded)}")


@market_app.command("correct")
def correct(
    symbol: Annotated[str, typer.Argument()],
    day: Annotated[str, typer.Argument(metavar="DATE", help="ISO date of the bar")],
    close: Annotated[float, typer.Option(help="The corrected close")],
    as_user: AsAdministrator,
    note: Note,
    open_: Annotated[float | None, typer.Option("--open")] = None,
    high: Annotated[float | None, typer.Option()] = None,
    low: Annotated[float | None, typer.Option()] = None,
    adj_close: Annotated[float | None, typer.Option()] = None,
    volume: Annotated[float | None, typer.Option()] = None,
    resolves: Annotated[list[str] | None, typer.Option(help="A quarantined row this settles (repeatable)")] = None,
) -> None:
    """Correct one stored bar explicitly, whatever its move against the stored one (the limits still hold)."""
    from investai.services.auth_common import CallContext
    from investai.services.market import bar_frame_from_rows

    row: dict[str, object] = {"symbol": symbol, "date": day, "open": open_, "high": high, "low": low}
    row.update({"close": close, "adj_close": adj_close, "volume": volume})
    frame, problems = bar_frame_from_rows([row])
    with command() as container:
        principal = _administrator(container, as_user)
        report = container.market_review.correct(
            principal, CallContext(), frame, problems=problems, note=note, resolves=resolves or []
        )
        _echo_correction(report)


@market_app.command("fetch")
def fetch(
    vendor: Annotated[str | None, typer.Option(help="Only this vendor (default: every configured one)")] = None,
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", help="A symbol to fetch; repeat for several (default: configured)")
    ] = None,
) -> None:
    """Fetch daily bars from the configured market-data vendors now, as the market-refresh job does, and print
    each symbol's outcome (vendors are switched on with INVESTAI_MARKET_VENDORS)."""
    with command() as container:
        if not container.market_feeds.vendors:
            typer.echo("no market vendor is configured (set INVESTAI_MARKET_VENDORS, e.g. '[\"tiingo\"]')", err=True)
            raise typer.Exit(1)
        outcomes = container.market_feeds.run(vendor=vendor, symbols=symbol or None)
    for outcome in outcomes:
        window = f" {outcome.start}..{outcome.end}" if outcome.start else ""
        split = " (split: history fetched again)" if outcome.split_refetch else ""
        if outcome.report is not None:
            typer.echo(f"{outcome.vendor}{window} {_summary(outcome.symbol, outcome.report)}{split}")
        else:
            typer.echo(f"{outcome.vendor}{window} {outcome.symbol}: {outcome.status} {outcome.detail}".rstrip())
    if any(not outcome.ok for outcome in outcomes):
        raise typer.Exit(1)
