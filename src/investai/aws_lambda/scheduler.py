"""The scheduler function: EventBridge rules fire it on the schedules' cron expressions, and it enqueues the
schedule's job — once per period, however often EventBridge delivers the event (the job's idempotency key
holds the period of the event's time), exactly as the in-process scheduler does.

Which schedule: ``detail.schedule`` when the rule's target input names it, else the rule's name at the end of
its ARN in ``resources``, which the CDK app gives as ``<resource-prefix>-schedule-<schedule name>``
(``investai-prod-schedule-market-refresh``). A schedule this deployment does not have is an error naming it
(Lambda reports it; EventBridge retries, then the rule's dead-letter queue keeps the event).

This function stays light: it ships as a small ZIP without pandas, numpy, pyarrow or DuckDB, so it builds only
the settings, the job records with their queue, and the clock (:mod:`investai.bootstrap.aws_jobs`), never the
container.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from investai.aws_lambda import runtime
from investai.bootstrap.aws_jobs import aws_schedules, build_job_records, system_clock
from investai.jobs.schedule import Schedule, enqueue_scheduled
from investai.observability.logging import get_logger
from investai.ports.clock import Clock
from investai.ports.jobs import JobRecords

log = get_logger(__name__)
RULE_INFIX = "-schedule-"


class UnknownSchedule(LookupError):
    """The event names no schedule of this deployment."""


@dataclass(frozen=True)
class Scheduling:
    """What the function keeps per execution environment."""

    records: JobRecords
    schedules: dict[str, Schedule]
    rule_prefix: str  # "<resource-prefix>-schedule-"
    clock: Clock

    def schedule_for(self, event: EventBridgeEvent) -> Schedule:
        """The schedule ``event`` fires: ``detail.schedule``, else the rule named in ``resources``."""
        detail = event.get("detail") or {}
        named = detail.get("schedule") if isinstance(detail, dict) else None
        name = named if isinstance(named, str) and named else self._from_rule(event.get("resources") or [])
        found = self.schedules.get(name)
        if found is None:
            known = ", ".join(sorted(self.schedules)) or "none"
            raise UnknownSchedule(f"no schedule {name!r} in this deployment (its schedules: {known})")
        return found

    def _from_rule(self, resources: Sequence[str]) -> str:
        rules = [arn.rsplit("/", 1)[-1] for arn in resources if ":rule/" in arn]
        for rule in rules:
            if rule.startswith(self.rule_prefix):
                return rule.removeprefix(self.rule_prefix)
        named = ", ".join(rules) or "no rule"
        raise UnknownSchedule(f"the event names no schedule: {named} (rules are named {self.rule_prefix}<schedule>)")

    def fired_at(self, event: EventBridgeEvent) -> datetime:
        """The time EventBridge gives the event (the schedule's firing time) in UTC; now, for an event that
        carries none (a target input of the rule's own making)."""
        if not event.get("time"):
            return self.clock.now()
        moment = datetime.fromisoformat(event.time)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _build() -> Scheduling:
    settings = runtime.settings()
    clock = system_clock()
    return Scheduling(
        records=build_job_records(settings, clock=clock),
        schedules={schedule.name: schedule for schedule in aws_schedules(settings)},
        rule_prefix=f"{settings.aws_resource_prefix}{RULE_INFIX}",
        clock=clock,
    )


@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """A scheduled event in, the schedule's job for that period enqueued (or found enqueued already); its log
    line names the invocation's trace."""
    with runtime.invocation():
        scheduling = runtime.part("scheduler", _build)
        schedule = scheduling.schedule_for(event)
        at = scheduling.fired_at(event)
        enqueue_scheduled(scheduling.records, schedule, at)
        key = schedule.dedupe_key(at)
        log.info("schedule.enqueued", schedule=schedule.name, job_kind=schedule.job_kind, idempotency_key=key)
        return {"schedule": schedule.name, "job_kind": schedule.job_kind, "idempotency_key": key}
