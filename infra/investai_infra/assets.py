"""The compute stack's code assets: the container images' build contexts and the scheduler's ZIP.

Container images (``deploy/Dockerfile.lambda``, ``deploy/Dockerfile.worker``): synth only *stages* the build
context into the cloud assembly; ``cdk deploy`` builds and pushes the image, so synth needs no Docker. The context
is the repository root filtered by the Dockerfile's own ignore file (``deploy/Dockerfile.<name>.dockerignore``,
an allow-list: the project, its pins and ``src/``), so the staged copy is a few MB and exactly what CI's
``docker build`` sees; a deny-list of what must never reach an image (``.venv``, ``.git``, data, build output,
caches, ``.env``) is applied after it in case the allow-list ever widens. CDK keeps a Dockerfile in the context
only when it sits at the root, so the one under ``deploy/`` is re-included explicitly.

Prebuilt artefacts: the delivery pipeline builds each image once, pushes it to ECR and deploys staging and then
prod from the same digest. The context keys ``investai:lambda_image`` and ``investai:worker_image`` (an ECR
image URI by digest or tag) and ``investai:scheduler_package`` (the path of a built ZIP) replace the assets
above; without them, ``cdk deploy`` builds everything itself (one command per environment).

The scheduler ZIP: the asset is the very ZIP ``python deploy/lambda_package.py --function scheduler --out
build/lambda`` writes (``make lambda-package``), built by CDK's *local bundling* whenever a stack containing the
function is bundled — so a deployment never ships a stale ZIP left in ``build/`` from an older checkout. Bundling
runs at synth time, for the stacks named by the ``aws:cdk:bundling-stacks`` context: the CDK CLI sets it to the
stacks being deployed (``**`` for ``cdk synth``), and CDK skips bundling for any other stack, referencing the
source folder as a placeholder that is never uploaded. The tests set that context to ``[]`` (CDK's own switch, no
project-specific variable), so a clean checkout synthesises in seconds without pip or network; ``python app.py``
without the context bundles like ``cdk synth`` does. The builder is deterministic, so an unchanged checkout yields
the same asset hash and no function update.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from investai_infra.config import StageConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_BUILDER = REPO_ROOT / "deploy" / "lambda_package.py"
PACKAGE_OUT = REPO_ROOT / "build" / "lambda"
SCHEDULER_FUNCTION = "scheduler"
NEVER_IN_AN_IMAGE = (
    ".git",
    ".github",
    ".venv",
    "**/.venv",
    ".tools",
    "**/node_modules",
    "build",
    "dist",
    "var",
    "backups",
    "data",
    "artifacts",
    "tests",
    "benchmarks",
    "docs",
    "infra",
    "**/cdk.out",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "**/__pycache__",
    "**/*.py[co]",
    "**/*.egg-info",
    ".env",
    "**/.env",
    "**/*.pem",
)
"""Denied after the Dockerfile's allow-list (later patterns win): a safety net, not the selection."""


@dataclass(frozen=True)
class Architecture:
    """One CPU architecture as each service spells it."""

    function: lambda_.Architecture
    ecs: ecs.CpuArchitecture
    platform: ecr_assets.Platform


def architecture(config: StageConfig) -> Architecture:
    if config.architecture == "arm64":
        return Architecture(lambda_.Architecture.ARM_64, ecs.CpuArchitecture.ARM64, ecr_assets.Platform.LINUX_ARM64)
    if config.architecture == "x86_64":
        return Architecture(lambda_.Architecture.X86_64, ecs.CpuArchitecture.X86_64, ecr_assets.Platform.LINUX_AMD64)
    raise ValueError(f"{config.stage}: architecture must be x86_64 or arm64, not {config.architecture!r}")


def image_excludes(dockerfile: str) -> list[str]:
    """The build context's exclude patterns (Docker syntax, relative to the repository root)."""
    ignore_file = REPO_ROOT / f"{dockerfile}.dockerignore"
    allow_list = []
    if ignore_file.is_file():
        lines = (line.strip() for line in ignore_file.read_text().splitlines())
        allow_list = [line for line in lines if line and not line.startswith("#")]
    return [*allow_list, *NEVER_IN_AN_IMAGE, f"!{dockerfile}"]


