"""Contract of the SecretStore port, run against every adapter in :data:`ADAPTERS`.

A factory returns the store and a way to provision a secret in its backend. The local adapter appears
twice, once per source it reads (environment, secrets directory); Secrets Manager once, on the session's moto
server (started only when its cases run), provisioning into the one JSON secret. Precedence between the local
sources is tested at the end of the module, then Secrets Manager's document and cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.aws.provision import ensure_data_key, ensure_secret
from investai.adapters.aws.resources import ResourceNames
from investai.adapters.aws.secrets_manager import SecretsManagerSecretStore
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.domain.errors import IntegrityError
from investai.ports.secrets import SecretStore
from tests.aws import MotoServer, fresh_prefix
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


def _provision_into(client: Any, secret_id: str) -> Callable[[str, str], None]:
    """Set one name of the JSON secret, as an operator would (read, change, write a new version)."""

    def provision(name: str, value: str) -> None:
        document = json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(document | {name: value}))

    return provision


def _secrets_manager_adapter(tmp_path: Path, clock: FakeClock, *, moto: MotoServer) -> SecretStoreHarness:
    names = ResourceNames(prefix=fresh_prefix())
    client = moto.client("secretsmanager")
    ensure_secret(client, names.secret, kms_key=ensure_data_key(moto.client("kms"), names.key))
    store = SecretsManagerSecretStore(client=moto.client("secretsmanager"), secret_id=names.secret, clock=clock)
    return SecretStoreHarness(store=store, provision=_provision_into(client, names.secret))


ADAPTERS: dict[str, Callable[..., SecretStoreHarness]] = {
    "local-env": _local_env_adapter,
    "local-file": _local_file_adapter,
    "secrets-manager": _secrets_manager_adapter,
}
MOTO_ADAPTERS = frozenset({"secrets-manager"})


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStoreHarness:
    if request.param in MOTO_ADAPTERS:
        return ADAPTERS[request.param](tmp_path, FakeClock(T0), moto=request.getfixturevalue("moto"))
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


# -- Secrets Manager: one JSON secret, cached briefly --------------------------------------------------------


class TestSecretsManager:
    @pytest.fixture
    def client(self, moto: MotoServer) -> Any:
        return moto.client("secretsmanager")

    @pytest.fixture
    def secret_id(self, moto: MotoServer, client: Any) -> str:
        names = ResourceNames(prefix=fresh_prefix())
        ensure_secret(client, names.secret, kms_key=ensure_data_key(moto.client("kms"), names.key))
        return names.secret

    def test_ensure_secret_encrypts_with_the_key_and_never_replaces_values(self, moto: MotoServer, client: Any) -> None:
        names = ResourceNames(prefix=fresh_prefix())
        key = ensure_data_key(moto.client("kms"), names.key)

        assert ensure_secret(client, names.secret, kms_key=key, initial={"secret_key": "first"})
        assert not ensure_secret(client, names.secret, kms_key=key, initial={"secret_key": "second"})

        assert client.describe_secret(SecretId=names.secret)["KmsKeyId"] == key
        assert json.loads(client.get_secret_value(SecretId=names.secret)["SecretString"]) == {"secret_key": "first"}

    def test_a_value_is_cached_for_the_ttl_then_reread(self, client: Any, secret_id: str) -> None:
        clock = FakeClock(T0)
        store = SecretsManagerSecretStore(client=client, secret_id=secret_id, clock=clock, ttl_s=60)
        provision = _provision_into(client, secret_id)
        provision("api_token", "old")
        assert store.get("api_token") == "old"

        provision("api_token", "rotated")
        clock.advance(timedelta(seconds=59))
        assert store.get("api_token") == "old"
        clock.advance(timedelta(seconds=1))
        assert store.get("api_token") == "rotated"

    def test_one_read_serves_every_name_until_the_ttl(self, client: Any, secret_id: str) -> None:
        calls: list[str] = []
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("get"))
        store = SecretsManagerSecretStore(client=client, secret_id=secret_id, clock=FakeClock(T0))

        store.get("secret_key")
        store.get("master_secret")
        store.get("api_token")

        assert calls == ["get"]

    def test_a_missing_secret_is_no_secret(self, client: Any) -> None:
        store = SecretsManagerSecretStore(client=client, secret_id=f"{fresh_prefix()}/app", clock=FakeClock(T0))

        assert store.get("secret_key") is None

    @pytest.mark.parametrize("text", ['"just a string"', "[1, 2]", "not json"], ids=["string", "list", "garbage"])
    def test_a_secret_that_is_not_a_json_object_is_an_error(self, client: Any, secret_id: str, text: str) -> None:
        client.put_secret_value(SecretId=secret_id, SecretString=text)
        store = SecretsManagerSecretStore(client=client, secret_id=secret_id, clock=FakeClock(T0))

        with pytest.raises(IntegrityError, match=secret_id):
            store.get("secret_key")

    def test_empty_and_non_string_values_are_no_secret(self, client: Any, secret_id: str) -> None:
        client.put_secret_value(SecretId=secret_id, SecretString='{"a": "", "b": 7, "c": null, "d": "set"}')
        store = SecretsManagerSecretStore(client=client, secret_id=secret_id, clock=FakeClock(T0))

        assert [store.get(name) for name in "abcd"] == [None, None, None, "set"]

    def test_check_reads_the_secret_afresh(self, client: Any, secret_id: str) -> None:
        store = SecretsManagerSecretStore(client=client, secret_id=secret_id, clock=FakeClock(T0))
        store.check()
        client.put_secret_value(SecretId=secret_id, SecretString="[]")

        with pytest.raises(IntegrityError):
            store.check()
