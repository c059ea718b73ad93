"""Wiring of the realtime pipeline: settings → sinks, outbox, dispatcher and pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from fastapi import FastAPI

from catalog.storage import CatalogStorage
from catalog.storage_ingest import IngestStorage
from catalog.storage_outbox import OutboxStorage, PublishConfig, Route
from ingest.api import INGEST_STATE, IngestRuntime
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.pipeline import Pipeline
from ingest.sinks import Sink
from ingest.sinks.folder import FolderSink
from ingest.sinks.webhook import WebhookSink
from nufair.settings import Settings
from reco.detector import Detector, load_ic86


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
    return sinks


def publish_config(settings: Settings, sinks: list[Sink]) -> PublishConfig:
    return PublishConfig(
        ivorn_base=settings.ivorn_base,
        routes=tuple(Route(s.name, s.formats) for s in sinks),  # type: ignore[arg-type]
        artifact_base_url=f"{settings.public_base_url.rstrip('/')}/api/v1/artifacts")


def dispatcher_config(settings: Settings) -> DispatcherConfig:
    return DispatcherConfig(poll_s=settings.dispatcher_poll_s, lease_s=settings.dispatcher_lease_s,
                            backoff_base_s=settings.dispatcher_backoff_base_s,
                            backoff_max_s=settings.dispatcher_backoff_max_s)


@cache
def _detector() -> Detector:
    return load_ic86()


def make_runtime(storage: CatalogStorage, settings: Settings) -> IngestRuntime:
    sinks = make_sinks(settings)
    outbox = OutboxStorage(storage, publish_config(settings, sinks))
    dispatcher = Dispatcher(outbox, sinks, dispatcher_config(settings))
    pipeline = Pipeline(outbox, IngestStorage(storage.engine), _detector,
                        on_queued=dispatcher.wake)
    return IngestRuntime(pipeline=pipeline, outbox=outbox, dispatcher=dispatcher)


@contextmanager
def ingest_running(app: FastAPI, storage: CatalogStorage, settings: Settings) -> Iterator[None]:
    """Put the pipeline on ``app.state`` and run the dispatcher for the app's lifetime."""
    runtime = make_runtime(storage, settings)
    setattr(app.state, INGEST_STATE, runtime)
    if settings.dispatcher_enabled:
        runtime.dispatcher.start()
    try:
        yield
    finally:
        runtime.dispatcher.stop()
