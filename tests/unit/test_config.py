"""Settings: per-environment profiles, and refusal to start outside dev with weak secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from investai.config import DEV_MASTER_SECRET, DEV_SECRET_KEY, ENVIRONMENTS, Profile, Settings, load_settings

STRONG = "x7Q!" * 10


def test_defaults_are_the_dev_profile_on_var(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INVESTAI_PROFILE", "INVESTAI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.profile is Profile.DEV
    assert settings.data_dir == Path("var")
    assert settings.secret_value("secret_key") == DEV_SECRET_KEY


@pytest.mark.parametrize(
    ("profile", "memory", "search", "zones", "monitoring"),
    [
        (Profile.DEV, 256, "t3.small.search", 1, "basic"),
        (Profile.STAGING, 512, "m6g.medium.search", 3, "enhanced"),
        (Profile.PROD, 1024, "m6g.large.search", 3, "full"),
    ],
)
def test_each_profile_carries_its_environment_values(
    profile: Profile, memory: int, search: str, zones: int, monitoring: str
) -> None:
    environment = ENVIRONMENTS[profile]
    assert (environment.lambda_memory_mb, environment.opensearch_instance_type) == (memory, search)
    assert (environment.availability_zones, environment.monitoring) == (zones, monitoring)
    assert environment.opensearch_multi_az is (profile is not Profile.DEV)


def test_prod_s3_uses_intelligent_tiering() -> None:
    assert ENVIRONMENTS[Profile.PROD].s3_storage == "intelligent-tiering"
    assert ENVIRONMENTS[Profile.STAGING].s3_lifecycle_rules


@pytest.mark.parametrize("profile", ["staging", "prod"])
@pytest.mark.parametrize(
    "secrets",
    [
        {},
        {"secret_key": STRONG},
        {"secret_key": DEV_SECRET_KEY, "master_secret": STRONG},
        {"secret_key": STRONG, "master_secret": DEV_MASTER_SECRET},
        {"secret_key": "changethis", "master_secret": STRONG},
        {"secret_key": "short", "master_secret": STRONG},
    ],
)
def test_outside_dev_missing_or_default_secrets_are_refused(profile: str, secrets: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="INVESTAI_"):
        Settings(_env_file=None, profile=profile, **secrets)


def test_the_aws_shape_keeps_its_secrets_in_aws_but_weak_values_are_still_refused() -> None:
    settings = Settings(_env_file=None, profile="prod", backend="aws")  # secret_key from Secrets Manager, keys in KMS
    assert settings.secret_key is None
    with pytest.raises(ValidationError, match="INVESTAI_SECRET_KEY"):
        Settings(_env_file=None, profile="prod", backend="aws", secret_key="changethis")


def test_aws_settings_name_resources_from_one_prefix() -> None:
    settings = Settings(_env_file=None, aws_resource_prefix="acme-prod", aws_table_names={"ideas": "Ideas"})
    assert settings.aws_bucket is None
    with pytest.raises(ValidationError):
        Settings(_env_file=None, aws_resource_prefix="Not A Prefix")


def test_outside_dev_strong_secrets_are_accepted() -> None:
    settings = Settings(_env_file=None, profile="prod", secret_key=STRONG, master_secret=STRONG[::-1])
    assert settings.secret_value("master_secret") == STRONG[::-1]
    assert "x7Q" not in repr(settings)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INVESTAI_PROFILE", "staging")
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("INVESTAI_SECRET_KEY", STRONG)
    monkeypatch.setenv("INVESTAI_MASTER_SECRET", STRONG)
    settings = load_settings()
    assert settings.profile is Profile.STAGING
    assert settings.database_path == tmp_path / "investai.db"


def test_secrets_can_come_from_a_secrets_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("INVESTAI_SECRET_KEY", "INVESTAI_MASTER_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "INVESTAI_SECRET_KEY").write_text(STRONG)
    (tmp_path / "INVESTAI_MASTER_SECRET").write_text(STRONG)
    monkeypatch.setenv("INVESTAI_SECRETS_DIR", str(tmp_path))
    settings = load_settings(profile="prod")
    assert settings.secret_value("secret_key") == STRONG
