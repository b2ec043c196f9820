"""The pipeline (.github/workflows): zizmor finds nothing offline, and ci and deploy hold the jobs and the order the
delivery relies on — deploy runs ci first, builds the images once, deploys staging, smoke-tests it, and only then
deploys prod behind its environment's reviewers, with AWS credentials from GitHub's OIDC provider only."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.scripts import ROOT, load, tool

WORKFLOWS = ROOT / ".github" / "workflows"
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def triggers(loaded: dict[str, Any]) -> dict[str, Any]:
    found = loaded.get("on", loaded.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(found, dict)
    return found


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job.get("steps", []))


def uses(job: dict[str, Any]) -> list[str]:
    return [str(step["uses"]) for step in job.get("steps", []) if "uses" in step]


def needs(job: dict[str, Any]) -> set[str]:
    found = job.get("needs", [])
    return {found} if isinstance(found, str) else set(found)


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return workflow("ci.yml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return workflow("deploy.yml")


def test_zizmor_finds_nothing_offline() -> None:
    zizmor = tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (in the infra extra)")
    answer = subprocess.run(
        [zizmor, "--offline", "--format", "json", "--no-exit-codes", ".github"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    findings = json.loads(answer.stdout)
    assert findings == [], json.dumps(findings, indent=1)[:6000]


def test_zizmor_would_see_an_unpinned_action(tmp_path: Path) -> None:
    """Guard against a lint that passes because it looks at nothing."""
    zizmor = tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (in the infra extra)")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    permissions: {}\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    )
    answer = subprocess.run(
        [zizmor, "--offline", "--format", "json", "--no-exit-codes", "--no-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert {finding["ident"] for finding in json.loads(answer.stdout)} >= {"unpinned-uses", "artipacked"}


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_action_is_pinned_by_commit_and_every_job_limits_its_token(name: str) -> None:
    loaded = workflow(name)
    assert loaded["permissions"] == {}, "no permission by default; each job asks for its own"
    for job_name, job in loaded["jobs"].items():
        assert "permissions" in job, job_name
        for action in uses(job):
            assert SHA_PINNED.match(action.split()[0]), f"{job_name}: {action} is not pinned by commit SHA"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert "secrets: inherit" not in (WORKFLOWS / name).read_text()


def test_ci_lints_tests_audits_scans_synthesises_and_lints_the_delivery_files(ci: dict[str, Any]) -> None:
    on = triggers(ci)
    assert {"pull_request", "push", "workflow_call"} <= set(on)
    jobs = ci["jobs"]
    expected = {
        "lint": ["make lint"],
        "test": [".ci/run"],  # system preparation, then make test
        "audit": ["pip-audit", "-r constraints.txt", "-r deploy/requirements/lambda-constraints.txt"],
        "security": ["bandit -c deploy/bandit.yaml -r src"],
        "synth": ["make synth"],
        "lambda-package": ["deploy/lambda_package.py --function scheduler"],
        "dockerfile-lint": ["hadolint", "deploy/Dockerfile.lambda", "deploy/Dockerfile.worker"],
        "workflow-lint": ["zizmor"],
    }
    for job_name, commands in expected.items():
        assert job_name in jobs, f"ci has no {job_name} job"
        for command in commands:
            assert command in runs(jobs[job_name]), f"{job_name} does not run {command}"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    for job_name, job in jobs.items():
        assert "id-token" not in job["permissions"], f"ci's {job_name} needs no AWS credentials"


def test_deploy_runs_on_main_and_by_hand_and_needs_ci_first(deploy: dict[str, Any]) -> None:
    on = triggers(deploy)
    assert on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"].split()[0] in ("$/.github/workflows/ci.yml", "./.github/workflows/ci.yml")
    assert needs(jobs["images"]) == {"ci"}
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_the_images_are_built_once_and_passed_on_by_digest(deploy: dict[str, Any]) -> None:
    images = deploy["jobs"]["images"]
    script = runs(images)
    assert "deploy/Dockerfile.lambda" in script
    assert "deploy/Dockerfile.worker" in script
    assert "--push" in script
    assert "--provenance=false" in script  # Lambda refuses image indexes
    assert set(images["outputs"]) == {"lambda_image", "worker_image"}
    for stage in ("deploy-staging", "deploy-prod"):
        assert "images" in needs(deploy["jobs"][stage])  # for the digests it passes on
        assert "docker" not in runs(deploy["jobs"][stage])


@pytest.mark.parametrize(("job_name", "stage"), [("deploy-staging", "staging"), ("deploy-prod", "prod")])
def test_each_stage_deploys_with_oidc_credentials_and_cdk(deploy: dict[str, Any], job_name: str, stage: str) -> None:
    job = deploy["jobs"][job_name]
    assert job["permissions"]["id-token"] == "write"
    [credentials] = [step for step in job["steps"] if "configure-aws-credentials" in str(step.get("uses", ""))]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    script = runs(job)
    assert re.search(r"npx --yes \"\$CDK_CLI\" deploy", script)
    assert f"--context stage={stage}" in script
    assert "--outputs-file" in script
    assert "--require-approval never" in script


def test_staging_is_smoke_tested_through_its_stack_output_before_prod(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    staging, smoke, prod = jobs["deploy-staging"], jobs["smoke-staging"], jobs["deploy-prod"]
    assert "deploy/stack_outputs.py build/cdk-outputs.json ApiUrl" in runs(staging)
    assert staging["outputs"]["api_url"] == "${{ steps.outputs.outputs.api_url }}"
    assert needs(smoke) == {"deploy-staging"}
    assert 'deploy/smoke.py --url "$API_URL"' in runs(smoke)
    [step] = [step for step in smoke["steps"] if "smoke.py" in str(step.get("run", ""))]
    assert step["env"]["API_URL"] == "${{ needs.deploy-staging.outputs.api_url }}"
    assert "smoke-staging" in needs(prod)


def test_prod_waits_for_its_reviewers_and_is_smoke_tested_too(deploy: dict[str, Any]) -> None:
    prod = deploy["jobs"]["deploy-prod"]
    assert prod["environment"] == "production"  # required reviewers are the environment's protection rule
    assert deploy["jobs"]["deploy-staging"]["environment"] == "staging"
    script = runs(prod)
    assert script.index("deploy") < script.index("deploy/smoke.py")
    # the canary (CodeDeploy, 10% for 5 minutes, rollback on alarms) is the CDK app's; the workflow only deploys
    assert "codedeploy" not in script.lower()


def test_no_workflow_interpolates_an_expression_into_a_shell_script() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in str(step.get("run", "")), f"{path.name}: pass values through env: {step}"


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ({"investai-staging-api": {"ApiUrl": "https://a.example/"}}, "https://a.example/"),
        ({"s1": {"ApiUrlC0FFEE12": "https://b.example/", "Other": "x"}, "s2": {"Bucket": "y"}}, "https://b.example/"),
        ({"s1": {"ApiUrl": "https://c.example/"}, "s2": {"ApiUrl": "https://c.example/"}}, "https://c.example/"),
    ],
)
def test_the_api_url_is_read_from_the_stack_outputs(outputs: dict[str, Any], expected: str) -> None:
    assert load("stack_outputs").find(outputs, "ApiUrl") == expected


@pytest.mark.parametrize(
    "outputs",
    [{}, {"s": {"Other": "x"}}, {"s1": {"ApiUrl": "https://a.example/"}, "s2": {"ApiUrl": "https://b.example/"}}],
)
def test_no_api_url_or_two_different_ones_is_an_error(outputs: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert load("stack_outputs").main([str(path), "ApiUrl"]) == 1


def test_the_api_url_goes_to_the_github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, github_output = tmp_path / "outputs.json", tmp_path / "github_output"
    path.write_text(json.dumps({"s": {"ApiUrl": "https://a.example/"}}))
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    assert load("stack_outputs").main([str(path), "ApiUrl", "--github-output", "api_url"]) == 0
    assert github_output.read_text() == "api_url=https://a.example/\n"
