"""The stage's threshold alarms as data: what is watched, the threshold and why. The monitoring stack turns each
:class:`AlarmSpec` into a CloudWatch alarm named ``<prefix>-<key>`` that notifies the alarm topic.

Thresholds live in :class:`Thresholds`, with the reason for each; the monitoring level (basic, enhanced, full)
decides which groups exist (see :mod:`investai_infra.stacks.monitoring`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from investai_infra.config import StageConfig
from investai_infra.metrics import FUNCTION_ROLES, StageMetrics

LEVELS = ("basic", "enhanced", "full")
GTE = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
LTE = cw.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD
ACCOUNT_CONCURRENCY_DEFAULT = 1000  # Lambda's default account limit: the API's ceiling without reserved concurrency
MINUTE = Duration.minutes(1)


@dataclass(frozen=True)
class Thresholds:
    api_5xx_rate: float = 0.01  # 5XXError Average = share of requests answered 5XX
    api_4xx_rate: float = 0.10  # mostly failed sign-ins and expired tokens; a jump means abuse or a broken client
    api_latency_p99_ms: int = 10_000  # synchronous idea generation calls models; the integration limit is 29 s
    api_429_rate: float = 0.01  # requests refused by the stage's throttling (10,000 rps / 5,000 burst)
    function_errors: tuple[tuple[str, int], ...] = (("api", 5), ("processing", 1), ("scheduler", 1))
    duration_share_of_timeout: float = 0.8
    concurrency_share: float = 0.8
    table_throttles_per_5_min: int = 1
    oldest_job_age_s: int = 1800  # twice the visibility timeout: a job waiting that long is stuck or starved
    dead_letters: int = 1
    model_cost_share_per_hour: float = 0.05  # of the monthly budget in one hour: a runaway, not a slow burn
    search_free_storage_share: float = 0.25  # AWS's recommended alarm
    search_cpu_percent: int = 80
    search_jvm_pressure_percent: int = 95
    replication_latency_s: int = 900  # S3 Replication Time Control's 15-minute objective


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class AlarmSpec:
    key: str
    metric: cw.IMetric
    threshold: float
    description: str
    comparison: cw.ComparisonOperator = GTE
    periods: int = 1
    datapoints: int | None = None
    missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING


def level_at_least(config: StageConfig, level: str) -> bool:
    return LEVELS.index(config.monitoring) >= LEVELS.index(level)


def model_cost_per_hour_limit(config: StageConfig) -> float:
    return round(config.monthly_budget_usd * THRESHOLDS.model_cost_share_per_hour, 2)


def timeout_s(config: StageConfig, role: str) -> int:
    return {"api": config.api_timeout_s, "processing": config.processing_timeout_s}.get(
        role, config.scheduler_timeout_s
    )


def alarm_specs(config: StageConfig, *, tables: list[str], search: bool, worker: bool) -> list[AlarmSpec]:
    """Every threshold alarm of the stage."""
    m = StageMetrics(config)
    specs = [*api_alarms(m), *function_alarms(config, m), *table_alarms(m, tables), *job_alarms(config, m)]
    if search:
        specs += search_alarms(config, m)
    if worker:
        specs += worker_alarms(config, m)
    if config.replicate_to_secondary:
        specs += replication_alarms(m)
    return specs


def api_alarms(m: StageMetrics) -> list[AlarmSpec]:
    t = THRESHOLDS
    return [
        AlarmSpec(
            "api-5xx",
            m.api("5XXError", "Average"),
            t.api_5xx_rate,
            f"over {t.api_5xx_rate:.0%} of API requests answered 5XX in 2 of 3 five-minute periods",
            periods=3,
            datapoints=2,
        ),
        AlarmSpec(
            "api-4xx",
            m.api("4XXError", "Average"),
            t.api_4xx_rate,
            f"over {t.api_4xx_rate:.0%} of API requests answered 4XX for 15 minutes",
            periods=3,
        ),
        AlarmSpec(
            "api-latency-p99",
            m.api("Latency", "p99"),
            t.api_latency_p99_ms,
            f"API p99 latency at or above {t.api_latency_p99_ms} ms in 2 of 3 periods",
            periods=3,
            datapoints=2,
        ),
        AlarmSpec(
            "api-throttled",
            m.throttled_share(),
            t.api_429_rate,
            f"over {t.api_429_rate:.0%} of API requests refused with 429 (stage throttling)",
            periods=3,
            datapoints=2,
        ),
    ]


def function_alarms(config: StageConfig, m: StageMetrics) -> list[AlarmSpec]:
    share, errors = THRESHOLDS.duration_share_of_timeout, dict(THRESHOLDS.function_errors)
    specs: list[AlarmSpec] = []
    for role in FUNCTION_ROLES:
        limit_s = timeout_s(config, role)
        specs += [
            AlarmSpec(
                f"{role}-errors",
                m.function(role, "Errors", "Sum"),
                errors[role],
                f"the {role} function failed (crash or timeout) {errors[role]}+ times in 5 minutes",
            ),
            AlarmSpec(
                f"{role}-duration",
                m.function(role, "Duration", "p99"),
                int(limit_s * 1000 * share),
                f"the {role} function's p99 duration reached {share:.0%} of its {limit_s} s timeout",
                periods=3,
                datapoints=2,
            ),
            AlarmSpec(
                f"{role}-throttles",
                m.function(role, "Throttles", "Sum"),
                1,
                f"invocations of the {role} function were throttled",
            ),
        ]
    reserved = config.reserved_concurrency
    limit = reserved or ACCOUNT_CONCURRENCY_DEFAULT
    metric = m.function("api", "ConcurrentExecutions", "Maximum") if reserved else m.account_concurrency()
    scope = "reserved concurrency" if reserved else "account concurrency limit (the default, shared)"
    share = THRESHOLDS.concurrency_share
    specs.append(
        AlarmSpec(
            "api-concurrency",
            metric,
            int(limit * share),
            f"concurrent executions reached {share:.0%} of the {limit} {scope}",
            periods=3,
            datapoints=2,
        )
    )
    return specs


def table_alarms(m: StageMetrics, roles: list[str]) -> list[AlarmSpec]:
    """One per table: on-demand tables throttle only on a hot partition or a burst past twice the previous
    peak, both worth knowing."""
    return [
        AlarmSpec(
            f"table-{role}-throttles",
            m.table_throttles(role),
            THRESHOLDS.table_throttles_per_5_min,
            f"requests to the {role} table were throttled in 2 of 3 five-minute periods",
            periods=3,
            datapoints=2,
        )
        for role in roles
    ]


def job_alarms(config: StageConfig, m: StageMetrics) -> list[AlarmSpec]:
    queue, dlq, t = m.names.queue, m.names.dead_letter_queue, THRESHOLDS
    cost = model_cost_per_hour_limit(config)
    return [
        AlarmSpec(
            "jobs-oldest-age",
            m.queue(queue, "ApproximateAgeOfOldestMessage", "Maximum"),
            t.oldest_job_age_s,
            f"a job has waited {t.oldest_job_age_s} s or more in {queue}",
            periods=2,
        ),
        AlarmSpec(
            "jobs-dead-letters",
            m.queue(dlq, "ApproximateNumberOfMessagesVisible", "Maximum"),
            t.dead_letters,
            f"a job failed every attempt and is in {dlq}",
        ),
        AlarmSpec(
            "schedule-dead-letters",
            m.queue(config.name("schedule-dlq"), "ApproximateNumberOfMessagesVisible", "Maximum"),
            t.dead_letters,
            f"EventBridge could not deliver a scheduled event to the scheduler: see {config.name('schedule-dlq')}",
        ),
        AlarmSpec(
            "model-cost",
            m.model_cost(),
            cost,
            f"model calls cost {cost} USD or more in one hour "
            f"({t.model_cost_share_per_hour:.0%} of the {config.monthly_budget_usd} USD monthly budget)",
        ),
    ]


def search_alarms(config: StageConfig, m: StageMetrics) -> list[AlarmSpec]:
    """AWS's recommended OpenSearch alarms; red, blocked writes, storage and KMS in every stage. A domain always
    reports, so missing data is left as missing (insufficient data), not read as healthy."""
    t, missing = THRESHOLDS, cw.TreatMissingData.MISSING
    free_mb = int(config.opensearch_volume_gb * 1024 * t.search_free_storage_share)
    specs = [
        AlarmSpec(
            "search-red",
            m.search("ClusterStatus.red", "Maximum", MINUTE),
            1,
            "a primary shard is unassigned (red)",
            periods=5,
            datapoints=3,
            missing=missing,
        ),
        AlarmSpec(
            "search-writes-blocked",
            m.search("ClusterIndexWritesBlocked", "Maximum"),
            1,
            "writes refused (disk or memory pressure)",
            missing=missing,
        ),
        AlarmSpec(
            "search-free-storage",
            m.search("FreeStorageSpace", "Minimum"),
            free_mb,
            f"a node has {t.search_free_storage_share:.0%} or less of its storage free",
            comparison=LTE,
            missing=missing,
        ),
        AlarmSpec(
            "search-kms-inaccessible",
            m.search("KMSKeyInaccessible", "Maximum", MINUTE),
            1,
            "its KMS key is unusable: the index is unreadable",
            missing=missing,
        ),
    ]
    if not level_at_least(config, "enhanced"):
        return specs
    specs += [
        AlarmSpec(
            "search-cpu",
            m.search("CPUUtilization", "Maximum", Duration.minutes(15)),
            t.search_cpu_percent,
            f"CPU at {t.search_cpu_percent}% or more for 45 minutes",
            periods=3,
            missing=missing,
        ),
        AlarmSpec(
            "search-jvm-pressure",
            m.search("JVMMemoryPressure", "Maximum"),
            t.search_jvm_pressure_percent,
            f"JVM memory pressure at {t.search_jvm_pressure_percent}% or more for 15 minutes",
            periods=3,
            missing=missing,
        ),
        AlarmSpec(
            "search-snapshot-failed",
            m.search("AutomatedSnapshotFailure", "Maximum"),
            1,
            "the automated snapshot failed",
            missing=missing,
        ),
    ]
    if config.opensearch_data_nodes > 1:  # replicas need a second node: a one-node domain is always yellow
        yellow = m.search("ClusterStatus.yellow", "Maximum", MINUTE)
        specs.append(
            AlarmSpec(
                "search-yellow", yellow, 1, "replicas unassigned (yellow) for 5 minutes", periods=5, missing=missing
            )
        )
    return specs


def worker_alarms(config: StageConfig, m: StageMetrics) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            "worker-tasks",
            m.worker("RunningTaskCount", "Minimum"),
            config.worker_min_tasks,
            f"fewer than {config.worker_min_tasks} Fargate worker task(s) running",
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            periods=3,
            datapoints=2,
            missing=cw.TreatMissingData.BREACHING,
        )
    ]


def replication_alarms(m: StageMetrics) -> list[AlarmSpec]:
    """The data bucket's copy in the secondary region is the region-loss recovery point of the documents: a
    failed or late replication eats into the RPO without any other symptom."""
    return [
        AlarmSpec(
            "replication-failed",
            m.replication("OperationsFailedReplication", "Sum"),
            1,
            "objects of the data bucket failed to replicate to the secondary region",
        ),
        AlarmSpec(
            "replication-latency",
            m.replication("ReplicationLatency", "Maximum"),
            THRESHOLDS.replication_latency_s,
            f"replication to the secondary region lags {THRESHOLDS.replication_latency_s} s or more "
            "(Replication Time Control's 15 minutes) in 2 of 3 periods",
            periods=3,
            datapoints=2,
        ),
    ]
