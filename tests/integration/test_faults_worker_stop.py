"""A worker frozen mid-job (SIGSTOP) and thawed (SIGCONT) after its lease ran out and another worker finished
the job: the job completes once in effect.

``investai worker`` runs as a subprocess on a data directory with a three-second visibility timeout. It leases a
document-processing job and is held inside the handler (this test holds the search index's cross-process write
lock, as a backup does), then stopped. Its heartbeat stops with it, so the lease runs out and a second worker (in
this process, on the same data directory) takes the job and finishes it. Thawed, the first worker completes its
stale run: the index write replaces the document's chunks with the same chunks, and its ack and status write
are refused (``job.lease_lost``) — the second worker's result stays the one recorded.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.documents import DocumentMetadata, DocumentStatus
from investai.domain.jobs import JobStatus
from investai.ports.knowledge import Embedder
from investai.services.auth_common import CallContext
from tests.conftest import sign_up
from tests.document_files import make_csv
from tests.processes import Deployment, stop

VISIBILITY_S = 3.0
DEADLINE_S = 120.0


def _wait(condition: Callable[[], bool], what: str, log: Path, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_stopped_worker_resumed_after_its_lease_ran_out_does_not_clobber_the_job(
    tmp_path: Path, embedder: Embedder
) -> None:
    deployment = Deployment(tmp_path)
    settings = Settings(data_dir=deployment.data_dir, job_visibility_timeout_s=VISIBILITY_S, _env_file=None)
    container: Container = build_container(settings, embedder=embedder)  # the real clock, as the child's
    log = tmp_path / "worker.log"
    try:
        account = sign_up(container)
        principal = container.identity.verifier.verify(account.tokens.access_token)
        rows = [[f"T{row}", f"frozen worker note {row}"] for row in range(30)]
        document = container.knowledge.documents.upload(
            principal,
            CallContext(),
            content=make_csv(["ticker", "note"], rows),
            filename="frozen.csv",
            metadata=DocumentMetadata(),
        )
        job_id = _only_job(container)

        with container.knowledge.index.frozen():  # hold the first worker inside the handler
            first = deployment.start_worker(INVESTAI_JOB_VISIBILITY_TIMEOUT_S=str(VISIBILITY_S))
            try:
                _wait(
                    lambda: container.documents.get(document.id).status is DocumentStatus.PROCESSING,
                    "the first worker to start the job",
                    log,
                )
                first.send_signal(signal.SIGSTOP)
            except BaseException:
                stop(first, 5)
                raise
        try:
            held = container.jobs.get(job_id)
            assert held.status is JobStatus.LEASED
            assert held.attempts == 1
            assert held.lease_expires_at is not None
            _wait(lambda: time.time() > held.lease_expires_at.timestamp() + 0.2, "the lease to run out", log)

            second = container.worker_pool().workers[0]
            assert second.run_once()
            done = container.jobs.get(job_id)
            assert done.status is JobStatus.SUCCEEDED, done
            assert done.attempts == 2
            assert done.result is not None
            assert done.result["outcome"] == "indexed"
            chunks = container.knowledge.index.count(document.id)
            assert chunks == done.result["chunks"] > 0

            first.send_signal(signal.SIGCONT)
            _wait(lambda: "job.lease_lost" in log.read_text(errors="replace"), "the first worker to finish", log)
        finally:
            first.send_signal(signal.SIGCONT)
            assert stop(first, 30) == 0, log.read_text(errors="replace")[-4000:]

        after = container.jobs.get(job_id)
        assert (after.status, after.attempts, after.result) == (JobStatus.SUCCEEDED, 2, done.result)
        assert container.knowledge.index.count(document.id) == chunks  # replaced, never doubled
        assert container.documents.get(document.id).status is DocumentStatus.INDEXED
    finally:
        container.close()


def _only_job(container: Container) -> str:
    """The id of the one processing job the upload queued (read from the records' table)."""
    with sqlite3.connect(container.settings.database_path) as conn:
        [(job_id,)] = conn.execute("SELECT id FROM jobs WHERE kind = 'documents.process'").fetchall()
    return str(job_id)
