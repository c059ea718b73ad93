"""Prometheus metrics shared by every layer that serves or moves alerts.

Each app gets its own registry (so that tests and several apps in one process never
collide); the instruments are created per registry by :func:`make_metrics`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Metrics:
    """The instruments of one app."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    ingested: Counter
    published: Counter
    scan_queue: Gauge


def make_metrics() -> Metrics:
    reg = CollectorRegistry()
    return Metrics(
        registry=reg,
        requests=Counter("nufair_http_requests", "HTTP requests",
                         ["method", "route", "status"], registry=reg),
        latency=Histogram("nufair_http_request_duration_seconds", "HTTP request latency",
                          ["method", "route"], registry=reg,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                   1, 2.5, 5, 10)),
        ingested=Counter("nufair_ingested_revisions", "Revisions stored, by source",
                         ["source"], registry=reg),
        published=Counter("nufair_published_notices", "Notice deliveries, by sink and outcome",
                          ["sink", "outcome"], registry=reg),
        scan_queue=Gauge("nufair_scan_queue_depth", "Scans waiting, by lane", ["lane"],
                         registry=reg),
    )


class MetricsMiddleware:
    """Count requests and time them, labelled by route template (not raw path: bounded)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        t0 = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - t0)
