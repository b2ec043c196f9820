"""Alarms, dashboards and the budget of one stage; everything notifies one encrypted SNS topic.

What each monitoring level creates (``config.monitoring``; dev basic, staging enhanced, prod full):

- **basic**: the essential alarms. API 5XX and 4XX rates, p99 latency and the share refused with 429; per
  function errors, p99 duration near the timeout and throttles; API concurrency against its limit; throttled
  requests per DynamoDB table; age of the oldest job and any dead letter; model cost per hour and model errors
  (failed call attempts, 15 minutes); OpenSearch
  red, blocked writes, free storage and KMS access; the Fargate worker's running tasks; the prod failover
  health check; AWS Backup job failures (EventBridge); the monthly budget.
- **enhanced**: plus a dashboard with per-function detail (invocations, errors, throttles, duration
  percentiles, concurrency) and the API, tables, queues, search, WAF and model cost; OpenSearch CPU, JVM
  pressure, snapshot and yellow-status alarms; saved Logs Insights queries.
- **full**: plus anomaly-detection alarms on API traffic and latency and on model cost, their bands on the
  dashboard, and an X-Ray group with Insights over faulted and errored traces. Lambda Insights is the compute
  stack's (an extension inside the container images), as are the API's per-method metrics (the api stack).

Thresholds are in :mod:`investai_infra.alarms`, the dashboard in :mod:`investai_infra.dashboard`. Log groups
and their retention belong to the stacks that own the functions, API and WAF; this stack adds none. Resources
are watched by name (see :mod:`investai_infra.metrics`).

Model cost: the product counts it in-process (``investai_model_cost_usd_total`` in
``investai.observability.metrics``, a Prometheus counter nothing scrapes on Lambda). On Lambda the same number
reaches CloudWatch as ``InvestmentAI/ModelCostUSD`` (US dollars, no dimensions): ``Metrics.record_model_call``
writes one Embedded Metric Format line per successful model call to stdout when ``AWS_LAMBDA_FUNCTION_NAME`` is
set (``EmbeddedMetricWriter``; the design's "EMF on Lambda": no PutMetricData permission, no extra call), with
``InvestmentAI/ModelTokens`` by ``Direction`` (input, output) beside it. The alarm and the dashboard read the
cost series; its namespace and name come from the product's module, and ``tests/infra/test_monitoring.py``
checks the alarm's metric against a line the product writes. Failed model call attempts are written the same way
as ``InvestmentAI/ModelErrors`` (no dimensions), the series of the ``model-errors`` alarm.

The product's alert set (``investai.observability.alerts``, from which ``ops/prometheus/alerts.yml`` is generated)
is the contract between the two monitoring shapes: :func:`with_product_alerts` checks that each alert's alarm
watches the alert's metric with its statistic, period and threshold (a drift fails the synth) and adds the alarm
of an alert the stage lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Environment, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_xray as xray
from constructs import Construct

from investai.observability.alerts import ALERTS, Alert, CloudWatchAlarm
from investai_infra.alarms import AlarmSpec, alarm_specs, level_at_least
from investai_infra.config import StageConfig
from investai_infra.dashboard import build_dashboard, saved_queries
from investai_infra.metrics import MODEL_COST_NAMESPACE, THROTTLED_METRIC, StageMetrics

if TYPE_CHECKING:
    from investai_infra.stacks.api import ApiStack
    from investai_infra.stacks.compute import ComputeStack
    from investai_infra.stacks.storage import StorageStack

PROJECT_TAG = "Project"


class MonitoringStack(Stack):
    """The stage's alarms (all to ``alarm_topic``), dashboard (enhanced and full) and budget."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        storage: StorageStack,
        compute: ComputeStack,
        api: ApiStack,
        env: Environment,
    ) -> None:
        super().__init__(
            scope, construct_id, env=env, description=f"InvestAI {config.stage}: alarms, dashboard, budget"
        )
        for watched in (storage, compute, api):  # watched by name, so CloudFormation sees no reference
            self.add_stack_dependency(watched, "alarms watch resources of this stack by name")
        self.config = config
        self.metrics = StageMetrics(config)
        self.alarms: dict[str, cw.AlarmBase] = {}
        self.topic_key, self.alarm_topic = self._topic()
        search = storage.opensearch_domain is not None
        worker = compute.worker_service is not None
        self._throttled_requests_filter()
        for spec in with_product_alerts(alarm_specs(config, tables=list(storage.tables), search=search, worker=worker)):
            self._alarm(spec)
        self._failover_alarm(api)
        self._backup_events()
        self.budget = self._budget()
        if level_at_least(config, "full"):
            self._anomaly_alarms()
            self._xray_group()
        self.dashboard: cw.Dashboard | None = None
        if level_at_least(config, "enhanced"):
            self.dashboard = build_dashboard(self, search=search, worker=worker)
            saved_queries(self)

    # -- the topic ------------------------------------------------------------------------------------------
    def _topic(self) -> tuple[kms.Key, sns.Topic]:
        """A customer-managed key: the AWS-managed SNS key cannot be used by CloudWatch, EventBridge or Budgets,
        so an alarm topic encrypted with it would silently drop every alarm."""
        key = kms.Key(
            self,
            "AlarmTopicKey",
            alias=f"alias/{self.config.prefix}-alarms",
            description=f"{self.config.prefix}: the alarm topic",
            enable_key_rotation=True,
        )
        publishers = ("cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmPublishers",
                principals=[iam.ServicePrincipal(service) for service in publishers],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=self.config.name("alarms"),
            display_name=f"InvestAI {self.config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        for sid, service in (("CloudWatchAlarms", "cloudwatch.amazonaws.com"), ("Budgets", "budgets.amazonaws.com")):
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": self.account}},
                )
            )
        if self.config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.config.alarm_email))
        return key, topic

    def _alarm(self, spec: AlarmSpec) -> cw.Alarm:
        """An alarm named ``<prefix>-<key>``, notifying the topic when it fires and when it recovers."""
        alarm = cw.Alarm(
            self,
            _construct_id(spec.key),
            alarm_name=self.config.name(spec.key),
            alarm_description=spec.description[:1].upper() + spec.description[1:],
            metric=spec.metric,
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            evaluation_periods=spec.periods,
            datapoints_to_alarm=spec.datapoints,
            treat_missing_data=spec.missing,
        )
        self._notify(alarm)
        return alarm

    def _notify(self, alarm: cw.AlarmBase) -> None:
        action = cw_actions.SnsAction(self.alarm_topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms[alarm.node.id] = alarm

    # -- API throttling, failover, backups ------------------------------------------------------------------
    def _throttled_requests_filter(self) -> None:
        """API Gateway publishes no count of the requests its throttling refuses: count the 429s in the access
        log (JSON, ``status`` quoted) into ``InvestmentAI/ApiThrottledRequests``."""
        logs.MetricFilter(
            self,
            "ThrottledRequestsFilter",
            log_group=logs.LogGroup.from_log_group_name(self, "ApiAccessLog", self.metrics.api_access_log_group),
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
            metric_namespace=MODEL_COST_NAMESPACE,
            metric_name=THROTTLED_METRIC,
            metric_value="1",
            default_value=0,
        )

    def _failover_alarm(self, api: ApiStack) -> None:
        """Route 53 publishes health-check metrics in us-east-1 only."""
        health_check = getattr(api.node.try_find_child("Failover"), "health_check", None)
        if health_check is None or self.config.region != "us-east-1":
            return
        status = cw.Metric(
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions_map={"HealthCheckId": health_check.health_check_id},
            period=Duration.minutes(1),
            statistic="Minimum",
        )
        self._alarm(
            AlarmSpec(
                "api-health-check",
                status,
                1,
                "the primary API's health check fails: Route 53 answers with the secondary region",
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                periods=2,
                missing=cw.TreatMissingData.BREACHING,
            )
        )

    def _backup_events(self) -> None:
        """AWS Backup reports failed, aborted and expired jobs as events (its metrics have no per-plan view)."""
        rule = events.Rule(
            self,
            "BackupJobFailures",
            rule_name=self.config.name("backup-failures"),
            description="AWS Backup, copy and restore jobs that did not complete",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Backup Job State Change", "Copy Job State Change", "Restore Job State Change"],
                detail={"state": ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"]},
            ),
        )
        rule.add_target(targets.SnsTopic(self.alarm_topic))

    # -- full: anomaly detection and X-Ray ------------------------------------------------------------------
    def _anomaly_alarms(self) -> None:
        """Where a fixed threshold cannot work: traffic (a drop is an outage clients see before any error),
        latency creeping above its usual band, and model spend above its usual band."""
        outside, above = (
            cw.ComparisonOperator.LESS_THAN_LOWER_OR_GREATER_THAN_UPPER_THRESHOLD,
            cw.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
        )
        bands = (
            ("api-traffic-anomaly", self.metrics.api("Count", "Sum"), outside, "API request volume outside its band"),
            ("api-latency-anomaly", self.metrics.api("Latency", "p90"), above, "API p90 latency above its band"),
            ("model-cost-anomaly", self.metrics.model_cost(), above, "Hourly model cost above its band"),
        )
        for key, metric, comparison, description in bands:
            alarm = cw.AnomalyDetectionAlarm(
                self,
                _construct_id(key),
                alarm_name=self.config.name(key),
                alarm_description=f"{description} (3 standard deviations, 3 periods)",
                metric=metric,
                std_devs=3,
                comparison_operator=comparison,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            self._notify(alarm)

    def _xray_group(self) -> None:
        """Traces that faulted or errored, with X-Ray Insights finding the anomalies among them."""
        xray.CfnGroup(
            self,
            "FaultsGroup",
            group_name=self.config.name("faults"),
            filter_expression="fault = true OR error = true",
            insights_configuration=xray.CfnGroup.InsightsConfigurationProperty(
                insights_enabled=True, notifications_enabled=False
            ),
        )

    # -- budget ---------------------------------------------------------------------------------------------
    def _budget(self) -> budgets.CfnBudget:
        """Monthly cost of everything tagged ``Project=InvestmentAI`` (the tag must be activated as a cost
        allocation tag in Billing once per payer account): actual spend at each threshold, and the forecast
        at 100%, to the alarm topic."""
        config = self.config
        topic = budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=self.alarm_topic.topic_arn)
        notifications = [_budget_notification("ACTUAL", pct, topic) for pct in config.budget_thresholds_percent]
        notifications.append(_budget_notification("FORECASTED", 100, topic))
        project = config.tags.get(PROJECT_TAG, "InvestmentAI")
        return budgets.CfnBudget(
            self,
            "MonthlyBudget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=config.name("monthly"),
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=config.monthly_budget_usd, unit="USD"),
                cost_filters={"TagKeyValue": [f"user:{PROJECT_TAG}${project}"]},
            ),
            notifications_with_subscribers=notifications,
        )


