"""Prometheus metrics, kept in a registry per Container (no global state, so apps can coexist in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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

    def render(self) -> bytes:
        return generate_latest(self.registry)
