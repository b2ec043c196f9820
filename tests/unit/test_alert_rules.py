"""The Prometheus rule file and the Grafana dashboard under ops/: generated from the product's alert set and up to
date, shaped as Prometheus and Grafana read them, and reading only series the product declares."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from investai.observability.alerts import ALERTS, Alert, CloudWatchAlarm, rule_file
from investai.observability.metrics import Metrics

yaml = pytest.importorskip("yaml")

OPS_DIR = Path(__file__).resolve().parents[2] / "ops"
RULES = OPS_DIR / "prometheus" / "alerts.yml"
DASHBOARD = OPS_DIR / "grafana" / "investai-dashboard.json"
METRIC_NAME = re.compile(r"\binvestai_[a-z0-9_]+")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
REQUIRED_ALERTS = {
    "latency": "investai_http_request_duration_seconds_bucket",
    "5xx": 'status=~"5.."',
    "429": 'status="429"',
    "job age": "investai_oldest_ready_job_age_seconds",
    "dead letters": "investai_dead_letter_jobs",
    "model errors": 'outcome!="ok"',
    "model cost": "investai_model_cost_usd_total",
    "disk": "investai_data_dir_used_ratio",
    "backup age": "investai_last_backup_timestamp_seconds",
}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ops_generate", OPS_DIR / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return loaded


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def declared_names() -> set[str]:
    """Every sample name a fresh registry declares, by each family's type."""
    text = Metrics(embedded=None).render().decode()
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def test_the_files_are_generated_from_the_alert_set_and_up_to_date(
    rules: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    generator = load_generator()
    assert rules == rule_file(), "regenerate: .venv/bin/python ops/generate.py"
    assert RULES.read_text() == generator.rules_text()
    assert dashboard == generator.dashboard(), "regenerate: .venv/bin/python ops/generate.py"


def test_the_rule_file_has_prometheus_shape(rules: dict[str, Any]) -> None:
    assert set(rules) == {"groups"}
    names: list[str] = []
    for group in rules["groups"]:
        assert set(group) == {"name", "rules"}
        assert group["rules"]
        for rule in group["rules"]:
            assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
            assert ALERT_NAME.fullmatch(rule["alert"])
            assert isinstance(rule["expr"], str)
            assert rule["expr"].strip()
            assert DURATION.fullmatch(rule["for"])
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert all(isinstance(value, str) for value in rule["labels"].values())
            assert rule["annotations"]["summary"].strip()
            assert all(isinstance(value, str) for value in rule["annotations"].values())
            names.append(rule["alert"])
    assert len(names) == len(set(names))


@pytest.mark.parametrize("alert", ALERTS, ids=lambda alert: alert.name)
def test_each_expression_is_a_balanced_comparison_of_declared_series(alert: Alert) -> None:
    expr = alert.expr
    for opening, closing in ("()", "{}", "[]"):
        depth = 0
        for char in expr:
            depth += (char == opening) - (char == closing)
            assert depth >= 0, expr
        assert depth == 0, expr
    assert re.search(r"\s(>=|>|<=|<|==|!=)\s[0-9.e+-]+$", expr), "an alert fires on a comparison with its threshold"
    names = set(METRIC_NAME.findall(expr))
    assert names
    assert names <= declared_names()


def test_the_alert_set_covers_every_concern(rules: dict[str, Any]) -> None:
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    for concern, fragment in REQUIRED_ALERTS.items():
        assert any(fragment in expr for expr in expressions), concern


def test_each_alert_names_its_cloudwatch_alarm_or_why_it_has_none() -> None:
    for alert in ALERTS:
        if alert.cloudwatch is None:
            assert alert.no_cloudwatch
        else:
            assert alert.cloudwatch.namespace
            assert alert.cloudwatch.period_s % 60 == 0
    keys = [alert.cloudwatch.key for alert in ALERTS if alert.cloudwatch]
    assert len(keys) == len(set(keys))
    alarm = CloudWatchAlarm("k", "AWS/X", "M", "Sum", 1)
    with pytest.raises(ValueError, match="not both"):
        Alert("A", "x >= 1", "1m", "warning", "s", "d", cloudwatch=alarm, no_cloudwatch="why")
    with pytest.raises(ValueError, match="not both"):
        Alert("A", "x >= 1", "1m", "warning", "s", "d")


def test_the_dashboard_has_grafana_shape_and_a_panel_for_every_alerted_series(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"]
    assert dashboard["title"]
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    expressions: list[str] = []
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["targets"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
        expressions += [target["expr"] for target in panel["targets"]]
    dashboard_names = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert dashboard_names <= declared_names()
    for alert in ALERTS:
        assert set(METRIC_NAME.findall(alert.expr)) <= dashboard_names, alert.name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rule_file() -> None:
    result = subprocess.run(
        [str(shutil.which("promtool")), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
