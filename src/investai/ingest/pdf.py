"""PDF documents, parsed in a child process with a wall-clock timeout, an address-space cap and a CPU cap.

See :mod:`investai.ingest.pdf_worker` for the child. This side starts it, maps every way it can end (an
answer, a refusal, a timeout, death by memory or CPU limit, a crash) to the domain's errors with a message
fit for the uploader, and adds column profiles to the tables it returns. The child's stderr never reaches
the message; it is attached to the exception as a note for whoever reads the logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from investai.domain.errors import DocumentTooLarge, MalformedDocument, UnsafeDocument, ValidationFailed
from investai.domain.knowledge import ParsedDocument
from investai.ingest.limits import IngestLimits
from investai.ingest.pdf_worker import ACTIVE_CONTENT_FLAGS, EXIT_OUT_OF_MEMORY, active_content_message
from investai.ingest.tables import assemble_table

WORKER_MODULE = "investai.ingest.pdf_worker"

_ERRORS_BY_CODE: dict[str, type[ValidationFailed]] = {
    error.code: error for error in (DocumentTooLarge, MalformedDocument, UnsafeDocument)
}
_STDERR_NOTE_CHARS = 4000
_WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
"""Native thread pools reserve address space per thread, which would count against the child's cap."""


def parse_pdf(path: Path, limits: IngestLimits) -> ParsedDocument:
    """Text per page, tables with their header rows and column profiles, and active-content flags.

    Raises UnsafeDocument for a PDF that times out, exhausts the memory cap or trips a decompression limit,
    and for active content when ``limits.pdf_active_content == "reject"``; DocumentTooLarge for too many
    pages or too much text; MalformedDocument for a damaged or password-protected PDF.
    """
    completed = _run_worker(path, limits)
    document = _document_from(completed, limits)
    if limits.pdf_active_content == "reject" and ACTIVE_CONTENT_FLAGS.intersection(document.flags):
        raise UnsafeDocument(active_content_message(document.flags))
    return _with_profiles(document)


def _run_worker(path: Path, limits: IngestLimits) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-P", "-m", WORKER_MODULE, str(path)]
    try:
        return subprocess.run(  # noqa: S603 - fixed command: this interpreter and our own module
            command,
            input=json.dumps(limits.to_json_dict()).encode(),
            capture_output=True,
            timeout=limits.pdf_timeout_s,
            env={**os.environ, **_WORKER_ENVIRONMENT},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UnsafeDocument(_timeout_message(limits)) from exc
    except OSError as exc:
        raise MalformedDocument("the PDF could not be parsed: the parser process did not start") from exc


def _document_from(completed: subprocess.CompletedProcess[bytes], limits: IngestLimits) -> ParsedDocument:
    if completed.returncode != 0:
        _fail_for_exit(completed, limits)
    try:
        envelope = json.loads(completed.stdout)
        if "error" in envelope:
            error = envelope["error"]
            raise _ERRORS_BY_CODE.get(error["code"], MalformedDocument)(str(error["message"])[:500])
        return ParsedDocument.model_validate(envelope["document"])
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        failure = MalformedDocument("the PDF could not be parsed: the parser returned no usable result")
        _add_stderr_note(failure, completed.stderr)
        raise failure from exc


def _fail_for_exit(completed: subprocess.CompletedProcess[bytes], limits: IngestLimits) -> NoReturn:
    stderr = completed.stderr or b""
    failure: ValidationFailed
    if completed.returncode == EXIT_OUT_OF_MEMORY or b"MemoryError" in stderr:
        mebibytes = limits.pdf_memory_bytes / (1 << 20)
        failure = UnsafeDocument(
            f"the PDF exceeded the memory limit of {mebibytes:,.0f} MiB while being parsed (decompression bomb?)"
        )
    elif completed.returncode == -signal.SIGXCPU:
        failure = UnsafeDocument(_timeout_message(limits))
    elif completed.returncode == -signal.SIGKILL:
        failure = UnsafeDocument("the PDF parser was stopped for exceeding its time or memory limit")
    else:
        failure = MalformedDocument("the PDF could not be parsed: the parser stopped unexpectedly")
    _add_stderr_note(failure, stderr)
    raise failure


def _timeout_message(limits: IngestLimits) -> str:
    return f"the PDF could not be parsed within {limits.pdf_timeout_s:g} s"


def _add_stderr_note(failure: Exception, stderr: bytes | None) -> None:
    if stderr:
        tail = stderr[-_STDERR_NOTE_CHARS:].decode("utf-8", errors="replace")
        failure.add_note(f"PDF worker stderr (tail):\n{tail}")


def _with_profiles(document: ParsedDocument) -> ParsedDocument:
    """The worker's tables hold text cells; type them per column and add the column profiles."""
    tables = [
        assemble_table(
            index=table.index,
            name=table.name,
            page=table.page,
            header_row=table.header,
            rows=table.rows,
            row_count=table.row_count,
            text_cells=True,
        )
        for table in document.tables
    ]
    return document.model_copy(update={"tables": tables})
