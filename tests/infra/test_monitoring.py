"""The monitoring stack per stage: the alarm topic, the alarms the contract names (metric, namespace, threshold),
the dashboard from the enhanced level up, the full level's extras, and the budget."""

from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match, Template

from investai.adapters.aws import resources

STAGES = ("dev", "staging", "prod")
PREFIX = {stage: f"investai-{stage}" for stage in STAGES}
BUDGET = {"dev": 150, "staging": 600, "prod": 3000}
TIMEOUTS_MS = {"api": 30_000, "processing": 900_000, "scheduler": 60_000}
TOPIC = {"Ref": Match.string_like_regexp("^AlarmTopic")}


@pytest.fixture(scope="module")
def templates(synthesised) -> dict[str, Template]:
    return {stage: synthesised.template(stage, "monitoring") for stage in STAGES}


def _alarm(template: Template, stage: str, key: str, **properties) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "AlarmName": f"{PREFIX[stage]}-{key}",
                "AlarmActions": [TOPIC],
                "OKActions": [TOPIC],
                **properties,
            }
        ),
    )


def _metric_stat(namespace: str, name: str, stat: str, **extra) -> dict:
    return Match.object_like(
        {
            "MetricStat": Match.object_like(
                {"Metric": Match.object_like({"Namespace": namespace, "MetricName": name, **extra}), "Stat": stat}
            )
        }
    )


@pytest.mark.parametrize("stage", STAGES)
def test_alarm_topic_is_encrypted_with_a_rotating_key_and_ssl_only(templates, stage):
    template = templates[stage]
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {
            "TopicName": f"{PREFIX[stage]}-alarms",
            "KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^AlarmTopicKey"), "Arn"]},
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/{PREFIX[stage]}-alarms"})
    policy = json.dumps(template.find_resources("AWS::SNS::TopicPolicy"))
    for needle in (
        '"aws:SecureTransport": "false"',
        "cloudwatch.amazonaws.com",
        "budgets.amazonaws.com",
        "events.amazonaws.com",
    ):
        assert needle in policy
    key_policy = json.dumps(template.find_resources("AWS::KMS::Key"))
    assert all(service in key_policy for service in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"))


@pytest.mark.parametrize("stage", STAGES)
def test_email_subscription_where_an_address_is_configured(templates, stage):
    subscriptions = templates[stage].find_resources("AWS::SNS::Subscription")
    if stage == "dev":  # cdk.json configures no address for dev
        assert subscriptions == {}
        return
    templates[stage].has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "investai-alerts@example.com", "TopicArn": TOPIC}
    )


@pytest.mark.parametrize("stage", STAGES)
def test_api_alarms(templates, stage):
    template = templates[stage]
    api = {"Namespace": "AWS/ApiGateway", "ComparisonOperator": "GreaterThanOrEqualToThreshold"}
    _alarm(template, stage, "api-5xx", MetricName="5XXError", Statistic="Average", Threshold=0.01, **api)
    _alarm(template, stage, "api-4xx", MetricName="4XXError", Statistic="Average", Threshold=0.1, **api)
    _alarm(template, stage, "api-latency-p99", MetricName="Latency", ExtendedStatistic="p99", Threshold=10_000, **api)
    _alarm(
        template,
        stage,
        "api-throttled",
        Threshold=0.01,
        Metrics=Match.array_with([_metric_stat("AWS/ApiGateway", "Count", "Sum")]),
    )


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("role", sorted(TIMEOUTS_MS))
def test_function_alarms(templates, stage, role):
    template = templates[stage]
    errors = 5 if role == "api" else 1
    _alarm(
        template,
        stage,
        f"{role}-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Threshold=errors,
    )
    _alarm(
        template,
        stage,
        f"{role}-duration",
        Namespace="AWS/Lambda",
        MetricName="Duration",
        ExtendedStatistic="p99",
        Threshold=int(TIMEOUTS_MS[role] * 0.8),
    )
    _alarm(template, stage, f"{role}-throttles", Namespace="AWS/Lambda", MetricName="Throttles", Threshold=1)


