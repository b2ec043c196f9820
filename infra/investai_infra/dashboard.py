"""The stage's CloudWatch dashboard and saved Logs Insights queries (monitoring levels enhanced and full).

Kept apart from :mod:`investai_infra.stacks.monitoring` (the alarms) because it is pure layout: rows of
widgets, per function, per service. Tables are graphed with SEARCH expressions over the stage's name prefix, so
the dashboard follows the product's tables without a widget per table.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_logs as logs

from investai_infra.metrics import FIVE_MINUTES, FUNCTION_ROLES, StageMetrics

PERCENTILES = ("p50", "p90", "p99")


def build_dashboard(stack, *, search: bool, worker: bool) -> cw.Dashboard:
    """``stack`` is the MonitoringStack: its config, metrics and alarms."""
    config, m = stack.config, stack.metrics
    full = config.monitoring == "full"
    dashboard = cw.Dashboard(
        stack,
        "Dashboard",
        dashboard_name=config.name("overview"),
        default_interval=Duration.hours(6),
        period_override=cw.PeriodOverride.AUTO,
    )
    header = f"# InvestAI {config.stage}\nAlarms notify the SNS topic `{config.name('alarms')}`."
    dashboard.add_widgets(
        cw.TextWidget(markdown=header, width=8, height=3),
        cw.AlarmStatusWidget(alarms=list(stack.alarms.values()), title="Alarms", width=16, height=3),
    )
    dashboard.add_widgets(*_api_row(m, full))
    for role in FUNCTION_ROLES:
        dashboard.add_widgets(*_function_row(m, role, _timeout_s(config, role)))
    dashboard.add_widgets(*_jobs_row(m))
    dashboard.add_widgets(*_tables_row(config.prefix))
    if search:
        dashboard.add_widgets(*_search_row(m))
    dashboard.add_widgets(*_edge_and_cost_row(m, full))
    if worker:
        dashboard.add_widgets(*_worker_row(m))
    return dashboard


def _timeout_s(config, role: str) -> int:
    return {"api": config.api_timeout_s, "processing": config.processing_timeout_s}.get(
        role, config.scheduler_timeout_s
    )


def _graph(title: str, left: list[cw.IMetric], *, width: int = 8, right: list[cw.IMetric] | None = None, **kw):
    return cw.GraphWidget(title=title, left=left, right=right or [], width=width, height=6, **kw)


def _band(metric: cw.IMetric, label: str, period: Duration = FIVE_MINUTES) -> cw.MathExpression:
    """The band the full level's anomaly alarms use (3 standard deviations); the expression's period wins over
    the metric's, so it is passed through."""
    return cw.MathExpression(
        expression="ANOMALY_DETECTION_BAND(m, 3)", using_metrics={"m": metric}, label=label, period=period
    )


def _api_row(m: StageMetrics, full: bool) -> list[cw.IWidget]:
    latency: list[cw.IMetric] = [m.api("Latency", p, f"latency {p}") for p in PERCENTILES]
    latency.append(m.api("IntegrationLatency", "p99", "integration p99"))
    if full:
        latency.append(_band(m.api("Latency", "p90"), "p90 expected band"))
    return [
        _graph(
            "API requests and errors",
            [m.api("Count", "Sum", "requests")],
            right=[m.api("4XXError", "Sum", "4XX"), m.api("5XXError", "Sum", "5XX"), m.throttled_requests()],
        ),
        _graph("API latency (ms)", latency),
        _graph("API cache", [m.api("CacheHitCount", "Sum", "hits"), m.api("CacheMissCount", "Sum", "misses")]),
    ]


def _function_row(m: StageMetrics, role: str, timeout_s: int) -> list[cw.IWidget]:
    return [
        _graph(
            f"{role}: invocations, errors, throttles",
            [m.function(role, "Invocations", "Sum", "invocations")],
            right=[m.function(role, "Errors", "Sum", "errors"), m.function(role, "Throttles", "Sum", "throttles")],
        ),
        _graph(
            f"{role}: duration (ms)",
            [m.function(role, "Duration", p, p) for p in PERCENTILES],
            left_annotations=[cw.HorizontalAnnotation(value=timeout_s * 1000, label="timeout")],
        ),
        _graph(f"{role}: concurrency", [m.function(role, "ConcurrentExecutions", "Maximum", "concurrent")]),
    ]


