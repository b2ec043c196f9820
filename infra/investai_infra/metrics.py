"""The CloudWatch metrics a stage is watched by, addressed by the names the stacks give their resources.

Why names and not references: a metric built from another stack's construct (``function.metric_errors()``)
makes CloudFormation export the resource's name from that stack and import it here, and an export in use
blocks the producing stack from ever dropping or renaming it. Every resource watched here has a fixed name
(``<prefix>-<role>``, as the product's settings expect), so the monitoring stack names them itself, adds the
other stacks as explicit dependencies, and ``tests/infra/test_monitoring.py`` checks each name against the
templates of the stacks that create the resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from investai.adapters.aws.resources import ResourceNames
from investai.observability.metrics import (
    CLOUDWATCH_NAMESPACE,
    MODEL_COST_METRIC,
    MODEL_TOKENS_METRIC,
    TOKEN_DIRECTION_DIMENSION,
)
from investai_infra.config import StageConfig

FIVE_MINUTES = Duration.minutes(5)
FUNCTION_ROLES = ("api", "processing", "scheduler")
# The product's own names for what its functions publish as Embedded Metric Format (investai.observability.metrics):
# taken from there so the alarms cannot watch a series the product does not write.
MODEL_COST_NAMESPACE = CLOUDWATCH_NAMESPACE
THROTTLED_METRIC = "ApiThrottledRequests"  # from the API's access log (API Gateway publishes no 429 count)
REPLICATION_RULE_ID = "to-secondary-region"  # the data bucket's replication rule (storage stack)


@dataclass(frozen=True)
class StageMetrics:
    """Metric factories for one stage's resources."""

    config: StageConfig

    # -- names ----------------------------------------------------------------------------------------------
    @property
    def names(self) -> ResourceNames:
        return ResourceNames(prefix=self.config.prefix)

    @property
    def api_name(self) -> str:
        return self.config.name("api")

    def function_name(self, role: str) -> str:
        return self.config.name(role)

    def function_log_group(self, role: str) -> str:
        return f"/aws/lambda/{self.function_name(role)}"

    @property
    def api_access_log_group(self) -> str:
        return f"/aws/apigateway/{self.api_name}/access"

    @property
    def search_domain(self) -> str:
        return self.config.name("search")

    @property
    def web_acl(self) -> str:
        return self.config.name("api")

    @property
    def worker_cluster(self) -> str:
        return self.config.name("workers")

    @property
    def worker_service(self) -> str:
        return self.config.name("worker")

    # -- metrics --------------------------------------------------------------------------------------------
    def api(self, name: str, statistic: str, label: str | None = None, period: Duration = FIVE_MINUTES) -> cw.Metric:
        return _metric("AWS/ApiGateway", name, {"ApiName": self.api_name}, statistic, period, label)

    def function(self, role: str, name: str, statistic: str, label: str | None = None) -> cw.Metric:
        return _metric("AWS/Lambda", name, {"FunctionName": self.function_name(role)}, statistic, FIVE_MINUTES, label)

    @staticmethod
    def account_concurrency() -> cw.Metric:
        return _metric("AWS/Lambda", "ConcurrentExecutions", None, "Maximum", FIVE_MINUTES, None)

    def table(self, role: str, name: str, statistic: str = "Sum") -> cw.Metric:
        return _metric("AWS/DynamoDB", name, {"TableName": self.names.table(role)}, statistic, FIVE_MINUTES, None)

    def table_throttles(self, role: str) -> cw.MathExpression:
        """Read and write throttle events summed (each is published only when non-zero, hence FILL)."""
        return cw.MathExpression(
            expression="FILL(reads, 0) + FILL(writes, 0)",
            using_metrics={
                "reads": self.table(role, "ReadThrottleEvents"),
                "writes": self.table(role, "WriteThrottleEvents"),
            },
            period=FIVE_MINUTES,
            label=f"{self.names.table(role)} throttled requests",
        )

    @staticmethod
    def queue(queue_name: str, name: str, statistic: str, label: str | None = None) -> cw.Metric:
        return _metric("AWS/SQS", name, {"QueueName": queue_name}, statistic, FIVE_MINUTES, label)

    def search(self, name: str, statistic: str, period: Duration = FIVE_MINUTES, label: str | None = None) -> cw.Metric:
        dimensions = {"DomainName": self.search_domain, "ClientId": self.config.account}
        return _metric("AWS/ES", name, dimensions, statistic, period, label)

    def worker(self, name: str, statistic: str, namespace: str = "ECS/ContainerInsights", label: str | None = None):
        dimensions = {"ClusterName": self.worker_cluster, "ServiceName": self.worker_service}
        return _metric(namespace, name, dimensions, statistic, FIVE_MINUTES, label)

    def replication(self, name: str, statistic: str) -> cw.Metric:
        """S3 Replication Time Control's metrics of the data bucket's rule, published in the source region."""
        dimensions = {
            "SourceBucket": self.config.bucket_name,
            "DestinationBucket": self.config.replica_bucket_name(),
            "RuleId": REPLICATION_RULE_ID,
        }
        return _metric("AWS/S3", name, dimensions, statistic, FIVE_MINUTES, None)

    def waf(self, verdict: str) -> cw.Metric:
        dimensions = {"WebACL": self.web_acl, "Region": self.config.region, "Rule": "ALL"}
        return _metric("AWS/WAFV2", f"{verdict}Requests", dimensions, "Sum", FIVE_MINUTES, verdict.lower())

    @staticmethod
    def model_cost(period: Duration = Duration.hours(1)) -> cw.Metric:
        """No dimensions: one series per account, i.e. per stage, exactly as the product's functions write it
        (``EmbeddedMetricWriter``: an empty dimension set); a dimension here or there would make the alarm watch
        a series nobody writes. No unit either: the alarm then matches the datapoints whatever unit the
        publisher writes (the product writes ``None``)."""
        return _metric(MODEL_COST_NAMESPACE, MODEL_COST_METRIC, None, "Sum", period, "model cost (USD)")

    @staticmethod
    def model_tokens(direction: str, period: Duration = Duration.hours(1)) -> cw.Metric:
        """Tokens of successful model calls, ``input`` or ``output``: the product's one dimension, ``Direction``."""
        if direction not in ("input", "output"):
            raise ValueError(f"model token direction is input or output, not {direction!r}")
        dimensions = {TOKEN_DIRECTION_DIMENSION: direction}
        return _metric(MODEL_COST_NAMESPACE, MODEL_TOKENS_METRIC, dimensions, "Sum", period, f"{direction} tokens")

    def throttled_requests(self) -> cw.Metric:
        """No dimensions: a metric filter can take dimension values only from the log line, and a stage (an
        account) has one API."""
        return _metric(MODEL_COST_NAMESPACE, THROTTLED_METRIC, None, "Sum", FIVE_MINUTES, None)

    def throttled_share(self) -> cw.MathExpression:
        """429s over all requests of the API."""
        return cw.MathExpression(
            expression="IF(requests > 0, FILL(refused, 0) / requests, 0)",
            using_metrics={"requests": self.api("Count", "Sum"), "refused": self.throttled_requests()},
            period=FIVE_MINUTES,
            label="share of requests refused (429)",
        )


def _metric(
    namespace: str,
    name: str,
    dimensions: dict[str, str] | None,
    statistic: str,
    period: Duration,
    label: str | None,
) -> cw.Metric:
    return cw.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=period,
        label=label,
    )
