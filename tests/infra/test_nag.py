"""cdk-nag's AwsSolutions rules ran over the whole app and nothing is left unanswered: every finding is fixed or
acknowledged on its construct with a reason, and every acknowledgement is in the validation report's audit trail.

How the evidence is laid out (cdk-nag 3 on aws-cdk-lib 2.275): the synth writes ``validation-report.json`` with a
report per plugin that has violations or acknowledged ("suppressed") violations, each of the latter with its
``acknowledgedId``, ``acknowledgedAt`` (construct path) and ``reason``; the acknowledgements themselves are
construct metadata (``aws:cdk:acknowledged-rules``, id → reason) in each stack's ``<stack>.metadata.json``.
An AwsSolutions acknowledgement must carry the plugin's namespace (``AwsSolutions::AwsSolutions-IAM5[...]``,
as ``investai_infra.stacks.common.acknowledge`` writes it): without it cdk-nag drops the finding itself and the
report never shows it or its reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
MIN_REASON = 20  # characters: a reason says why, not "ok" or "n/a"


def report(outdir: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((outdir / "validation-report.json").read_text())
    return {plugin["pluginName"]: plugin for plugin in document["pluginReports"]}


def acknowledgements(outdir: Path) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgement recorded in the cloud assembly."""
    found = []
    for metadata_file in sorted(outdir.glob("*.metadata.json")):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED:
                    found += [(path.lstrip("/"), rule, reason) for rule, reason in entry["data"].items()]
    return found


def test_the_aws_solutions_rules_ran_and_passed(synthesised) -> None:
    plugins = report(synthesised.outdir)
    assert "AwsSolutions" in plugins, f"no AwsSolutions report: plugins were {sorted(plugins)}"
    aws_solutions = plugins["AwsSolutions"]
    assert aws_solutions["conclusion"] == "success"
    assert aws_solutions["violations"] == []
    # the rules looked at every stage: each has acknowledged findings of its own
    paths = {
        construct["constructPath"].split("/")[0]
        for violation in aws_solutions["suppressedViolations"]
        for construct in violation["violatingConstructs"]
    }
    for stage, stacks in synthesised.stages.items():
        assert any(stack.stack_name in paths for stack in stacks.all()), f"no AwsSolutions findings in {stage}"


def test_no_plugin_reports_an_unacknowledged_violation(synthesised) -> None:
    """AwsSolutions and CDK's own CloudFormation validation alike (its warnings included)."""
    unanswered = {
        name: [
            (violation["ruleName"], [c["constructPath"] for c in violation["violatingConstructs"]])
            for violation in plugin["violations"]
        ]
        for name, plugin in report(synthesised.outdir).items()
        if plugin["violations"]
    }
    assert unanswered == {}


def test_every_acknowledged_violation_in_the_report_has_a_reason(synthesised) -> None:
    for name, plugin in report(synthesised.outdir).items():
        for violation in plugin.get("suppressedViolations") or []:
            reason = (violation.get("reason") or "").strip()
            assert len(reason) >= MIN_REASON, f"{name} {violation['acknowledgedId']} at {violation['acknowledgedAt']}"


def test_every_acknowledgement_in_the_assembly_has_a_reason(synthesised) -> None:
    found = acknowledgements(synthesised.outdir)
    assert found, "no acknowledgements recorded: is the metadata still written to <stack>.metadata.json?"
    for path, rule, reason in found:
        assert len(reason.strip()) >= MIN_REASON, f"{rule} on {path}: {reason!r}"
        assert reason.strip() != rule


def test_every_acknowledgement_in_the_templates_has_a_reason(synthesised) -> None:
    """If cdk-nag's v2-style template metadata (``cdk_nag.rules_to_suppress``) is ever switched on."""
    for template_file in sorted(synthesised.outdir.glob("*.template.json")):
        for name, resource in json.loads(template_file.read_text()).get("Resources", {}).items():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(str(rule.get("reason", "")).strip()) >= MIN_REASON, f"{template_file.name} {name} {rule}"


def test_aws_solutions_acknowledgements_are_namespaced_so_the_report_shows_them(synthesised) -> None:
    bare = [(path, rule) for path, rule, _ in acknowledgements(synthesised.outdir) if "::AwsSolutions-" in rule]
    bare = [(path, rule) for path, rule in bare if not rule.startswith("AwsSolutions::")]
    assert bare == [], "acknowledge with investai_infra.stacks.common.acknowledge (AwsSolutions::<rule>)"


def test_every_aws_solutions_acknowledgement_answers_a_finding(synthesised) -> None:
    """A stale acknowledgement (the finding it answered is gone) hides the next one on that construct."""
    used = {
        (violation["acknowledgedAt"], violation["acknowledgedId"])
        for plugin in report(synthesised.outdir).values()
        for violation in plugin.get("suppressedViolations") or []
    }
    made = {(path, rule) for path, rule, _ in acknowledgements(synthesised.outdir) if rule.startswith("AwsSolutions::")}
    assert made - used == set()
