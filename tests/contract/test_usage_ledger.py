"""Contract of the UsageLedger port: SQLite, and DynamoDB on the session's moto server."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from investai.adapters.aws.dynamodb_usage import DynamoDbUsageLedger
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import USAGE_TABLE, ResourceNames
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_usage import SqliteUsageLedger
from investai.domain.budgets import BudgetOverride, BudgetScope, UsageEntry, usd_to_nanos
from investai.ports.usage import UsageLedger
from tests.aws import MotoServer, SerialisedClient, fresh_prefix

T0 = datetime(2024, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC)
FEBRUARY = datetime(2024, 2, 1, tzinfo=UTC)
MODELS = ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "us.amazon.nova-pro-v1:0", "offline-template-v1")
STEPS = ("planning", "research", "analysis", "compliance", "synthesis")


def sqlite_ledger(_request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UsageLedger]:
    db = SqliteDatabase(path=tmp_path / "db.sqlite", migrations=MIGRATIONS)
    db.migrate()
    yield SqliteUsageLedger(db=db)
    db.close()


def dynamodb_ledger(request: pytest.FixtureRequest, _tmp_path: Path) -> Iterator[UsageLedger]:
    moto: MotoServer = request.getfixturevalue("moto")
    client = SerialisedClient(moto.client("dynamodb"))
    table = ResourceNames(prefix=fresh_prefix()).table(USAGE_TABLE.role)
    ensure_table(client, USAGE_TABLE, table)
    try:
        yield DynamoDbUsageLedger(client=client, table=table)
        assert "scan" not in client.operations
    finally:
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=table)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[UsageLedger]]] = {
    "sqlite": sqlite_ledger,
    "dynamodb": dynamodb_ledger,
}


@pytest.fixture(params=sorted(ADAPTERS))
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UsageLedger]:
    yield from ADAPTERS[request.param](request, tmp_path)


def entry(
    *,
    user: str = "usr_a",
    organisation: str = "org_1",
    model: str = MODELS[0],
    step: str = "planning",
    tokens: tuple[int, int] = (100, 20),
    cost: float = 0.0006,
    at: datetime = T0,
) -> UsageEntry:
    return UsageEntry(
        user_id=user,
        organisation_id=organisation,
        model_id=model,
        step=step,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=cost,
        at=at,
        request_id="ireq_1",
    )


def random_entries(rng: random.Random, count: int, *, at: datetime = T0) -> list[UsageEntry]:
    return [
        entry(
            user=rng.choice(("usr_a", "usr_b", "usr_c")),
            organisation=rng.choice(("org_1", "org_2")),
            model=rng.choice(MODELS),
            step=rng.choice(STEPS),
            tokens=(rng.randint(0, 50_000), rng.randint(0, 5_000)),
            cost=round(rng.uniform(0, 0.5), 9),
            at=at,
        )
        for _ in range(count)
    ]


def test_totals_of_a_user_and_an_organisation(ledger: UsageLedger) -> None:
    assert ledger.totals(month="2024-01", organisation_id="org_1").calls == 0
    assert ledger.record("run-1", [entry(), entry(user="usr_b", cost=0.25, tokens=(1000, 0))]) is True
    user = ledger.totals(month="2024-01", organisation_id="org_1", user_id="usr_a")
    assert (user.calls, user.input_tokens, user.output_tokens, user.cost_nanos) == (1, 100, 20, 600_000)
    organisation = ledger.totals(month="2024-01", organisation_id="org_1")
    assert (organisation.calls, organisation.tokens, organisation.cost_nanos) == (2, 1120, 250_600_000)
    assert organisation.cost_usd == pytest.approx(0.2506)
    assert ledger.totals(month="2024-01", organisation_id="org_2").calls == 0
    assert ledger.totals(month="2024-01", organisation_id="org_1", user_id="usr_c").tokens == 0


def test_a_batch_counts_once(ledger: UsageLedger) -> None:
    assert ledger.record("run-1", [entry()]) is True
    assert ledger.record("run-1", [entry(cost=9.0)]) is False
    assert ledger.record("run-2", [entry()]) is True
    totals = ledger.totals(month="2024-01", organisation_id="org_1", user_id="usr_a")
    assert (totals.calls, totals.cost_nanos) == (2, 1_200_000)
    assert ledger.record("run-3", []) is False


def test_months_are_utc_calendar_months(ledger: UsageLedger) -> None:
    ledger.record("late", [entry(at=T0)])
    ledger.record("early", [entry(at=FEBRUARY, cost=1.0)])
    # 00:30 on 1 February in UTC+1 is still January in UTC
    ledger.record("zone", [entry(at=datetime(2024, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), cost=2.0)])
    january = ledger.totals(month="2024-01", organisation_id="org_1")
    february = ledger.totals(month="2024-02", organisation_id="org_1")
    assert (january.calls, january.cost_nanos) == (2, usd_to_nanos(2.0006))
    assert (february.calls, february.cost_nanos) == (1, usd_to_nanos(1.0))
    assert ledger.report(month="2024-03").total.calls == 0
    with pytest.raises(ValueError, match="not a month"):
        ledger.totals(month="2024-13", organisation_id="org_1")


def test_report_totals_equal_the_sum_of_the_recorded_uses(ledger: UsageLedger) -> None:
    rng = random.Random(7)
    entries = random_entries(rng, 60)
    for first in range(0, len(entries), 6):
        assert ledger.record(f"run-{first}", entries[first : first + 6])
    ledger.record("next-month", random_entries(rng, 5, at=FEBRUARY))

    for organisation in (None, "org_1"):
        mine = [item for item in entries if organisation is None or item.organisation_id == organisation]
        report = ledger.report(month="2024-01", organisation_id=organisation)
        assert report.total.calls == len(mine)
        assert report.total.tokens == sum(item.input_tokens + item.output_tokens for item in mine)
        assert report.total.cost_usd == pytest.approx(sum(item.cost_usd for item in mine), abs=1e-9)
        for lines, field in (
            (report.by_user, "user_id"),
            (report.by_model, "model_id"),
            (report.by_step, "step"),
            (report.by_organisation, "organisation_id"),
        ):
            expected: dict[str, tuple[int, int, int]] = {}
            for item in mine:
                calls, tokens, nanos = expected.get(getattr(item, field), (0, 0, 0))
                expected[getattr(item, field)] = (
                    calls + 1,
                    tokens + item.input_tokens + item.output_tokens,
                    nanos + usd_to_nanos(item.cost_usd),
                )
            found = {line.key: (line.calls, line.tokens, usd_to_nanos(line.cost_usd)) for line in lines}
            assert found == expected, field
            costs = [line.cost_usd for line in lines]
            assert costs == sorted(costs, reverse=True)


def test_concurrent_writers_lose_nothing(ledger: UsageLedger) -> None:
    def work(worker: int) -> None:
        for run in range(10):
            ledger.record(f"w{worker}-{run}", [entry(cost=0.001, tokens=(10, 1)), entry(step="research")])

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    totals = ledger.totals(month="2024-01", organisation_id="org_1")
    assert (totals.calls, totals.tokens) == (80, 40 * 11 + 40 * 120)
    assert totals.cost_nanos == 40 * usd_to_nanos(0.001) + 40 * usd_to_nanos(0.0006)
    steps = {line.key: line.calls for line in ledger.report(month="2024-01").by_step}
    assert steps == {"planning": 40, "research": 40}


def test_overrides_are_set_replaced_listed_and_cleared(ledger: UsageLedger) -> None:
    def override(scope: BudgetScope, subject: str, usd: float | None, tokens: int | None) -> BudgetOverride:
        return BudgetOverride(
            organisation_id="org_1",
            scope=scope,
            subject_id=subject,
            monthly_usd=usd,
            monthly_tokens=tokens,
            updated_at=T0,
            updated_by="usr_admin",
        )

    assert ledger.override(organisation_id="org_1", scope=BudgetScope.USER, subject_id="usr_a") is None
    first = override(BudgetScope.USER, "usr_a", 5.0, None)
    ledger.set_override(first)
    assert ledger.override(organisation_id="org_1", scope=BudgetScope.USER, subject_id="usr_a") == first
    second = override(BudgetScope.USER, "usr_a", None, 1000)
    ledger.set_override(second)
    organisation = override(BudgetScope.ORGANISATION, "org_1", 100.0, 0)
    ledger.set_override(organisation)
    ledger.set_override(override(BudgetScope.USER, "usr_0", 1.0, 1))
    listed = ledger.overrides(organisation_id="org_1")
    assert [(item.scope, item.subject_id) for item in listed] == [
        (BudgetScope.ORGANISATION, "org_1"),
        (BudgetScope.USER, "usr_0"),
        (BudgetScope.USER, "usr_a"),
    ]
    assert listed[2] == second
    assert ledger.overrides(organisation_id="org_2") == []
    assert ledger.override(organisation_id="org_2", scope=BudgetScope.USER, subject_id="usr_a") is None
    assert ledger.clear_override(organisation_id="org_1", scope=BudgetScope.USER, subject_id="usr_a") is True
    assert ledger.clear_override(organisation_id="org_1", scope=BudgetScope.USER, subject_id="usr_a") is False
    assert ledger.override(organisation_id="org_1", scope=BudgetScope.USER, subject_id="usr_a") is None
    assert len(ledger.overrides(organisation_id="org_1")) == 2
