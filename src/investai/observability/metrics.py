"""Prometheus metrics, kept in a registry per Container (no global state, so apps can coexist in tests); on
AWS Lambda, model cost, tokens and errors also as CloudWatch Embedded Metric Format lines.

Why EMF on Lambda: nothing scrapes a function's Prometheus registry, and the CDK app's monitoring stack alarms on
``InvestmentAI/ModelCostUSD``. A JSON line on stdout in EMF becomes that metric when CloudWatch Logs ingests the
function's log: no ``PutMetricData`` call, no permission, no SDK (this package stays free of boto3). The lines
are written here by hand rather than with aws_lambda_powertools' ``single_metric``: powertools adds a
``service`` dimension whenever ``POWERTOOLS_SERVICE_NAME`` is set, and a metric with a dimension is another
series than the dimensionless one the alarm watches (``investai_infra.metrics.StageMetrics.model_cost``).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from investai.domain.idea_parts import ModelUse

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# The CloudWatch side of the model metrics: the CDK app's alarms and dashboard read these exact series.
CLOUDWATCH_NAMESPACE = "InvestmentAI"
MODEL_COST_METRIC = "ModelCostUSD"  # US dollars per call, summed by the alarm; no dimensions (one series a stage)
MODEL_COST_UNIT = "None"  # CloudWatch has no currency unit
MODEL_TOKENS_METRIC = "ModelTokens"  # tokens per call, one series per direction
MODEL_TOKENS_UNIT = "Count"
TOKEN_DIRECTION_DIMENSION = "Direction"  # "input" or "output"
MODEL_ERRORS_METRIC = "ModelErrors"  # one per failed model call attempt; no dimensions (one series a stage)
MODEL_ERRORS_UNIT = "Count"
LAMBDA_FUNCTION_VARIABLE = "AWS_LAMBDA_FUNCTION_NAME"  # set by the Lambda runtime in every function


class EmbeddedMetricWriter:
    """Writes one CloudWatch Embedded Metric Format document per metric value, a JSON line each, to ``stream``
    (default: the process's stdout at the time of writing, which Lambda sends to the function's log group).

    ``dimensions`` become both the root members and the directive's single dimension set; with none, the
    dimension set is empty (``[[]]``), which publishes the metric without dimensions. ``properties`` are extra
    root members for Logs Insights (the model id), not dimensions, so they create no metric series."""

    def __init__(self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def for_lambda(cls, environ: Mapping[str, str] | None = None) -> EmbeddedMetricWriter | None:
        """A writer when running inside AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set), else ``None``."""
        environ = os.environ if environ is None else environ
        return cls() if environ.get(LAMBDA_FUNCTION_VARIABLE) else None

    def document(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        dimensions = dict(dimensions or {})
        return {
            **(properties or {}),
            **dimensions,
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": CLOUDWATCH_NAMESPACE,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            name: value,
        }

    def put(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        if not math.isfinite(value):  # EMF refuses NaN and infinities (and JSON cannot carry them)
            return
        line = orjson.dumps(self.document(name, value, unit, dimensions=dimensions, properties=properties))
        with self._lock:  # one write of a whole line: concurrent calls never interleave within a document
            stream = self._stream or sys.stdout
            try:
                stream.write(line.decode() + "\n")
                stream.flush()
            except (OSError, ValueError):  # a closed or broken stdout loses the datapoint, never the model call
                return

    def record_model_call(self, use: ModelUse) -> None:
        """A successful call's cost and its input and output tokens."""
        model = {"model": use.model_id}
        self.put(MODEL_COST_METRIC, use.cost_usd, MODEL_COST_UNIT, properties=model)
        for direction, tokens in (("input", use.input_tokens), ("output", use.output_tokens)):
            self.put(
                MODEL_TOKENS_METRIC,
                tokens,
                MODEL_TOKENS_UNIT,
                dimensions={TOKEN_DIRECTION_DIMENSION: direction},
                properties=model,
            )

    def record_model_error(self, use: ModelUse, outcome: str) -> None:
        """A failed call attempt: one ``ModelErrors`` datapoint, the model and error code as properties."""
        properties = {"model": use.model_id, "outcome": outcome}
        self.put(MODEL_ERRORS_METRIC, 1, MODEL_ERRORS_UNIT, properties=properties)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, *, embedded: EmbeddedMetricWriter | None = None) -> None:
        """``embedded``: where model cost and tokens go as CloudWatch EMF; by default a stdout writer inside
        AWS Lambda and nothing elsewhere (the Prometheus registry is scraped there)."""
        self.embedded = embedded if embedded is not None else EmbeddedMetricWriter.for_lambda()
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "investai_http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "investai_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_errors = Counter(
            "investai_http_errors_total",
            "HTTP responses with status 400 or more, by error code",
            ["route", "status", "code"],
            registry=self.registry,
        )
        self.jobs = Counter(
            "investai_jobs_total",
            "Job attempts finished, by outcome (succeeded, retried, dead, released)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "investai_job_duration_seconds",
            "Time spent running job handlers",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs_by_status = Gauge(
            "investai_jobs_in_queue",
            "Jobs stored, by status (sampled at scrape time)",
            ["status"],
            registry=self.registry,
        )
        # sampled when /metrics is scraped (investai.api.routes.ops), like jobs_by_status
        self.oldest_ready_job_age = Gauge(
            "investai_oldest_ready_job_age_seconds",
            "How long the oldest ready job has waited for a worker (0 when none waits)",
            registry=self.registry,
        )
        self.dead_letter_jobs = Gauge(
            "investai_dead_letter_jobs", "Jobs dead-lettered and not yet redriven or purged", registry=self.registry
        )
        self.data_dir_free_bytes = Gauge(
            "investai_data_dir_free_bytes", "Free bytes on the data directory's file system", registry=self.registry
        )
        self.data_dir_used_ratio = Gauge(
            "investai_data_dir_used_ratio",
            "Used share (0-1) of the data directory's file system",
            registry=self.registry,
        )
        self.last_backup_timestamp = Gauge(
            "investai_last_backup_timestamp_seconds",
            "When the newest backup was taken (Unix time; 0 when none exists, NaN where AWS takes the backups)",
            registry=self.registry,
        )

        self.model_calls = Counter(
            "investai_model_calls_total",
            "Model call attempts, by provider, model and outcome (ok or an error code)",
            ["provider", "model", "outcome"],
            registry=self.registry,
        )
        self.model_tokens = Counter(
            "investai_model_tokens_total",
            "Model tokens used, by model and direction (input, output)",
            ["model", "direction"],
            registry=self.registry,
        )
        self.model_cost = Counter(
            "investai_model_cost_usd_total", "Model cost in US dollars, by model", ["model"], registry=self.registry
        )
        self.model_latency = Histogram(
            "investai_model_latency_seconds",
            "Latency of successful model calls",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def record_model_call(self, use: ModelUse, outcome: str) -> None:
        self.model_calls.labels(use.provider, use.model_id, outcome).inc()
        if outcome == "ok":
            self.model_tokens.labels(use.model_id, "input").inc(use.input_tokens)
            self.model_tokens.labels(use.model_id, "output").inc(use.output_tokens)
            self.model_cost.labels(use.model_id).inc(use.cost_usd)
            self.model_latency.labels(use.model_id).observe(use.latency_ms / 1000)
            if self.embedded is not None:
                self.embedded.record_model_call(use)
        elif self.embedded is not None:
            self.embedded.record_model_error(use, outcome)

    def totals(self, sample: str, *by: str) -> dict[tuple[str, ...], float]:
        """Sum of the samples named ``sample`` (as exposed, e.g. ``investai_http_requests_total`` or a
        histogram's ``…_sum`` / ``…_count``), grouped by the values of the labels ``by`` (no labels: one total
        under the key ``()``). Nothing recorded yet gives an empty mapping."""
        grouped: dict[tuple[str, ...], float] = {}
        for family in self.registry.collect():
            for item in family.samples:
                if item.name == sample:
                    key = tuple(item.labels.get(label, "") for label in by)
                    grouped[key] = grouped.get(key, 0.0) + float(item.value)
        return grouped

    def render(self) -> bytes:
        return generate_latest(self.registry)
