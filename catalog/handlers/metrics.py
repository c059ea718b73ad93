"""Prometheus metrics: request counts and latencies, scan retries, and counts of stored facts.

Each app gets its own registry (so that tests and several apps in one process never
collide); the instruments are created per registry by :func:`make_metrics`.

Under ``uvicorn --workers N`` every worker is its own process with its own counters, and a
scrape reaches one of them. With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder shared by
the workers, emptied before each start), prometheus_client keeps each process's values in
files there and the exposition sums them (its ``MultiProcessCollector``), so every scrape
sees the counts of all workers. The stored-fact families are read from the database, the
same from any worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from catalog.storage.metrics import MetricsSnapshot, snapshot

#: The environment variable that turns prometheus_client's multiprocess mode on.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class Metrics:
    """The instruments of one app; ``registry`` is what ``/metrics`` exposes."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    scan_retries: Counter


def _notice_families(snap: MetricsSnapshot) -> Iterator[Metric]:
    published = CounterMetricFamily("nufair_notice_attempts",
                                    "Notice delivery attempts, by sink and outcome",
                                    labels=["sink", "outcome"])
    for (sink, ok), n in sorted(snap.attempts.items()):
        published.add_metric([sink, "delivered" if ok else "failed"], n)
    pending = GaugeMetricFamily("nufair_notices_pending", "Notices not yet delivered",
                                labels=["sink"])
    for sink, n in sorted(snap.pending_notices.items()):
        pending.add_metric([sink], n)
    states = GaugeMetricFamily("nufair_notices", "Notices by sink and state "
                               "(pending, delivered, failed: given up)",
                               labels=["sink", "state"])
    for (sink, state), n in sorted(snap.notice_states.items()):
        states.add_metric([sink, state], n)
    age = GaugeMetricFamily("nufair_notice_oldest_pending_age_seconds",
                            "Seconds since the oldest pending notice was queued, by sink",
                            labels=["sink"])
    for sink, s in sorted(snap.oldest_pending_s.items()):
        age.add_metric([sink], s)
    yield from (published, pending, states, age)


def _scan_families(snap: MetricsSnapshot) -> Iterator[Metric]:
    queue = GaugeMetricFamily("nufair_scan_queue_depth", "Unfinished scans, by lane",
                              labels=["lane"])
    for lane in ("realtime", "reprocessing"):
        queue.add_metric([lane], snap.scan_queue.get(lane, 0))
    finished = CounterMetricFamily("nufair_scans_finished",
                                   "Finished scans, by lane and outcome (done, aborted, failed)",
                                   labels=["lane", "outcome"])
    for lane in ("realtime", "reprocessing"):
        for outcome in ("done", "aborted", "failed"):
            finished.add_metric([lane, outcome], snap.scans_finished.get((lane, outcome), 0))
    yield from (queue, finished)


class StoredFactsCollector(Collector):
    """Counters and gauges computed at scrape time from the database (see storage_metrics):
    revisions stored by source, notice delivery attempts by sink and outcome, notices by
    state and the age of the oldest waiting, scan queue depth and finished scans."""

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
        yield ingested
        yield from _notice_families(snap)
        yield from _scan_families(snap)


def make_metrics(engine: Callable[[], Engine | None] = lambda: None) -> Metrics:
    """The instruments of one app in a registry of its own; ``engine`` gives the engine of
    the stored-facts counts (None: not counted). The edge (``nufair.edge``) feeds the
    request counts and latencies, the scan runner the retries.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, the exposed registry sums the values of every
    process (see the module docstring); the instruments' own registry is then not exposed.
    """
    instruments = CollectorRegistry()
    exposed = instruments
    if os.environ.get(MULTIPROC_ENV):
        exposed = CollectorRegistry()
        # prometheus_client's MultiProcessCollector is untyped: called as Any (mypy --strict).
        cast(Any, MultiProcessCollector)(exposed)
    exposed.register(StoredFactsCollector(engine))
    return Metrics(
        registry=exposed,
        requests=Counter("nufair_http_requests", "HTTP requests",
                         ["method", "route", "status"], registry=instruments),
        latency=Histogram("nufair_http_request_duration_seconds", "HTTP request latency",
                          ["method", "route"], registry=instruments,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                   1, 2.5, 5, 10)),
        scan_retries=Counter("nufair_scan_infra_retries",
                             "New tries of realtime scans after infrastructure failures",
                             ["lane"], registry=instruments),
    )
