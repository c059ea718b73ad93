"""Prometheus metrics: request counts and latencies, plus counts of stored facts.

Each app gets its own registry (so that tests and several apps in one process never
collide); the instruments are created per registry by :func:`make_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from catalog.storage.metrics import snapshot


@dataclass(frozen=True)
class Metrics:
    """The instruments of one app."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram


class StoredFactsCollector(Collector):
    """Counters and gauges computed at scrape time from the database (see storage_metrics):
    revisions stored by source, notice delivery attempts by sink and outcome, notices
    waiting, scan queue depth by lane."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        """The families, computed now (nothing without an engine)."""
        engine = self._engine()
        if engine is None:
            return
        snap = snapshot(engine)
        ingested = CounterMetricFamily("nufair_ingested_revisions", "Revisions stored, by source",
                                       labels=["source"])
        for source, n in sorted(snap.revisions.items()):
            ingested.add_metric([source], n)
        published = CounterMetricFamily("nufair_notice_attempts",
                                        "Notice delivery attempts, by sink and outcome",
                                        labels=["sink", "outcome"])
        for (sink, ok), n in sorted(snap.attempts.items()):
            published.add_metric([sink, "delivered" if ok else "failed"], n)
        pending = GaugeMetricFamily("nufair_notices_pending", "Notices not yet delivered",
                                    labels=["sink"])
        for sink, n in sorted(snap.pending_notices.items()):
            pending.add_metric([sink], n)
        queue = GaugeMetricFamily("nufair_scan_queue_depth", "Unfinished scans, by lane",
                                  labels=["lane"])
        for lane in ("realtime", "reprocessing"):
            queue.add_metric([lane], snap.scan_queue.get(lane, 0))
        yield from (ingested, published, pending, queue)


def make_metrics(engine: Callable[[], Engine | None] = lambda: None) -> Metrics:
    """The instruments of one app in a registry of its own; ``engine`` gives the engine of
    the stored-facts counts (None: not counted). The edge (``nufair.edge``) feeds the
    request counts and latencies."""
    reg = CollectorRegistry()
    reg.register(StoredFactsCollector(engine))
    return Metrics(
        registry=reg,
        requests=Counter("nufair_http_requests", "HTTP requests",
                         ["method", "route", "status"], registry=reg),
        latency=Histogram("nufair_http_request_duration_seconds", "HTTP request latency",
                          ["method", "route"], registry=reg,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                   1, 2.5, 5, 10)),
    )
