"""Shared fixtures: settings and a Container on ``tmp_path`` with a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import structlog

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.embedder import SentenceTransformerEmbedder
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.budgets import UsageEntry
from investai.domain.common import new_id
from investai.domain.users import Role, User
from investai.ports.knowledge import Embedder
from investai.services.auth_common import CallContext, TokenSet
from tests.aws import MotoServer, moto_server
from tests.factories import T0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``pytest -n N --dist loadgroup`` (``make test``), each test file runs on one worker, as with
    ``loadfile``, so module fixtures are built once; the CDK app's tests share one group, so its session synth
    (seconds of CPU) happens once."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = Path(str(item.fspath))
        group = "cdk" if path.parent.name == "infra" else str(path.relative_to(config.rootpath))
        item.add_marker(pytest.mark.xdist_group(name=group))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None)


@pytest.fixture
def container(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    built = build_container(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The real all-MiniLM-L6-v2 embedder, loaded once per test session (loading takes seconds)."""
    return SentenceTransformerEmbedder(cache_path=tmp_path_factory.mktemp("embeddings") / "cache.db")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Code under test may configure logging (the CLI does); undo it so handlers never outlive a test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


PASSWORD = "Correct-Horse-9-Battery!"


@dataclass(frozen=True)
class Account:
    """A signed-in user of a test container."""

    user: User
    password: str
    tokens: TokenSet

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.access_token}"}


def sign_up(
    container: Container, *, role: Role = Role.ANALYST, organisation: str = "org_1", email: str | None = None
) -> Account:
    """Create an active user (password already set) and sign it in."""
    created = container.identity.users.create_user(
        actor=None,
        email=email or f"{role.value}.{new_id()}@example.com",
        role=role,
        organisation_id=organisation,
        password=PASSWORD,
    )
    tokens = container.identity.auth.login(created.user.email, PASSWORD, CallContext())
    assert isinstance(tokens, TokenSet)
    return Account(user=created.user, password=PASSWORD, tokens=tokens)


def spend(container: Container, account: Account, *, at: datetime, usd: float = 0.0, tokens: int = 0) -> None:
    """Record one model use of ``account`` in the usage ledger, as a finished idea request would."""
    entry = UsageEntry(
        user_id=account.user.id,
        organisation_id=account.user.organisation_id,
        model_id="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        step="synthesis",
        input_tokens=tokens,
        cost_usd=usd,
        at=at,
    )
    assert container.budgets.ledger.record(new_id("test-"), [entry])


@pytest.fixture
def analyst(container: Container) -> Account:
    return sign_up(container, role=Role.ANALYST)


@pytest.fixture
def admin(container: Container) -> Account:
    return sign_up(container, role=Role.ADMINISTRATOR)


def drain(container: Container) -> int:
    """Run queued jobs (document processing, idea requests) until none is left, as the worker would; the
    number run."""
    worker = container.worker_pool().workers[0]
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server on 127.0.0.1 for the whole session, started by the first test that asks for it."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
def aws_environment(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """boto3's standard variables pointing every client at the moto server (no custom setting)."""
    for name, value in moto.environment.items():
        monkeypatch.setenv(name, value)
    return moto
