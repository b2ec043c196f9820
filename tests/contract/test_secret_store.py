"""Contract of the SecretStore port, run against every adapter in :data:`ADAPTERS`.

A factory returns the store and a way to provision a secret in its backend. The local adapter appears
twice, once per source it reads (environment, secrets directory); Secrets Manager joins with one entry.
Precedence between the local sources is tested at the end of the module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.ports.secrets import SecretStore
from tests.factories import T0


@dataclass(frozen=True)
class SecretStoreHarness:
    store: SecretStore
    provision: Callable[[str, str], None]
    """Set secret ``name`` to ``value`` in the backend."""


def _local_env_adapter(tmp_path: Path, clock: FakeClock) -> SecretStoreHarness:
    environ: dict[str, str] = {}

    def provision(name: str, value: str) -> None:
        environ[f"INVESTAI_{name.upper()}"] = value

    return SecretStoreHarness(
        store=EnvFileSecretStore(directory=tmp_path / "secrets", environ=environ), provision=provision
    )


def _local_file_adapter(tmp_path: Path, clock: FakeClock) -> SecretStoreHarness:
    directory = tmp_path / "secrets"
    directory.mkdir()

    def provision(name: str, value: str) -> None:
        (directory / f"INVESTAI_{name.upper()}").write_text(value, encoding="utf-8")

    return SecretStoreHarness(store=EnvFileSecretStore(directory=directory, environ={}), provision=provision)


ADAPTERS: dict[str, Callable[[Path, FakeClock], SecretStoreHarness]] = {
    "local-env": _local_env_adapter,
    "local-file": _local_file_adapter,
}


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStoreHarness:
    return ADAPTERS[request.param](tmp_path, FakeClock(T0))


def test_a_provisioned_secret_is_returned(harness: SecretStoreHarness) -> None:
    harness.provision("master_secret", "s3cr3t-value-with-symbols-!@#$%^&*()")

    assert harness.store.get("master_secret") == "s3cr3t-value-with-symbols-!@#$%^&*()"


def test_non_ascii_values_round_trip(harness: SecretStoreHarness) -> None:
    harness.provision("api_token", "clé-ключ-鍵")

    assert harness.store.get("api_token") == "clé-ключ-鍵"


def test_a_missing_secret_is_none(harness: SecretStoreHarness) -> None:
    harness.provision("secret_key", "present")

    assert harness.store.get("other_secret") is None


def test_secrets_are_told_apart_by_name(harness: SecretStoreHarness) -> None:
    harness.provision("secret_key", "one")
    harness.provision("secret_key_2", "two")

    assert harness.store.get("secret_key") == "one"
    assert harness.store.get("secret_key_2") == "two"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../etc/passwd",
        "secrets/../master_secret",
        "a/b",
        "1secret",
        "_secret",
        "with space",
        "dash-name",
        "dotted.name",
        "x" * 65,
        "naïve",
        "secret_key\n",
        "secret\x00key",
    ],
)
def test_invalid_names_are_rejected(harness: SecretStoreHarness, name: str) -> None:
    with pytest.raises(ValueError, match="invalid secret name"):
        harness.store.get(name)


# -- local adapter: where secrets come from -----------------------------------------------------------------


class TestEnvFileSources:
    @pytest.fixture
    def directory(self, tmp_path: Path) -> Path:
        path = tmp_path / "secrets"
        path.mkdir()
        return path

    def test_the_environment_wins_over_the_file(self, directory: Path) -> None:
        (directory / "INVESTAI_SECRET_KEY").write_text("from-file", encoding="utf-8")
        store = EnvFileSecretStore(directory=directory, environ={"INVESTAI_SECRET_KEY": "from-env"})

        assert store.get("secret_key") == "from-env"

    def test_the_file_is_used_when_the_environment_has_no_value(self, directory: Path) -> None:
        (directory / "INVESTAI_SECRET_KEY").write_text("from-file\n", encoding="utf-8")

        assert EnvFileSecretStore(directory=directory, environ={}).get("secret_key") == "from-file"
        assert EnvFileSecretStore(directory=directory, environ={"INVESTAI_SECRET_KEY": ""}).get("secret_key") == (
            "from-file"
        )

    def test_the_file_is_named_like_the_environment_variable(self, directory: Path) -> None:
        (directory / "SECRET_KEY").write_text("wrong name", encoding="utf-8")
        (directory / "secret_key").write_text("wrong name", encoding="utf-8")

        assert EnvFileSecretStore(directory=directory, environ={}).get("secret_key") is None

    def test_an_empty_file_is_no_secret(self, directory: Path) -> None:
        (directory / "INVESTAI_SECRET_KEY").write_text("  \n", encoding="utf-8")

        assert EnvFileSecretStore(directory=directory, environ={}).get("secret_key") is None

    def test_a_directory_with_the_secrets_name_is_no_secret(self, directory: Path) -> None:
        (directory / "INVESTAI_SECRET_KEY").mkdir()

        assert EnvFileSecretStore(directory=directory, environ={}).get("secret_key") is None

    def test_a_missing_directory_or_none_is_no_secret(self, tmp_path: Path) -> None:
        assert EnvFileSecretStore(directory=tmp_path / "absent", environ={}).get("secret_key") is None
        assert EnvFileSecretStore(directory=None, environ={}).get("secret_key") is None

    def test_another_prefix_is_honoured(self, directory: Path) -> None:
        (directory / "OTHER_SECRET_KEY").write_text("from-file", encoding="utf-8")
        store = EnvFileSecretStore(prefix="OTHER_", directory=directory, environ={"INVESTAI_SECRET_KEY": "ignored"})

        assert store.get("secret_key") == "from-file"

    def test_the_process_environment_is_the_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("INVESTAI_CONTRACT_TEST_SECRET", "from-process-env")

        assert EnvFileSecretStore().get("contract_test_secret") == "from-process-env"
