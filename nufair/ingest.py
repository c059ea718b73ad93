"""Wiring of the realtime pipeline: settings → sinks, outbox, dispatcher and pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path

from fastapi import FastAPI

from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage, PublishConfig, Route
from catalog.storage.raw_events import IngestStorage
from catalog.storage.scans import ScanStorage
from ingest.consumer import ConsumerConfig, RawEventConsumer
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.handlers.raw_events import INGEST_STATE, IngestRuntime
from ingest.handlers.scans import SCANS_STATE, ScanRuntime
from ingest.pipeline import Pipeline
from ingest.scanning.artifacts import make_store
from ingest.scanning.runner import DaskClients, RunnerConfig, ScanRunner
from ingest.scanning.service import ScanService
from ingest.scanning.update import UpdatePublisher
from ingest.sinks import Sink
from ingest.sinks.folder import FolderSink
from ingest.sinks.gcn_kafka import GcnKafkaSink, make_producer
from ingest.sinks.vtp import VTPSink
from ingest.sinks.webhook import WebhookSink
from nufair.settings import Settings
from reco import kernel
from reco.detector import Detector, load_ic86
from reco.scan import ScanConfig


def notices_dir(settings: Settings) -> Path:
    return settings.notices_dir or settings.data_dir / "notices"


def make_sinks(settings: Settings) -> list[Sink]:
    """The sinks named in ``settings.sinks``."""
    sinks: list[Sink] = []
    for name in settings.sinks:
        if name == "folder":
            sinks.append(FolderSink(notices_dir(settings), tuple(settings.folder_formats)))
        elif name == "webhook":
            if not settings.webhook_url:
                raise ValueError("the webhook sink needs NUFAIR_WEBHOOK_URL")
            sinks.append(WebhookSink(settings.webhook_url,
                                     settings.webhook_secret.get_secret_value().encode(),
                                     formats=tuple(settings.webhook_formats),
                                     timeout_s=settings.webhook_timeout_s))
        elif name == "vtp":
            sinks.append(VTPSink(settings.vtp_host, settings.vtp_port,
                                 timeout_s=settings.vtp_timeout_s))
        elif name == "gcn-kafka":
            producer = make_producer(settings.gcn_kafka_client_id,
                                     settings.gcn_kafka_client_secret.get_secret_value(),
                                     settings.gcn_kafka_domain,
                                     timeout_s=settings.gcn_kafka_timeout_s)
            topics = {str(fmt): topic for fmt, topic in settings.gcn_kafka_topics.items()}
            sinks.append(GcnKafkaSink(producer, topics,
                                      timeout_s=settings.gcn_kafka_timeout_s))
    return sinks


def publish_config(settings: Settings, sinks: list[Sink]) -> PublishConfig:
    return PublishConfig(
        ivorn_base=settings.ivorn_base,
        routes=tuple(Route(s.name, s.formats) for s in sinks),  # type: ignore[arg-type]
        public_base_url=settings.public_base_url)


def dispatcher_config(settings: Settings) -> DispatcherConfig:
    return DispatcherConfig(poll_s=settings.dispatcher_poll_s, lease_s=settings.dispatcher_lease_s,
                            backoff_base_s=settings.dispatcher_backoff_base_s,
                            backoff_max_s=settings.dispatcher_backoff_max_s)


@cache
def _detector() -> Detector:
    return load_ic86()


def scan_defaults(settings: Settings) -> ScanConfig:
    """The scan config of realtime scans and of requests that do not say otherwise."""
    return replace(ScanConfig(), nsides=ScanConfig.parse_nsides(settings.scan_nsides),
                   n_seeds=settings.scan_seeds, n_iter=settings.scan_iterations)


def runner_config(settings: Settings) -> RunnerConfig:
    return RunnerConfig(general_slots=settings.scan_general_slots, poll_s=settings.scan_poll_s,
                        heartbeat_s=settings.scan_heartbeat_s, stale_s=settings.scan_stale_s,
                        snapshot_s=settings.scan_snapshot_s)


def artifacts_dir(settings: Settings) -> Path:
    """The local artifact folder (where files go unless ``NUFAIR_ARTIFACTS_URL`` is set)."""
    return settings.data_dir / "artifacts"


def make_runtime(storage: CatalogStorage, settings: Settings) -> IngestRuntime:
    """Outbox, dispatcher and pipeline; the pipeline queues a realtime scan per alert."""
    sinks = make_sinks(settings)
    outbox = OutboxStorage(storage, publish_config(settings, sinks))
    dispatcher = Dispatcher(outbox, sinks, dispatcher_config(settings))
    raw = IngestStorage(storage.engine)
    queue = ScanService(ScanStorage(storage.engine), raw, storage, scan_defaults(settings),
                        runner_config(settings).stale_after)
    pipeline = Pipeline(outbox, raw, _detector, on_queued=dispatcher.wake,
                        enqueue_scan=queue.enqueue_in)
    return IngestRuntime(pipeline=pipeline, outbox=outbox, dispatcher=dispatcher)


def make_scans(runtime: IngestRuntime, settings: Settings) -> tuple[ScanRuntime, ScanRunner]:
    """The scan service and its runner; a new alert of ``runtime``'s pipeline wakes it."""
    storage = runtime.outbox.catalog
    scans = ScanStorage(storage.engine)
    raw = IngestStorage(storage.engine)
    rconf = runner_config(settings)
    publisher = UpdatePublisher(runtime.outbox, scans,
                                make_store(artifacts_dir(settings), settings.artifacts_url),
                                on_queued=runtime.dispatcher.wake)
    runner = ScanRunner(scans, raw, _detector, publisher,
                        DaskClients(settings.dask_scheduler, settings.dask_workers,
                                    settings.dask_processes), rconf)
    service = ScanService(scans, raw, storage, scan_defaults(settings), rconf.stale_after,
                          on_queued=runner.wake)
    runtime.pipeline.on_alert = lambda _row: runner.wake()
    return ScanRuntime(service), runner


def make_consumer(runtime: IngestRuntime, settings: Settings) -> RawEventConsumer:
    """The AMQP consumer of raw events, feeding ``runtime``'s pipeline."""
    import pika

    return RawEventConsumer(
        pika.URLParameters(settings.amqp_url.get_secret_value()), runtime.pipeline.accept,
        ConsumerConfig(queue=settings.amqp_queue,
                       dead_letter_queue=settings.amqp_dead_letter_queue,
                       prefetch=settings.amqp_prefetch))


@contextmanager
def ingest_running(app: FastAPI, storage: CatalogStorage, settings: Settings) -> Iterator[None]:
    """Put the pipeline and scan service on ``app.state``; run the dispatcher and the scan
    runner for the app's lifetime."""
    runtime = make_runtime(storage, settings)
    scan_runtime, runner = make_scans(runtime, settings)
    # Compile (or load from Numba's cache) the likelihood kernels now, not on the first alert:
    # once per process, well under a second from the cache that `make install` fills. Done
    # before serving, not in a thread: Numba's compiler swaps the process-wide warning
    # filters (warnings.catch_warnings is not thread-safe), which raced with request handlers.
    kernel.warm()
    setattr(app.state, INGEST_STATE, runtime)
    setattr(app.state, SCANS_STATE, scan_runtime)
    if settings.dispatcher_enabled:
        runtime.dispatcher.start()
    if settings.scan_runner_enabled:
        runner.start()
    try:
        yield
    finally:
        runner.stop()
        runtime.dispatcher.stop()
