"""The ingest package's runtime, as its handlers see it: one typed context.

:func:`nufair.ingest.make_context` builds the :class:`IngestContext` and
:func:`nufair.ingest.ingest_running` hands it to the app, an :class:`IngestHost`; the handlers
take it through the typed dependency :data:`ContextDep`. An app without it answers 500 (a
wiring error), never a default context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request

from catalog.publish import Publisher
from catalog.storage.outbox import OutboxStorage
from ingest.dispatcher import Dispatcher
from ingest.pipeline import Pipeline
from ingest.scanning.runner import ScanRunner
from ingest.scanning.service import ScanService


@dataclass(frozen=True, slots=True)
class IngestContext:
    """The live parts of the realtime pipeline, built once at start-up.

    Attributes
    ----------
    pipeline
        Accepts raw events (``POST /events/raw``, the AMQP consumer, the CLI).
    publisher
        Publication rules and flows (retractions).
    outbox
        The notices and their delivery state.
    dispatcher
        Sends queued notices to the sinks.
    scans
        The scan service (requests, rescans, aborts, progress).
    runner
        Runs queued scans (started only where the settings say so).
    """

    pipeline: Pipeline
    publisher: Publisher
    outbox: OutboxStorage
    dispatcher: Dispatcher
    scans: ScanService
    runner: ScanRunner


class IngestHost(Protocol):
    """An app serving the ingest routes: it holds the context built when it started."""

    @property
    def ingest_context(self) -> IngestContext:
        """The ingest context (``RuntimeError`` before the app has started)."""


def ingest_context(request: Request) -> IngestContext:
    """The app's :class:`IngestContext` (``RuntimeError`` if the app was not wired)."""
    host: IngestHost = request.app
    return host.ingest_context


#: The ingest context of a request's app, for handler signatures.
ContextDep = Annotated[IngestContext, Depends(ingest_context)]
