"""The crontab -> EventBridge converter (no synth): exact spellings, refusals, and — for a set of expressions —
the same firing minutes over two weeks as crontab itself (APScheduler with the product's day-of-week
translation) against a small evaluator of EventBridge's dialect written here."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA_DIR) not in sys.path:
    sys.path.insert(0, str(INFRA_DIR))

from investai.config import Settings  # noqa: E402
from investai_infra.schedules import DAY_NAMES, MONTH_NAMES, aws_schedules, to_eventbridge_cron  # noqa: E402

START = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday, so every weekday and a month boundary fall in the window
WINDOW = timedelta(days=14)


@pytest.mark.parametrize(
    ("crontab", "eventbridge"),
    [
        ("17 3 * * *", "cron(17 3 * * ? *)"),
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),
        ("7 * * * *", "cron(7 * * * ? *)"),
        ("0 9 * * 1-5", "cron(0 9 ? * MON-FRI *)"),
        ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),
        ("0 0 * * 0", "cron(0 0 ? * SUN *)"),
        ("0 0 * * 7", "cron(0 0 ? * SUN *)"),
        ("0 0 * * 5-7", "cron(0 0 ? * SUN,FRI,SAT *)"),
        ("0 0 * * */2", "cron(0 0 ? * SUN,TUE,THU,SAT *)"),
        ("0 0 * * 1,3", "cron(0 0 ? * MON,WED *)"),
        ("0 0 1 * *", "cron(0 0 1 * ? *)"),
        ("0 0 */2 * *", "cron(0 0 1/2 * ? *)"),
        ("5 */6 * jan-mar *", "cron(5 0/6 * 1-3 ? *)"),
        ("0-30/10 1,13 * * *", "cron(0,10,20,30 1,13 * * ? *)"),
        ("10/20 * * * *", "cron(10/20 * * * ? *)"),
    ],
)
def test_converts_exactly(crontab: str, eventbridge: str) -> None:
    assert to_eventbridge_cron(crontab) == eventbridge


@pytest.mark.parametrize(
    "crontab",
    [
        "0 0 1 * 1",  # both day fields: crontab ORs them, one EventBridge rule cannot
        "0 0 * *",  # four fields
        "0 0 * * * *",  # six fields
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "* * * * fri-mon",  # backwards range
        "*/0 * * * *",
        "1,,2 * * * *",
        "@daily",
    ],
)
def test_refuses_what_has_no_exact_equivalent(crontab: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        to_eventbridge_cron(crontab)


def test_the_aws_shape_runs_these_schedules_from_the_setting_defaults() -> None:
    """What Container.schedules() picks on AWS: no lifecycle job (S3 lifecycle rules), no backup job (AWS
    Backup), redelivery (SQS) and compaction (Parquet on S3); crons are the settings' defaults."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    found = {schedule.name: schedule.cron for schedule in aws_schedules()}
    assert found == {
        "maintenance": defaults["maintenance_cron"],
        "ideas-expiry": defaults["ideas_expiry_cron"],
        "market-retention": defaults["market_retention_cron"],
        "market-refresh": defaults["market_refresh_cron"],
        "job-redelivery": defaults["job_redelivery_cron"],
        "market-compaction": defaults["market_compaction_cron"],
    }


def test_the_environment_does_not_change_the_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_MAINTENANCE_CRON", "1 1 * * *")
    assert {s.name: s.cron for s in aws_schedules()}["maintenance"] == Settings.model_fields["maintenance_cron"].default


# -- same minutes as crontab ----------------------------------------------------------------------------------
EQUIVALENCE = [
    "17 3 * * *",
    "*/15 * * * *",
    "*/10 * * * *",
    "7 * * * *",
    "23 3 * * *",
    "0 9 * * 1-5",
    "30 */5 * * 0",
    "0 12 * * 5-7",
    "0 0 * * */2",
    "15 6 */3 * *",
    "0-30/10 1,13 * * *",
    "0 0 1,15 * *",
    *(schedule.cron for schedule in aws_schedules()),
]


@pytest.mark.parametrize("crontab", EQUIVALENCE)
def test_fires_on_the_same_minutes_as_crontab(crontab: str) -> None:
    expected = _crontab_fires(crontab)
    assert expected, "the window should contain firings"
    assert _eventbridge_fires(to_eventbridge_cron(crontab)) == expected


def _crontab_fires(crontab: str) -> list[datetime]:
    from apscheduler.triggers.cron import CronTrigger

    from investai.adapters.local.scheduler import _apscheduler_day_of_week

    minute, hour, day, month, weekday = crontab.split()
    trigger = CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_apscheduler_day_of_week(weekday),
        timezone="UTC",
    )
    fires: list[datetime] = []
    previous = None
    now = START - timedelta(microseconds=1)
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire >= START + WINDOW:
            return fires
        fires.append(fire)
        previous, now = fire, fire


def _eventbridge_fires(expression: str) -> list[datetime]:
    assert expression.startswith("cron(")
    assert expression.endswith(")")
    minute, hour, day, month, weekday, year = expression[5:-1].split(" ")
    assert year == "*"
    assert (day == "?") != (weekday == "?"), "exactly one day field is '?'"
    fields = (
        (minute, 0, 59, ()),
        (hour, 0, 23, ()),
        (day, 1, 31, ()),
        (month, 1, 12, MONTH_NAMES),
        (weekday, 1, 7, DAY_NAMES),  # EventBridge: 1 = SUN
    )
    allowed = [_eventbridge_values(text, low, high, names) for text, low, high, names in fields]
    fires = []
    at = START
    while at < START + WINDOW:
        values = (at.minute, at.hour, at.day, at.month, (at.isoweekday() % 7) + 1)
        if all(value in accepted for value, accepted in zip(values, allowed, strict=True)):
            fires.append(at)
        at += timedelta(minutes=1)
    return fires


def _eventbridge_values(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The values an EventBridge cron field accepts, for the forms the converter writes (no L, W or #)."""
    if text in ("*", "?"):
        return set(range(low, high + 1))

    def value(token: str) -> int:
        return names.index(token) + low if token in names else int(token)

    accepted: set[int] = set()
    for item in text.split(","):
        assert "*" not in item, f"EventBridge steps are written <start>/<step>: {text}"
        span, has_step, step = item.partition("/")
        if has_step:
            accepted.update(range(value(span), high + 1, int(step)))
            continue
        first, _, last = span.partition("-")
        accepted.update(range(value(first), value(last or first) + 1))
    return accepted