def with_product_alerts(specs: list[AlarmSpec]) -> list[AlarmSpec]:
    """``specs`` checked against the product's alert set, plus an alarm for each alert ``specs`` has none for."""
    by_key = {spec.key: spec for spec in specs}
    added: list[AlarmSpec] = []
    for alert in ALERTS:
        side = alert.cloudwatch
        if side is None:  # no AWS counterpart (the alert says why)
            continue
        spec = by_key.get(side.key)
        if spec is None:
            added.append(_alert_spec(alert, side))
        else:
            _check_mirrors(alert, side, spec)
    return [*specs, *added]


def _alert_spec(alert: Alert, side: CloudWatchAlarm) -> AlarmSpec:
    if side.threshold is None:
        raise ValueError(f"{alert.name}: a stage-dependent threshold needs its alarm in investai_infra.alarms")
    metric = cw.Metric(
        namespace=side.namespace,
        metric_name=side.metric,
        statistic=side.statistic,
        period=Duration.seconds(side.period_s),
        label=alert.summary,
    )
    return AlarmSpec(side.key, metric, side.threshold, alert.summary[:1].lower() + alert.summary[1:])


def _watched(metric: cw.IMetric) -> list[tuple[str, str, str, float]]:
    """(namespace, metric, statistic, period in seconds) of each metric an alarm's metric reads."""
    if isinstance(metric, cw.MathExpression):
        return [item for used in metric.using_metrics.values() for item in _watched(used)]
    if isinstance(metric, cw.Metric):
        return [(metric.namespace, metric.metric_name, metric.statistic, metric.period.to_seconds())]
    return []


def _check_mirrors(alert: Alert, side: CloudWatchAlarm, spec: AlarmSpec) -> None:
    expected = (side.namespace, side.metric, side.statistic, side.period_s)
    if expected not in _watched(spec.metric):
        raise ValueError(f"alarm {spec.key} does not watch {expected}, the series of the alert {alert.name}")
    if side.threshold is not None and spec.threshold != side.threshold:
        raise ValueError(f"alarm {spec.key} fires at {spec.threshold}, the alert {alert.name} at {side.threshold}")


def _budget_notification(
    kind: str, percent: int, subscriber: budgets.CfnBudget.SubscriberProperty
) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
    return budgets.CfnBudget.NotificationWithSubscribersProperty(
        notification=budgets.CfnBudget.NotificationProperty(
            notification_type=kind, comparison_operator="GREATER_THAN", threshold=percent, threshold_type="PERCENTAGE"
        ),
        subscribers=[subscriber],
    )


def _construct_id(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("-")) + "Alarm"
