"""The local issuer's signing keys: the first key exists as soon as the app does, so the first JWKS a
verifier fetches (and may cache for five minutes) verifies the first tokens; and processes sharing a data
directory — the server, a worker, ``investai tokens rotate-keys`` — never lose a key another one added."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt as pyjwt
import pytest
from fastapi.testclient import TestClient

from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.server import create_app
from tests.conftest import sign_up

CHILD = Path(__file__).with_name("signing_key_child.py")
PROCESSES = 4
ROTATIONS = 3
TIMEOUT_S = 120


def test_the_first_jwks_already_holds_the_key_that_signs_the_first_tokens(container: Container) -> None:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
        first = client.get("/.well-known/jwks.json")
        assert first.status_code == 200
        published = [key["kid"] for key in first.json()["keys"]]
        assert len(published) == 1, "a key before anyone signed in"

        account = sign_up(container)

        assert pyjwt.get_unverified_header(account.tokens.access_token)["kid"] == published[0]
        assert client.get("/api/v1/profile", headers=account.headers).status_code == 200


@pytest.fixture
def shared(tmp_path: Path) -> Settings:
    """A data directory prepared once (database, keyring) before several users share it."""
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)
    build_container(settings).close()
    return settings


def published(settings: Settings) -> set[str]:
    container = build_container(settings)
    try:
        return {str(key["kid"]) for key in container.identity.issuer.jwks()["keys"]}  # type: ignore[attr-defined]
    finally:
        container.close()


@pytest.fixture
def containers(shared: Settings) -> Iterator[list[Container]]:
    """Two containers on one data directory, as the server and a command would build them."""
    built = [build_container(shared) for _ in range(2)]
    yield built
    for container in built:
        container.close()


def test_containers_on_one_data_directory_rotating_at_once_keep_every_key(
    shared: Settings, containers: list[Container]
) -> None:
    kids: list[str] = []
    start = threading.Barrier(len(containers))

    def rotate(container: Container) -> None:
        start.wait()
        for _ in range(ROTATIONS):
            kids.append(container.identity.issuer.rotate())

    threads = [threading.Thread(target=rotate, args=(container,)) for container in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)

    assert len(set(kids)) == len(containers) * ROTATIONS
    assert published(shared) == set(kids)


def run_together(settings: Settings, action: str, count: int, tmp_path: Path) -> list[str]:
    """Start PROCESSES children on the data directory, release them at once, and collect the key ids they
    print."""
    go, lock = tmp_path / "go", settings.data_dir / "keys" / "signing-keys.lock"
    command = [sys.executable, str(CHILD), str(settings.data_dir), str(lock), action, str(count), str(go)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)
    ]
    try:
        go.touch()
        outputs = [child.communicate(timeout=TIMEOUT_S) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (_, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
    return [kid for stdout, _ in outputs for kid in stdout.split()]


def test_processes_starting_together_agree_on_one_first_key(shared: Settings, tmp_path: Path) -> None:
    kids = run_together(shared, "start", 1, tmp_path)
    assert len(kids) == PROCESSES
    assert len(set(kids)) == 1, "every process signs with the same key"
    assert published(shared) == set(kids)


def test_processes_rotating_at_once_keep_every_key_that_signed_tokens(shared: Settings, tmp_path: Path) -> None:
    kids = run_together(shared, "rotate", ROTATIONS, tmp_path)
    assert len(set(kids)) == PROCESSES * ROTATIONS
    assert published(shared) == set(kids)
