"""A cross-process lease on a resource that one process at a time may open, handed over on request.

DuckDB gives a database file to one read-write process at a time, yet the server, a separate worker and CLI
commands all need the market store. Each process therefore opens the database only while it holds this lease
and closes it (DuckDB checkpoints on close) when another process asks for it, so the store is never open in two
processes and never touched behind the engine's back.

Two lock files beside the resource, both with ``flock`` (a lock belongs to an open file description, so
unrelated descriptors of the same file do not disturb it, unlike POSIX record locks):

* ``<name>.lock``: held exclusively by the process that holds the lease.
* ``<name>.want``: every process waiting for the lease holds it shared while it waits. The holder learns that
  someone waits when it cannot take it exclusively, a non-blocking test that costs a system call.

No library offers this hand-over (``filelock`` has exclusive locks only), hence these few lines. A process
that dies releases its locks with its descriptors, so a crash never leaves the lease held.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path


class LeaseTimeout(TimeoutError):
    """The lease stayed with another process for longer than the caller was willing to wait."""


class ProcessLease:
    """Exclusive hold on ``path`` among processes (see the module notes). Not re-entrant; the caller
    serialises its own threads."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self._lock_path = path.with_name(path.name + ".lock")
        self._want_path = path.with_name(path.name + ".want")
        self._timeout_s = timeout_s
        self._fd: int | None = None
        self._probe: int | None = None  # a descriptor of the want file, kept while holding, to test it cheaply
        self._guard = threading.Lock()

    def acquire(self, timeout_s: float | None = None) -> None:
        """Block until this process holds the lease; :class:`LeaseTimeout` after ``timeout_s``."""
        with self._guard:
            if self._fd is not None:
                return
            limit = self._timeout_s if timeout_s is None else timeout_s
            lock_fd = _open(self._lock_path)
            want_fd = _open(self._want_path)
            try:
                fcntl.flock(want_fd, fcntl.LOCK_SH)  # tell the holder that someone waits
                if not _poll(lock_fd, limit):
                    os.close(lock_fd)
                    raise LeaseTimeout(f"{self._lock_path.name} was held by another process for {limit:.0f} s")
            finally:
                os.close(want_fd)  # drops the shared lock
            self._fd = lock_fd
            self._probe = _open(self._want_path)

    def try_acquire(self) -> bool:
        """Take the lease if no process holds it, without waiting and without asking its holder to hand it
        over (a readiness probe must neither wait nor disturb the holder); whether this process holds it now."""
        with self._guard:
            if self._fd is not None:
                return True
            lock_fd = _open(self._lock_path)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock_fd)
                return False
            self._fd = lock_fd
            self._probe = _open(self._want_path)
            return True

    def release(self) -> None:
        with self._guard:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # drops the lock
            if self._probe is not None:
                probe, self._probe = self._probe, None
                os.close(probe)

    def wanted(self) -> bool:
        """Whether another process waits for the lease (``False`` unless holding it): one non-blocking lock
        attempt on a descriptor kept open while holding, so polling it costs no file opening."""
        with self._guard:
            probe = self._probe
            if probe is None:
                return False
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(probe, fcntl.LOCK_UN)
            return False


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _poll(fd: int, timeout_s: float) -> bool:
    """Take ``fd``'s exclusive lock within ``timeout_s``, polling with a short, growing sleep."""
    deadline = time.monotonic() + timeout_s
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.025)
