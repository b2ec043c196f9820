"""``investai knowledge …``: search the knowledge base as a named user of the organisation (``--as``), with the
same permission checks and sharing rules as the API."""

from __future__ import annotations

from typing import Annotated

import typer

from investai.cli.common import AsUser, acting_principal, open_container

knowledge_app = typer.Typer(help="The knowledge base", no_args_is_help=True)


@knowledge_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Question or keywords")],
    as_user: AsUser,
    mode: Annotated[str, typer.Option(help="keyword, semantic or hybrid")] = "hybrid",
    limit: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Search the documents the user may read; each hit with its citation."""
    from investai.domain.access import Permission
    from investai.domain.errors import DomainError
    from investai.domain.knowledge import SearchMode
    from investai.services.auth_common import CallContext

    container = open_container()
    try:
        principal = acting_principal(container, as_user, Permission.KNOWLEDGE_SEARCH)
        try:
            hits = container.knowledge.search.search(
                principal, CallContext(), query=query, mode=SearchMode(mode), limit=limit
            )
        except DomainError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        for rank, hit in enumerate(hits, start=1):
            where = (
                f"page {hit.citation.page}" if hit.citation.page else f"table {hit.citation.table} row {hit.row_start}"
            )
            typer.echo(f"{rank}. {hit.title} (v{hit.citation.version}, {where}) score {hit.score:.4f}")
            typer.echo(f"   {hit.citation.snippet}")
    finally:
        container.close()
