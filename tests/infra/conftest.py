"""The CDK app synthesised once per test session, every stage, with cdk-nag's AwsSolutions rules on (an
unacknowledged finding fails the synth and so every test here, with the validation report in the message)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA_DIR) not in sys.path:
    sys.path.insert(0, str(INFRA_DIR))


SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}
"""CDK's own switch (the CLI sets it to the stacks it deploys): no asset bundling, so the scheduler's ZIP is not
built by ``deploy/lambda_package.py`` (pip, network, a minute) in a test; see ``investai_infra/assets.py``."""


@dataclass(frozen=True)
class Synthesised:
    outdir: Path
    stages: dict  # stage name -> investai_infra.stage.StageStacks
    _templates: dict = field(default_factory=dict, compare=False, repr=False)

    def template(self, stage: str, part: str):  # -> aws_cdk.assertions.Template
        """The stack's template as an assertions ``Template``, built once per stack (each one copies the whole
        template through jsii)."""
        from aws_cdk.assertions import Template

        if (stage, part) not in self._templates:
            self._templates[stage, part] = Template.from_stack(getattr(self.stages[stage], part))
        return self._templates[stage, part]

    def template_json(self, stage: str, part: str) -> dict:
        stack = getattr(self.stages[stage], part)
        return json.loads((self.outdir / stack.template_file).read_text())


@pytest.fixture(scope="session")
def synthesised(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    pytest.importorskip("aws_cdk", reason="the CDK app's requirements (infra/requirements.txt) are not installed")
    from investai_infra.build import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    return _synthesise(build_app(outdir=str(outdir), context=SKIP_BUNDLING, nag=True), outdir)


# The other choice of each optional backend, in ONE extra synth of dev only (each synth costs seconds): quotes in
# Timestream instead of DynamoDB, search on LanceDB (no OpenSearch domain) instead of OpenSearch.
DEV_VARIANT_CONTEXT = {
    "stage": "dev",
    "investai:dev:quotes_backend": "timestream",
    "investai:dev:search_backend": "lancedb",
}


@pytest.fixture(scope="session")
def dev_variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    """Dev alone with :data:`DEV_VARIANT_CONTEXT`'s overrides, nag on."""
    pytest.importorskip("aws_cdk", reason="the CDK app's requirements (infra/requirements.txt) are not installed")
    from investai_infra.build import build_app

    outdir = tmp_path_factory.mktemp("cdk.variant.out")
    context = {**DEV_VARIANT_CONTEXT, **SKIP_BUNDLING}
    return _synthesise(build_app(outdir=str(outdir), context=context, nag=True), outdir)


def _synthesise(app, outdir: Path) -> Synthesised:
    try:
        app.synth()
    except Exception as exc:
        report = outdir / "validation-report.json"
        details = report.read_text()[:20_000] if report.exists() else ""
        raise AssertionError(f"synth failed: {exc}\n{details}") from exc
    return Synthesised(outdir=outdir, stages=app.stages)
