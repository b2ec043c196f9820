"""A moto server for the AWS shape's tests: one process on 127.0.0.1 per test session, started on first use.

Tests never reset it; each test names its resources with a fresh prefix (:func:`fresh_prefix`), so tests stay
independent while sharing one server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: its endpoint and the environment that points boto3 at it."""

    endpoint: str

    @property
    def environment(self) -> dict[str, str]:
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server_command() -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server is not installed (it comes with the dev extra: moto[server])")
    return [found]


@contextmanager
def moto_server(log_path: Path) -> Iterator[MotoServer]:
    """Start ``moto_server`` on a free loopback port and stop it on exit."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, **CREDENTIALS}
    env.pop("AWS_ENDPOINT_URL", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_moto_server_command(), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log, env=env
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start; see {log_path}") from None
                time.sleep(0.1)
        yield MotoServer(endpoint=endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fresh_prefix() -> str:
    """A resource-name prefix no other test uses (lower case, as bucket names require)."""
    return f"t{secrets.token_hex(6)}"


class SerialisedClient:
    """A boto3 client whose requests (paginators' and waiters' included) reach moto one at a time; clients
    sharing ``lock`` take turns. It records each request as ``(operation, index name)``.

    DynamoDB applies every request atomically; moto's threaded server does not (a cancelled transaction puts
    back a copy of the whole table taken when it began, undoing writes that landed meanwhile), so concurrency
    tests would fail for moto's sake. Races between requests, which the adapters' conditions settle, remain.
    """

    def __init__(self, client: Any, lock: threading.Lock | None = None) -> None:
        self.client = client
        self.calls: list[tuple[str, str | None]] = []
        turn = lock or threading.Lock()
        make_api_call = client._make_api_call

        def serialised(operation: str, parameters: dict[str, Any]) -> Any:
            with turn:
                self.calls.append((operation, parameters.get("IndexName")))
                return make_api_call(operation, parameters)

        client._make_api_call = serialised

    @property
    def operations(self) -> list[str]:
        """The requests' operations as the client's method names (``query``, ``transact_write_items``)."""
        from botocore import xform_name

        return [xform_name(operation) for operation, _ in self.calls]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
