"""``investai documents …``: upload and list documents as a named user of the organisation (``--as``), with the
same permission checks and sharing rules as the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from investai.cli.common import AsUser, acting_principal, fail, open_container

documents_app = typer.Typer(help="Proprietary documents", no_args_is_help=True)


@documents_app.command("upload")
def upload(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="Files to upload")],
    as_user: AsUser,
    visibility: Annotated[str, typer.Option(help="private, organisation, roles or users")] = "private",
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable)")] = None,
    published: Annotated[
        str | None,
        typer.Option(
            "--published",
            metavar="YYYY-MM-DD",
            help="When the files were published (point-in-time research dates them by it); default: upload time",
        ),
    ] = None,
) -> None:
    """Upload files (each a new document); they are processed by the worker."""
    from pydantic import ValidationError
    from rich.progress import Progress

    from investai.domain.access import Permission
    from investai.domain.documents import DocumentMetadata, Visibility, shown_filename
    from investai.domain.errors import DomainError
    from investai.services.auth_common import CallContext

    try:
        metadata = DocumentMetadata(visibility=Visibility(visibility), tags=tag or [], published_at=published)
    except ValueError as exc:  # pydantic's ValidationError is one
        reasons = (
            [e["msg"].removeprefix("Value error, ") for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [str(exc)]
        )
        fail("; ".join(reasons))
    container = open_container()
    failures = 0
    try:
        principal = acting_principal(container, as_user, Permission.DOCUMENTS_WRITE)
        with Progress(transient=False) as progress:
            task = progress.add_task("uploading", total=len(paths))
            for path in paths:
                shown = shown_filename(path.name)  # a name may hold bytes that are not UTF-8, or bidi controls
                try:
                    with path.open("rb") as content:
                        document = container.knowledge.documents.upload(
                            principal, CallContext(), content=content, filename=path.name, metadata=metadata
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

    container = open_container()
    try:
        principal = acting_principal(container, as_user, Permission.DOCUMENTS_READ)
        for document in container.knowledge.documents.list_documents(principal, CallContext()):
            typer.echo(
                f"{document.id}  {document.doc_type.value:4}  v{document.current_version}  "
                f"{document.status.value:10}  {document.title}"
            )
    finally:
        container.close()
