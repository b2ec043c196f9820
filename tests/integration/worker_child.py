"""A worker process for the crash test in ``test_worker.py``; run as ``python worker_child.py DATA_DIR KIND``.

It builds a container on DATA_DIR with a one-second visibility timeout and the real clock, then runs a
worker whose handler for KIND prints ``started <job id>`` and blocks forever, until the parent kills it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from investai.bootstrap import build_container
from investai.config import Settings
from investai.domain.jobs import Job
from investai.jobs.worker import Worker
from investai.observability.logging import configure_logging

VISIBILITY_TIMEOUT_S = 1.0


def main(argv: list[str]) -> None:
    data_dir, kind = Path(argv[1]), argv[2]
    configure_logging(level="WARNING")  # logs go to stderr; stdout carries only the "started" line
    settings = Settings(
        data_dir=data_dir,
        job_visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        worker_poll_interval_s=0.05,
        _env_file=None,
    )
    container = build_container(settings)

    def block_forever(job: Job) -> Mapping[str, Any] | None:
        print(f"started {job.id}", flush=True)
        threading.Event().wait()
        return None

    worker = Worker(
        records=container.jobs,
        handlers={kind: block_forever},
        visibility_timeout=timedelta(seconds=settings.job_visibility_timeout_s),
        poll_interval=settings.worker_poll_interval_s,
        name="child",
    )
    worker.run(threading.Event())


if __name__ == "__main__":
    main(sys.argv)