@pytest.mark.parametrize("stage", STAGES)
def test_concurrency_alarm_against_reserved_or_account_limit(templates, stage):
    dimensions = Match.array_with([Match.object_like({"Name": "FunctionName"})]) if stage == "prod" else Match.absent()
    _alarm(
        templates[stage],
        stage,
        "api-concurrency",
        Namespace="AWS/Lambda",
        MetricName="ConcurrentExecutions",
        Statistic="Maximum",
        Threshold=800,  # 80% of prod's 1000 reserved, or of the account's default 1000
        Dimensions=dimensions,
    )


@pytest.mark.parametrize("stage", STAGES)
def test_one_throttle_alarm_per_table(templates, stage):
    for spec in resources.tables():
        table = {"Dimensions": [{"Name": "TableName", "Value": f"{PREFIX[stage]}-{spec.role}"}]}
        _alarm(
            templates[stage],
            stage,
            f"table-{spec.role}-throttles",
            Threshold=1,
            Metrics=Match.array_with(
                [
                    _metric_stat("AWS/DynamoDB", "ReadThrottleEvents", "Sum", **table),
                    _metric_stat("AWS/DynamoDB", "WriteThrottleEvents", "Sum", **table),
                ]
            ),
        )


@pytest.mark.parametrize("stage", STAGES)
def test_queue_alarms(templates, stage):
    jobs = [{"Name": "QueueName", "Value": f"{PREFIX[stage]}-jobs"}]
    dlq = [{"Name": "QueueName", "Value": f"{PREFIX[stage]}-jobs-dlq"}]
    _alarm(
        templates[stage],
        stage,
        "jobs-oldest-age",
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=jobs,
        Threshold=1800,
    )
    _alarm(
        templates[stage],
        stage,
        "jobs-dead-letters",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=dlq,
        Threshold=1,
    )
    _alarm(
        templates[stage],
        stage,
        "schedule-dead-letters",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": f"{PREFIX[stage]}-schedule-dlq"}],
        Threshold=1,
    )


@pytest.mark.parametrize("stage", STAGES)
def test_model_cost_alarm_is_five_percent_of_the_budget_per_hour(templates, stage):
    metric = {"Namespace": "InvestmentAI", "MetricName": "ModelCostUSD"}  # no dimensions: one series per stage
    _alarm(
        templates[stage],
        stage,
        "model-cost",
        Threshold=BUDGET[stage] * 0.05,
        Metrics=[Match.object_like({"MetricStat": {"Metric": metric, "Period": 3600, "Stat": "Sum"}})],
    )


def _emitted(name: str, value: float, unit: str, dimensions: dict[str, str] | None = None) -> dict:
    """The namespace, metric name and dimensions of the EMF line the product writes on Lambda."""
    from investai.observability.metrics import EmbeddedMetricWriter

    stream = io.StringIO()
    EmbeddedMetricWriter(stream).put(name, value, unit, dimensions=dimensions)
    document = json.loads(stream.getvalue())
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (dimension_set,) = directive["Dimensions"]
    return {
        "Namespace": directive["Namespace"],
        "MetricName": directive["Metrics"][0]["Name"],
        "Dimensions": {key: document[key] for key in dimension_set},
    }


