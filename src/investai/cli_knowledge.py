"""``investai documents …`` and ``investai knowledge …``: upload, list and search as a named user of the
organisation (``--as``), with the same permission checks and sharing rules as the API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from investai.bootstrap import Container
    from investai.domain.access import Permission, Principal

documents_app = typer.Typer(help="Proprietary documents", no_args_is_help=True)
knowledge_app = typer.Typer(help="The knowledge base", no_args_is_help=True)

AsUser = Annotated[str, typer.Option("--as", help="E-mail of the user acting (an analyst or portfolio manager)")]


def _principal(container: Container, email: str, permission: Permission) -> Principal:
    from investai.domain.access import Principal
    from investai.domain.users import UserStatus

    user = container.users.get_by_email(email.strip().lower())
    if user is None or user.status is UserStatus.DISABLED:  # the CLI runs with the operator's trust
        typer.echo(f"error: no active user {email}", err=True)
        raise typer.Exit(1)
    principal = Principal.acting_as(user, actor="cli", at=container.clock.now())
    if not principal.can(permission):
        typer.echo(f"error: a {user.role.value} may not {permission.value}", err=True)
        raise typer.Exit(1)
    return principal


def _open() -> Container:
    from investai.cli import _container

    return _container()


@documents_app.command("upload")
def upload(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="Files to upload")],
    as_user: AsUser,
    visibility: Annotated[str, typer.Option(help="private, organisation, roles or users")] = "private",
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable)")] = None,
) -> None:
    """Upload files (each a new document); they are processed by the worker."""
    from rich.progress import Progress

    from investai.domain.access import Permission
    from investai.domain.documents import DocumentMetadata, Visibility, shown_filename
    from investai.domain.errors import DomainError
    from investai.services.auth_common import CallContext

    container = _open()
    failures = 0
    try:
        principal = _principal(container, as_user, Permission.DOCUMENTS_WRITE)
        metadata = DocumentMetadata(visibility=Visibility(visibility), tags=tag or [])
        with Progress(transient=False) as progress:
            task = progress.add_task("uploading", total=len(paths))
            for path in paths:
                shown = shown_filename(path.name)  # a name may hold bytes that are not UTF-8, or bidi controls
                try:
                    document = container.knowledge.documents.upload(
                        principal, CallContext(), path=path, filename=path.name, metadata=metadata
                    )
                    progress.console.print(f"{shown}: {document.id} ({document.doc_type.value})")
                except DomainError as exc:
                    failures += 1
                    progress.console.print(f"{shown}: refused: {exc}")
                progress.advance(task)
    finally:
        container.close()
    if failures:
        raise typer.Exit(1)


@documents_app.command("list")
def list_documents(as_user: AsUser) -> None:
    """Documents the user may read, with their processing status."""
    from investai.domain.access import Permission
    from investai.services.auth_common import CallContext

    container = _open()
    try:
        principal = _principal(container, as_user, Permission.DOCUMENTS_READ)
        for document in container.knowledge.documents.list_documents(principal, CallContext()):
            typer.echo(
                f"{document.id}  {document.doc_type.value:4}  v{document.current_version}  "
                f"{document.status.value:10}  {document.title}"
            )
    finally:
        container.close()


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

    container = _open()
    try:
        principal = _principal(container, as_user, Permission.KNOWLEDGE_SEARCH)
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
