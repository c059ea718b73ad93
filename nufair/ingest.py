"""Wiring of the realtime pipeline: settings → one :class:`IngestContext` (sinks, publisher,
outbox, dispatcher, pipeline, scan service and runner), started with the app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path

from catalog.notices.model import NoticeAuthor
from catalog.publish import PublishConfig, Publisher, Route
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from catalog.storage.raw_events import IngestStorage
from catalog.storage.scans import ScanStorage
from catalog.subscriptions.storage import SubscriptionStorage
from ingest.consumer import ConsumerConfig, RawEventConsumer
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.handlers.context import IngestContext
from ingest.pipeline import Pipeline
from ingest.scanning.artifacts import make_store
from ingest.scanning.runner import DaskClients, RunnerConfig, ScanRunner
from ingest.scanning.service import ScanService
from ingest.scanning.update import UpdatePublisher
from ingest.sinks import Sink
from ingest.sinks.folder import FolderSink
from ingest.sinks.gcn_kafka import GcnKafkaSink, make_producer
from ingest.sinks.subscription import SubscriptionSinks
from ingest.sinks.vtp import VTPSink
from ingest.sinks.webhook import WebhookSink
from nufair.context import NufairApp
from nufair.fair import observatory_list
from nufair.settings import Settings
from reco.detector import Detector, load_ic86
from reco.scan import ScanConfig


def notices_dir(settings: Settings) -> Path:
    """Where the folder sink writes notices."""
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
    """How revisions are announced: our IVORNs, and the formats each sink receives."""
    return PublishConfig(
        ivorn_base=settings.ivorn_base,
        routes=tuple(Route(s.name, s.formats) for s in sinks),  # type: ignore[arg-type]
        public_base_url=settings.public_base_url,
        test_observatories=observatory_list(settings.test_observatories),
        author=NoticeAuthor(ivorn=settings.ivorn_base, contact_name=settings.contact_name,
                            contact_email=settings.contact_email))


def dispatcher_config(settings: Settings) -> DispatcherConfig:
    """The dispatcher's timing, from the settings."""
    return DispatcherConfig(poll_s=settings.dispatcher_poll_s, lease_s=settings.dispatcher_lease_s,
                            backoff_base_s=settings.dispatcher_backoff_base_s,
                            backoff_max_s=settings.dispatcher_backoff_max_s,
                            max_attempts=settings.dispatcher_max_attempts or None)


@cache
@cache
def _detector() -> Detector:
    # Read once per process (a 5160-row CSV: tens of ms that each alert's selection paid).
    return load_ic86()


def scan_defaults(settings: Settings) -> ScanConfig:
    """The scan config of realtime scans and of requests that do not say otherwise."""
    return replace(ScanConfig(), nsides=ScanConfig.parse_nsides(settings.scan_nsides),
                   n_seeds=settings.scan_seeds, n_iter=settings.scan_iterations)


def runner_config(settings: Settings) -> RunnerConfig:
    """The scan runner's slots and timing, from the settings."""
    return RunnerConfig(general_slots=settings.scan_general_slots, poll_s=settings.scan_poll_s,
                        heartbeat_s=settings.scan_heartbeat_s, stale_s=settings.scan_stale_s,
                        snapshot_s=settings.scan_snapshot_s,
                        max_claims=settings.scan_max_claims,
                        infra_retries=settings.scan_infra_retries,
                        infra_backoff_s=settings.scan_infra_backoff_s,
                        infra_backoff_max_s=settings.scan_infra_backoff_max_s)


def artifacts_dir(settings: Settings) -> Path:
    """The local artifact folder (where files go unless ``NUFAIR_ARTIFACTS_URL`` is set)."""
    return settings.data_dir / "artifacts"


def make_context(storage: CatalogStorage, settings: Settings) -> IngestContext:
    """Every live part of the realtime pipeline, each built once, in dependency order.

    Nothing is started here (:func:`ingest_running` starts the dispatcher and the runner
    where the settings say so). A new alert's transaction queues its realtime scan and, once
    committed, wakes the runner; queued notices wake the dispatcher.
    """
    engine = storage.engine
    sinks = make_sinks(settings)
    publisher = Publisher(engine, publish_config(settings, sinks), pids=storage.pids)
    outbox = OutboxStorage(engine)
    dispatcher = Dispatcher(outbox, sinks, dispatcher_config(settings), SubscriptionSinks(
        SubscriptionStorage(engine), sinks, timeout_s=settings.webhook_timeout_s,
        allow_private=settings.subscription_allow_private_hosts))
    raw = IngestStorage(engine)
    scans = ScanStorage(engine)
    rconf = runner_config(settings)
    updates = UpdatePublisher(engine, publisher, storage, scans,
                              make_store(artifacts_dir(settings), settings.artifacts_url),
                              on_queued=dispatcher.wake)
    runner = ScanRunner(scans, raw, _detector, updates,
                        DaskClients(settings.dask_scheduler, settings.dask_workers,
                                    settings.dask_processes), rconf)
    service = ScanService(scans, raw, storage, scan_defaults(settings), rconf.stale_after,
                          on_queued=runner.wake)
    pipeline = Pipeline(engine, publisher, raw, _detector,
                        realtime_scan=scan_defaults(settings), on_queued=dispatcher.wake,
                        on_alert=runner.wake)
    return IngestContext(pipeline=pipeline, publisher=publisher, outbox=outbox,
                         dispatcher=dispatcher, scans=service, runner=runner)


def make_consumer(ctx: IngestContext, settings: Settings) -> RawEventConsumer:
    """The AMQP consumer of raw events, feeding ``ctx``'s pipeline."""
    import pika

    return RawEventConsumer(
        pika.URLParameters(settings.amqp_url.get_secret_value()), ctx.pipeline.accept,
        ConsumerConfig(queue=settings.amqp_queue,
                       dead_letter_queue=settings.amqp_dead_letter_queue,
                       prefetch=settings.amqp_prefetch))


@contextmanager
def ingest_running(app: NufairApp, storage: CatalogStorage, settings: Settings) -> Iterator[None]:
    """Hand the :class:`IngestContext` to ``app`` (read by the handlers through
    :data:`ingest.handlers.context.ContextDep`); run the dispatcher and the scan runner for
    the app's lifetime."""
    ctx = make_context(storage, settings)
    # Compile (or load from Numba's cache) the likelihood kernels now, not on the first alert:
    # once per process, well under a second from the cache that `make install` fills. Done
    # before serving, not in a thread: Numba's compiler swaps the process-wide warning
    # filters (warnings.catch_warnings is not thread-safe), which raced with request handlers.
    # The pipeline's warm-up also loads the detector, astropy's tables and the validator.
    ctx.pipeline.warm()
    app.start_ingest(ctx)
    metrics = app.metrics
    ctx.runner.on_retry = lambda row: metrics.scan_retries.labels(row.priority).inc()
    if settings.dispatcher_enabled:
        ctx.dispatcher.start()
    if settings.scan_runner_enabled:
        ctx.runner.start()
    try:
        yield
    finally:
        ctx.runner.stop()
        ctx.dispatcher.stop()
        app.start_ingest(None)
