"""Prometheus metrics for a service app.

Each app gets its own registry (several apps can live in one test process). Under a
multi-process server set PROMETHEUS_MULTIPROC_DIR and the multiprocess collector is used.
"""

from __future__ import annotations

import os

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)


class HttpMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter("bridgeline_http_requests", "HTTP requests handled",
                                ["service", "method", "route", "status"], registry=self.registry)
        self.latency = Histogram("bridgeline_http_request_duration_seconds",
                                 "Time to handle an HTTP request", ["service", "route"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, route).observe(seconds)

    def render(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
