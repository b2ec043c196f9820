"""Prometheus metrics, kept in a registry per Container (no global state, so apps can coexist in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from investai.domain.idea_parts import ModelUse

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
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
