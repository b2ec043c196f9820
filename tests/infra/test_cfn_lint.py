"""cfn-lint over every synthesised template of every stage: no findings beyond the warnings that
``infra/.cfnlintrc`` ignores, each by name with its reason (and never an error)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")
yaml = pytest.importorskip("yaml")  # cfn-lint's own dependency

CFNLINTRC = Path(__file__).resolve().parents[2] / "infra" / ".cfnlintrc"
IGNORED = {  # the only warnings the configuration may ignore, and the subject its reason must name
    "W3005": "CDK",
    "W3010": "CDK",
    "W3697": "Timestream",
}


def cfn_lint(*templates: Path, config: bool = True) -> list[dict]:
    """cfn-lint's findings (its JSON output) for the templates, with ``infra/.cfnlintrc`` unless told not to."""
    executable = Path(sys.executable).with_name("cfn-lint")
    command = [str(executable) if executable.exists() else shutil.which("cfn-lint") or "cfn-lint"]
    if config:
        command += ["--config-file", str(CFNLINTRC)]
    result = subprocess.run(  # our own tool on our own files
        [*command, "--format", "json", *map(str, templates)], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 2, 4, 6, 8, 10, 12, 14):  # bit flags: 2 errors, 4 warnings, 8 informational
        raise AssertionError(f"cfn-lint failed to run ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout or "[]")


def summary(findings: list[dict]) -> list[str]:
    return [
        f"{finding['Rule']['Id']} {Path(finding['Filename']).name} "
        f"{'/'.join(map(str, finding['Location']['Path']))}: {finding['Message']}"
        for finding in findings
    ]


def test_every_template_of_every_stage_is_clean(synthesised) -> None:
    templates = sorted(synthesised.outdir.glob("*.template.json"))
    stacks = [stack for stage in synthesised.stages.values() for stack in stage.all()]
    assert {path.name for path in templates} == {stack.template_file for stack in stacks}
    assert summary(cfn_lint(*templates)) == []


def test_the_timestream_variant_is_clean_and_needs_its_ignore(dev_variant) -> None:
    """W3697 appears only where Timestream is chosen: without the configuration its storage template shows
    W3697 (the ignore is needed) and nothing the configuration does not ignore."""
    template = dev_variant.outdir / dev_variant.stages["dev"].storage.template_file
    findings = cfn_lint(template, config=False)
    assert "W3697" in {finding["Rule"]["Id"] for finding in findings}
    assert summary([finding for finding in findings if finding["Rule"]["Id"] not in IGNORED]) == []


def test_the_configuration_ignores_only_named_reasoned_warnings() -> None:
    configuration = yaml.safe_load(CFNLINTRC.read_text())
    assert set(configuration) == {"ignore_checks"}
    assert configuration["ignore_checks"] == list(IGNORED)
    reasons = {
        line.split("#", 1)[0].strip(" -"): line.split("#", 1)[1].strip()
        for line in CFNLINTRC.read_text().splitlines()
        if line.strip().startswith("- ")
    }
    for rule, subject in IGNORED.items():
        assert rule.startswith("W"), "errors are never ignored"
        assert subject in reasons[rule], f"{rule}'s reason must name {subject}: {reasons[rule]!r}"
        assert len(reasons[rule]) > 40, f"{rule} needs its reason: {reasons[rule]!r}"