@pytest.mark.parametrize("stage", STAGES)
def test_model_cost_alarm_watches_exactly_the_series_the_product_writes(templates, stage):
    """The alarm's metric has no dimensions (and no unit), like the product's EMF line: CloudWatch matches a
    metric by namespace, name and the full set of dimensions, so one dimension on either side would leave the
    alarm on a series nobody writes."""
    from investai.domain.idea_parts import ModelUse
    from investai.observability.metrics import EmbeddedMetricWriter, Metrics

    (alarm,) = (
        templates[stage]
        .find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{PREFIX[stage]}-model-cost"}})
        .values()
    )
    (query,) = alarm["Properties"]["Metrics"]
    watched = query["MetricStat"]["Metric"]
    assert watched == {"Namespace": "InvestmentAI", "MetricName": "ModelCostUSD"}  # no Dimensions key at all
    assert "Unit" not in query["MetricStat"]
    emitted = _emitted("ModelCostUSD", 0.01, "None")
    assert emitted == {"Namespace": "InvestmentAI", "MetricName": "ModelCostUSD", "Dimensions": {}}
    assert {**watched, "Dimensions": {d["Name"]: d["Value"] for d in watched.get("Dimensions", [])}} == emitted
    # and the product's model-call path writes that very shape (not just the writer in isolation)
    stream = io.StringIO()
    use = ModelUse(step="plan", provider="bedrock", model_id="m", input_tokens=1, output_tokens=1, cost_usd=0.02)
    Metrics(embedded=EmbeddedMetricWriter(stream)).record_model_call(use, "ok")
    cost = next(json.loads(line) for line in stream.getvalue().splitlines() if "ModelCostUSD" in line)
    assert cost["_aws"]["CloudWatchMetrics"] == [
        {"Namespace": "InvestmentAI", "Dimensions": [[]], "Metrics": [{"Name": "ModelCostUSD", "Unit": "None"}]}
    ]
    if stage == "prod":  # the anomaly alarm reads the same series
        (anomaly,) = (
            templates[stage]
            .find_resources(
                "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{PREFIX[stage]}-model-cost-anomaly"}}
            )
            .values()
        )
        metrics = [q["MetricStat"]["Metric"] for q in anomaly["Properties"]["Metrics"] if "MetricStat" in q]
        assert metrics == [watched]


@pytest.mark.parametrize("direction", ["input", "output"])
def test_model_token_metrics_match_the_products_lines(synthesised, direction):
    from investai_infra.metrics import StageMetrics

    metric = StageMetrics(synthesised.stages["prod"].config).model_tokens(direction)
    assert {"Namespace": metric.namespace, "MetricName": metric.metric_name, "Dimensions": metric.dimensions} == (
        _emitted("ModelTokens", 10, "Count", {"Direction": direction})
    )
    with pytest.raises(ValueError, match="input or output"):
        StageMetrics.model_tokens("both")


@pytest.mark.parametrize("stage", STAGES)
def test_search_alarms_when_the_stage_runs_opensearch(synthesised, templates, stage):
    if synthesised.stages[stage].storage.opensearch_domain is None:
        pytest.skip("no OpenSearch domain in this stage")
    template = templates[stage]
    _alarm(template, stage, "search-red", Namespace="AWS/ES", MetricName="ClusterStatus.red", Threshold=1)
    _alarm(template, stage, "search-writes-blocked", MetricName="ClusterIndexWritesBlocked", Threshold=1)
    _alarm(
        template,
        stage,
        "search-free-storage",
        MetricName="FreeStorageSpace",
        ComparisonOperator="LessThanOrEqualToThreshold",
    )
    detail = bool(
        template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{PREFIX[stage]}-search-cpu"}})
    )
    assert detail == (stage != "dev")  # CPU, JVM and snapshot alarms from the enhanced level up


@pytest.mark.parametrize("stage", STAGES)
def test_backup_failures_reach_the_topic(templates, stage):
    templates[stage].has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"source": ["aws.backup"], "detail": {"state": Match.array_with(["FAILED"])}}
            ),
            "Targets": [Match.object_like({"Arn": TOPIC})],
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_dashboard_from_enhanced_up_with_per_function_detail(templates, stage):
    dashboards = templates[stage].find_resources("AWS::CloudWatch::Dashboard")
    if stage == "dev":
        assert dashboards == {}
        return
    (dashboard,) = dashboards.values()
    assert dashboard["Properties"]["DashboardName"] == f"{PREFIX[stage]}-overview"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for role in TIMEOUTS_MS:
        assert f"{role}: duration (ms)" in body
        assert f"{role}: concurrency" in body
    assert "ModelCostUSD" in body
    assert "ConsumedReadCapacityUnits" in body
    assert ("ANOMALY_DETECTION_BAND" in body) == (stage == "prod")
    assert len(templates[stage].find_resources("AWS::Logs::QueryDefinition")) == 3