def image_asset(
    scope: Construct, construct_id: str, dockerfile: str, config: StageConfig
) -> ecr_assets.DockerImageAsset:
    """The image built from the repository root with ``dockerfile``, for the stage's search backend (the
    Dockerfiles install ``deploy/requirements/search-<backend>.txt``) and CPU architecture."""
    return ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(REPO_ROOT),
        file=dockerfile,
        exclude=image_excludes(dockerfile),
        ignore_mode=IgnoreMode.DOCKER,
        build_args={"SEARCH_BACKEND": config.search_backend},
        platform=architecture(config).platform,
    )


@jsii.implements(ILocalBundling)
class SchedulerPackage:
    """CDK local bundling that runs the package builder and hands CDK its ZIP (a single archive in the output
    folder, which CDK uploads as it is)."""

    def try_bundle(self, output_dir: str, *, image: DockerImage | None = None, **_options: Any) -> bool:
        with tempfile.TemporaryDirectory(prefix="investai-scheduler-") as work:
            command = [sys.executable, str(PACKAGE_BUILDER), "--function", SCHEDULER_FUNCTION, "--out", work]
            finished = subprocess.run(command, cwd=REPO_ROOT, check=False, stdout=subprocess.DEVNULL)  # noqa: S603
            built = Path(work) / f"{SCHEDULER_FUNCTION}.zip"
            if finished.returncode != 0 or not built.is_file():
                raise RuntimeError(
                    f"building the scheduler package failed (exit {finished.returncode}): run `make lambda-package`"
                    f" to see why; `{' '.join(command[1:])}` is what CDK ran"
                )
            PACKAGE_OUT.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, PACKAGE_OUT / built.name)  # what `make lambda-package` leaves, for inspection
            shutil.copy2(built, Path(output_dir) / built.name)
        return True


def scheduler_code() -> lambda_.Code:
    """The scheduler's ZIP, built by :class:`SchedulerPackage` when its stack is bundled. The Docker image is
    CDK's required fallback and never used: local bundling always answers (or fails with the reason)."""
    return lambda_.Code.from_asset(
        str(REPO_ROOT / "deploy"),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.11"),
            local=SchedulerPackage(),
        ),
    )


LAMBDA_IMAGE_CONTEXT = "investai:lambda_image"
WORKER_IMAGE_CONTEXT = "investai:worker_image"
SCHEDULER_PACKAGE_CONTEXT = "investai:scheduler_package"
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[a-z0-9._/-]+)"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64})|:(?P<tag>[A-Za-z0-9_.-]{1,128}))$"
)


@dataclass(frozen=True)
class ImageSource:
    """Where a function's or task's image comes from: an ECR repository and a tag or digest in it."""

    repository: ecr.IRepository
    tag_or_digest: str


def image_source(scope: Construct, construct_id: str, dockerfile: str, config: StageConfig) -> ImageSource:
    """The prebuilt image the context names for ``dockerfile`` (``investai:lambda_image`` or
    ``investai:worker_image``), else the image asset CDK builds at deploy time."""
    key = LAMBDA_IMAGE_CONTEXT if dockerfile.endswith(".lambda") else WORKER_IMAGE_CONTEXT
    prebuilt = scope.node.try_get_context(key)
    if not prebuilt:
        asset = image_asset(scope, construct_id, dockerfile, config)
        return ImageSource(asset.repository, asset.image_tag)
    found = _ECR_URI.match(str(prebuilt))
    if found is None:
        raise ValueError(f"{key} must be an ECR image URI by digest or tag (<account>.dkr.ecr.<region>...): {prebuilt}")
    repository = ecr.Repository.from_repository_attributes(
        scope,
        f"{construct_id}Repository",
        repository_name=found["repository"],
        repository_arn=f"arn:aws:ecr:{found['region']}:{found['account']}:repository/{found['repository']}",
    )
    return ImageSource(repository, found["digest"] or found["tag"])


def scheduler_package(scope: Construct) -> lambda_.Code:
    """The ZIP the context names (``investai:scheduler_package``, built and size-checked by the pipeline), else
    the one local bundling builds."""
    prebuilt = scope.node.try_get_context(SCHEDULER_PACKAGE_CONTEXT)
    if not prebuilt:
        return scheduler_code()
    path = Path(str(prebuilt))
    if path.suffix != ".zip" or not path.is_file():
        raise ValueError(f"{SCHEDULER_PACKAGE_CONTEXT} must name a built ZIP (make lambda-package): {path}")
    return lambda_.Code.from_asset(str(path))