def _jobs_row(m: StageMetrics) -> list[cw.IWidget]:
    queue, dlq = m.names.queue, m.names.dead_letter_queue
    return [
        _graph(
            "Jobs queue",
            [
                m.queue(queue, "ApproximateNumberOfMessagesVisible", "Maximum", "waiting"),
                m.queue(queue, "ApproximateNumberOfMessagesNotVisible", "Maximum", "in flight"),
            ],
            right=[m.queue(queue, "ApproximateAgeOfOldestMessage", "Maximum", "oldest (s)")],
            width=12,
        ),
        _graph("Dead letters", [m.queue(dlq, "ApproximateNumberOfMessagesVisible", "Maximum", "dead")], width=12),
    ]


def _tables_row(prefix: str) -> list[cw.IWidget]:
    def per_table(metric: str) -> cw.MathExpression:
        query = f'{{AWS/DynamoDB,TableName}} MetricName="{metric}" TableName="{prefix}-"'
        return cw.MathExpression(
            expression=f"SEARCH('{query}', 'Sum', 300)",
            using_metrics={},
            label="${PROP('Dim.TableName')}",  # one line per table, named by the table
            period=FIVE_MINUTES,
        )

    return [
        _graph("DynamoDB read units per table", [per_table("ConsumedReadCapacityUnits")]),
        _graph("DynamoDB write units per table", [per_table("ConsumedWriteCapacityUnits")]),
        _graph("DynamoDB throttles per table", [per_table("ReadThrottleEvents"), per_table("WriteThrottleEvents")]),
    ]


def _search_row(m: StageMetrics) -> list[cw.IWidget]:
    return [
        _graph(
            "Search cluster",
            [
                m.search("ClusterStatus.red", "Maximum", label="red"),
                m.search("ClusterStatus.yellow", "Maximum", label="yellow"),
            ],
            right=[m.search("FreeStorageSpace", "Minimum", label="free MB")],
        ),
        _graph(
            "Search load",
            [
                m.search("CPUUtilization", "Maximum", label="CPU %"),
                m.search("JVMMemoryPressure", "Maximum", label="JVM %"),
            ],
        ),
        _graph(
            "Search latency (ms)",
            [
                m.search("SearchLatency", "p99", label="search p99"),
                m.search("IndexingLatency", "p99", label="index p99"),
            ],
        ),
    ]


def _edge_and_cost_row(m: StageMetrics, full: bool) -> list[cw.IWidget]:
    cost: list[cw.IMetric] = [m.model_cost()]
    if full:
        cost.append(_band(m.model_cost(), "expected band", Duration.hours(1)))
    return [
        _graph("Model cost per hour (USD)", cost, width=12),
        _graph("WAF requests", [m.waf("Allowed"), m.waf("Blocked")], width=12),
    ]


def _worker_row(m: StageMetrics) -> list[cw.IWidget]:
    return [
        _graph(
            "Fargate worker",
            [
                m.worker("CPUUtilization", "Average", "AWS/ECS", "CPU %"),
                m.worker("MemoryUtilization", "Average", "AWS/ECS", "memory %"),
            ],
            width=12,
        ),
        _graph("Fargate worker tasks", [m.worker("RunningTaskCount", "Average", label="running")], width=12),
    ]


def saved_queries(stack) -> None:
    """Logs Insights queries saved in the console, over the three functions' log groups: the questions asked
    first in an incident (what failed, how jobs end, how close the functions run to their memory and time)."""
    m: StageMetrics = stack.metrics
    groups = [
        logs.LogGroup.from_log_group_name(stack, f"{role.capitalize()}Logs", m.function_log_group(role))
        for role in FUNCTION_ROLES
    ]
    queries = {
        "errors": logs.QueryString(
            fields=["@timestamp", "@log", "event", "level", "request_id", "error", "@message"],
            filter_statements=['level in ["error", "critical"] or @message like /Task timed out/'],
            sort="@timestamp desc",
            limit=200,
        ),
        "jobs": logs.QueryString(
            filter_statements=["event like /^job\\./"],
            stats_statements=["count(*) by event, outcome, bin(1h)"],
        ),
        "lambda-memory-duration": logs.QueryString(
            filter_statements=['@type = "REPORT"'],
            stats_statements=[
                "max(@maxMemoryUsed / 1e6) as max_mb, max(@memorySize / 1e6) as size_mb, "
                "pct(@duration, 99) as p99_ms, count(*) as invocations by @log, bin(1h)"
            ],
        ),
    }
    for name, query in queries.items():
        logs.QueryDefinition(
            stack,
            f"Query{name.title().replace('-', '')}",
            query_definition_name=f"{stack.config.prefix}/{name}",
            query_string=query,
            log_groups=groups,
        )