@pytest.mark.parametrize("stage", STAGES)
def test_full_level_adds_anomaly_detection_and_xray_insights(templates, stage):
    template = templates[stage]
    anomaly = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"ThresholdMetricId": Match.any_value()}}
    )
    groups = template.find_resources("AWS::XRay::Group")
    if stage != "prod":
        assert anomaly == {}
        assert groups == {}
        return
    names = {alarm["Properties"]["AlarmName"] for alarm in anomaly.values()}
    assert names == {
        f"{PREFIX[stage]}-{key}" for key in ("api-traffic-anomaly", "api-latency-anomaly", "model-cost-anomaly")
    }
    template.has_resource_properties(
        "AWS::XRay::Group",
        {
            "GroupName": f"{PREFIX[stage]}-faults",
            "InsightsConfiguration": {"InsightsEnabled": True, "NotificationsEnabled": False},
        },
    )


def test_prod_alarms_on_the_failover_health_check(templates):
    _alarm(
        templates["prod"],
        "prod",
        "api-health-check",
        Namespace="AWS/Route53",
        MetricName="HealthCheckStatus",
        ComparisonOperator="LessThanThreshold",
        Threshold=1,
    )
    for stage in ("dev", "staging"):
        assert not templates[stage].find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"Namespace": "AWS/Route53"}}
        )


@pytest.mark.parametrize("stage", STAGES)
def test_every_alarm_notifies_the_topic(templates, stage):
    for alarm in templates[stage].find_resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [_topic_ref(templates[stage])]
        assert alarm["Properties"]["OKActions"] == [_topic_ref(templates[stage])]


def _topic_ref(template: Template) -> dict:
    (logical_id,) = template.find_resources("AWS::SNS::Topic")
    return {"Ref": logical_id}


@pytest.mark.parametrize("stage", STAGES)
def test_budget_by_project_tag_with_the_thresholds(templates, stage):
    notification = lambda kind, percent: {  # noqa: E731
        "Notification": {
            "NotificationType": kind,
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": percent,
            "ThresholdType": "PERCENTAGE",
        },
        "Subscribers": [{"SubscriptionType": "SNS", "Address": TOPIC}],
    }
    templates[stage].has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": Match.object_like(
                {
                    "BudgetName": f"{PREFIX[stage]}-monthly",
                    "BudgetType": "COST",
                    "TimeUnit": "MONTHLY",
                    "BudgetLimit": {"Amount": BUDGET[stage], "Unit": "USD"},
                    "CostFilters": {"TagKeyValue": ["user:Project$InvestmentAI"]},
                }
            ),
            "NotificationsWithSubscribers": [
                notification("ACTUAL", 50),
                notification("ACTUAL", 80),
                notification("ACTUAL", 100),
                notification("FORECASTED", 100),
            ],
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_throttled_requests_counted_from_the_access_log(templates, stage):
    templates[stage].has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": f"/aws/apigateway/{PREFIX[stage]}-api/access",
            "FilterPattern": '{ $.status = "429" }',
            "MetricTransformations": [
                Match.object_like(
                    {"MetricNamespace": "InvestmentAI", "MetricName": "ApiThrottledRequests", "MetricValue": "1"}
                )
            ],
        },
    )


def _names(template: Template, kind: str, field: str) -> set[str]:
    return {resource["Properties"].get(field) for resource in template.find_resources(kind).values()}


