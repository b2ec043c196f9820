"""Starts ``investai serve`` processes quickly: this interpreter imports the product (and loads the embedding
model) once, then forks a child for each server asked for on stdin, a line ``PORT LOGFILE``, and answers with the
child's pid. Each child runs the command line's own entry point, ``investai serve --host 127.0.0.1 --port PORT``,
exactly as the installed command does after its imports; forking saves those seconds of imports per restart, which
is what lets a crash test kill and restart the whole server a hundred times within minutes.

Children are reaped automatically. Nothing here opens the data directory: only the children do.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings


def _serve(port: str, log_path: str) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's own child processes must be waitable
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    code = 1
    try:
        from investai import cli

        sys.argv = ["investai", "serve", "--host", "127.0.0.1", "--port", port]
        cli.main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os._exit(code)


def main() -> None:
    import uvicorn  # noqa: F401 - imported here so that children need not

    import investai.bootstrap
    import investai.cli
    import investai.server  # noqa: F401
    from investai.adapters.local import embedder

    embedder._load_model()
    # LanceDB resets its runtime in a forked child and warns that an operation in flight at the fork could hang
    # there; this parent never opens a table, so nothing is in flight
    warnings.filterwarnings("ignore", message="lancedb fork support is experimental")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        port, log_path = line.split()
        pid = os.fork()
        if pid == 0:
            _serve(port, log_path)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
