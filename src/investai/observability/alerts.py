"""The product's alert set, defined once: each alert's Prometheus rule (``ops/prometheus/alerts.yml`` is generated
from :func:`rule_file` by ``ops/generate.py``) and the CloudWatch alarm that watches the same condition on AWS (the
CDK app's monitoring stack checks its alarms against :data:`ALERTS` and adds those it lacks).

Thresholds are the same numbers on both sides, in each side's units (the API's p99 in seconds for Prometheus, in
milliseconds for API Gateway's ``Latency``). Where the series has no AWS counterpart, ``no_cloudwatch`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from investai.observability.metrics import CLOUDWATCH_NAMESPACE, MODEL_COST_METRIC, MODEL_ERRORS_METRIC

Severity = Literal["critical", "warning"]

API_LATENCY_P99_S = 10.0  # synchronous idea generation calls models; API Gateway's integration limit is 29 s
API_5XX_RATIO = 0.01
API_429_RATIO = 0.01
OLDEST_JOB_AGE_S = 1800  # twice the visibility timeout: a job waiting that long is stuck or starved
DEAD_LETTERS = 1
MODEL_ERRORS_PER_15_MIN = 10  # failed attempts (retries count): a provider down or refusing
MODEL_COST_USD_PER_HOUR = 5.0  # embedded shape; on AWS the alarm takes 5% of the stage's monthly budget an hour
DATA_DIR_USED_RATIO = 0.9
BACKUP_MAX_AGE_S = 3 * 3600  # backups run hourly: two missed in a row

FIVE_MINUTES_S = 300
SSE_ROUTES = ".*/events"  # server-sent event streams last minutes by design: not latency
SERVER_ERRORS = 'status=~"5.."'
THROTTLED = 'status="429"'


@dataclass(frozen=True)
class CloudWatchAlarm:
    """The alarm ``<prefix>-<key>`` of a stage, watching ``namespace``/``metric`` with ``statistic`` over
    ``period_s`` (alone or inside a metric-math expression). ``threshold`` in CloudWatch's units; ``None`` when
    each stage sets it (model cost: a share of the stage's budget)."""

    key: str
    namespace: str
    metric: str
    statistic: str
    threshold: float | None
    period_s: int = FIVE_MINUTES_S


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    cloudwatch: CloudWatchAlarm | None = None
    no_cloudwatch: str | None = None

    def __post_init__(self) -> None:
        if (self.cloudwatch is None) == (self.no_cloudwatch is None):
            raise ValueError(f"{self.name}: give a CloudWatch alarm or the reason there is none, not both")

    def rule(self) -> dict[str, Any]:
        """The alert as a Prometheus alerting rule."""
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, "service": "investai"},
            "annotations": {"summary": self.summary, "description": self.description},
        }


def _ratio(selector: str) -> str:
    total = "sum(rate(investai_http_requests_total[5m]))"
    return f"sum(rate(investai_http_requests_total{{{selector}}}[5m])) / {total}"


def _api_alerts() -> tuple[Alert, ...]:
    latency_s = API_LATENCY_P99_S
    buckets = f'investai_http_request_duration_seconds_bucket{{route!~"{SSE_ROUTES}"}}'
    return (
        Alert(
            name="InvestaiApiLatencyP99High",
            expr=f"histogram_quantile(0.99, sum by (le) (rate({buckets}[5m]))) >= {latency_s:g}",
            for_="10m",
            severity="warning",
            summary=f"API p99 latency at or above {latency_s:g} s",
            description="The 99th percentile of request latency (event streams excepted) over 5 minutes is "
            "{{ $value | humanizeDuration }}.",
            cloudwatch=CloudWatchAlarm("api-latency-p99", "AWS/ApiGateway", "Latency", "p99", latency_s * 1000),
        ),
        Alert(
            name="InvestaiApi5xxRatioHigh",
            expr=f"{_ratio(SERVER_ERRORS)} >= {API_5XX_RATIO:g}",
            for_="10m",
            severity="critical",
            summary=f"Over {API_5XX_RATIO:.0%} of API requests answered 5xx",
            description="{{ $value | humanizePercentage }} of requests failed with a server error over 5 minutes.",
            cloudwatch=CloudWatchAlarm("api-5xx", "AWS/ApiGateway", "5XXError", "Average", API_5XX_RATIO),
        ),
        Alert(
            name="InvestaiApiThrottledRatioHigh",
            expr=f"{_ratio(THROTTLED)} >= {API_429_RATIO:g}",
            for_="10m",
            severity="warning",
            summary=f"Over {API_429_RATIO:.0%} of API requests refused with 429",
            description="{{ $value | humanizePercentage }} of requests were rate limited or throttled over 5 "
            "minutes: a client out of control, or limits too tight for the traffic.",
            cloudwatch=CloudWatchAlarm(
                "api-throttled", CLOUDWATCH_NAMESPACE, "ApiThrottledRequests", "Sum", API_429_RATIO
            ),
        ),
    )