@pytest.mark.parametrize("stage", STAGES)
def test_watched_names_are_the_names_the_other_stacks_give(synthesised, stage):
    """Monitoring addresses resources by name (no cross-stack exports): each name must exist where it is made."""
    prefix = PREFIX[stage]
    compute, api = synthesised.template(stage, "compute"), synthesised.template(stage, "api")
    roles = sorted(TIMEOUTS_MS)
    assert {f"{prefix}-{role}" for role in roles} <= _names(compute, "AWS::Lambda::Function", "FunctionName")
    assert {f"/aws/lambda/{prefix}-{role}" for role in roles} <= _names(compute, "AWS::Logs::LogGroup", "LogGroupName")
    assert {f"{prefix}-jobs", f"{prefix}-jobs-dlq"} <= _names(compute, "AWS::SQS::Queue", "QueueName")
    assert _names(api, "AWS::ApiGateway::RestApi", "Name") == {f"{prefix}-api"}
    assert f"/aws/apigateway/{prefix}-api/access" in _names(api, "AWS::Logs::LogGroup", "LogGroupName")
    assert _names(api, "AWS::WAFv2::WebACL", "Name") == {f"{prefix}-api"}
    (stage_resource,) = api.find_resources("AWS::ApiGateway::Stage").values()
    assert '"status":"$context.status"' in stage_resource["Properties"]["AccessLogSetting"]["Format"].replace(" ", "")
    stacks = synthesised.stages[stage]
    if stacks.storage.opensearch_domain is not None:
        domains = _names(synthesised.template(stage, "storage"), "AWS::OpenSearchService::Domain", "DomainName")
        assert domains == {f"{prefix}-search"}
    if stacks.compute.worker_service is not None:
        assert _names(compute, "AWS::ECS::Cluster", "ClusterName") == {f"{prefix}-workers"}
        assert _names(compute, "AWS::ECS::Service", "ServiceName") == {f"{prefix}-worker"}
    assert {stacks.storage, stacks.compute, stacks.api} <= set(stacks.monitoring.dependencies)


@pytest.mark.parametrize("stage", STAGES)
def test_monitoring_imports_nothing_but_the_health_check(synthesised, stage):
    imports = json.dumps(synthesised.template_json(stage, "monitoring")).count("Fn::ImportValue")
    assert imports == (1 if stage == "prod" else 0)  # prod: the Route 53 health check's generated id


def test_worker_alarm_in_prod(templates):
    _alarm(
        templates["prod"],
        "prod",
        "worker-tasks",
        Namespace="ECS/ContainerInsights",
        MetricName="RunningTaskCount",
        ComparisonOperator="LessThanThreshold",
        Threshold=1,
        Dimensions=[
            {"Name": "ClusterName", "Value": "investai-prod-workers"},
            {"Name": "ServiceName", "Value": "investai-prod-worker"},
        ],
    )


@pytest.mark.parametrize("stage", STAGES)
def test_replication_alarms_where_the_data_bucket_replicates(synthesised, templates, stage):
    replication = templates[stage].find_resources("AWS::CloudWatch::Alarm", {"Properties": {"Namespace": "AWS/S3"}})
    if stage != "prod":
        assert replication == {}
        return
    dimensions = [
        {"Name": "DestinationBucket", "Value": "investai-prod-data-333333333333-us-west-2"},
        {"Name": "RuleId", "Value": "to-secondary-region"},
        {"Name": "SourceBucket", "Value": "investai-prod-data-333333333333-us-east-1"},
    ]
    _alarm(
        templates[stage],
        stage,
        "replication-failed",
        MetricName="OperationsFailedReplication",
        Threshold=1,
        Dimensions=dimensions,
    )
    _alarm(
        templates[stage],
        stage,
        "replication-latency",
        MetricName="ReplicationLatency",
        Threshold=900,
        Dimensions=dimensions,
    )
    rules = json.dumps(synthesised.template_json(stage, "storage"))
    assert '"Id": "to-secondary-region"' in rules  # the rule the alarms name


