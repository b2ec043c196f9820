"""Two processes recording model usage into one SQLite database at the same time lose nothing: every batch
is counted once, and the counters hold the exact sums. Then ``investai costs`` reports them."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_usage import SqliteUsageLedger
from investai.bootstrap import build_container
from investai.cli import app
from investai.config import Settings
from investai.domain.budgets import UsageEntry, month_of, usd_to_nanos
from investai.domain.users import Role
from tests.conftest import sign_up

BATCHES = 150
AT = datetime(2024, 5, 31, 23, 59, tzinfo=UTC)


def _entries(worker: int, batch: int) -> list[UsageEntry]:
    return [
        UsageEntry(
            user_id=f"usr_{worker}",
            organisation_id="org_1",
            model_id=model,
            step=step,
            input_tokens=100 + batch,
            output_tokens=worker + 1,
            cost_usd=0.000123 * (worker + 1),
            at=AT,
        )
        for model, step in (("model-a", "planning"), ("model-b", "research"), ("model-a", "synthesis"))
    ]


def record_many(path: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    database = SqliteDatabase(path=Path(path), migrations=MIGRATIONS)
    ledger = SqliteUsageLedger(db=database)
    start.wait(30)
    for batch in range(BATCHES):
        assert ledger.record(f"w{worker}-{batch}", _entries(worker, batch))
        ledger.record(f"w{worker}-{batch}", _entries(worker, batch))  # a retry: counts nothing
    database.close()


def test_two_processes_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    database = SqliteDatabase(path=path, migrations=MIGRATIONS)
    database.migrate()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=record_many, args=(str(path), worker, start)) for worker in range(2)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    report = SqliteUsageLedger(db=database).report(month="2024-05")
    expected = [entry for worker in range(2) for batch in range(BATCHES) for entry in _entries(worker, batch)]
    assert report.total.calls == len(expected) == 2 * BATCHES * 3
    assert report.total.tokens == sum(entry.input_tokens + entry.output_tokens for entry in expected)
    assert usd_to_nanos(report.total.cost_usd) == sum(usd_to_nanos(entry.cost_usd) for entry in expected)
    assert {line.key: line.calls for line in report.by_user} == {"usr_0": 3 * BATCHES, "usr_1": 3 * BATCHES}
    assert {line.key: line.calls for line in report.by_model} == {"model-a": 4 * BATCHES, "model-b": 2 * BATCHES}
    database.close()


def test_the_costs_command_reports_by_user_model_and_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(settings.data_dir))
    container = build_container(settings)
    try:
        admin = sign_up(container, role=Role.ADMINISTRATOR, email="boss@example.com")
        analyst = sign_up(container, role=Role.ANALYST, email="ana@example.com")
        now = container.clock.now()
        entries = [
            UsageEntry(
                user_id=analyst.user.id,
                organisation_id="org_1",
                model_id="model-a",
                step=step,
                input_tokens=tokens,
                cost_usd=cost,
                at=now,
            )
            for step, tokens, cost in (("planning", 1000, 0.5), ("synthesis", 20, 0.25))
        ]
        container.budgets.ledger.record("run-1", entries)
    finally:
        container.close()
    runner = CliRunner()
    result = runner.invoke(app, ["costs", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["month"] == month_of(now)
    assert (report["total"]["calls"], report["total"]["tokens"], report["total"]["cost_usd"]) == (2, 1020, 0.75)
    assert {line["key"]: line["cost_usd"] for line in report["by_step"]} == {"planning": 0.5, "synthesis": 0.25}
    text = runner.invoke(app, ["costs", "--month", month_of(now)])
    assert text.exit_code == 0, text.output
    assert "ana@example.com" in text.stdout
    assert "model-a" in text.stdout
    assert runner.invoke(app, ["costs", "--month", "May"]).exit_code == 2

    set_budget = ["costs", "budget", "set", "--user", "ana@example.com", "--usd", "0.75", "--as", admin.user.email]
    assert runner.invoke(app, set_budget).exit_code == 0
    shown = runner.invoke(app, ["costs", "budget", "show", "--user", "ana@example.com", "--as", admin.user.email])
    assert shown.exit_code == 0, shown.output
    usd = next(item for item in json.loads(shown.stdout)["metrics"] if item["metric"] == "usd")
    assert (usd["limit"], usd["spent"], usd["exceeded"]) == (0.75, 0.75, True)
    cleared = runner.invoke(app, ["costs", "budget", "clear", "--user", "ana@example.com", "--as", admin.user.email])
    assert cleared.exit_code == 0, cleared.output
    refused = runner.invoke(
        app, ["costs", "budget", "set", "--user", "ana@example.com", "--usd", "1", "--as", "ana@example.com"]
    )
    assert refused.exit_code == 1
