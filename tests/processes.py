"""The product as separate processes on one data directory: ``investai serve``, ``investai worker`` and CLI
commands, started the way an operator starts them, with an API client that signs users in over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-Passw0rd-for-tests!"
USER_PASSWORD = "Analyst-Passw0rd-42!"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    """One data directory and the environment every process of it runs with."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "var"

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "INVESTAI_DATA_DIR": str(self.data_dir),
            "INVESTAI_ADMIN_EMAIL": ADMIN_EMAIL,
            "INVESTAI_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "INVESTAI_LOG_LEVEL": "WARNING",
            "INVESTAI_RATE_LIMIT_REQUESTS": "1000000",
            "INVESTAI_WORKER_POLL_INTERVAL_S": "0.2",
            **self.extra_env,
            **overrides,
        }

    def cli(self, *args: str, timeout: float = 300.0, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``investai ARGS`` to completion, capturing its output."""
        return subprocess.run(
            [sys.executable, "-m", "investai", *args],
            env=self.env(**env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_server(self, *, port: int | None = None, args: tuple[str, ...] = (), **env: str) -> Server:
        port = port or free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = self.root / f"server-{port}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "investai", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                env=self.env(INVESTAI_ISSUER=base_url, **env),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return Server(base_url=base_url, process=process, log_path=log_path)

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        with (self.root / "worker.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "investai", "worker"],
                env=self.env(**env),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def sqlite_files(self) -> list[Path]:
        return sorted(path for path in self.data_dir.glob("*.db") if path.is_file())

    def integrity(self) -> dict[str, str]:
        """``PRAGMA integrity_check`` of every SQLite file of the data directory."""
        found = {}
        for path in self.sqlite_files():
            connection = sqlite3.connect(path)
            try:
                found[path.name] = str(connection.execute("PRAGMA integrity_check").fetchone()[0])
            finally:
                connection.close()
        return found


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Seconds until ``/ready`` answers 200; fails with the server's log if it exits or takes too long."""
        started = time.monotonic()
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"the server was not ready within {timeout_s} s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self, timeout_s: float = 60.0) -> int:
        return stop(self.process, timeout_s)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def stop(process: subprocess.Popen[Any], timeout_s: float = 60.0) -> int:
    """SIGTERM, then SIGKILL if it does not end in ``timeout_s``; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


class Api:
    """An HTTP client of a running server, signed in as one user."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=120)
        self.token = token

    def close(self) -> None:
        self.client.close()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, "Cache-Control": "no-cache", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def sign_in(self, email: str, password: str, *, new_password: str | None = None) -> Api:
        answer = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body.get("challenge") == "NEW_PASSWORD_REQUIRED":
            assert new_password is not None, "a temporary password must be changed"
            answer = self.client.post(
                "/api/v1/auth/challenge/new-password", json={"session": body["session"], "new_password": new_password}
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
        self.token = body["access_token"]
        return self

    @classmethod
    def admin(cls, base_url: str) -> Api:
        return cls(base_url).sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)

    def new_user(self, email: str, role: str) -> Api:
        """Create a user (as this administrator) and return a client signed in as them."""
        created = self.request("POST", "/api/v1/admin/users", json={"email": email, "role": role})
        assert created.status_code == 201, created.text
        temporary = created.json()["temporary_password"]
        return Api(self.base_url).sign_in(email, temporary, new_password=USER_PASSWORD)