def _watched_series(properties: dict) -> list[dict]:
    """(namespace, metric, statistic, period, dimensions) of each metric a synthesised alarm reads."""
    if "MetricName" in properties:
        stat = properties.get("Statistic") or properties.get("ExtendedStatistic")
        metric = {k: properties[k] for k in ("Namespace", "MetricName") if k in properties}
        return [{**metric, "Stat": stat, "Period": properties["Period"], "Dims": properties.get("Dimensions")}]
    return [
        {
            "Namespace": query["MetricStat"]["Metric"]["Namespace"],
            "MetricName": query["MetricStat"]["Metric"]["MetricName"],
            "Stat": query["MetricStat"]["Stat"],
            "Period": query["MetricStat"]["Period"],
            "Dims": query["MetricStat"]["Metric"].get("Dimensions"),
        }
        for query in properties["Metrics"]
        if "MetricStat" in query
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_every_product_alert_has_its_alarm_on_the_series_the_product_writes(templates, stage):
    """The alert set (investai.observability.alerts, the source of ops/prometheus/alerts.yml): each alert with a
    CloudWatch side is an alarm of the stage on that metric, statistic, period and threshold. Model errors are the
    product's EMF line on Lambda, without dimensions, exactly as the alarm reads them."""
    from investai.domain.idea_parts import ModelUse
    from investai.observability.alerts import ALERTS
    from investai.observability.metrics import EmbeddedMetricWriter, Metrics

    for alert in ALERTS:
        side = alert.cloudwatch
        if side is None:
            assert alert.no_cloudwatch
            continue
        found = templates[stage].find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{PREFIX[stage]}-{side.key}"}}
        )
        assert len(found) == 1, f"{alert.name}: no alarm {side.key} in {stage}"
        (alarm,) = found.values()
        properties = alarm["Properties"]
        series = _watched_series(properties)
        assert {"Namespace": side.namespace, "MetricName": side.metric, "Stat": side.statistic} in [
            {k: s[k] for k in ("Namespace", "MetricName", "Stat")} for s in series
        ], alert.name
        assert side.period_s in [s["Period"] for s in series if s["MetricName"] == side.metric]
        expected = side.threshold if side.threshold is not None else BUDGET[stage] * 0.05
        assert properties["Threshold"] == pytest.approx(expected), alert.name
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"  # PromQL's >=
    (errors,) = (
        templates[stage]
        .find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{PREFIX[stage]}-model-errors"}})
        .values()
    )
    (watched,) = _watched_series(errors["Properties"])
    assert watched["Dims"] is None  # one series a stage, like the line below
    stream = io.StringIO()
    Metrics(embedded=EmbeddedMetricWriter(stream)).record_model_call(
        ModelUse(step="plan", provider="bedrock", model_id="m"), "model_throttled"
    )
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": watched["Namespace"],
            "Dimensions": [[]],
            "Metrics": [{"Name": watched["MetricName"], "Unit": "Count"}],
        }
    ]


def test_an_alarm_that_drifts_from_its_alert_fails_the_synth():
    """The monitoring stack refuses alarms whose threshold or series differ from the product's alert set."""
    from dataclasses import replace

    from investai_infra.alarms import alarm_specs
    from investai_infra.config import stage_config
    from investai_infra.stacks.monitoring import with_product_alerts

    specs = alarm_specs(stage_config("dev"), tables=["ideas"], search=False, worker=False)
    assert [spec.key for spec in with_product_alerts(specs)[len(specs) :]] == ["model-errors"]
    drifted = [replace(spec, threshold=5_000) if spec.key == "api-latency-p99" else spec for spec in specs]
    with pytest.raises(ValueError, match="api-latency-p99 fires at 5000"):
        with_product_alerts(drifted)
    other = {spec.key: spec for spec in alarm_specs(stage_config("dev"), tables=[], search=False, worker=False)}
    swapped = [replace(spec, metric=other["api-4xx"].metric) if spec.key == "api-5xx" else spec for spec in specs]
    with pytest.raises(ValueError, match="api-5xx does not watch"):
        with_product_alerts(swapped)
