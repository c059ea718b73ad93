"""A broker consumer: raw events from an AMQP queue into the realtime pipeline.

Each message body is one raw event (JSON of ``schemas/raw_event.schema.json``), handled
exactly like ``POST /api/v1/events/raw``: the same :meth:`ingest.pipeline.Pipeline.accept`
(validation, de-duplication on (observatory, run, event), selection, revision 0 and its
notices in one transaction).

Acknowledgement rules:

* the message is acknowledged only after ``accept`` returned, i.e. after the commit; a
  consumer that dies before its ack leaves the message to be redelivered, and the repeat
  is absorbed by the de-duplication (stored exactly once);
* a message that can never succeed (not JSON, not a valid raw event, wrong content type)
  is published to the dead-letter queue with the reason in the headers
  ``x-nufair-error-code`` / ``x-nufair-error`` (publisher confirms on), then acknowledged:
  it is never requeued;
* any other failure (database away, a bug) is requeued once; if the redelivered message
  fails again it goes to the dead-letter queue as well, so nothing loops forever.

RabbitMQ's own dead-lettering (``x-dead-letter-exchange`` + reject) cannot carry our
reason, which is why the consumer publishes to the dead-letter queue itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties

from catalog.errors import NufairError, UnsupportedFormat
from ingest.pipeline import Accepted
from ingest.rawevent import clip, loads_strict, normalize_raw_body

log = logging.getLogger(__name__)

#: Header of a dead-lettered message: the machine-readable error code.
ERROR_CODE_HEADER = "x-nufair-error-code"
#: Header of a dead-lettered message: the human-readable reason.
ERROR_HEADER = "x-nufair-error"
#: Header of a dead-lettered message: the queue it was taken from.
SOURCE_QUEUE_HEADER = "x-nufair-source-queue"

#: Content types taken as JSON (no content type at all is accepted as JSON too).
JSON_TYPES = frozenset({"application/json", ""})


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """Where the consumer reads and where bad messages go.

    Attributes
    ----------
    queue
        The durable queue of raw events.
    dead_letter_queue
        The durable queue of refused messages; default ``<queue>.dead``.
    prefetch
        Unacknowledged messages the broker may hand over at once.
    requeue_delay_s
        Pause before requeueing a message whose failure was not its own fault.
    """

    queue: str = "nufair.raw-events"
    dead_letter_queue: str | None = None
    prefetch: int = 10
    requeue_delay_s: float = 1.0

    @property
    def dead_letters(self) -> str:
        """The queue refused messages go to."""
        return self.dead_letter_queue or f"{self.queue}.dead"


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of one message.

    ``outcome`` is ``stored`` (a new raw event), ``duplicate`` (already received),
    ``dead-lettered`` or ``requeued``.
    """

    delivery_tag: int
    outcome: str
    detail: str
    redelivered: bool = False