def _job_alerts() -> tuple[Alert, ...]:
    return (
        Alert(
            name="InvestaiJobWaitingTooLong",
            expr=f"max(investai_oldest_ready_job_age_seconds) >= {OLDEST_JOB_AGE_S}",
            for_="5m",
            severity="warning",
            summary=f"A ready job has waited {OLDEST_JOB_AGE_S} s or more for a worker",
            description="The oldest ready job has waited {{ $value | humanizeDuration }}: workers are down, "
            "stuck or too few.",
            cloudwatch=CloudWatchAlarm(
                "jobs-oldest-age", "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", OLDEST_JOB_AGE_S
            ),
        ),
        Alert(
            name="InvestaiDeadLetters",
            expr=f"max(investai_dead_letter_jobs) >= {DEAD_LETTERS}",
            for_="1m",
            severity="warning",
            summary="A job failed every attempt and was dead-lettered",
            description="{{ $value }} dead-lettered job(s): read the error, fix the cause, then redrive them.",
            cloudwatch=CloudWatchAlarm(
                "jobs-dead-letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", DEAD_LETTERS
            ),
        ),
    )


def _model_alerts() -> tuple[Alert, ...]:
    return (
        Alert(
            name="InvestaiModelErrors",
            expr=f'sum(increase(investai_model_calls_total{{outcome!="ok"}}[15m])) >= {MODEL_ERRORS_PER_15_MIN}',
            for_="5m",
            severity="warning",
            summary=f"{MODEL_ERRORS_PER_15_MIN} or more failed model calls in 15 minutes",
            description="{{ $value }} model call attempts failed in 15 minutes (throttled, refused, timed out or "
            "unavailable); ideas fall back to the offline provider.",
            cloudwatch=CloudWatchAlarm(
                "model-errors", CLOUDWATCH_NAMESPACE, MODEL_ERRORS_METRIC, "Sum", MODEL_ERRORS_PER_15_MIN, 900
            ),
        ),
        Alert(
            name="InvestaiModelCostRateHigh",
            expr=f"sum(increase(investai_model_cost_usd_total[1h])) >= {MODEL_COST_USD_PER_HOUR:g}",
            for_="5m",
            severity="critical",
            summary=f"Model calls cost {MODEL_COST_USD_PER_HOUR:g} USD or more in one hour",
            description="Model spend over the last hour is {{ $value }} USD: a runaway, not a slow burn.",
            cloudwatch=CloudWatchAlarm("model-cost", CLOUDWATCH_NAMESPACE, MODEL_COST_METRIC, "Sum", None, 3600),
        ),
    )


def _storage_alerts() -> tuple[Alert, ...]:
    return (
        Alert(
            name="InvestaiDataDirFilling",
            expr=f"max(investai_data_dir_used_ratio) >= {DATA_DIR_USED_RATIO:g}",
            for_="15m",
            severity="critical",
            summary=f"The data directory's file system is {DATA_DIR_USED_RATIO:.0%} full or more",
            description="{{ $value | humanizePercentage }} used: SQLite, DuckDB and LanceDB stop writing when "
            "it is full. Free space or grow the volume.",
            no_cloudwatch="on AWS the stores are DynamoDB, S3 and OpenSearch (whose free storage has its own "
            "alarm); a function's data directory is /tmp scratch, gone with the instance",
        ),
        Alert(
            name="InvestaiBackupTooOld",
            expr=f"time() - max(investai_last_backup_timestamp_seconds) >= {BACKUP_MAX_AGE_S}",
            for_="15m",
            severity="critical",
            summary=f"The newest backup is {BACKUP_MAX_AGE_S // 3600} hours old or more (or none exists)",
            description="The newest backup was taken {{ $value | humanizeDuration }} ago: the recovery point "
            "is slipping. Run `investai backup create` and look at the backup job's errors.",
            no_cloudwatch="on AWS the recovery points are DynamoDB point-in-time recovery, S3 versioning and AWS "
            "Backup, whose failed jobs reach the alarm topic through the backup-failures EventBridge rule",
        ),
    )


ALERTS: tuple[Alert, ...] = (*_api_alerts(), *_job_alerts(), *_model_alerts(), *_storage_alerts())


def rule_file() -> dict[str, Any]:
    """The Prometheus rule file of :data:`ALERTS` (one group)."""
    return {"groups": [{"name": "investai", "rules": [alert.rule() for alert in ALERTS]}]}
