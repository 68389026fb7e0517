"""Prometheus metrics for a service app.

Each app gets its own registry (several apps can live in one test process). Under a
multi-process server set PROMETHEUS_MULTIPROC_DIR and the multiprocess collector is used.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MAX_CACHED_LABELS = 1000


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
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children, looked up once per (method, route, status): `labels()`
        # validates and locks on every call. Routes are templates, so there are few
        # keys; the bound only matters for clients inventing methods.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(self.service, method, route, str(status)),
                        self.latency.labels(self.service, route))
            if len(self._children) < MAX_CACHED_LABELS:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