def decode_body(body: bytes, content_type: str | None) -> Any:
    """The decoded JSON of a message; a 4xx :class:`NufairError` if it is not strict JSON
    (:func:`ingest.rawevent.loads_strict`, as every input channel decodes); an I3Live
    message becomes a raw event as on the HTTP and CLI paths."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedFormat(f"send raw events as application/json, not {clip(media, 80)}")
    return normalize_raw_body(loads_strict(body))


def declare(channel: BlockingChannel, config: ConsumerConfig) -> None:
    """Declare the raw-event queue and its dead-letter queue (both durable, idempotent)."""
    channel.queue_declare(config.queue, durable=True)
    channel.queue_declare(config.dead_letters, durable=True)


class RawEventConsumer:
    """Consume raw events from ``config.queue`` and pass each to ``accept``.

    Parameters
    ----------
    parameters
        pika connection parameters (e.g. ``pika.URLParameters("amqp://...")``).
    accept
        The pipeline's entry point (:meth:`ingest.pipeline.Pipeline.accept`); it commits
        before it returns.
    config
        Queues and flow control.
    """

    def __init__(self, parameters: pika.connection.Parameters,
                 accept: Callable[[Any], Accepted], config: ConsumerConfig | None = None,
                 ) -> None:
        self.parameters = parameters
        self.accept = accept
        self.config = config or ConsumerConfig()
        self._stop = False

    def stop(self) -> None:
        """Leave :meth:`run` after the message in hand (safe from a signal handler)."""
        self._stop = True

    def run(self, *, max_messages: int | None = None, idle_timeout_s: float | None = None,
            on_handled: Callable[[Handled], None] = lambda _h: None) -> int:
        """Consume until :meth:`stop`, ``max_messages`` handled, or ``idle_timeout_s`` of
        silence. Returns the number of messages handled."""
        handled = 0
        connection = pika.BlockingConnection(self.parameters)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            declare(channel, self.config)
            channel.basic_qos(prefetch_count=self.config.prefetch)
            # A short inactivity timeout keeps stop() responsive.
            tick = min(idle_timeout_s, 0.5) if idle_timeout_s is not None else 0.5
            idle_since = time.monotonic()
            for method, props, body in channel.consume(self.config.queue,
                                                       inactivity_timeout=tick):
                if method is None:
                    if self._stop or (idle_timeout_s is not None and
                                      time.monotonic() - idle_since >= idle_timeout_s):
                        break
                    continue
                assert props is not None and body is not None
                on_handled(self.handle(channel, method, props, body))
                handled += 1
                idle_since = time.monotonic()
                if self._stop or (max_messages is not None and handled >= max_messages):
                    break
            channel.cancel()  # unacked prefetched messages go back to the queue
        finally:
            if connection.is_open:
                connection.close()
        return handled

    def handle(self, channel: BlockingChannel, method: Basic.Deliver, props: BasicProperties,
               body: bytes) -> Handled:
        """Process one delivery and settle it (ack, dead-letter or requeue)."""
        tag = method.delivery_tag
        try:
            out = self.accept(decode_body(body, props.content_type))
        except NufairError as exc:
            if exc.status >= 500:  # e.g. database unavailable: not the message's fault
                return self._retry(channel, method, props, body, exc.code, str(exc))
            # The message's own fault (4xx): never worth a retry.
            self._dead_letter(channel, props, body, exc.code, str(exc))
            channel.basic_ack(tag)
            return Handled(tag, "dead-lettered", f"[{exc.code}] {exc}", method.redelivered)
        except Exception as exc:
            return self._retry(channel, method, props, body, "processing_failed",
                               f"{type(exc).__name__}: {exc}")
        channel.basic_ack(tag)
        raw = out.raw
        what = "stored" if out.created else "duplicate"
        return Handled(tag, what, f"run {raw.run_id} event {raw.event_id} → "
                                  f"{raw.name or '(no name)'} stream {raw.stream}",
                       method.redelivered)

    def _retry(self, channel: BlockingChannel, method: Basic.Deliver, props: BasicProperties,
               body: bytes, code: str, reason: str) -> Handled:
        """Requeue a message that failed through no fault of its own, once."""
        tag = method.delivery_tag
        if method.redelivered:
            log.error("raw event failed again on redelivery; dead-lettered: %s", reason)
            self._dead_letter(channel, props, body, code, reason)
            channel.basic_ack(tag)
            return Handled(tag, "dead-lettered", f"[{code}] {reason}", True)
        log.error("raw event failed; requeued once: %s", reason)
        time.sleep(self.config.requeue_delay_s)
        channel.basic_nack(tag, requeue=True)
        return Handled(tag, "requeued", reason, False)

    def _dead_letter(self, channel: BlockingChannel, props: BasicProperties, body: bytes,
                     code: str, reason: str) -> None:
        headers = dict(props.headers or {})
        headers.update({ERROR_CODE_HEADER: code, ERROR_HEADER: clip(reason, 2000),
                        SOURCE_QUEUE_HEADER: self.config.queue})
        out = BasicProperties(content_type=props.content_type, message_id=props.message_id,
                              correlation_id=props.correlation_id, timestamp=props.timestamp,
                              headers=headers, delivery_mode=pika.DeliveryMode.Persistent)
        # With confirms on, this returns once the broker holds the copy (or raises, and the
        # original is then neither acked nor lost: it is redelivered).
        channel.basic_publish("", self.config.dead_letters, body, out, mandatory=True)
        log.warning("raw event dead-lettered to %s: [%s] %s", self.config.dead_letters, code,
                    reason)
