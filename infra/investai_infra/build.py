"""Building the app: stages from the context, the AwsSolutions rule pack as a validation plugin."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from investai_infra.config import STAGES, stage_config
from investai_infra.stage import StageStacks, build_stage


def build_app(*, outdir: str | None = None, context: Mapping[str, Any] | None = None, nag: bool | None = None) -> App:
    """The app with the stages the context names (``stage=dev``, or every stage); its ``stages`` attribute maps
    each stage to its :class:`StageStacks`."""
    app = App(outdir=outdir, context={**committed_context(), **dict(context or {})})
    chosen = app.node.try_get_context("stage")
    names = [str(chosen)] if chosen else list(STAGES)
    context_values = {key: app.node.try_get_context(key) for key in _context_keys(names)}
    stages: dict[str, StageStacks] = {}
    for name in names:
        stages[name] = build_stage(app, stage_config(name, {k: v for k, v in context_values.items() if v is not None}))
    if nag if nag is not None else os.environ.get("INVESTAI_INFRA_NAG", "1") != "0":
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.stages = stages  # type: ignore[attr-defined]
    return app


def _context_keys(stages: list[str]) -> list[str]:
    fields = (
        "account",
        "region",
        "alarm_email",
        "domain_name",
        "certificate_arn",
        "hosted_zone_id",
        "hosted_zone_name",
        "secondary_domain_name",
        "search_backend",
        "quotes_backend",
        "monthly_budget_usd",
        "fargate_worker",
        "waf_blocked_countries",
    )
    return [f"investai:{stage}:{field}" for stage in stages for field in fields]


INFRA_DIR = Path(__file__).resolve().parent.parent


def committed_context() -> dict[str, Any]:
    """``cdk.json``'s context and ``cdk.context.json`` (availability zones), as the CDK CLI would pass them, so
    that ``python app.py`` and the tests synthesise exactly what ``cdk synth`` does."""
    merged: dict[str, Any] = dict(json.loads((INFRA_DIR / "cdk.json").read_text())["context"])
    merged.update(json.loads((INFRA_DIR / "cdk.context.json").read_text()))
    return merged
